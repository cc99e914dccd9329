//! The attention page's data: the weights the model computed, as per-layer, per-head matrices
//! with their token labels, and the page itself (`page.html` with that data inlined as JSON).
//! Pure functions of host copies of the weights, tested in `super::tests`.

use anyhow::{Context, Result, ensure};
use burn::tensor::Tensor;
use serde::Serialize;

const TEMPLATE: &str = include_str!("page.html");
pub(super) const DATA_MARK: &str = "/*__ATTENTION_DATA__*/null";

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
    pub(super) fn from_step(step: nmt_model::StepAttention) -> Self {
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
