//! The whole encoder-decoder: embeddings in, logits out, for teacher-forced training and for
//! step-by-step decoding over a [`DecoderCache`].

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Bool, Device, Int, Tensor};

use nmt_core::{InvalidSetting, check};

use crate::PAD_ID;
use crate::attention::key_padding_mask;
use crate::cache::{DecoderCache, LayerKv};
use crate::config::ModelConfig;
use crate::dropout::Dropout;
use crate::embedding::{Positions, TokenEmbedding};
use crate::init::xavier_linear;
use crate::layers::{Decoder, Encoder};
use crate::precision::{Precision, folded_linear};

#[derive(Module, Debug)]
pub struct Transformer {
    /// Source embedding; `None` when it is shared with the target's (one table, one parameter).
    pub src_embed: Option<TokenEmbedding>,
    pub tgt_embed: TokenEmbedding,
    pub src_positions: Positions,
    pub tgt_positions: Positions,
    pub embed_dropout: Dropout,
    pub encoder: Encoder,
    pub decoder: Decoder,
    /// Output projection; `None` when tied to the target embedding.
    pub output: Option<Linear>,
    /// The dtype matrix products run in ([`Transformer::with_precision`]); weights stay f32.
    #[module(skip)]
    pub precision: Precision,
}

/// Attention weights of a teacher-forced pass, one tensor per layer:
/// encoder `[batch, heads, src, src]`, decoder self `[batch, heads, tgt, tgt]`,
/// cross `[batch, heads, tgt, src]`.
#[derive(Debug, Clone, Default)]
pub struct AttentionTrace {
    pub encoder: Vec<Tensor<4>>,
    pub decoder_self: Vec<Tensor<4>>,
    pub cross: Vec<Tensor<4>>,
}

/// Attention weights of one decoding step, one tensor per decoder layer:
/// self `[batch, heads, 1, position + 1]`, cross `[batch, heads, 1, src]`.
#[derive(Debug, Clone, Default)]
pub struct StepAttention {
    pub decoder_self: Vec<Tensor<4>>,
    pub cross: Vec<Tensor<4>>,
}

impl ModelConfig {
    /// Builds the model for the given vocabulary sizes. Errors name the config key at fault.
    pub fn init(
        &self,
        src_vocab: usize,
        tgt_vocab: usize,
        device: &Device,
    ) -> Result<Transformer, InvalidSetting> {
        self.validate()?;
        check(
            !self.share_embeddings || src_vocab == tgt_vocab,
            "model.share_embeddings",
            true,
            &format!(
                "needs one joint vocabulary, but the source has {src_vocab} tokens and the target \
                 {tgt_vocab} (set tokenizer.joint = true or model.share_embeddings = false)"
            ),
        )?;
        let d = self.d_model;
        Ok(Transformer {
            src_embed: (!self.share_embeddings)
                .then(|| TokenEmbedding::new(src_vocab, d, PAD_ID as usize, device)),
            tgt_embed: TokenEmbedding::new(tgt_vocab, d, PAD_ID as usize, device),
            src_positions: Positions::new(self.positions, self.max_positions, d, device),
            tgt_positions: Positions::new(self.positions, self.max_positions, d, device),
            embed_dropout: Dropout::new(self.dropout),
            encoder: Encoder::new(self, device),
            decoder: Decoder::new(self, device),
            output: (!self.tie_output).then(|| xavier_linear(d, tgt_vocab, device)),
            precision: Precision::F32,
        })
    }
}

impl Transformer {
    pub fn src_vocab_size(&self) -> usize {
        self.src_embed
            .as_ref()
            .unwrap_or(&self.tgt_embed)
            .vocab_size()
    }

    pub fn tgt_vocab_size(&self) -> usize {
        self.tgt_embed.vocab_size()
    }

    /// `[batch, len]` ids -> `[batch, len]`, true at padding.
    pub fn padding_mask(ids: &Tensor<2, Int>) -> Tensor<2, Bool> {
        ids.clone().equal_elem(i64::from(PAD_ID))
    }

    fn embed_source(&self, src: Tensor<2, Int>) -> Tensor<3> {
        let len = src.dims()[1];
        let embed = self.src_embed.as_ref().unwrap_or(&self.tgt_embed);
        self.embed_dropout
            .forward(embed.forward(src) + self.src_positions.forward(0, len))
    }

    fn embed_target(&self, tgt: Tensor<2, Int>, start: usize) -> Tensor<3> {
        let len = tgt.dims()[1];
        self.embed_dropout
            .forward(self.tgt_embed.forward(tgt) + self.tgt_positions.forward(start, len))
    }

    /// Encodes `src` `[batch, src_len]`: the memory `[batch, src_len, d_model]`, the source
    /// padding mask, and (if asked) each encoder layer's self-attention weights.
    pub fn encode(
        &self,
        src: Tensor<2, Int>,
        need_weights: bool,
    ) -> (Tensor<3>, Tensor<2, Bool>, Vec<Tensor<4>>) {
        let src_pad = Self::padding_mask(&src);
        let (memory, weights) =
            self.encoder
                .forward(self.embed_source(src), src_pad.clone(), need_weights);
        (memory, src_pad, weights)
    }

    /// Hidden states -> logits over the target vocabulary, computed in the model's precision
    /// and returned in f32 (the loss and the search read them).
    pub fn logits<const D: usize>(&self, hidden: Tensor<D>) -> Tensor<D> {
        let p = self.precision;
        let logits = match &self.output {
            Some(output) => p.project(output, hidden),
            None => {
                let weight = p.compute(self.tgt_embed.weight.val().transpose());
                folded_linear(p.compute(hidden), weight, None)
            }
        };
        Precision::full(logits)
    }

    /// The model computing in `precision`: every projection and attention product in its dtype,
    /// with the weights kept f32 and cast on use. The default is f32.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        let attentions = self
            .encoder
            .layers
            .iter_mut()
            .map(|l| &mut l.self_attn.attention)
            .chain(
                self.decoder
                    .layers
                    .iter_mut()
                    .flat_map(|l| [&mut l.self_attn.attention, &mut l.cross_attn.attention]),
            );
        for attention in attentions {
            attention.precision = precision;
        }
        let ffns = self.encoder.layers.iter_mut().map(|l| &mut l.ffn);
        for ffn in ffns.chain(self.decoder.layers.iter_mut().map(|l| &mut l.ffn)) {
            ffn.precision = precision;
        }
        self
    }

    /// Teacher forcing: `src` `[batch, src_len]`, `tgt_in` `[batch, tgt_len]` (the target
    /// shifted right, `<s>` first) -> logits `[batch, tgt_len, tgt_vocab]`.
    pub fn forward(&self, src: Tensor<2, Int>, tgt_in: Tensor<2, Int>) -> Tensor<3> {
        self.forward_traced(src, tgt_in, false).0
    }

    /// [`Self::forward`], also returning every attention module's weights when `need_weights`.
    pub fn forward_traced(
        &self,
        src: Tensor<2, Int>,
        tgt_in: Tensor<2, Int>,
        need_weights: bool,
    ) -> (Tensor<3>, AttentionTrace) {
        let (memory, src_pad, encoder) = self.encode(src, need_weights);
        let mut trace = AttentionTrace {
            encoder,
            ..Default::default()
        };
        let mut x = self.embed_target(tgt_in, 0);
        for layer in &self.decoder.layers {
            let (y, (s, c)) = layer.forward(x, memory.clone(), src_pad.clone(), need_weights);
            x = y;
            trace.decoder_self.extend(s);
            trace.cross.extend(c);
        }
        (self.logits(self.decoder.final_output(x)), trace)
    }

    /// Prepares incremental decoding of the encoded batch: cross-attention keys and values are
    /// computed here, once per sentence, for every decoder layer.
    pub fn start_decoding(&self, memory: Tensor<3>, src_pad: Tensor<2, Bool>) -> DecoderCache {
        DecoderCache {
            layers: self
                .decoder
                .layers
                .iter()
                .map(|layer| {
                    let (cross_k, cross_v) = layer.cross_attn.memory_kv(memory.clone());
                    LayerKv {
                        self_kv: None,
                        self_rows: None,
                        cross_k,
                        cross_v,
                    }
                })
                .collect(),
            memory_mask: key_padding_mask(src_pad),
            position: 0,
            group: 1,
            memory_rows: None,
        }
    }

    /// One decoding step: `tokens` `[batch]` are the previous outputs (`<s>` at step 0);
    /// returns logits `[batch, tgt_vocab]` for the next position and advances the cache.
    pub fn decode_step(
        &self,
        tokens: Tensor<1, Int>,
        cache: &mut DecoderCache,
        need_weights: bool,
    ) -> (Tensor<2>, StepAttention) {
        let batch = tokens.dims()[0];
        let mut x = self.embed_target(tokens.reshape([batch, 1]), cache.position);
        let mut attention = StepAttention::default();
        for (layer, kv) in self.decoder.layers.iter().zip(cache.layers.iter_mut()) {
            let (y, (s, c)) = layer.forward_step(
                x,
                kv,
                cache.memory_mask.clone(),
                cache.memory_rows.as_deref(),
                cache.group,
                need_weights,
            );
            x = y;
            attention.decoder_self.extend(s);
            attention.cross.extend(c);
        }
        cache.position += 1;
        let [b, _, d] = x.dims();
        let hidden = self.decoder.final_output(x).reshape([b, d]);
        (self.logits(hidden), attention)
    }
}
