//! The run configuration: one TOML file read once into one typed tree, with `--set` overrides
//! applied before it is checked. Unknown keys and wrong types are errors that name the key.

use std::path::{Path, PathBuf};

use nmt_core::{InvalidSetting, check};
use nmt_data::{DataConfig, TokenizerConfig};
use nmt_decode::DecodeConfig;
use nmt_model::{ModelConfig, Precision};
use serde::{Deserialize, Serialize};

/// Everything a run needs, section by section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub data: DataConfig,
    #[serde(default)]
    pub tokenizer: TokenizerConfig,
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub train: TrainConfig,
    /// Decoding settings for validation BLEU, the final test and `nmt translate` defaults.
    #[serde(default)]
    pub decode: DecodeConfig,
    #[serde(default)]
    pub run: RunSection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Linear warm-up to `lr`, then `lr * sqrt(warmup / step)` (fairseq's inverse_sqrt).
    InverseSqrt,
    /// Vaswani et al.: `lr * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)`; `lr` is the factor.
    Noam,
    /// `lr` at every step.
    Constant,
    /// Linear warm-up to `lr`, then half a cosine from `lr` down to `min_lr` at `max_steps`
    /// (fairseq's cosine without restarts, nanoGPT's schedule): for a run whose length is known,
    /// the rate reaches its floor when the run ends instead of staying at a fraction of the peak.
    Cosine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam; `weight_decay` is added to the gradient (L2).
    Adam,
    /// AdamW; `weight_decay` is decoupled.
    Adamw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopMetric {
    Bleu,
    Loss,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Stop after this many optimizer steps (default 100000; 0 = no limit).
    pub max_steps: u64,
    /// Stop after this many epochs (default 0 = no limit).
    pub max_epochs: u64,
    /// Stop once training has run this many hours in all, across resumed sittings, after
    /// validating and checkpointing that last step (default 0 = no limit).
    pub max_hours: f64,
    /// Validate every N steps (default 1000; 0 = only at the end).
    pub valid_every: u64,
    /// Write a checkpoint every N steps (default 1000); one is also written at the end.
    pub checkpoint_every: u64,
    /// How many recent checkpoints to keep (default 5); the best is kept as well.
    pub keep_last: usize,
    /// Seed for initialisation, data order and dropout (default 1).
    pub seed: u64,
    /// Peak learning rate (default 5e-4; for "noam" the factor, e.g. 2.0).
    pub lr: f64,
    /// "inverse_sqrt" (default), "noam", "constant" or "cosine" (decays to `min_lr` at `max_steps`).
    pub schedule: Schedule,
    /// The rate "cosine" ends at, at `max_steps` (default 0.0).
    pub min_lr: f64,
    /// Linear warm-up steps (default 4000).
    pub warmup_steps: u64,
    /// "adam" (default) or "adamw".
    pub optimizer: OptimizerKind,
    /// Adam betas (default [0.9, 0.98]).
    pub betas: [f64; 2],
    /// Adam epsilon (default 1e-9).
    pub eps: f64,
    /// Weight decay (default 0.0).
    pub weight_decay: f64,
    /// Clip the global gradient norm over all parameters to this (default 1.0; 0 = off).
    pub clip_norm: f64,
    /// Batches whose gradients are averaged into one optimizer step (default 1).
    pub accum_steps: usize,
    /// Label smoothing of the cross entropy (default 0.1).
    pub label_smoothing: f64,
    /// Early stopping: stop after this many validations without improvement (default 0 = off).
    pub patience: u64,
    /// Metric for "best" and early stopping: "bleu" (default) or "loss".
    pub best_metric: StopMetric,
    /// Write a training event to metrics.jsonl (and a line to the log) every N steps (default 100).
    pub log_every: u64,
    /// Validate on at most this many sentences of the valid split (default 0 = all).
    pub valid_max_sentences: usize,
    /// The dtype of the matrix products: "f32" (default), "bf16" or "f16". Weights, optimizer
    /// state, layer norm, softmax and the loss stay f32; f16 adds a dynamic loss scale.
    pub precision: Precision,
    /// f16 only: the loss scale to start from (default 65536).
    pub loss_scale_init: f64,
    /// f16 only: clean steps after which the loss scale doubles (default 2000).
    pub loss_scale_window: u64,
    /// Fine-tuning: start from the weights of this checkpoint, or of the best (else latest)
    /// checkpoint of this run directory (default: none). Weights only: the optimizer, the
    /// schedule, the data position and the best score start fresh, and the parent's tokenizer
    /// is used. Its model shape and vocabulary must be this config's. Only a fresh start reads
    /// it; a resumed run continues from its own checkpoint.
    pub init_from: Option<PathBuf>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            max_steps: 100_000,
            max_epochs: 0,
            max_hours: 0.0,
            valid_every: 1000,
            checkpoint_every: 1000,
            keep_last: 5,
            seed: 1,
            lr: 5e-4,
            schedule: Schedule::InverseSqrt,
            min_lr: 0.0,
            warmup_steps: 4000,
            optimizer: OptimizerKind::Adam,
            betas: [0.9, 0.98],
            eps: 1e-9,
            weight_decay: 0.0,
            clip_norm: 1.0,
            accum_steps: 1,
            label_smoothing: 0.1,
            patience: 0,
            best_metric: StopMetric::Bleu,
            log_every: 100,
            valid_max_sentences: 0,
            precision: Precision::F32,
            loss_scale_init: 65536.0,
            loss_scale_window: 2000,
            init_from: None,
        }
    }
}

impl TrainConfig {
    /// Checks the values serde cannot; the error names the key and says what is allowed.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let t = self;
        check(
            t.accum_steps >= 1,
            "train.accum_steps",
            t.accum_steps,
            "must be at least 1",
        )?;
        check(
            (0.0..1.0).contains(&t.label_smoothing),
            "train.label_smoothing",
            t.label_smoothing,
            "must be in [0, 1)",
        )?;
        check(
            t.lr > 0.0 && t.lr.is_finite(),
            "train.lr",
            t.lr,
            "must be a positive number",
        )?;
        check(
            (0.0..=t.lr).contains(&t.min_lr),
            "train.min_lr",
            t.min_lr,
            &format!("must be in [0, train.lr = {}]", t.lr),
        )?;
        check(
            t.schedule != Schedule::Cosine || t.max_steps > t.warmup_steps,
            "train.max_steps",
            t.max_steps,
            &format!(
                "must exceed train.warmup_steps ({}): train.schedule = \"cosine\" decays over it",
                t.warmup_steps
            ),
        )?;
        check(
            t.max_hours >= 0.0 && t.max_hours.is_finite(),
            "train.max_hours",
            t.max_hours,
            "must be 0 (no limit) or a positive number of hours",
        )?;
        check(
            t.max_steps > 0 || t.max_epochs > 0 || t.max_hours > 0.0 || t.patience > 0,
            "train.max_steps",
            t.max_steps,
            "set train.max_steps, train.max_epochs, train.max_hours or train.patience, or the run never stops",
        )?;
        check(
            t.checkpoint_every >= 1,
            "train.checkpoint_every",
            t.checkpoint_every,
            "must be at least 1",
        )?;
        check(
            t.keep_last >= 1,
            "train.keep_last",
            t.keep_last,
            "must be at least 1",
        )?;
        for (i, beta) in t.betas.iter().enumerate() {
            check(
                (0.0..1.0).contains(beta),
                if i == 0 {
                    "train.betas[0]"
                } else {
                    "train.betas[1]"
                },
                beta,
                "must be in [0, 1)",
            )?;
        }
        check(
            t.eps > 0.0 && t.eps.is_finite(),
            "train.eps",
            t.eps,
            "must be a small positive number, e.g. 1e-9",
        )?;
        check(
            t.weight_decay >= 0.0 && t.weight_decay.is_finite(),
            "train.weight_decay",
            t.weight_decay,
            "must be a number >= 0",
        )?;
        check(
            t.clip_norm >= 0.0 && t.clip_norm.is_finite(),
            "train.clip_norm",
            t.clip_norm,
            "must be a number >= 0 (0 = no clipping)",
        )?;
        check(
            t.loss_scale_init >= 1.0 && t.loss_scale_init.is_finite(),
            "train.loss_scale_init",
            t.loss_scale_init,
            "must be a number >= 1, e.g. 65536",
        )?;
        check(
            t.loss_scale_window >= 1,
            "train.loss_scale_window",
            t.loss_scale_window,
            "must be at least 1",
        )
    }
}

impl RunSection {
    /// The device is parsed (and probed) by the binary; here it must at least be named.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        check(
            !self.device.trim().is_empty(),
            "run.device",
            format!("{:?}", self.device),
            "must name a device, e.g. \"flex\"",
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSection {
    /// Run directory (default `runs/<config file stem>`).
    pub dir: Option<PathBuf>,
    /// Backend and device: "flex" (default), "tch", "tch-cuda[:N]", "wgpu[:N]", "cuda[:N]".
    pub device: String,
}

impl Default for RunSection {
    fn default() -> Self {
        Self {
            dir: None,
            device: "flex".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("invalid --set {assignment:?}: {message}")]
    Override { assignment: String, message: String },
}

impl RunConfig {
    /// Reads `path`, applies `overrides` (`section.key=value`, the value in TOML syntax or a bare
    /// string), fills defaults (including `run.dir`) and checks the whole tree.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        // Parse the file as written first, so errors point at its lines.
        let mut config: RunConfig = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if !overrides.is_empty() {
            let mut table: toml::Table =
                toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
            for assignment in overrides {
                apply_override(&mut table, assignment)?;
            }
            config = table
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Override {
                    assignment: overrides.join(" "),
                    message: e.message().to_string(),
                })?;
        }
        if config.run.dir.is_none() {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            config.run.dir = Some(PathBuf::from("runs").join(stem.unwrap_or_else(|| "run".into())));
        }
        config.validate().map_err(|e| invalid(e.to_string()))?;
        Ok(config)
    }

    /// Checks every section (each validates itself), then what spans sections. The error
    /// names the key and says what is allowed. [`Self::load`] calls it once.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        self.data.validate()?;
        self.tokenizer.validate()?;
        self.model.validate()?;
        self.train.validate()?;
        self.decode.validate()?;
        self.run.validate()?;
        check(
            !self.model.share_embeddings || self.tokenizer.joint,
            "model.share_embeddings",
            true,
            "needs tokenizer.joint = true (one vocabulary for both sides)",
        )?;
        check(
            self.data.max_len < self.model.max_positions,
            "data.max_len",
            self.data.max_len,
            &format!(
                "plus </s> must fit model.max_positions = {}",
                self.model.max_positions
            ),
        )
    }

    pub fn run_dir(&self) -> &Path {
        self.run
            .dir
            .as_deref()
            .expect("run.dir is filled in by RunConfig::load")
    }

    /// The fully resolved config, defaults included, as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a RunConfig always serialises")
    }

    /// Parses a resolved config written by [`Self::to_toml`] (in a run directory or checkpoint).
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: origin.to_owned(),
            message: e.to_string(),
        })
    }
}

/// `section.key=value`: sets one key, creating intermediate tables.
fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), ConfigError> {
    let fail = |message: &str| ConfigError::Override {
        assignment: assignment.to_string(),
        message: message.to_string(),
    };
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| fail("expected section.key=value"))?;
    let path: Vec<&str> = key.trim().split('.').collect();
    if path.iter().any(|p| p.is_empty()) {
        return Err(fail("empty key"));
    }
    // A TOML value if it parses as one (numbers, booleans, arrays, quoted strings), else a string.
    let value = toml::from_str::<toml::Table>(&format!("v = {}", raw.trim()))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let (last, parents) = path.split_last().expect("non-empty");
    let mut node = table;
    for part in parents {
        node = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()))
            .as_table_mut()
            .ok_or_else(|| fail(&format!("{part} is not a section")))?;
    }
    node.insert(last.to_string(), value);
    Ok(())
}
