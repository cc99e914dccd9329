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
    /// log again, so the file reads as one uninterrupted run. A `test` event at the step itself
    /// goes too: the resumed run scores the test split again when it stops (at once, if the
    /// budget is already spent), and one run has one test figure.
    pub fn truncate_after(&self, step: u64) -> Result<()> {
        let Ok(f) = File::open(&self.path) else {
            return Ok(());
        };
        let mut kept = String::new();
        for line in BufReader::new(f).lines() {
            let line = line?;
            let keep = serde_json::from_str::<Value>(&line).ok().is_some_and(|v| {
                let is_test = v.get("event").and_then(Value::as_str) == Some("test");
                v.get("step")
                    .and_then(Value::as_u64)
                    .is_some_and(|s| s < step || (s == step && !is_test))
            });
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn events(log: &MetricsLog) -> Vec<(String, u64)> {
        MetricsLog::read(log.path())
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["event"].as_str().unwrap().to_string(),
                    v["step"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn truncate_after_keeps_the_checkpoint_step_but_not_its_test_score() {
        let dir = tempfile::tempdir().unwrap();
        let log = MetricsLog::new(dir.path());
        for (event, step) in [
            ("train", 100),
            ("valid", 100),
            ("test", 100),
            ("train", 200),
            ("valid", 200),
        ] {
            log.append(&json!({ "event": event, "step": step }))
                .unwrap();
        }
        log.truncate_after(100).unwrap();
        let kept = events(&log);
        let want = [("train", 100), ("valid", 100)];
        assert_eq!(
            kept,
            want.map(|(e, s)| (e.to_string(), s)).to_vec(),
            "a resumed run logs the test score again, and everything after step 100"
        );
    }
}
