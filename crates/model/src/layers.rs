//! Encoder and decoder layers: attention and feed-forward sub-layers with residual connections,
//! LayerNorm before (pre-norm) or after (post-norm) each, and the stacks built from them.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::{gelu, relu};
use burn::tensor::{Bool, Device, Tensor};

use crate::attention::{
    AttentionOutput, CausalSelfAttention, CrossAttention, EncoderSelfAttention,
    MultiHeadAttentionConfig,
};
use crate::cache::LayerKv;
use crate::config::{Activation, ModelConfig, NormPosition};
use crate::dropout::Dropout;
use crate::fused;
use crate::init::xavier_linear;
use crate::precision::Precision;

/// Position-wise feed-forward block: `W2 drop(act(W1 x))`.
#[derive(Module, Debug)]
pub struct FeedForward {
    pub inner: Linear,
    pub outer: Linear,
    pub dropout: Dropout,
    pub gelu: bool,
    #[module(skip)]
    pub precision: Precision,
}

impl FeedForward {
    pub fn new(cfg: &ModelConfig, device: &Device) -> Self {
        Self {
            inner: xavier_linear(cfg.d_model, cfg.ff_dim, device),
            outer: xavier_linear(cfg.ff_dim, cfg.d_model, device),
            dropout: Dropout::new(cfg.activation_dropout),
            gelu: cfg.activation == Activation::Gelu,
            precision: Precision::F32,
        }
    }

    /// In the compute precision inside; the output is f32, for the residual stream.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = self.precision.project(&self.inner, x);
        let h = if self.gelu { gelu(h) } else { relu(h) };
        Precision::full(self.precision.project(&self.outer, self.dropout.forward(h)))
    }
}

/// One residual sub-layer's wiring, shared by every sub-layer of both stacks.
#[derive(Module, Debug)]
pub struct Residual {
    pub norm: LayerNorm,
    pub dropout: Dropout,
    pub pre_norm: bool,
    /// The LayerNorm's epsilon (Burn's module keeps its own private), for [`fused::layer_norm`].
    #[module(skip)]
    pub norm_eps: f64,
}

impl Residual {
    fn new(cfg: &ModelConfig, device: &Device) -> Self {
        Self {
            norm: LayerNormConfig::new(cfg.d_model)
                .with_epsilon(cfg.layer_norm_eps)
                .init(device),
            dropout: Dropout::new(cfg.dropout),
            pre_norm: cfg.norm == NormPosition::Pre,
            norm_eps: cfg.layer_norm_eps,
        }
    }

    /// What the sub-layer reads: the normalised input under pre-norm, the raw one under post-norm.
    fn input(&self, x: &Tensor<3>) -> Tensor<3> {
        if self.pre_norm {
            fused::layer_norm(&self.norm, x.clone(), self.norm_eps)
        } else {
            x.clone()
        }
    }

    /// Adds the sub-layer's output back onto the residual stream.
    fn output(&self, x: Tensor<3>, sublayer_out: Tensor<3>) -> Tensor<3> {
        let y = x + self.dropout.forward(sublayer_out);
        if self.pre_norm {
            y
        } else {
            fused::layer_norm(&self.norm, y, self.norm_eps)
        }
    }
}

fn attention_config(cfg: &ModelConfig) -> MultiHeadAttentionConfig {
    MultiHeadAttentionConfig {
        d_model: cfg.d_model,
        heads: cfg.heads,
        dropout: cfg.attention_dropout,
    }
}

#[derive(Module, Debug)]
pub struct EncoderLayer {
    pub self_attn: EncoderSelfAttention,
    pub attn_residual: Residual,
    pub ffn: FeedForward,
    pub ffn_residual: Residual,
}

impl EncoderLayer {
    pub fn new(cfg: &ModelConfig, device: &Device) -> Self {
        Self {
            self_attn: EncoderSelfAttention {
                attention: attention_config(cfg).init(device),
            },
            attn_residual: Residual::new(cfg, device),
            ffn: FeedForward::new(cfg, device),
            ffn_residual: Residual::new(cfg, device),
        }
    }

    pub fn forward(
        &self,
        x: Tensor<3>,
        src_pad: Tensor<2, Bool>,
        need_weights: bool,
    ) -> (Tensor<3>, Option<Tensor<4>>) {
        let AttentionOutput { context, weights } =
            self.self_attn
                .forward(self.attn_residual.input(&x), src_pad, need_weights);
        let x = self.attn_residual.output(x, context);
        let h = self.ffn.forward(self.ffn_residual.input(&x));
        (self.ffn_residual.output(x, h), weights)
    }
}

#[derive(Module, Debug)]
pub struct DecoderLayer {
    pub self_attn: CausalSelfAttention,
    pub self_residual: Residual,
    pub cross_attn: CrossAttention,
    pub cross_residual: Residual,
    pub ffn: FeedForward,
    pub ffn_residual: Residual,
}

/// Attention weights one decoder layer produced, when asked for.
pub type DecoderLayerWeights = (Option<Tensor<4>>, Option<Tensor<4>>);

impl DecoderLayer {
    pub fn new(cfg: &ModelConfig, device: &Device) -> Self {
        Self {
            self_attn: CausalSelfAttention {
                attention: attention_config(cfg).init(device),
            },
            self_residual: Residual::new(cfg, device),
            cross_attn: CrossAttention {
                attention: attention_config(cfg).init(device),
            },
            cross_residual: Residual::new(cfg, device),
            ffn: FeedForward::new(cfg, device),
            ffn_residual: Residual::new(cfg, device),
        }
    }

    /// Teacher-forced pass over the whole target.
    pub fn forward(
        &self,
        x: Tensor<3>,
        memory: Tensor<3>,
        src_pad: Tensor<2, Bool>,
        need_weights: bool,
    ) -> (Tensor<3>, DecoderLayerWeights) {
        let s = self
            .self_attn
            .forward(self.self_residual.input(&x), None, need_weights);
        let x = self.self_residual.output(x, s.context);
        let c =
            self.cross_attn
                .forward(self.cross_residual.input(&x), memory, src_pad, need_weights);
        let x = self.cross_residual.output(x, c.context);
        let h = self.ffn.forward(self.ffn_residual.input(&x));
        (self.ffn_residual.output(x, h), (s.weights, c.weights))
    }

    /// One incremental step for the newest position, `x`: `[batch, 1, d_model]`.
    pub fn forward_step(
        &self,
        x: Tensor<3>,
        kv: &mut LayerKv,
        memory_mask: Tensor<4, Bool>,
        memory_rows: Option<&[usize]>,
        group: usize,
        need_weights: bool,
    ) -> (Tensor<3>, DecoderLayerWeights) {
        let s = self.self_attn.forward_step(
            self.self_residual.input(&x),
            &mut kv.self_kv,
            kv.self_rows.take(),
            need_weights,
        );
        let x = self.self_residual.output(x, s.context);
        let c = self.cross_attn.forward_cached(
            self.cross_residual.input(&x),
            kv.cross_k.clone(),
            kv.cross_v.clone(),
            memory_mask,
            memory_rows,
            group,
            need_weights,
        );
        let x = self.cross_residual.output(x, c.context);
        let h = self.ffn.forward(self.ffn_residual.input(&x));
        (self.ffn_residual.output(x, h), (s.weights, c.weights))
    }
}

/// A stack of encoder layers, with the final LayerNorm that pre-norm needs.
#[derive(Module, Debug)]
pub struct Encoder {
    pub layers: Vec<EncoderLayer>,
    pub final_norm: Option<LayerNorm>,
    #[module(skip)]
    pub norm_eps: f64,
}

impl Encoder {
    pub fn new(cfg: &ModelConfig, device: &Device) -> Self {
        Self {
            layers: (0..cfg.encoder_layers)
                .map(|_| EncoderLayer::new(cfg, device))
                .collect(),
            final_norm: final_norm(cfg, device),
            norm_eps: cfg.layer_norm_eps,
        }
    }

    /// Returns the memory `[batch, src_len, d_model]` and, if asked, each layer's weights.
    pub fn forward(
        &self,
        mut x: Tensor<3>,
        src_pad: Tensor<2, Bool>,
        need_weights: bool,
    ) -> (Tensor<3>, Vec<Tensor<4>>) {
        let mut all = Vec::new();
        for layer in &self.layers {
            let (y, w) = layer.forward(x, src_pad.clone(), need_weights);
            x = y;
            all.extend(w);
        }
        (apply_norm(&self.final_norm, x, self.norm_eps), all)
    }
}

/// A stack of decoder layers, with the final LayerNorm that pre-norm needs.
#[derive(Module, Debug)]
pub struct Decoder {
    pub layers: Vec<DecoderLayer>,
    pub final_norm: Option<LayerNorm>,
    #[module(skip)]
    pub norm_eps: f64,
}

impl Decoder {
    pub fn new(cfg: &ModelConfig, device: &Device) -> Self {
        Self {
            layers: (0..cfg.decoder_layers)
                .map(|_| DecoderLayer::new(cfg, device))
                .collect(),
            final_norm: final_norm(cfg, device),
            norm_eps: cfg.layer_norm_eps,
        }
    }

    pub fn final_output(&self, x: Tensor<3>) -> Tensor<3> {
        apply_norm(&self.final_norm, x, self.norm_eps)
    }
}

fn final_norm(cfg: &ModelConfig, device: &Device) -> Option<LayerNorm> {
    (cfg.norm == NormPosition::Pre).then(|| {
        LayerNormConfig::new(cfg.d_model)
            .with_epsilon(cfg.layer_norm_eps)
            .init(device)
    })
}

fn apply_norm(norm: &Option<LayerNorm>, x: Tensor<3>, eps: f64) -> Tensor<3> {
    match norm {
        Some(norm) => fused::layer_norm(norm, x, eps),
        None => x,
    }
}
