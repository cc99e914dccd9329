//! The model's own configuration: the `[model]` section of a run config.

use nmt_core::{InvalidSetting, check};
use serde::{Deserialize, Serialize};

/// Where the LayerNorm sits in each sub-layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NormPosition {
    /// `x + f(norm(x))`, with a final LayerNorm after the last layer. Trains stably without
    /// careful warm-up, so it is the default.
    Pre,
    /// `norm(x + f(x))`, as in the original Transformer.
    Post,
}

/// The feed-forward non-linearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Relu,
    Gelu,
}

/// How positions are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PositionKind {
    /// Fixed sin/cos table (Vaswani et al.); nothing to learn, any length up to `max_positions`.
    Sinusoidal,
    /// A learned table of `max_positions` vectors per side.
    Learned,
}

/// Shape and regularisation of the Transformer. Vocabulary sizes are not here: they come from
/// the tokenizer when the model is built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Width of every hidden state (default 256). Must be divisible by `heads`.
    pub d_model: usize,
    /// Attention heads per attention module (default 4).
    pub heads: usize,
    /// Inner width of the feed-forward blocks (default 1024).
    pub ff_dim: usize,
    /// Encoder layers (default 3).
    pub encoder_layers: usize,
    /// Decoder layers (default 3).
    pub decoder_layers: usize,
    /// Dropout on embeddings and on every residual branch (default 0.1).
    pub dropout: f64,
    /// Dropout on attention weights (default 0.0).
    pub attention_dropout: f64,
    /// Dropout after the feed-forward activation (default 0.0).
    pub activation_dropout: f64,
    /// Feed-forward activation: "relu" (default) or "gelu".
    pub activation: Activation,
    /// "pre" (default) or "post" LayerNorm.
    pub norm: NormPosition,
    /// "sinusoidal" (default) or "learned" positions.
    pub positions: PositionKind,
    /// Longest sequence the position table covers (default 1024).
    pub max_positions: usize,
    /// One embedding table for source and target (needs a joint vocabulary; default true).
    pub share_embeddings: bool,
    /// Output projection tied to the target embedding (default true).
    pub tie_output: bool,
    /// LayerNorm epsilon (default 1e-5).
    pub layer_norm_eps: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            d_model: 256,
            heads: 4,
            ff_dim: 1024,
            encoder_layers: 3,
            decoder_layers: 3,
            dropout: 0.1,
            attention_dropout: 0.0,
            activation_dropout: 0.0,
            activation: Activation::Relu,
            norm: NormPosition::Pre,
            positions: PositionKind::Sinusoidal,
            max_positions: 1024,
            share_embeddings: true,
            tie_output: true,
            layer_norm_eps: 1e-5,
        }
    }
}

impl ModelConfig {
    /// Checks the shape before anything is built; the error names the key.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        for (key, value) in [
            ("model.d_model", self.d_model),
            ("model.heads", self.heads),
            ("model.ff_dim", self.ff_dim),
            ("model.encoder_layers", self.encoder_layers),
            ("model.decoder_layers", self.decoder_layers),
        ] {
            check(value > 0, key, value, "must be at least 1")?;
        }
        check(
            self.d_model.is_multiple_of(self.heads),
            "model.d_model",
            self.d_model,
            &format!("must be divisible by model.heads = {}", self.heads),
        )?;
        check(
            self.positions != PositionKind::Sinusoidal || self.d_model.is_multiple_of(2),
            "model.d_model",
            self.d_model,
            "must be even for sinusoidal positions",
        )?;
        check(
            self.max_positions >= 2,
            "model.max_positions",
            self.max_positions,
            "must be at least 2 (one token and </s>)",
        )?;
        for (key, p) in [
            ("model.dropout", self.dropout),
            ("model.attention_dropout", self.attention_dropout),
            ("model.activation_dropout", self.activation_dropout),
        ] {
            check((0.0..1.0).contains(&p), key, p, "must be in [0, 1)")?;
        }
        check(
            self.layer_norm_eps > 0.0 && self.layer_norm_eps.is_finite(),
            "model.layer_norm_eps",
            self.layer_norm_eps,
            "must be a small positive number, e.g. 1e-5",
        )
    }
}
