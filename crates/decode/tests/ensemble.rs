//! Ensembles: several models decode as one whose next-token distribution is the mean of
//! theirs. Checked against decoding without the cache over that mean, computed plainly.

mod common;

use burn::tensor::Device;
use common::{
    EOS, alternating_model, assert_same_list, next_log_probs, reference_beam_with, source,
};
use nmt_decode::{DecodeConfig, DecodeError, Hypothesis, translate, translate_ensemble};
use nmt_model::Transformer;

/// Sources of mixed lengths, an empty one among them.
fn sources(vocab: usize) -> Vec<Vec<u32>> {
    let mut src: Vec<Vec<u32>> = [5, 1, 8, 3, 11, 6, 2]
        .iter()
        .enumerate()
        .map(|(i, &l)| source(i as u64 + 300, l, vocab))
        .collect();
    src.insert(3, Vec::new());
    src
}

fn config(beam: usize, nbest: usize, lenpen: f64) -> DecodeConfig {
    DecodeConfig {
        beam,
        nbest,
        lenpen,
        max_len_a: 1.0,
        max_len_b: 3,
        ..DecodeConfig::default()
    }
}

/// The ensemble's next-token log-probabilities, plainly: each model's masked log-softmax from
/// a teacher-forced pass without the cache, then `ln(mean exp)` in f64.
fn mean_next_log_probs(
    models: &[&Transformer],
    src: &[u32],
    prefixes: &[Vec<u32>],
    forced: bool,
    device: &Device,
) -> Vec<Vec<f32>> {
    let each: Vec<Vec<Vec<f32>>> = models
        .iter()
        .map(|m| next_log_probs(m, src, prefixes, forced, device))
        .collect();
    (0..prefixes.len())
        .map(|p| {
            (0..each[0][p].len())
                .map(|t| {
                    let mean = each.iter().map(|m| f64::from(m[p][t]).exp()).sum::<f64>()
                        / models.len() as f64;
                    mean.ln() as f32
                })
                .collect()
        })
        .collect()
}

#[test]
fn an_ensemble_of_copies_decodes_as_the_model_alone() {
    let device = Device::flex();
    let vocab = 20;
    let src = sources(vocab);
    for seed in [1, 2] {
        let model = alternating_model(seed, vocab, &device);
        for (beam, nbest) in [(1, 1), (4, 3)] {
            let cfg = config(beam, nbest, 0.6);
            let alone = translate(&model, &src, &cfg, &device);
            let copies =
                translate_ensemble(&[&model, &model, &model], &src, &cfg, &device).unwrap();
            for (i, (a, c)) in alone.iter().zip(&copies).enumerate() {
                assert_same_list(c, a, &format!("seed {seed} beam {beam} sentence {i}"));
            }
        }
    }
}

#[test]
fn an_ensemble_searches_the_mean_of_the_distributions() {
    let device = Device::flex();
    let vocab = 20;
    let src = sources(vocab);
    // A plain and a sharpened model: their outputs differ, so the mean is a third distribution.
    let (a, b) = (
        alternating_model(3, vocab, &device),
        alternating_model(4, vocab, &device),
    );
    let models = [&a, &b];
    let mut differs_from_each = [false, false];
    for (beam, lenpen) in [(1, 0.0), (3, 1.0)] {
        let cfg = config(beam, beam, lenpen);
        let got = translate_ensemble(&models, &src, &cfg, &device).unwrap();
        let singles: Vec<_> = models
            .iter()
            .map(|m| translate(m, &src, &cfg, &device))
            .collect();
        for (i, s) in src.iter().enumerate() {
            let what = format!("beam {beam} sentence {i}");
            if s.len() <= 1 {
                assert_eq!(got[i], vec![Hypothesis::default()], "{what}");
                continue;
            }
            let max_len = cfg.max_len(nmt_decode::source_len(s));
            let want = reference_beam_with(
                |prefixes, forced| mean_next_log_probs(&models, s, prefixes, forced, &device),
                max_len,
                beam,
                lenpen,
            );
            assert_same_list(&got[i], &want, &what);
            assert!(got[i].iter().all(|h| !h.tokens.contains(&EOS)), "{what}");
            for (m, single) in singles.iter().enumerate() {
                differs_from_each[m] |= single[i][0].tokens != got[i][0].tokens;
            }
        }
    }
    // Otherwise the test could not tell an ensemble from either of its models.
    assert_eq!(differs_from_each, [true, true]);
}

#[test]
fn models_with_different_vocabularies_do_not_ensemble() {
    let device = Device::flex();
    let (a, b) = (
        alternating_model(1, 20, &device),
        alternating_model(1, 21, &device),
    );
    let err = translate_ensemble(&[&a, &b], &sources(20), &config(1, 1, 0.0), &device)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("target vocabulary of 21 tokens but model 0 has 20"),
        "{err}"
    );
    let none = translate_ensemble(&[], &sources(20), &config(1, 1, 0.0), &device);
    assert_eq!(none.unwrap_err(), DecodeError::NoModel);
}
