//! `RUN_DIR/metrics.jsonl`: one JSON object per event, written and read through [`Event`] only,
//! so the trainer, `nmt plot`, resume and the tests agree on every field name.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result, TrainError};

/// One line of `metrics.jsonl`, tagged by `"event"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Where a run started: from scratch, or from another run's weights (`--init-from`).
    Start(StartEvent),
    /// One logging window of training.
    Train(TrainEvent),
    /// One validation.
    Valid(ValidEvent),
    /// The final test of the best checkpoint.
    Test(TestEvent),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartEvent {
    pub step: u64,
    /// The checkpoint whose weights the run started from (`--init-from`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainEvent {
    pub step: u64,
    pub epoch: u64,
    /// Label-smoothed loss per target token, averaged over the window.
    pub train_loss: f64,
    pub lr: f64,
    /// Global gradient norm of the window's last step, before clipping.
    pub grad_norm: f64,
    pub tokens_per_s: f64,
    /// Target tokens in the window.
    pub tgt_tokens: u64,
    /// The f16 loss scale after the window's last step (f16 training only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<f64>,
    /// Steps of the window skipped for overflowing gradients (f16 training only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_steps: Option<u64>,
    /// The process's anonymous resident memory at the end of the window (`RssAnon`, Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_anon_mib: Option<f64>,
}

/// The process's anonymous resident memory in MiB (`RssAnon` of /proc/self/status): what it
/// holds itself, not the memory-mapped files it reads. `None` off Linux.
pub fn rss_anon_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidEvent {
    pub step: u64,
    pub epoch: u64,
    pub valid_loss: f64,
    pub valid_ppl: f64,
    pub valid_bleu: f64,
    pub valid_chrf: f64,
    /// The best validation of the run so far.
    pub best: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestEvent {
    pub step: u64,
    pub checkpoint: String,
    pub test_bleu: f64,
    pub test_chrf: f64,
    pub bleu_signature: String,
    pub chrf_signature: String,
}

impl Event {
    pub fn step(&self) -> u64 {
        match self {
            Event::Start(e) => e.step,
            Event::Train(e) => e.step,
            Event::Valid(e) => e.step,
            Event::Test(e) => e.step,
        }
    }
}

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
    pub fn append(&self, event: &Event) -> Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .at("write", &self.path)?;
        let line = serde_json::to_string(event).expect("an Event serialises");
        writeln!(f, "{line}").at("write", &self.path)?;
        f.flush().at("write", &self.path)
    }

    /// On resume: drops events logged after the checkpoint's step, which the resumed run will
    /// log again, so the file reads as one uninterrupted run. A `test` event at the step itself
    /// goes too: the resumed run scores the test split again when it stops (at once, if the
    /// budget is already spent), and one run has one test figure.
    pub fn truncate_after(&self, step: u64) -> Result<()> {
        if !self.path.exists() {
            return Ok(());
        }
        let mut kept = String::new();
        for event in Self::read(&self.path)? {
            let is_test = matches!(event, Event::Test(_));
            let s = event.step();
            if s < step || (s == step && !is_test) {
                kept.push_str(&serde_json::to_string(&event).expect("an Event serialises"));
                kept.push('\n');
            }
        }
        let tmp = self.path.with_extension("jsonl.tmp");
        fs::write(&tmp, kept).at("write", &tmp)?;
        fs::rename(&tmp, &self.path).at("rename", &tmp)
    }

    /// Every event, in order. A line that is not an event is an error naming the line.
    pub fn read(path: &Path) -> Result<Vec<Event>> {
        let f = File::open(path).at("read", path)?;
        BufReader::new(f)
            .lines()
            .enumerate()
            .map(|(i, line)| {
                let line = line.at("read", path)?;
                serde_json::from_str(&line).map_err(|e| {
                    TrainError::Refused(format!(
                        "{}:{}: not a metrics event ({e})",
                        path.display(),
                        i + 1
                    ))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(step: u64) -> Event {
        Event::Valid(ValidEvent {
            step,
            epoch: 1,
            valid_loss: 2.0,
            valid_ppl: 2f64.exp(),
            valid_bleu: 10.0,
            valid_chrf: 30.0,
            best: true,
        })
    }

    fn train(step: u64) -> Event {
        Event::Train(TrainEvent {
            step,
            epoch: 1,
            train_loss: 3.0,
            lr: 1e-3,
            grad_norm: 1.5,
            tokens_per_s: 1000.0,
            tgt_tokens: 500,
            loss_scale: None,
            skipped_steps: None,
            rss_anon_mib: None,
        })
    }

    fn test(step: u64) -> Event {
        Event::Test(TestEvent {
            step,
            checkpoint: "c".into(),
            test_bleu: 1.0,
            test_chrf: 2.0,
            bleu_signature: "b".into(),
            chrf_signature: "c".into(),
        })
    }

    #[test]
    fn truncate_after_keeps_the_checkpoint_step_but_not_its_test_score() {
        let dir = tempfile::tempdir().unwrap();
        let log = MetricsLog::new(dir.path());
        for event in [train(100), valid(100), test(100), train(200), valid(200)] {
            log.append(&event).unwrap();
        }
        log.truncate_after(100).unwrap();
        assert_eq!(
            MetricsLog::read(log.path()).unwrap(),
            vec![train(100), valid(100)],
            "a resumed run logs the test score again, and everything after step 100"
        );
    }

    #[test]
    fn events_keep_the_field_names_of_the_log() {
        let line = serde_json::to_string(&train(7)).unwrap();
        assert_eq!(
            line,
            r#"{"event":"train","step":7,"epoch":1,"train_loss":3.0,"lr":0.001,"grad_norm":1.5,"tokens_per_s":1000.0,"tgt_tokens":500}"#
        );
        let back: Event = serde_json::from_str(&line).unwrap();
        assert_eq!(back, train(7));
        let err = serde_json::from_str::<Event>(r#"{"event":"nope","step":1}"#);
        assert!(err.is_err());
    }
}
