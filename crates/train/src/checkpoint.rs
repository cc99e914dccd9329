//! Checkpoints that a crash can never leave half-written, and that say plainly when they do not
//! fit the model they are loaded into.
//!
//! Layout under `RUN_DIR/checkpoints/`:
//! `step-000001000/{model.bpk, optimizer.bpk, state.json, config.toml, tokenizer*.json}`, and
//! the pointer files `latest` and `best`, each holding a checkpoint directory name. A checkpoint
//! is written into a temporary directory, every file fsynced, the directory renamed into place,
//! and only then is `latest` replaced (itself via a temporary file and a rename).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::tensor::Tensor;
use nmt_data::BatchCursor;
use nmt_model::{ModelConfig, Transformer};
use serde::{Deserialize, Serialize};

/// Bumped whenever what a checkpoint holds changes meaning.
pub const FORMAT_VERSION: u32 = 1;

/// Partial sums of the current logging window, so a resumed run logs the same averages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LogWindow {
    pub loss_sum: f64,
    pub tokens: u64,
    pub steps: u64,
}

/// Everything besides tensors that continuing a run bit-for-bit needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub format_version: u32,
    /// Optimizer steps taken.
    pub step: u64,
    /// The next batch to read.
    pub cursor: BatchCursor,
    pub best_score: Option<f64>,
    pub best_step: Option<u64>,
    /// Validations since the best one (early stopping's patience counter).
    pub bad_validations: u64,
    pub seed: u64,
    pub src_vocab: usize,
    pub tgt_vocab: usize,
    pub model: ModelConfig,
    pub log_window: LogWindow,
    /// Training wall time so far, in seconds.
    pub elapsed_s: f64,
    /// FNV-1a over every parameter's f32 values: two runs agree bit for bit iff these match.
    pub params_fingerprint: String,
}

impl TrainState {
    /// Says which field differs when this checkpoint cannot hold `model` at these vocab sizes.
    pub fn check_compatible(
        &self,
        model: &ModelConfig,
        src_vocab: usize,
        tgt_vocab: usize,
    ) -> Result<()> {
        if self.format_version != FORMAT_VERSION {
            bail!(
                "checkpoint format version {} is not supported (this nmt reads version {FORMAT_VERSION})",
                self.format_version
            );
        }
        let saved = serde_json::to_value(&self.model)?;
        let wanted = serde_json::to_value(model)?;
        let shape_fields = [
            "d_model",
            "heads",
            "ff_dim",
            "encoder_layers",
            "decoder_layers",
            "positions",
            "max_positions",
            "share_embeddings",
            "tie_output",
            "norm",
            "activation",
        ];
        for field in shape_fields {
            if saved[field] != wanted[field] {
                bail!(
                    "checkpoint is from another model: model.{field} is {} in the checkpoint but {} in the config",
                    saved[field],
                    wanted[field]
                );
            }
        }
        if (self.src_vocab, self.tgt_vocab) != (src_vocab, tgt_vocab) {
            bail!(
                "checkpoint is from another model: vocabulary sizes are {}/{} (source/target) in the checkpoint but {src_vocab}/{tgt_vocab} with this tokenizer",
                self.src_vocab,
                self.tgt_vocab
            );
        }
        Ok(())
    }
}

struct Fingerprint(u64);

impl ModuleVisitor for Fingerprint {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        for v in param.val().into_data().iter::<f32>() {
            for b in v.to_bits().to_le_bytes() {
                self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100000001b3);
            }
        }
    }
}

/// A hash of every parameter value, in module order.
pub fn params_fingerprint(model: &Transformer) -> String {
    let mut f = Fingerprint(0xcbf29ce484222325);
    model.visit(&mut f);
    format!("{:016x}", f.0)
}

pub struct CheckpointStore {
    dir: PathBuf,
}

fn fsync_file(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot fsync {}", path.display()))
}

fn fsync_dir(path: &Path) -> Result<()> {
    // Directory fsync makes the rename itself durable; not every filesystem supports it.
    if let Ok(dir) = fs::File::open(path) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f =
        fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

impl CheckpointStore {
    pub fn new(run_dir: &Path) -> Self {
        Self {
            dir: run_dir.join("checkpoints"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes temporary directories a crash may have left behind.
    pub fn clean_partial(&self) -> Result<()> {
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(".tmp-") || name.starts_with(".old-") {
                    fs::remove_dir_all(entry.path()).ok();
                }
            }
        }
        Ok(())
    }

    /// Writes a checkpoint atomically, points `latest` (and `best` when `is_best`) at it, and
    /// prunes all but the `keep_last` newest and the best. `extra_files` (config, tokenizer)
    /// are copied in so a checkpoint stands alone.
    pub fn save(
        &self,
        model: &Transformer,
        optimizer: &ModuleOptimizer,
        state: &TrainState,
        extra_files: &[(&str, Vec<u8>)],
        keep_last: usize,
        is_best: bool,
    ) -> Result<PathBuf> {
        fs::create_dir_all(&self.dir)?;
        let name = format!("step-{:09}", state.step);
        let tmp = self.dir.join(format!(".tmp-{name}-{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        let model_path = tmp.join("model.bpk");
        model
            .clone()
            .save_file(&model_path)
            .map_err(|e| anyhow!("cannot write {}: {e:?}", model_path.display()))?;
        fsync_file(&model_path)?;
        let optim_path = tmp.join("optimizer.bpk");
        optimizer
            .to_record()
            .save(&optim_path)
            .map_err(|e| anyhow!("cannot write {}: {e:?}", optim_path.display()))?;
        fsync_file(&optim_path)?;
        for (file, bytes) in extra_files {
            write_synced(&tmp.join(file), bytes)?;
        }
        // state.json last: a directory with it is complete.
        write_synced(
            &tmp.join("state.json"),
            serde_json::to_string_pretty(state)?.as_bytes(),
        )?;
        fsync_dir(&tmp)?;
        test_hook_delay();

        let final_dir = self.dir.join(&name);
        if final_dir.exists() {
            // Re-saving a step (e.g. after resuming): move the old one aside first.
            let old = self.dir.join(format!(".old-{name}-{}", std::process::id()));
            fs::rename(&final_dir, &old)?;
            fs::rename(&tmp, &final_dir)?;
            fs::remove_dir_all(&old).ok();
        } else {
            fs::rename(&tmp, &final_dir)?;
        }
        fsync_dir(&self.dir)?;
        self.set_pointer("latest", &name)?;
        if is_best {
            self.set_pointer("best", &name)?;
        }
        self.prune(keep_last)?;
        Ok(final_dir)
    }

    fn set_pointer(&self, pointer: &str, name: &str) -> Result<()> {
        let tmp = self.dir.join(format!(".{pointer}.tmp"));
        write_synced(&tmp, format!("{name}\n").as_bytes())?;
        fs::rename(&tmp, self.dir.join(pointer))?;
        fsync_dir(&self.dir)
    }

    fn pointer(&self, pointer: &str) -> Result<Option<PathBuf>> {
        let path = self.dir.join(pointer);
        match fs::read_to_string(&path) {
            Ok(name) => {
                let dir = self.dir.join(name.trim());
                if !dir.join("state.json").exists() {
                    bail!(
                        "{} points at {}, which is not a complete checkpoint",
                        path.display(),
                        dir.display()
                    );
                }
                Ok(Some(dir))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn latest(&self) -> Result<Option<PathBuf>> {
        self.pointer("latest")
    }

    pub fn best(&self) -> Result<Option<PathBuf>> {
        self.pointer("best")
    }

    /// `best`, `latest`, or a path to a checkpoint directory.
    pub fn resolve(&self, spec: &str) -> Result<PathBuf> {
        let found = match spec {
            "best" => self.best()?.or(self.latest()?),
            "latest" => self.latest()?,
            path => {
                let p = PathBuf::from(path);
                if !p.join("state.json").exists() {
                    bail!("{path} is not a checkpoint directory (no state.json in it)");
                }
                Some(p)
            }
        };
        found.ok_or_else(|| anyhow!("no checkpoint in {} yet", self.dir.display()))
    }

    /// Complete checkpoints, oldest first.
    pub fn list(&self) -> Result<Vec<(u64, PathBuf)>> {
        let mut found = Vec::new();
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(step) = name
                    .strip_prefix("step-")
                    .and_then(|s| s.parse::<u64>().ok())
                    && entry.path().join("state.json").exists()
                {
                    found.push((step, entry.path()));
                }
            }
        }
        found.sort();
        Ok(found)
    }

    fn prune(&self, keep_last: usize) -> Result<()> {
        let best = self.best()?;
        let all = self.list()?;
        let cut = all.len().saturating_sub(keep_last.max(1));
        for (_, dir) in &all[..cut] {
            if Some(dir) != best.as_ref() {
                fs::remove_dir_all(dir).ok();
            }
        }
        Ok(())
    }

    pub fn load_state(checkpoint: &Path) -> Result<TrainState> {
        let path = checkpoint.join("state.json");
        let text =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        if let Some(v) = value.get("format_version").and_then(|v| v.as_u64())
            && v != u64::from(FORMAT_VERSION)
        {
            bail!(
                "{}: checkpoint format version {v} is not supported (this nmt reads version {FORMAT_VERSION})",
                checkpoint.display()
            );
        }
        serde_json::from_value(value)
            .with_context(|| format!("{} is not a checkpoint state", path.display()))
    }

    /// Loads the weights into `model` (built from the same config); the caller has checked
    /// compatibility with [`TrainState::check_compatible`] first, so no half model is loaded.
    pub fn load_model(checkpoint: &Path, model: Transformer) -> Result<Transformer> {
        let path = checkpoint.join("model.bpk");
        model
            .try_load_file(&path)
            .map_err(|e| anyhow!("cannot load {}: {e:?}", path.display()))
    }

    pub fn load_optimizer(
        checkpoint: &Path,
        optimizer: ModuleOptimizer,
    ) -> Result<ModuleOptimizer> {
        let path = checkpoint.join("optimizer.bpk");
        let record = OptimizerRecord::load(&path)
            .map_err(|e| anyhow!("cannot load {}: {e:?}", path.display()))?;
        Ok(optimizer.load_record(record))
    }
}

/// Lets the end-to-end test kill the process while a checkpoint is half written.
fn test_hook_delay() {
    if let Some(ms) = std::env::var("NMT_TEST_CHECKPOINT_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
