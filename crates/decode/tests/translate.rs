//! `translate`: batching by token budget must not change results, and results come back in
//! input order.

mod common;

use burn::tensor::Device;
use common::{EOS, assert_same_list, source, tiny_model};
use nmt_decode::{DecodeConfig, Hypothesis, beam_search, greedy, length_penalty, translate};

/// A shuffled mix of lengths, including empty sources.
fn mixed_sources(vocab: usize) -> Vec<Vec<u32>> {
    let lens = [4, 11, 1, 7, 0, 2, 9, 4, 13, 3, 6, 1];
    let mut src: Vec<Vec<u32>> = lens
        .iter()
        .enumerate()
        .map(|(i, &l)| source(i as u64 + 40, l, vocab))
        .collect();
    src.push(Vec::new());
    src.insert(5, vec![EOS]);
    src
}

#[test]
fn translate_keeps_input_order_and_batching_changes_nothing() {
    let device = Device::flex();
    let vocab = 24;
    let model = tiny_model(21, vocab, &device);
    let sources = mixed_sources(vocab);
    for (beam, nbest) in [(1, 1), (4, 3)] {
        let alone_cfg = DecodeConfig {
            beam,
            nbest,
            max_len_a: 1.0,
            max_len_b: 3,
            ..DecodeConfig::default()
        };
        let mut seen_batches = Vec::new();
        for max_tokens in [1, 40, 100_000] {
            let cfg = DecodeConfig {
                max_tokens,
                ..alone_cfg.clone()
            };
            seen_batches
                .push(nmt_decode::token_batches(&[14, 12, 10, 8, 5, 5], beam, max_tokens).len());
            let out = translate(&model, &sources, &cfg, &device);
            assert_eq!(out.len(), sources.len());
            for (i, (src, hyps)) in sources.iter().zip(&out).enumerate() {
                let what = format!("beam {beam} max_tokens {max_tokens} sentence {i}");
                // Each sentence decoded alone, through the one-batch entry points.
                let src_len = nmt_decode::source_len(src);
                let want: Vec<Hypothesis> = if src_len == 0 {
                    vec![Hypothesis::default()]
                } else if beam == 1 {
                    let mut h = greedy(
                        &model,
                        std::slice::from_ref(src),
                        &[cfg.max_len(src_len)],
                        &device,
                    )
                    .remove(0);
                    h.score = h.log_prob / length_penalty(h.tokens.len() + 1, cfg.lenpen);
                    vec![h]
                } else {
                    beam_search(
                        &model,
                        std::slice::from_ref(src),
                        &[cfg.max_len(src_len)],
                        beam,
                        cfg.lenpen,
                        nbest,
                        &device,
                    )
                    .remove(0)
                };
                assert_same_list(hyps, &want, &what);
                // And through translate with a single sentence.
                assert_same_list(
                    hyps,
                    &translate(&model, std::slice::from_ref(src), &cfg, &device)[0],
                    &what,
                );
                assert!(hyps.iter().all(|h| h.tokens.len() <= cfg.max_len(src_len)));
            }
        }
        assert!(seen_batches[0] > seen_batches[1] && seen_batches[1] > seen_batches[2]);
    }
}

#[test]
fn translate_of_nothing_is_nothing() {
    let device = Device::flex();
    let model = tiny_model(1, 10, &device);
    assert!(translate(&model, &[], &DecodeConfig::default(), &device).is_empty());
    let out = translate(
        &model,
        &[vec![], vec![EOS]],
        &DecodeConfig::default(),
        &device,
    );
    assert_eq!(
        out,
        vec![vec![Hypothesis::default()], vec![Hypothesis::default()]]
    );
}

#[test]
fn decode_config_defaults_fill_an_empty_section() {
    let cfg = from_empty_section();
    assert_eq!(cfg, DecodeConfig::default());
    assert_eq!(cfg.beam, 1);
    assert_eq!(cfg.lenpen, 0.6);
    assert_eq!(cfg.max_len_a, 1.2);
    assert_eq!(cfg.max_len_b, 10);
    assert_eq!(cfg.nbest, 1);
    assert_eq!(cfg.max_tokens, 4096);
    let cfg = DecodeConfig {
        beam: 0,
        nbest: 9,
        ..DecodeConfig::default()
    };
    assert_eq!((cfg.beam_width(), cfg.nbest_count()), (1, 1));
}

/// Deserializes an empty map through serde's own value types (no format crate needed).
fn from_empty_section() -> DecodeConfig {
    use serde::Deserialize;
    use serde::de::value::{Error, MapDeserializer};
    let empty: Vec<(String, u8)> = Vec::new();
    DecodeConfig::deserialize(MapDeserializer::<_, Error>::new(empty.into_iter())).unwrap()
}

#[test]
fn decode_config_rejects_unknown_fields() {
    use serde::Deserialize;
    use serde::de::value::{Error, MapDeserializer};
    let fields = vec![("beams".to_string(), 5u8)];
    let err = DecodeConfig::deserialize(MapDeserializer::<_, Error>::new(fields.into_iter()))
        .unwrap_err();
    assert!(err.to_string().contains("beams"), "{err}");
}
