//! Greedy and beam search against each other, against decoding without the cache, and against
//! exhaustive search over every output of a tiny vocabulary.

mod common;

use burn::tensor::Device;
use common::{
    alternating_model, assert_same, assert_same_list, exhaustive, model_with, reference_beam,
    sharpened_model, source, teacher_forced_log_probs, tiny_config, tiny_model,
};
use nmt_decode::{beam_search, greedy, greedy_uncached, greedy_with_attention, length_penalty};
use nmt_model::{ModelConfig, NormPosition, PositionKind};

/// Sources of different lengths, with limits that let some sentences run into them.
fn mixed_batch(vocab: usize) -> (Vec<Vec<u32>>, Vec<usize>) {
    let lens = [5, 1, 8, 3, 12, 6];
    let src: Vec<Vec<u32>> = lens
        .iter()
        .enumerate()
        .map(|(i, &l)| source(i as u64 + 100, l, vocab))
        .collect();
    let max_lens = vec![7, 2, 12, 0, 15, 4];
    (src, max_lens)
}

#[test]
fn beam_one_equals_greedy() {
    let device = Device::flex();
    let vocab = 20;
    for seed in [1, 2, 3, 4] {
        let model = alternating_model(seed, vocab, &device);
        let (src, max_lens) = mixed_batch(vocab);
        let greedy_out = greedy(&model, &src, &max_lens, &device);
        for lenpen in [0.0, 0.6, 1.5] {
            let beam_out = beam_search(&model, &src, &max_lens, 1, lenpen, 1, &device);
            for (i, (g, b)) in greedy_out.iter().zip(&beam_out).enumerate() {
                assert_eq!(b.len(), 1);
                assert_same(
                    g,
                    &b[0],
                    &format!("seed {seed} lenpen {lenpen} sentence {i}"),
                );
            }
        }
        for (g, &m) in greedy_out.iter().zip(&max_lens) {
            assert!(g.tokens.len() <= m);
        }
    }
}

#[test]
fn cached_greedy_equals_uncached_greedy() {
    let device = Device::flex();
    let vocab = 20;
    let configs = [
        tiny_config(),
        ModelConfig {
            norm: NormPosition::Post,
            positions: PositionKind::Learned,
            decoder_layers: 2,
            ..tiny_config()
        },
    ];
    let mut lengths_seen = std::collections::BTreeSet::new();
    for (c, cfg) in configs.iter().enumerate() {
        for seed in [4, 5] {
            let model = model_with(cfg, seed, vocab, &device);
            let (src, max_lens) = mixed_batch(vocab);
            let cached = greedy(&model, &src, &max_lens, &device);
            let uncached = greedy_uncached(&model, &src, &max_lens, &device);
            for (i, (a, b)) in cached.iter().zip(&uncached).enumerate() {
                assert_same(a, b, &format!("config {c} seed {seed} sentence {i}"));
                lengths_seen.insert(a.tokens.len());
            }
            // The log-probs are those of a teacher-forced pass over the output.
            for (s, h) in src.iter().zip(&cached) {
                let want =
                    teacher_forced_log_probs(&model, s, std::slice::from_ref(&h.tokens), &device)
                        [0];
                assert!((want - h.log_prob).abs() < 1e-4, "{want} vs {}", h.log_prob);
            }
        }
    }
    // Sentences stopped at different steps, so rows really left the batch mid-way.
    assert!(lengths_seen.len() >= 3, "lengths {lengths_seen:?}");
}

/// Beam search with a beam wide enough to hold every candidate reproduces the exhaustive
/// ranking (n-best included). A beam of 16 prunes at lengths 3 and 4 and may miss the optimum;
/// it must give what the plain reference beam search gives.
#[test]
fn beam_search_finds_the_exhaustive_optimum() {
    let device = Device::flex();
    let vocab = 6; // <pad> <s> </s> and three real tokens
    let max_len = 4; // 1 + 3 + 9 + 27 + 81 = 121 possible outputs
    let mut greedy_suboptimal = 0;
    let mut narrow_optimal = 0;
    let mut cases = 0;
    let mut best_lengths = std::collections::BTreeSet::new();
    for seed in [11, 12, 13, 14, 15, 16] {
        let model = sharpened_model(seed, vocab, -4.0, &device);
        for src_seed in [1, 2] {
            let src = source(src_seed, 2 + src_seed as usize, vocab);
            for lenpen in [0.0, 1.0] {
                cases += 1;
                let all = exhaustive(&model, &src, max_len, lenpen, &device);
                let what = format!("seed {seed} source {src_seed} lenpen {lenpen}");
                // No pruning at all: the n-best list is the exhaustive ranking.
                let wide = beam_search(
                    &model,
                    std::slice::from_ref(&src),
                    &[max_len],
                    128,
                    lenpen,
                    5,
                    &device,
                );
                assert_eq!(wide[0].len(), 5);
                for (rank, (got, want)) in wide[0].iter().zip(&all).enumerate() {
                    assert_eq!(got.tokens, want.tokens, "{what}: rank {rank}");
                    assert!((got.score - want.score).abs() < 1e-4, "{what}: rank {rank}");
                    assert!(
                        (got.log_prob - want.log_prob).abs() < 1e-4,
                        "{what}: rank {rank}"
                    );
                }
                let narrow = beam_search(
                    &model,
                    std::slice::from_ref(&src),
                    &[max_len],
                    16,
                    lenpen,
                    16,
                    &device,
                );
                let want = reference_beam(&model, &src, max_len, 16, lenpen, &device);
                assert_same_list(&narrow[0], &want, &format!("{what}: beam 16"));
                assert!(narrow[0][0].score <= all[0].score + 1e-4, "{what}: beam 16");
                narrow_optimal += usize::from(narrow[0][0].tokens == all[0].tokens);
                let g = &greedy(&model, std::slice::from_ref(&src), &[max_len], &device)[0];
                if g.tokens != all[0].tokens {
                    assert!(g.log_prob / length_penalty(g.tokens.len() + 1, lenpen) < all[0].score);
                    greedy_suboptimal += 1;
                }
                best_lengths.insert(all[0].tokens.len());
            }
        }
    }
    // The test has teeth: greedy misses the optimum in several cases, and optima vary in length.
    assert!(
        greedy_suboptimal >= 4,
        "greedy missed the optimum in {greedy_suboptimal} of {cases} cases"
    );
    assert!(
        narrow_optimal > cases / 2,
        "beam 16 found the optimum in {narrow_optimal} of {cases} cases"
    );
    assert!(best_lengths.len() >= 3, "optimal lengths {best_lengths:?}");
    assert!(
        best_lengths.contains(&max_len),
        "optimal lengths {best_lengths:?}"
    );
}

/// Narrow beams, which prune and stop early, over a batch whose sentences finish at different
/// steps: the batched, cached search gives each sentence exactly what the plain reference gives
/// it alone.
#[test]
fn pruned_beams_match_the_plain_reference_sentence_by_sentence() {
    let device = Device::flex();
    let vocab = 20;
    let mut beam_beats_greedy = 0;
    for seed in [8, 9, 10, 11, 12, 13] {
        let model = alternating_model(seed, vocab, &device);
        let (src, max_lens) = mixed_batch(vocab);
        let greedy_out = greedy(&model, &src, &max_lens, &device);
        for (beam, lenpen) in [(2, 0.0), (2, 1.0), (3, 0.6), (4, 1.5)] {
            let out = beam_search(&model, &src, &max_lens, beam, lenpen, beam, &device);
            for (i, got) in out.iter().enumerate() {
                let want = reference_beam(&model, &src[i], max_lens[i], beam, lenpen, &device);
                let what = format!("seed {seed} beam {beam} lenpen {lenpen} sentence {i}");
                assert_same_list(got, &want, &what);
                beam_beats_greedy += usize::from(got[0].tokens != greedy_out[i].tokens);
            }
        }
    }
    // The beams did search: they left greedy's answer for a better-scored one several times.
    assert!(
        beam_beats_greedy >= 3,
        "beam differed from greedy {beam_beats_greedy} times"
    );
}

/// With no length or coverage penalty a sentence stops once nothing live can beat the `nbest`
/// best finished hypotheses, not the `beam` best (an exact bound there, as in CTranslate2): the
/// hypotheses returned are still exactly the first `nbest` of the plain reference, which runs
/// each sentence until `beam` are finished.
#[test]
fn stopping_at_nbest_finished_returns_the_same_best() {
    let device = Device::flex();
    let vocab = 20;
    let mut beam_beats_greedy = 0;
    for seed in [8, 9, 10, 11, 12, 13, 14, 15] {
        let model = alternating_model(seed, vocab, &device);
        let (src, max_lens) = mixed_batch(vocab);
        let greedy_out = greedy(&model, &src, &max_lens, &device);
        for (beam, nbest) in [(2, 1), (4, 1), (5, 1), (5, 2), (6, 3)] {
            let out = beam_search(&model, &src, &max_lens, beam, 0.0, nbest, &device);
            for (i, got) in out.iter().enumerate() {
                let want = reference_beam(&model, &src[i], max_lens[i], beam, 0.0, &device);
                let want = &want[..nbest.min(want.len())];
                let what = format!("seed {seed} beam {beam} nbest {nbest} sentence {i}");
                assert_same_list(got, want, &what);
                beam_beats_greedy += usize::from(got[0].tokens != greedy_out[i].tokens);
            }
        }
    }
    assert!(
        beam_beats_greedy >= 3,
        "beam differed from greedy {beam_beats_greedy} times"
    );
}

/// With a length penalty the stopping test is a heuristic, so it keeps comparing against the
/// `beam` best finished hypotheses whatever `nbest` is: asking for fewer hypotheses never
/// changes the best ones.
#[test]
fn with_a_length_penalty_nbest_does_not_change_the_search() {
    let device = Device::flex();
    let vocab = 20;
    for seed in [8, 9, 10, 11, 12, 13, 14, 15] {
        let model = alternating_model(seed, vocab, &device);
        let (src, max_lens) = mixed_batch(vocab);
        for (beam, lenpen) in [(4, 0.6), (5, 1.0), (5, 1.5)] {
            let all = beam_search(&model, &src, &max_lens, beam, lenpen, beam, &device);
            for nbest in [1, 2] {
                let out = beam_search(&model, &src, &max_lens, beam, lenpen, nbest, &device);
                for (i, (got, want)) in out.iter().zip(&all).enumerate() {
                    let want = &want[..nbest.min(want.len())];
                    let what = format!(
                        "seed {seed} beam {beam} lenpen {lenpen} nbest {nbest} sentence {i}"
                    );
                    assert_same_list(got, want, &what);
                }
            }
        }
    }
}

#[test]
fn nbest_hypotheses_are_distinct_and_sorted() {
    let device = Device::flex();
    let vocab = 20;
    let model = tiny_model(7, vocab, &device);
    let (src, max_lens) = mixed_batch(vocab);
    for (beam, nbest) in [(5, 5), (4, 2), (3, 7)] {
        let out = beam_search(&model, &src, &max_lens, beam, 0.6, nbest, &device);
        assert_eq!(out.len(), src.len());
        for (i, hyps) in out.iter().enumerate() {
            // A zero length limit leaves one possible output: the empty one.
            let want = if max_lens[i] == 0 { 1 } else { nbest.min(beam) };
            assert_eq!(hyps.len(), want, "sentence {i}");
            for pair in hyps.windows(2) {
                assert!(pair[0].score >= pair[1].score, "not sorted: {hyps:?}");
                assert_ne!(pair[0].tokens, pair[1].tokens, "duplicate: {hyps:?}");
            }
            for h in hyps {
                assert!(h.tokens.len() <= max_lens[i]);
                assert!(h.tokens.iter().all(|&t| t > 2), "special token in {h:?}");
                let lp = length_penalty(h.tokens.len() + 1, 0.6);
                assert!((h.score - h.log_prob / lp).abs() < 1e-9);
                let tf = teacher_forced_log_probs(
                    &model,
                    &src[i],
                    std::slice::from_ref(&h.tokens),
                    &device,
                )[0];
                assert!((tf - h.log_prob).abs() < 1e-4, "{tf} vs {}", h.log_prob);
            }
        }
        assert!(out[3][0].tokens.is_empty());
    }
}

#[test]
fn greedy_with_attention_records_every_step() {
    let device = Device::flex();
    let vocab = 20;
    let cfg = ModelConfig {
        decoder_layers: 2,
        ..tiny_config()
    };
    let model = model_with(&cfg, 8, vocab, &device);
    let src = source(9, 6, vocab);
    let (hyp, steps) = greedy_with_attention(&model, &src, 10, &device);
    let plain = &greedy(&model, std::slice::from_ref(&src), &[10], &device)[0];
    assert_same(&hyp, plain, "with attention");
    assert_eq!(steps.len(), hyp.tokens.len() + 1);
    for (t, step) in steps.iter().enumerate() {
        assert_eq!(step.decoder_self.len(), 2);
        assert_eq!(step.cross.len(), 2);
        for (s, c) in step.decoder_self.iter().zip(&step.cross) {
            assert_eq!(s.dims(), [1, 2, 1, t + 1]);
            assert_eq!(c.dims(), [1, 2, 1, src.len()]);
            let sums: Vec<f32> = c.clone().sum_dim(3).into_data().iter::<f32>().collect();
            assert!(sums.iter().all(|x| (x - 1.0).abs() < 1e-4));
        }
    }
}
