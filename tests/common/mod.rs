//! Helpers shared by the end-to-end tests of the `nmt` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nmt_train::metrics_log::{Event, MetricsLog};

/// The binary, run from the repository root (so `configs/...` and `data/...` resolve).
/// `NMT_BIN` and `NMT_ROOT` override both, so that a test executable built here
/// (`cargo test --no-run`) runs on another machine: scripts/gpu-check.sh does that.
pub fn nmt() -> Command {
    let bin = std::env::var_os("NMT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_nmt")));
    let mut cmd = Command::new(bin);
    cmd.current_dir(root());
    cmd
}

pub fn root() -> PathBuf {
    std::env::var_os("NMT_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// A tiny model on the quick-start corpus: seconds per run, still the full training path.
pub fn tiny_config(dir: &Path) -> PathBuf {
    let data = root().join("data/quickstart");
    let text = format!(
        r#"
[data]
src_lang = "en"
tgt_lang = "de"
train = "{train}"
max_len = 32
max_tokens = 512

[tokenizer]
vocab_size = 400

[model]
d_model = 32
heads = 2
ff_dim = 64
encoder_layers = 1
decoder_layers = 1
max_positions = 64

[train]
max_steps = 12
checkpoint_every = 4
valid_every = 0
log_every = 1
lr = 2e-3
warmup_steps = 4
accum_steps = 2
keep_last = 10

[run]
dir = "{run}"
"#,
        train = data.join("train").display(),
        run = dir.join("run").display(),
    );
    let path = dir.join("tiny.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "command failed: {:?}\nstderr:\n{}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every event of the run's `metrics.jsonl`, read through the type the trainer writes.
pub fn events(run: &Path) -> Vec<Event> {
    MetricsLog::read(&run.join("metrics.jsonl")).unwrap()
}

/// (step, train_loss) of every `train` event in the run's `metrics.jsonl`, in order.
pub fn train_events(run: &Path) -> Vec<(u64, f64)> {
    events(run)
        .into_iter()
        .filter_map(|e| match e {
            Event::Train(t) => Some((t.step, t.train_loss)),
            _ => None,
        })
        .collect()
}
