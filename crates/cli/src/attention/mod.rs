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

use anyhow::{Context, Result, bail};
use burn::tensor::{Int, Tensor, TensorData};
use clap::Args;
use nmt_train::{Checkpoints, encode_sources};

use crate::device::parse_device;

mod page;

use page::{PageInfo, StepWeights, Weights, page_data, render_page};

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
    // Loaded once, where the weights will be used: --device, else the run's own device.
    let checkpoints = Checkpoints::open(&a.run, std::slice::from_ref(&a.checkpoint))?;
    let device_name = a
        .device
        .clone()
        .unwrap_or_else(|| checkpoints.config().run.device.clone());
    let loaded = checkpoints.load(&parse_device(&device_name)?)?;
    let device = loaded.device().clone();
    let model = loaded.models()[0];
    let vocab = loaded.vocab();
    let max_positions = loaded.max_positions();

    let src = encode_sources(vocab, std::slice::from_ref(&text), max_positions).remove(0);
    let max_len = loaded.config().decode.max_len(nmt_decode::source_len(&src));
    let (hyp, encoder, steps) = decode_with_weights(model, &src, max_len, &device);

    let src_tokens: Vec<String> = src.iter().map(|&id| vocab.src.id_to_token(id)).collect();
    let mut out_tokens: Vec<String> = hyp
        .tokens
        .iter()
        .map(|&id| vocab.tgt.id_to_token(id))
        .collect();
    out_tokens.push(vocab.tgt.id_to_token(nmt_model::EOS_ID));
    let translation = vocab.tgt.decode(&hyp.tokens);
    let m = &loaded.config().model;
    let checkpoint = loaded.first();
    let info = PageInfo {
        run: a.run.display().to_string(),
        checkpoint: checkpoint
            .dir()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| checkpoint.dir().display().to_string()),
        step: checkpoint.state.step,
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
    use super::page::{DATA_MARK, Matrix, PageData, View};
    use super::*;
    use burn::tensor::Device;
    use nmt_model::{ModelConfig, PAD_ID, Transformer};

    fn tiny_model(device: &Device) -> Transformer {
        let cfg = ModelConfig {
            encoder_layers: 2,
            decoder_layers: 2,
            max_positions: 32,
            ..nmt_testkit::tiny_config()
        };
        nmt_testkit::model_with(&cfg, 11, 40, device)
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
        let mut tgt_in = vec![i64::from(nmt_model::BOS_ID)];
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
        let pad = i64::from(PAD_ID);
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
