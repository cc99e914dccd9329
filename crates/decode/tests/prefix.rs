//! Prefix-constrained decoding: every output begins with its prefix, for greedy, beam search and
//! sampling, and its log-probability is a teacher-forced recount of the whole output (the
//! prefix's tokens count like any other); without prefixes nothing changes.

mod common;
use burn::tensor::Device;
use common::{alternating_model, source, teacher_forced_log_probs};
use nmt_decode::{DecodeConfig, Sampling, translate, translate_with_prefixes};

#[test]
fn outputs_begin_with_their_prefix_and_score_as_a_teacher_forced_recount() {
    let device = Device::flex();
    let vocab = 24;
    for seed in [2, 3] {
        let model = alternating_model(seed, vocab, &device);
        let sources: Vec<Vec<u32>> = (0..4)
            .map(|i| source(seed * 10 + i, 3 + i as usize, vocab))
            .collect();
        let prefixes = vec![vec![5, 6], vec![], vec![7, 7, 7], vec![9]];
        for (what, cfg) in [
            ("greedy", DecodeConfig::default()),
            (
                "beam 4",
                DecodeConfig {
                    beam: 4,
                    nbest: 2,
                    ..Default::default()
                },
            ),
            (
                "sampling",
                DecodeConfig {
                    sampling: Some(Sampling::Full),
                    nbest: 2,
                    seed: 9,
                    ..Default::default()
                },
            ),
        ] {
            let out =
                translate_with_prefixes(&[&model], &sources, &prefixes, &cfg, &device).unwrap();
            for ((src, prefix), nbest) in sources.iter().zip(&prefixes).zip(&out) {
                assert!(!nbest.is_empty());
                for h in nbest {
                    assert!(
                        h.tokens.starts_with(prefix),
                        "{what}, seed {seed}: {:?} does not begin with {prefix:?}",
                        h.tokens
                    );
                    let recount = teacher_forced_log_probs(
                        &model,
                        src,
                        std::slice::from_ref(&h.tokens),
                        &device,
                    )[0];
                    assert!(
                        (recount - h.log_prob).abs() < 1e-4,
                        "{what}, seed {seed}: log-prob {} vs teacher-forced {recount}",
                        h.log_prob
                    );
                }
            }
            // No prefixes at all is plain decoding.
            let plain = translate(&model, &sources, &cfg, &device);
            let none = translate_with_prefixes(&[&model], &sources, &[], &cfg, &device).unwrap();
            for (a, b) in plain.iter().zip(&none) {
                assert_eq!(
                    a.iter().map(|h| &h.tokens).collect::<Vec<_>>(),
                    b.iter().map(|h| &h.tokens).collect::<Vec<_>>(),
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn a_prefix_longer_than_the_length_limit_is_still_produced_whole() {
    let device = Device::flex();
    let model = alternating_model(4, 24, &device);
    let sources = vec![source(1, 2, 24)];
    let prefix = vec![vec![5, 6, 7, 8, 9, 10, 11, 12]];
    let cfg = DecodeConfig {
        max_len_a: 0.0,
        max_len_b: 3,
        ..Default::default()
    };
    let out = translate_with_prefixes(&[&model], &sources, &prefix, &cfg, &device).unwrap();
    assert_eq!(
        out[0][0].tokens, prefix[0],
        "the limit is raised to the prefix, then </s>"
    );
}
