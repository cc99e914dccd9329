//! The one error type of the crate. Messages are written for the person running `nmt`: each
//! names the file, key or checkpoint involved and, where there is one, what to do.

use std::path::{Path, PathBuf};

use nmt_core::{IntegrityError, InvalidSetting};
use nmt_data::DataError;
use nmt_decode::DecodeError;
use nmt_metrics::MetricError;

use crate::config::ConfigError;

/// Everything that can stop training, loading, translating or averaging.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Config(#[from] ConfigError),

    #[error("invalid setting {0}")]
    Setting(#[from] InvalidSetting),

    #[error(transparent)]
    Data(#[from] DataError),

    #[error(transparent)]
    Decode(#[from] DecodeError),

    #[error(transparent)]
    Metric(#[from] MetricError),

    /// A file of a checkpoint or prepared dataset is not what was written (the message names it).
    #[error(transparent)]
    Integrity(#[from] IntegrityError),

    /// A file or directory could not be read, written, created or renamed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A fresh start into a directory that already holds a run.
    #[error(
        "run directory {} already holds a run: pass --resume to continue it or --overwrite to start over",
        dir.display()
    )]
    RunExists { dir: PathBuf },

    /// A checkpoint (or a file in it) cannot be used: missing, damaged, or of another format.
    #[error("checkpoint {}: {reason}", path.display())]
    Checkpoint { path: PathBuf, reason: String },

    /// A checkpoint that does not fit the model or tokenizer it is loaded with.
    #[error("checkpoint is from another model: {0}")]
    Mismatch(String),

    /// `--resume` in a run directory without any checkpoint.
    #[error("--resume: no checkpoint in {} to resume from", dir.display())]
    NothingToResume { dir: PathBuf },

    /// The loss or the gradient norm stopped being a finite number.
    #[error(
        "{what} became {value} at step {step} (epoch {epoch}, batch {batch}): stopping without \
         saving it; lower train.lr or check the data"
    )]
    Diverged {
        what: &'static str,
        value: f64,
        step: u64,
        epoch: u64,
        batch: usize,
    },

    /// Anything else a user asked for that cannot be done (e.g. averaging more checkpoints
    /// than the run holds); the message says why.
    #[error("{0}")]
    Refused(String),
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

/// Attaches the action and path to an I/O error: `.at("write", &path)`.
pub(crate) trait IoContext<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| TrainError::Io {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}

impl TrainError {
    /// A checkpoint error for `path`.
    pub(crate) fn checkpoint(path: &Path, reason: impl Into<String>) -> Self {
        Self::Checkpoint {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}
