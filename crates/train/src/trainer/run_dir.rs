//! The run directory: refusing to start over a run by accident, and the run's own log.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{IoContext, Result, TrainError};

/// Files of a run directory that a fresh start (`--overwrite`) removes.
const RUN_FILES: &[&str] = &[
    "checkpoints",
    "prepared",
    "metrics.jsonl",
    "config.toml",
    "tokenizer.json",
    "tokenizer.src.json",
    "tokenizer.tgt.json",
    "train.log",
    "test.hyp",
];

/// Makes `dir` ready for a run: left as it is to resume; refused if it holds a run and neither
/// `resume` nor `overwrite` is set; emptied of a previous run with `overwrite`.
pub(crate) fn prepare_run_dir(dir: &Path, resume: bool, overwrite: bool) -> Result<()> {
    // A run is there once it has logged or checkpointed anything; a start that failed before
    // that (e.g. on a corpus error) can simply be started again.
    let occupied = dir.join("metrics.jsonl").exists() || dir.join("checkpoints").exists();
    if resume {
        return Ok(());
    }
    if occupied && !overwrite {
        return Err(TrainError::RunExists {
            dir: dir.to_path_buf(),
        });
    }
    for f in RUN_FILES {
        // Prepared data (`nmt prepare`) waits in an unoccupied run directory to be used; only
        // --overwrite starts over without it.
        if *f == "prepared" && !overwrite {
            continue;
        }
        let p = dir.join(f);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).at("remove", &p)?;
        } else if p.exists() {
            std::fs::remove_file(&p).at("remove", &p)?;
        }
    }
    std::fs::create_dir_all(dir).at("create the run directory", dir)
}

/// What a run reports: to the terminal (unless quiet) and, always, to `RUN_DIR/train.log`.
pub(crate) struct RunLog {
    quiet: bool,
    /// When the command started.
    started: Instant,
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl RunLog {
    pub(crate) fn open(run_dir: &Path, quiet: bool, started: Instant) -> Result<Self> {
        let path = run_dir.join("train.log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .at("write", &path)?;
        Ok(Self {
            quiet,
            started,
            path,
            file: Mutex::new(file),
        })
    }

    pub(crate) fn quiet(&self) -> bool {
        self.quiet
    }

    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    /// A line the user must see even with `--quiet` (it says something was lost or skipped).
    pub(crate) fn warn(&self, line: &str) {
        let line = format!("warning: {line}");
        if let Ok(mut f) = self.file.lock() {
            use std::io::Write;
            let _ = writeln!(f, "{line}");
        }
        eprintln!("{line}");
    }

    /// Writes `line` to the log file and, unless quiet, above the progress bar (or to stderr).
    pub(crate) fn line(&self, bar: Option<&ProgressBar>, line: &str) {
        if let Ok(mut f) = self.file.lock() {
            use std::io::Write;
            if writeln!(f, "{line}").is_err() {
                eprintln!("warning: cannot write {}", self.path.display());
            }
        }
        if self.quiet {
            return;
        }
        match bar {
            Some(bar) if !bar.is_hidden() => bar.println(line),
            _ => eprintln!("{line}"),
        }
    }
}

/// A bar over `max_steps` (a spinner without a limit); hidden when quiet.
pub(crate) fn progress_bar(quiet: bool, max_steps: u64) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else if max_steps > 0 {
        ProgressBar::new(max_steps)
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} step {pos}/{len} {wide_bar} {msg} [{elapsed_precise}<{eta_precise}]",
        )
        .expect("valid template"),
    );
    bar
}
