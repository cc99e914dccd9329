//! The coverage penalty: beam search's running coverage, kept per row through reordering,
//! padding and finished sentences leaving the batch, must equal a recount from one
//! teacher-forced pass over each finished hypothesis.

mod common;

use burn::tensor::{Device, Int, Tensor, TensorData};
use common::{alternating_model, model_with, source, tiny_config};
use nmt_decode::{DecodeConfig, coverage_penalty, length_penalty, translate_ensemble};
use nmt_model::{BOS_ID, ModelConfig, Transformer};

/// The attention each source token of `src` receives while `model` writes `tokens` and then
/// `</s>`: the last decoder layer's cross-attention, averaged over heads, summed over steps.
fn recount(model: &Transformer, src: &[u32], tokens: &[u32], device: &Device) -> Vec<f32> {
    let src_ids: Vec<i64> = src.iter().map(|&t| i64::from(t)).collect();
    let src_t = Tensor::<2, Int>::from_data(TensorData::new(src_ids, [1, src.len()]), device);
    let tgt_in: Vec<i64> = std::iter::once(i64::from(BOS_ID))
        .chain(tokens.iter().map(|&t| i64::from(t)))
        .collect();
    let len = tgt_in.len();
    let tgt_t = Tensor::<2, Int>::from_data(TensorData::new(tgt_in, [1, len]), device);
    let (_, trace) = model.forward_traced(src_t, tgt_t, true);
    let last = trace.cross.last().expect("a decoder layer").clone(); // [1, heads, len, src]
    let heads = last.dims()[1];
    let per_head: Vec<f32> = last.into_data().iter::<f32>().collect();
    let mut coverage = vec![0f32; src.len()];
    for h in 0..heads {
        for t in 0..len {
            for (i, c) in coverage.iter_mut().enumerate() {
                *c += per_head[(h * len + t) * src.len() + i] / heads as f32;
            }
        }
    }
    coverage
}

fn two_layer_model(seed: u64, vocab: usize, device: &Device) -> Transformer {
    let cfg = ModelConfig {
        decoder_layers: 2,
        ..tiny_config()
    };
    model_with(&cfg, seed, vocab, device)
}

#[test]
fn coverage_in_scores_matches_a_teacher_forced_recount() {
    let device = Device::flex();
    let vocab = 20;
    let beta = 0.3;
    // Two decoder layers, so that reading the wrong layer shows; a plain and a sharpened model
    // (whose `</s>` competes often, so sentences finish at different steps and leave the batch).
    let a = two_layer_model(3, vocab, &device);
    let b = alternating_model(4, vocab, &device);
    let sources: Vec<Vec<u32>> = [5, 2, 9, 1, 6, 12, 3]
        .iter()
        .enumerate()
        .map(|(i, &len)| source(i as u64 + 7, len, vocab))
        .collect();
    for models in [vec![&a], vec![&b], vec![&a, &b]] {
        let cfg = DecodeConfig {
            beam: 4,
            nbest: 4,
            lenpen: 0.6,
            coverage_penalty: beta,
            max_len_a: 1.0,
            max_len_b: 4,
            ..DecodeConfig::default()
        };
        let out = translate_ensemble(&models, &sources, &cfg, &device).unwrap();
        let (mut checked, mut penalised) = (0, 0);
        for (src, hyps) in sources.iter().zip(&out) {
            assert!(!hyps.is_empty());
            for pair in hyps.windows(2) {
                assert!(pair[0].score >= pair[1].score, "n-best not sorted by score");
            }
            for h in hyps {
                let mut coverage = vec![0f32; src.len()];
                for m in &models {
                    for (c, r) in coverage.iter_mut().zip(recount(m, src, &h.tokens, &device)) {
                        *c += r / models.len() as f32;
                    }
                }
                let want = coverage_penalty(&coverage, beta);
                let got = h.score - h.log_prob / length_penalty(h.tokens.len() + 1, cfg.lenpen);
                assert!(
                    (got - want).abs() < 1e-4,
                    "{} model(s), source {src:?}, output {:?}: coverage penalty {got} in the \
                     score, {want} recounted",
                    models.len(),
                    h.tokens
                );
                checked += 1;
                penalised += usize::from(want < -1e-3);
            }
        }
        assert!(checked > sources.len(), "n-best lists were checked");
        assert!(
            penalised > 0,
            "no output was penalised: the check above proved nothing"
        );
    }
}

#[test]
fn coverage_penalty_changes_which_output_wins() {
    // The penalty favours outputs that attend to the whole source: with a large beta some
    // sentences must end up with a different best output than plain length-penalised search.
    let device = Device::flex();
    let vocab = 20;
    let sources: Vec<Vec<u32>> = (0..12)
        .map(|i| source(i + 50, 4 + i as usize % 5, vocab))
        .collect();
    let mut changed = 0;
    for seed in [2, 4, 6] {
        let model = alternating_model(seed, vocab, &device);
        let plain = DecodeConfig {
            beam: 4,
            lenpen: 0.6,
            ..DecodeConfig::default()
        };
        let covered = DecodeConfig {
            coverage_penalty: 2.0,
            ..plain.clone()
        };
        let a = translate_ensemble(&[&model], &sources, &plain, &device).unwrap();
        let b = translate_ensemble(&[&model], &sources, &covered, &device).unwrap();
        changed += a
            .iter()
            .zip(&b)
            .filter(|(x, y)| x[0].tokens != y[0].tokens)
            .count();
    }
    assert!(changed > 0, "a coverage penalty of 2 changed no output");
}
