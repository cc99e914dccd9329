//! `RUN_DIR/metrics.jsonl`: one JSON object per event (training window, validation, test).

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

pub struct MetricsLog {
    path: PathBuf,
}

impl MetricsLog {
    pub fn new(run_dir: &Path) -> Self {
        Self {
            path: run_dir.join("metrics.jsonl"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event and flushes it, so a killed run loses nothing it logged.
    pub fn append(&self, event: &Value) -> Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        writeln!(f, "{event}")?;
        f.flush()?;
        Ok(())
    }

    /// On resume: drops events logged after the checkpoint's step, which the resumed run will
    /// log again, so the file reads as one uninterrupted run.
    pub fn truncate_after(&self, step: u64) -> Result<()> {
        let Ok(f) = File::open(&self.path) else {
            return Ok(());
        };
        let mut kept = String::new();
        for line in BufReader::new(f).lines() {
            let line = line?;
            let keep = serde_json::from_str::<Value>(&line)
                .ok()
                .and_then(|v| v.get("step").and_then(Value::as_u64))
                .is_some_and(|s| s <= step);
            if keep {
                kept.push_str(&line);
                kept.push('\n');
            }
        }
        let tmp = self.path.with_extension("jsonl.tmp");
        fs::write(&tmp, kept)?;
        fs::rename(&tmp, &self.path)?;
        Ok(())
    }

    /// Every event, in order.
    pub fn read(path: &Path) -> Result<Vec<Value>> {
        let f = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        BufReader::new(f)
            .lines()
            .enumerate()
            .map(|(i, line)| {
                let line = line?;
                serde_json::from_str(&line)
                    .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))
            })
            .collect()
    }
}
