//! Checkpoints that a crash can never leave half-written, that prove they are the bytes that
//! were written, and that say plainly when they do not fit the model they are loaded into.
//!
//! Layout under `RUN_DIR/checkpoints/`:
//! `step-000001000/{model.bpk, optimizer.bpk, state.json, config.toml, tokenizer*.json,
//! manifest.json}`, and the pointer files `latest` and `best`, each holding a checkpoint
//! directory name. A checkpoint is written into a temporary directory, every file fsynced,
//! then `manifest.json` (size and BLAKE3 of every other file) last, the directory renamed into
//! place, and only then is `latest` replaced (itself via a temporary file and a rename).
//!
//! Every load goes through [`Checkpoint`], which checks each file it reads against the
//! manifest: a truncated, missing or altered file is an error naming it. `--resume` whose
//! `latest` is damaged falls back to the newest intact checkpoint ([`CheckpointStore::resume_point`]).

mod open;
mod state;
pub(crate) mod store;

pub use open::Checkpoint;
pub use state::{FORMAT_VERSION, LogWindow, TrainState, ValidationRecord, params_fingerprint};
pub use store::{CheckpointReport, CheckpointStore, ResumePoint};

/// The files a checkpoint holds besides the tokenizer(s) and the manifest.
pub const MODEL_FILE: &str = "model.bpk";
pub const OPTIMIZER_FILE: &str = "optimizer.bpk";
pub const STATE_FILE: &str = "state.json";
pub const CONFIG_FILE: &str = "config.toml";
