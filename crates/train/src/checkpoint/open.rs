//! Reading one checkpoint: every file is checked against the manifest before it is used.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::tensor::Device;
use nmt_core::{IntegrityError, Manifest};
use nmt_data::Vocabularies;
use nmt_data::tokenizer::{JOINT_TOKENIZER_FILE, SRC_TOKENIZER_FILE, TGT_TOKENIZER_FILE};
use nmt_model::Transformer;

use super::state::{FORMAT_VERSION, TrainState};
use super::{CONFIG_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE};
use crate::config::RunConfig;
use crate::error::{IoContext, Result, TrainError};

/// A checkpoint directory, opened: its manifest read and its `state.json` verified and parsed.
/// Tensors are read only when asked for, each file verified first.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    dir: PathBuf,
    /// `None` for a checkpoint of format 1, written before checksums existed.
    manifest: Option<Manifest>,
    pub state: TrainState,
}

impl Checkpoint {
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(TrainError::checkpoint(dir, "no such checkpoint directory"));
        }
        let manifest = match Manifest::read(dir) {
            Ok(m) => Some(m),
            Err(IntegrityError::MissingManifest { path }) => {
                // Format 1 had no manifest; anything newer without one is incomplete.
                if legacy_format(dir) {
                    None
                } else {
                    return Err(IntegrityError::MissingManifest { path }.into());
                }
            }
            Err(e) => return Err(e.into()),
        };
        let mut checkpoint = Self {
            dir: dir.to_path_buf(),
            manifest,
            state: TrainState::fresh(0, 0, 0, &Default::default()),
        };
        let bytes = checkpoint.read(STATE_FILE)?;
        let path = dir.join(STATE_FILE);
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| TrainError::checkpoint(&path, format!("not valid JSON: {e}")))?;
        let version = value.get("format_version").and_then(|v| v.as_u64());
        let expected = if checkpoint.manifest.is_some() {
            FORMAT_VERSION
        } else {
            1
        };
        if version != Some(u64::from(expected)) {
            return Err(TrainError::checkpoint(
                dir,
                format!(
                    "checkpoint format version {} is not supported (this nmt reads version {FORMAT_VERSION}, and version 1 without checksums)",
                    version.map_or("(none)".to_string(), |v| v.to_string())
                ),
            ));
        }
        checkpoint.state = serde_json::from_value(value)
            .map_err(|e| TrainError::checkpoint(&path, format!("not a checkpoint state: {e}")))?;
        Ok(checkpoint)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// False for a checkpoint written before checksums (format 1): its files cannot be verified.
    pub fn is_verified(&self) -> bool {
        self.manifest.is_some()
    }

    /// Checks one file against the manifest (a format-1 checkpoint: only that it exists).
    pub fn verify(&self, name: &str) -> Result<()> {
        match &self.manifest {
            Some(m) => Ok(m.verify_file(&self.dir, name)?),
            None if self.dir.join(name).is_file() => Ok(()),
            None => Err(IntegrityError::Missing {
                path: self.dir.join(name),
            }
            .into()),
        }
    }

    /// Checks every file of the checkpoint, as `nmt check` and `--resume` do.
    pub fn verify_all(&self) -> Result<()> {
        match &self.manifest {
            Some(m) => Ok(m.verify_all(&self.dir)?),
            None => [MODEL_FILE, OPTIMIZER_FILE, STATE_FILE, CONFIG_FILE]
                .iter()
                .try_for_each(|f| self.verify(f)),
        }
    }

    /// The files of the checkpoint: those its manifest lists (format 1: those in the directory).
    pub fn file_names(&self) -> Vec<String> {
        match &self.manifest {
            Some(m) => m.files.keys().cloned().collect(),
            None => fs::read_dir(&self.dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
        }
    }

    /// The bytes of one file, verified.
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        self.verify(name)?;
        let path = self.dir.join(name);
        fs::read(&path).at("read", &path)
    }

    /// The resolved config the checkpoint was trained with.
    pub fn config(&self) -> Result<RunConfig> {
        let path = self.dir.join(CONFIG_FILE);
        let bytes = self.read(CONFIG_FILE)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| TrainError::checkpoint(&path, "config.toml is not UTF-8"))?;
        Ok(RunConfig::from_toml(&text, &path)?)
    }

    /// The tokenizer(s) the checkpoint was trained with.
    pub fn vocab(&self) -> Result<Vocabularies> {
        for name in [JOINT_TOKENIZER_FILE, SRC_TOKENIZER_FILE, TGT_TOKENIZER_FILE] {
            let listed = self.manifest.as_ref().map(|m| m.files.contains_key(name));
            if listed.unwrap_or_else(|| self.dir.join(name).is_file()) {
                self.verify(name)?;
            }
        }
        Ok(Vocabularies::load(&self.dir)?)
    }

    /// Loads the weights into `model`, built from the same config (see [`Self::build_model`]).
    pub fn load_model(&self, model: Transformer) -> Result<Transformer> {
        self.verify(MODEL_FILE)?;
        let path = self.dir.join(MODEL_FILE);
        model
            .try_load_file(&path)
            .map_err(|e| TrainError::checkpoint(&path, format!("cannot load: {e:?}")))
    }

    /// Builds the model the checkpoint's config describes for `vocab` on `device`, checks the
    /// checkpoint fits it, and loads the weights.
    pub fn build_model(
        &self,
        config: &RunConfig,
        vocab: &Vocabularies,
        device: &Device,
    ) -> Result<Transformer> {
        let (src_vocab, tgt_vocab) = (vocab.src.vocab_size(), vocab.tgt.vocab_size());
        self.state
            .check_compatible(&config.model, src_vocab, tgt_vocab)?;
        // The drawn weights are replaced by the checkpoint's; drawing them under the lock keeps
        // another thread's seeded draws whole.
        let model = nmt_model::seeded(device, 0, || {
            config.model.init(src_vocab, tgt_vocab, device)
        })?;
        self.load_model(model)
    }

    pub fn load_optimizer(&self, optimizer: ModuleOptimizer) -> Result<ModuleOptimizer> {
        self.verify(OPTIMIZER_FILE)?;
        let path = self.dir.join(OPTIMIZER_FILE);
        let record = OptimizerRecord::load(&path)
            .map_err(|e| TrainError::checkpoint(&path, format!("cannot load: {e:?}")))?;
        Ok(optimizer.load_record(record))
    }
}

/// A `state.json` that says format 1: a checkpoint from before manifests.
fn legacy_format(dir: &Path) -> bool {
    fs::read(dir.join(STATE_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("format_version").and_then(|v| v.as_u64()))
        == Some(1)
}
