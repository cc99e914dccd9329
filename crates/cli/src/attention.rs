//! `nmt attention`: translates one sentence greedily and writes a self-contained HTML page of
//! the model's attention: cross-attention, encoder self-attention and decoder (causal)
//! self-attention, per layer and head and averaged over heads.
//!
//! The weights are the ones the model's own attention modules compute while decoding:
//! [`nmt_decode::greedy_with_attention`] records each step's decoder weights, and
//! [`nmt_model::Transformer::encode`] the encoder's. [`page_data`] turns them into the page's
//! matrices (a pure function, tested below); the page itself (`attention_page.html`) is plain
//! JS and CSS that draws them at view time from one JSON blob. Nothing is fetched: the file
//! opens from disk.

use std::path::PathBuf;

use anyhow::{Context, Result, bail, ensure};
use burn::tensor::{Int, Tensor, TensorData};
use clap::Args;
use nmt_train::{encode_sources, load_checkpoint};
use serde::Serialize;

use crate::device::parse_device;

const TEMPLATE: &str = include_str!("attention_page.html");
const DATA_MARK: &str = "/*__ATTENTION_DATA__*/null";

#[derive(Args, Debug)]
pub struct AttentionArgs {
    /// The run directory.
    #[arg(long)]
    run: PathBuf,
    /// `best`, `latest` or a checkpoint directory.
    #[arg(long, default_value = "best")]
    checkpoint: String,
    /// The sentence to translate.
    #[arg(long)]
    text: String,
    /// The HTML page to write.
    #[arg(long, default_value = "attention.html")]
    output: PathBuf,
    /// Device (default: the run's run.device).
    #[arg(long)]
    device: Option<String>,
}

/// A host copy of one attention-weights tensor `[batch, heads, queries, keys]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    pub dims: [usize; 4],
    pub data: Vec<f32>,
}

impl Weights {
    pub fn from_tensor(t: Tensor<4>) -> Self {
        let dims = t.dims();
        let data: Vec<f32> = t.into_data().iter::<f32>().collect();
        Self { dims, data }
    }

    fn at(&self, b: usize, h: usize, q: usize, k: usize) -> f32 {
        let [_, hs, qs, ks] = self.dims;
        self.data[((b * hs + h) * qs + q) * ks + k]
    }

    /// The `[queries, keys]` matrix of one sentence and head.
    pub fn matrix(&self, b: usize, h: usize) -> Matrix {
        let [_, _, qs, ks] = self.dims;
        (0..qs)
            .map(|q| (0..ks).map(|k| self.at(b, h, q, k)).collect())
            .collect()
    }
}

/// The weights of one decoding step, one tensor per decoder layer: self-attention
/// `[1, heads, 1, step + 1]` and cross-attention `[1, heads, 1, src_len]`.
#[derive(Debug, Clone, Default)]
pub struct StepWeights {
    pub decoder_self: Vec<Weights>,
    pub cross: Vec<Weights>,
}

impl StepWeights {
    /// One decoding step's attention tensors as plain weights.
    fn from_step(step: nmt_model::StepAttention) -> Self {
        Self {
            decoder_self: step
                .decoder_self
                .into_iter()
                .map(Weights::from_tensor)
                .collect(),
            cross: step.cross.into_iter().map(Weights::from_tensor).collect(),
        }
    }
}

/// `rows x cols` attention weights; row `i` is one query's distribution over the keys.
pub type Matrix = Vec<Vec<f32>>;

/// One layer of one attention role: a matrix per head and their mean.
#[derive(Debug, Clone, Serialize)]
pub struct LayerMaps {
    #[serde(serialize_with = "rounded_matrices")]
    pub heads: Vec<Matrix>,
    #[serde(serialize_with = "rounded_matrix")]
    pub average: Matrix,
}

/// Which tokens label a view's rows or columns: `tokens[side][start..start + n]`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Axis {
    pub side: &'static str,
    pub start: usize,
}

/// One attention role as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub id: &'static str,
    pub title: &'static str,
    pub subtitle: &'static str,
    pub rows: Axis,
    pub cols: Axis,
    /// Keys after the query are masked (decoder self-attention).
    pub causal: bool,
    pub layers: Vec<LayerMaps>,
}

/// Where the weights come from, shown in the page's header.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PageInfo {
    pub run: String,
    pub checkpoint: String,
    pub step: u64,
    pub model: String,
    pub device: String,
    pub log_prob: f64,
}

/// Everything the page draws.
#[derive(Debug, Clone, Serialize)]
pub struct PageData {
    pub source: String,
    pub translation: String,
    /// `src`: the source subwords (`</s>` last); `tgt`: `<s>`, the output subwords, `</s>`.
    pub tokens: Tokens,
    pub heads: usize,
    pub views: Vec<View>,
    pub info: PageInfo,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tokens {
    pub src: Vec<String>,
    pub tgt: Vec<String>,
}

/// Builds the page's matrices from the weights recorded while translating one sentence.
///
/// `src_tokens` are the source subwords the model read (its `</s>` included), `out_tokens` the
/// subwords it produced, one per decoding step (the final `</s>` included), `encoder` the
/// encoder's per-layer `[1, heads, src, src]` weights and `steps` the decoder's weights of each
/// step. Cross-attention becomes a `[out, src]` matrix per layer and head; decoder
/// self-attention a lower-triangular `[out, out]` one (row `t`: the step that produced output
/// `t`, over the decoder inputs `<s>`, outputs `0..t`; zero above the diagonal).
pub fn page_data(
    source: &str,
    translation: &str,
    src_tokens: &[String],
    out_tokens: &[String],
    encoder: &[Weights],
    steps: &[StepWeights],
    info: PageInfo,
) -> Result<PageData> {
    let (s, t) = (src_tokens.len(), out_tokens.len());
    ensure!(s > 0, "no source tokens");
    ensure!(
        steps.len() == t,
        "{} decoding steps for {t} output tokens",
        steps.len()
    );
    let heads = encoder
        .first()
        .map(|w| w.dims[1])
        .context("the encoder returned no attention weights")?;
    let dec_layers = steps.first().map_or(0, |st| st.decoder_self.len());

    let mut enc_maps = Vec::with_capacity(encoder.len());
    for (l, w) in encoder.iter().enumerate() {
        ensure!(
            w.dims == [1, heads, s, s],
            "encoder layer {l}: weights {:?}, expected {:?}",
            w.dims,
            [1, heads, s, s]
        );
        enc_maps.push(layer_maps((0..heads).map(|h| w.matrix(0, h)).collect()));
    }

    let mut self_maps = Vec::with_capacity(dec_layers);
    let mut cross_maps = Vec::with_capacity(dec_layers);
    for l in 0..dec_layers {
        let mut self_heads = vec![vec![vec![0f32; t]; t]; heads];
        let mut cross_heads = vec![vec![vec![0f32; s]; t]; heads];
        for (step, st) in steps.iter().enumerate() {
            ensure!(
                st.decoder_self.len() == dec_layers && st.cross.len() == dec_layers,
                "step {step}: weights of {} / {} decoder layers, expected {dec_layers}",
                st.decoder_self.len(),
                st.cross.len()
            );
            let (sw, cw) = (&st.decoder_self[l], &st.cross[l]);
            ensure!(
                sw.dims == [1, heads, 1, step + 1],
                "step {step}, decoder layer {l}: self-attention weights {:?}, expected {:?}",
                sw.dims,
                [1, heads, 1, step + 1]
            );
            ensure!(
                cw.dims == [1, heads, 1, s],
                "step {step}, decoder layer {l}: cross-attention weights {:?}, expected {:?}",
                cw.dims,
                [1, heads, 1, s]
            );
            for (h, (sm, cm)) in self_heads.iter_mut().zip(&mut cross_heads).enumerate() {
                // Keys after the step stay 0: they did not exist yet (causal).
                for (k, w) in sm[step][..=step].iter_mut().enumerate() {
                    *w = sw.at(0, h, 0, k);
                }
                for (k, w) in cm[step].iter_mut().enumerate() {
                    *w = cw.at(0, h, 0, k);
                }
            }
        }
        self_maps.push(layer_maps(self_heads));
        cross_maps.push(layer_maps(cross_heads));
    }

    let mut tgt = Vec::with_capacity(t + 1);
    tgt.push("<s>".to_string());
    tgt.extend(out_tokens.iter().cloned());
    let views = vec![
        View {
            id: "cross",
            title: "Cross-attention",
            subtitle: "Each target subword (row) over the source subwords (columns).",
            rows: Axis {
                side: "tgt",
                start: 1,
            },
            cols: Axis {
                side: "src",
                start: 0,
            },
            causal: false,
            layers: cross_maps,
        },
        View {
            id: "encoder",
            title: "Encoder self-attention",
            subtitle: "Each source subword (row) over all source subwords (columns).",
            rows: Axis {
                side: "src",
                start: 0,
            },
            cols: Axis {
                side: "src",
                start: 0,
            },
            causal: false,
            layers: enc_maps,
        },
        View {
            id: "decoder",
            title: "Decoder self-attention",
            subtitle: "The step that produced each target subword (row) over the decoder inputs \
                       so far (columns): causal, so nothing above the diagonal.",
            rows: Axis {
                side: "tgt",
                start: 1,
            },
            cols: Axis {
                side: "tgt",
                start: 0,
            },
            causal: true,
            layers: self_maps,
        },
    ];
    Ok(PageData {
        source: source.to_string(),
        translation: translation.to_string(),
        tokens: Tokens {
            src: src_tokens.to_vec(),
            tgt,
        },
        heads,
        views,
        info,
    })
}

fn layer_maps(heads: Vec<Matrix>) -> LayerMaps {
    let n = heads.len().max(1) as f32;
    let average = match heads.first() {
        Some(first) => (0..first.len())
            .map(|i| {
                (0..first[i].len())
                    .map(|j| heads.iter().map(|m| m[i][j]).sum::<f32>() / n)
                    .collect()
            })
            .collect(),
        None => Vec::new(),
    };
    LayerMaps { heads, average }
}

/// Weights go into the page with 4 decimals: enough to read, a third of the bytes.
fn round4(x: f32) -> f64 {
    (f64::from(x) * 1e4).round() / 1e4
}

fn rounded_matrix<S: serde::Serializer>(m: &Matrix, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(m.len()))?;
    for row in m {
        let row: Vec<f64> = row.iter().map(|&x| round4(x)).collect();
        seq.serialize_element(&row)?;
    }
    seq.end()
}

fn rounded_matrices<S: serde::Serializer>(ms: &[Matrix], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    struct Rounded<'a>(&'a Matrix);
    impl Serialize for Rounded<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            rounded_matrix(self.0, s)
        }
    }
    let mut seq = s.serialize_seq(Some(ms.len()))?;
    for m in ms {
        seq.serialize_element(&Rounded(m))?;
    }
    seq.end()
}

/// The page: the template with the data inlined as JSON. `<` is escaped inside the JSON so no
/// token (`</s>`, or a `</script>` in the input) can end the script element.
pub fn render_page(data: &PageData) -> Result<String> {
    let json = serde_json::to_string(data)?.replace('<', "\\u003c");
    ensure!(
        TEMPLATE.matches(DATA_MARK).count() == 1,
        "the page template has no data slot"
    );
    Ok(TEMPLATE.replace(DATA_MARK, &json))
}

/// Greedy decoding through `nmt_decode::greedy_with_attention` (the modules `nmt translate`
/// uses), plus the encoder's self-attention from the same `encode` pass over the source.
fn decode_with_weights(
    model: &nmt_model::Transformer,
    src: &[u32],
    max_len: usize,
    device: &burn::tensor::Device,
) -> (nmt_decode::Hypothesis, Vec<Weights>, Vec<StepWeights>) {
    let (hyp, steps) = nmt_decode::greedy_with_attention(model, src, max_len, device);
    let ids: Vec<i64> = src.iter().map(|&id| i64::from(id)).collect();
    let src_tensor = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, src.len()]), device);
    let (_, _, encoder) = model.encode(src_tensor, true);
    let encoder = encoder.into_iter().map(Weights::from_tensor).collect();
    let steps = steps.into_iter().map(StepWeights::from_step).collect();
    (hyp, encoder, steps)
}

pub fn attention(a: AttentionArgs) -> Result<()> {
    let text = nmt_data::normalize_line(&a.text);
    if text.trim().is_empty() {
        bail!("--text is empty: give the sentence to translate");
    }
    // Load where the weights will be used: --device, else the run's own device.
    let probe = parse_device(a.device.as_deref().unwrap_or("flex"))?;
    let mut loaded = load_checkpoint(&a.run, &a.checkpoint, &probe)?;
    let device_name = a
        .device
        .clone()
        .unwrap_or_else(|| loaded.config.run.device.clone());
    let device = parse_device(&device_name)?;
    if a.device.is_none() && device_name != "flex" {
        loaded = load_checkpoint(&a.run, &a.checkpoint, &device)?;
    }
    let model = &loaded.model;
    let vocab = &loaded.vocab;
    let max_positions = loaded.config.model.max_positions;

    let src = encode_sources(vocab, std::slice::from_ref(&text), max_positions).remove(0);
    let max_len = loaded.config.decode.max_len(nmt_decode::source_len(&src));
    let (hyp, encoder, steps) = decode_with_weights(model, &src, max_len, &device);

    let src_tokens: Vec<String> = src.iter().map(|&id| vocab.src.id_to_token(id)).collect();
    let mut out_tokens: Vec<String> = hyp
        .tokens
        .iter()
        .map(|&id| vocab.tgt.id_to_token(id))
        .collect();
    out_tokens.push(vocab.tgt.id_to_token(nmt_model::EOS_ID as u32));
    let translation = vocab.tgt.decode(&hyp.tokens);
    let m = &loaded.config.model;
    let info = PageInfo {
        run: a.run.display().to_string(),
        checkpoint: loaded
            .checkpoint
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| loaded.checkpoint.display().to_string()),
        step: loaded.state.step,
        model: format!(
            "d_model {}, {} encoder + {} decoder layers, {} heads",
            m.d_model, m.encoder_layers, m.decoder_layers, m.heads
        ),
        device: device_name,
        log_prob: hyp.log_prob,
    };
    let data = page_data(
        &text,
        &translation,
        &src_tokens,
        &out_tokens,
        &encoder,
        &steps,
        info,
    )?;
    let page = render_page(&data)?;
    std::fs::write(&a.output, page)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    println!("{translation}");
    eprintln!("wrote {}", a.output.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use nmt_model::{ModelConfig, PAD_ID, Transformer};

    fn tiny_model(device: &Device) -> Transformer {
        let cfg = ModelConfig {
            d_model: 16,
            heads: 2,
            ff_dim: 32,
            encoder_layers: 2,
            decoder_layers: 2,
            max_positions: 32,
            ..ModelConfig::default()
        };
        nmt_model::seeded(device, 11, || cfg.init(40, 40, device).unwrap())
    }

    fn names(n: usize, prefix: &str) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    /// A random model translating one sentence, as `nmt attention` does.
    fn decoded(device: &Device) -> PageData {
        let model = tiny_model(device);
        let src: Vec<u32> = vec![5, 9, 17, 23, 8, 2];
        let (hyp, encoder, steps) = decode_with_weights(&model, &src, 7, device);
        let out = names(hyp.tokens.len() + 1, "t");
        page_data(
            "src",
            "tgt",
            &names(src.len(), "s"),
            &out,
            &encoder,
            &steps,
            PageInfo::default(),
        )
        .unwrap()
    }

    fn assert_rows_sum_to_one(m: &Matrix, what: &str) {
        for (i, row) in m.iter().enumerate() {
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "{what} row {i} sums to {sum}");
            assert!(row.iter().all(|&w| (0.0..=1.0 + 1e-6).contains(&w)));
        }
    }

    fn view<'a>(d: &'a PageData, id: &str) -> &'a View {
        d.views.iter().find(|v| v.id == id).unwrap()
    }

    #[test]
    fn cross_attention_rows_are_distributions_over_the_source() {
        let d = decoded(&Device::flex());
        let (s, t) = (d.tokens.src.len(), d.tokens.tgt.len() - 1);
        let cross = view(&d, "cross");
        assert_eq!(cross.layers.len(), 2);
        for (l, layer) in cross.layers.iter().enumerate() {
            assert_eq!(layer.heads.len(), d.heads);
            for (h, m) in layer.heads.iter().chain([&layer.average]).enumerate() {
                assert_eq!(m.len(), t);
                assert!(m.iter().all(|r| r.len() == s));
                assert_rows_sum_to_one(m, &format!("cross layer {l} head {h}"));
            }
        }
        for layer in &view(&d, "encoder").layers {
            for m in layer.heads.iter().chain([&layer.average]) {
                assert_eq!(m.len(), s);
                assert_rows_sum_to_one(m, "encoder");
            }
        }
    }

    #[test]
    fn decoder_self_attention_is_lower_triangular() {
        let d = decoded(&Device::flex());
        let t = d.tokens.tgt.len() - 1;
        assert!(t >= 2, "want a few steps, got {t}");
        let dec = view(&d, "decoder");
        assert!(dec.causal);
        for layer in &dec.layers {
            for m in layer.heads.iter().chain([&layer.average]) {
                assert_eq!(m.len(), t);
                for (i, row) in m.iter().enumerate() {
                    assert_eq!(row.len(), t);
                    assert!(row[i + 1..].iter().all(|&w| w == 0.0), "row {i}: {row:?}");
                    assert!(row[..=i].iter().all(|&w| w > 0.0), "row {i}: {row:?}");
                }
                assert_rows_sum_to_one(m, "decoder self");
            }
        }
        // The first step sees only <s>.
        assert_eq!(dec.layers[0].heads[0][0][0], 1.0);
    }

    #[test]
    fn step_weights_match_a_teacher_forced_pass_over_the_translation() {
        // The incremental decoder's weights, assembled step by step, are the ones the full
        // (teacher-forced) pass computes for the same target prefix.
        let device = Device::flex();
        let model = tiny_model(&device);
        let src: Vec<u32> = vec![5, 9, 17, 23, 8, 2];
        let (hyp, steps) = nmt_decode::greedy_with_attention(&model, &src, 7, &device);
        let mut tgt_in = vec![nmt_model::BOS_ID as i64];
        tgt_in.extend(hyp.tokens.iter().map(|&t| i64::from(t)));
        let t = tgt_in.len();
        let ids: Vec<i64> = src.iter().map(|&i| i64::from(i)).collect();
        let (_, trace) = model.forward_traced(
            Tensor::from_data(TensorData::new(ids, [1, src.len()]), &device),
            Tensor::from_data(TensorData::new(tgt_in, [1, t]), &device),
            true,
        );
        let steps: Vec<StepWeights> = steps.into_iter().map(StepWeights::from_step).collect();
        let encoder: Vec<Weights> = trace
            .encoder
            .into_iter()
            .map(Weights::from_tensor)
            .collect();
        let d = page_data(
            "",
            "",
            &names(src.len(), "s"),
            &names(t, "t"),
            &encoder,
            &steps,
            PageInfo::default(),
        )
        .unwrap();
        for (id, full) in [("cross", trace.cross), ("decoder", trace.decoder_self)] {
            for (l, w) in full.into_iter().enumerate() {
                let w = Weights::from_tensor(w);
                for h in 0..d.heads {
                    let want = w.matrix(0, h);
                    let got = &view(&d, id).layers[l].heads[h];
                    for (a, b) in want.iter().flatten().zip(got.iter().flatten()) {
                        assert!((a - b).abs() < 1e-5, "{id} layer {l} head {h}: {a} vs {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn padded_source_positions_get_no_attention() {
        let device = Device::flex();
        let model = tiny_model(&device);
        // Sentence 1 is 3 tokens shorter than sentence 0: three <pad> columns.
        let src = vec![5i64, 9, 17, 23, 8, 2, 6, 7, 2, 0, 0, 0];
        let pad = PAD_ID as i64;
        assert_eq!(src[9..], [pad; 3]);
        let tgt = vec![1i64, 4, 5, 1, 6, 7];
        let (_, trace) = model.forward_traced(
            Tensor::from_data(TensorData::new(src, [2, 6]), &device),
            Tensor::from_data(TensorData::new(tgt, [2, 3]), &device),
            true,
        );
        for (what, layers) in [("encoder", trace.encoder), ("cross", trace.cross)] {
            for w in layers {
                let w = Weights::from_tensor(w);
                for h in 0..w.dims[1] {
                    for row in w.matrix(1, h) {
                        assert!(row[3..].iter().all(|&x| x == 0.0), "{what}: {row:?}");
                        let sum: f32 = row.iter().sum();
                        assert!((sum - 1.0).abs() < 1e-5, "{what}: {row:?}");
                    }
                    for row in w.matrix(0, h) {
                        assert!(row.iter().all(|&x| x > 0.0), "{what}: {row:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn shapes_that_do_not_fit_are_errors() {
        let w = |dims: [usize; 4]| Weights {
            dims,
            data: vec![0.0; dims.iter().product()],
        };
        let err = page_data(
            "",
            "",
            &names(3, "s"),
            &names(1, "t"),
            &[w([1, 2, 3, 3])],
            &[StepWeights {
                decoder_self: vec![w([1, 2, 1, 1])],
                cross: vec![w([1, 2, 1, 4])],
            }],
            PageInfo::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("cross-attention"), "{err}");
        let err = page_data(
            "",
            "",
            &names(3, "s"),
            &names(2, "t"),
            &[w([1, 2, 3, 3])],
            &[],
            PageInfo::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("0 decoding steps for 2"), "{err}");
    }

    #[test]
    fn the_page_is_self_contained_and_its_json_cannot_close_the_script() {
        let mut d = decoded(&Device::flex());
        d.source = "a </script><script>alert(1)</script> b".into();
        let page = render_page(&d).unwrap();
        assert!(!page.contains(DATA_MARK));
        assert_eq!(
            page.matches("</script>").count(),
            2,
            "data + code scripts only"
        );
        assert!(!page.contains("<script src"));
        assert!(!page.contains("http://") && !page.contains("https://"));
        let start = page.find("application/json").unwrap();
        let json = &page[page[start..].find('>').unwrap() + start + 1..];
        let json = &json[..json.find("</script>").unwrap()];
        let back: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(back["source"], d.source.as_str());
        assert_eq!(back["tokens"]["tgt"][0], "<s>");
        assert_eq!(back["views"][2]["causal"], true);
    }
}
