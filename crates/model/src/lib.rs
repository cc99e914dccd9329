//! The Transformer encoder-decoder for translation, as Burn 0.22 modules written here.
//!
//! Multi-head scaled dot-product attention in its three roles ([`EncoderSelfAttention`],
//! [`CausalSelfAttention`], [`CrossAttention`]), pre-/post-norm layers, scaled token embeddings
//! with sinusoidal or learned positions, shared and tied embeddings, and an incremental-decoding
//! cache ([`DecoderCache`]) that beam search can reorder and shrink.
//!
//! This crate knows no files, tokenizers, configs on disk or command lines: it takes tensors of
//! token ids and its own [`ModelConfig`], and the `Device` decides the backend. Only the CPU
//! kernels name one (`host.rs`, `fused.rs`: Flex, where element-wise ops run on one thread), and
//! each falls back to Burn's own op on every other backend.

mod attention;
mod cache;
mod config;
mod dropout;
mod embedding;
mod fused;
mod host;
mod host_attention;
mod init;
mod layers;
mod model;
mod packed;
mod params;
mod precision;
mod rng;
mod step_cache;

pub use attention::{
    AttentionOutput, CausalSelfAttention, CrossAttention, EncoderSelfAttention, MASKED_SCORE,
    MultiHeadAttention, MultiHeadAttentionConfig,
};
pub use cache::{DecoderCache, LayerKv, SelfKv};
pub use config::{Activation, ModelConfig, NormPosition, PositionKind};
pub use dropout::Dropout;
pub use embedding::{Positions, TokenEmbedding};
pub use fused::{layer_norm, layer_norm_backward, softmax_backward, softmax_last};
pub use host::{host_f32, is_host_cpu, linear_rows, on_worker, select_rows};
pub use host_attention::{MAX_DECODE_QUERIES, attention_merged, attention_merged_rows};
pub use layers::{Decoder, DecoderLayer, Encoder, EncoderLayer, FeedForward};
pub use model::{AttentionTrace, StepAttention, Transformer};
pub use packed::with_packed_weights;
pub use params::{ParamInfo, parameter_values, parameters};
pub use precision::Precision;
pub use rng::seeded;
pub use step_cache::StepKv;

/// The reserved ids (`nmt-core`'s, the ones the tokenizer uses): padded positions never
/// contribute to attention or loss, `<s>` is the first decoder input, `</s>` ends every source
/// and every finished hypothesis.
pub use nmt_core::{BOS_ID, EOS_ID, PAD_ID};
