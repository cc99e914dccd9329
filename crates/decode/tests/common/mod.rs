//! Tiny random models and a teacher-forced scorer shared by the decoding tests.
#![allow(dead_code)]

use burn::module::Param;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use nmt_decode::{Hypothesis, length_penalty};
use nmt_model::{BOS_ID, EOS_ID, ModelConfig, PAD_ID, Transformer};

pub const EOS: u32 = EOS_ID;

pub use nmt_testkit::{model_with, tiny_config, tiny_model};

/// A tiny model made decisive: untied output weights scaled by 6 (peaked distributions) and a
/// bias on `</s>`. With a tiny vocabulary, a plain random model's best output is nearly always
/// the empty one (one `</s>` costs less than several tokens from flat distributions); with a
/// `</s>` bias of -4 the optima have every length up to the limit. A positive bias makes `</s>`
/// compete with the best token at many steps.
pub fn sharpened_model(seed: u64, vocab: usize, eos_bias: f32, device: &Device) -> Transformer {
    let cfg = ModelConfig {
        tie_output: false,
        ..tiny_config()
    };
    let mut model = model_with(&cfg, seed, vocab, device);
    let output = model.output.as_mut().unwrap();
    output.weight = Param::from_tensor(output.weight.val().mul_scalar(6.0));
    let mut bias = vec![0f32; vocab];
    bias[EOS as usize] = eos_bias;
    output.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(bias, [vocab]),
        device,
    )));
    model
}

/// Plain random models for odd seeds, sharpened ones (`</s>` bias 1.0, so `</s>` often ranks
/// second) for even seeds: the mix the search tests run over.
pub fn alternating_model(seed: u64, vocab: usize, device: &Device) -> Transformer {
    if seed.is_multiple_of(2) {
        sharpened_model(seed, vocab, 1.0, device)
    } else {
        tiny_model(seed, vocab, device)
    }
}

/// Two n-best lists agree: same length; per rank the same tokens, and log-probabilities and
/// scores within 1e-4.
pub fn assert_same_list(got: &[Hypothesis], want: &[Hypothesis], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (rank, (a, b)) in got.iter().zip(want).enumerate() {
        assert_same(a, b, &format!("{what}, rank {rank}"));
        assert!((a.score - b.score).abs() < 1e-4, "{what}, rank {rank}");
    }
}

/// Two hypotheses agree: the same tokens and log-probabilities within 1e-4.
pub fn assert_same(a: &Hypothesis, b: &Hypothesis, what: &str) {
    assert_eq!(a.tokens, b.tokens, "{what}: tokens differ");
    assert!(
        (a.log_prob - b.log_prob).abs() < 1e-4,
        "{what}: log-probs {} vs {}",
        a.log_prob,
        b.log_prob
    );
}

/// A deterministic pseudo-random source of `len` real tokens (ids 3..vocab) plus `</s>`.
pub fn source(seed: u64, len: usize, vocab: usize) -> Vec<u32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut ids: Vec<u32> = (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            3 + ((x >> 33) % (vocab as u64 - 3)) as u32
        })
        .collect();
    ids.push(EOS);
    ids
}

/// Log-probabilities of `targets` (token ids without `</s>`; `</s>` is appended and scored)
/// given `src`, from ONE teacher-forced forward pass over all of them (same length required).
pub fn teacher_forced_log_probs(
    model: &Transformer,
    src: &[u32],
    targets: &[Vec<u32>],
    device: &Device,
) -> Vec<f64> {
    let n = targets.len();
    let len = targets[0].len() + 1;
    let vocab = model.tgt_vocab_size();
    let src_flat: Vec<i64> = (0..n).flat_map(|_| src.iter().map(|&t| t as i64)).collect();
    let src_t = Tensor::<2, Int>::from_data(TensorData::new(src_flat, [n, src.len()]), device);
    let mut tgt_in = Vec::with_capacity(n * len);
    for t in targets {
        assert_eq!(t.len() + 1, len);
        tgt_in.push(i64::from(BOS_ID));
        tgt_in.extend(t.iter().map(|&x| x as i64));
    }
    let tgt_t = Tensor::<2, Int>::from_data(TensorData::new(tgt_in, [n, len]), device);
    let lp: Vec<f32> = log_softmax(model.forward(src_t, tgt_t), 2)
        .into_data()
        .iter::<f32>()
        .collect();
    targets
        .iter()
        .enumerate()
        .map(|(b, t)| {
            t.iter()
                .chain(std::iter::once(&EOS))
                .enumerate()
                .map(|(pos, &tok)| f64::from(lp[(b * len + pos) * vocab + tok as usize]))
                .sum()
        })
        .collect()
}

/// Every output of at most `max_len` real tokens (ids 3..vocab), scored by teacher forcing,
/// best first.
pub fn exhaustive(
    model: &Transformer,
    src: &[u32],
    max_len: usize,
    lenpen: f64,
    device: &Device,
) -> Vec<Hypothesis> {
    let vocab = model.tgt_vocab_size() as u32;
    let mut all = Vec::new();
    let mut level: Vec<Vec<u32>> = vec![Vec::new()];
    for len in 0..=max_len {
        let lps = teacher_forced_log_probs(model, src, &level, device);
        for (tokens, log_prob) in level.iter().zip(lps) {
            let score = log_prob / length_penalty(len + 1, lenpen);
            all.push(Hypothesis {
                tokens: tokens.clone(),
                score,
                log_prob,
            });
        }
        level = level
            .iter()
            .flat_map(|p| {
                (3..vocab).map(move |t| {
                    let mut q = p.clone();
                    q.push(t);
                    q
                })
            })
            .collect();
    }
    all.sort_by(|a, b| b.score.total_cmp(&a.score));
    all
}

/// Log-probabilities `[prefix][vocab]` of the token after each of `prefixes` (same length),
/// from one teacher-forced pass without the cache, masked as decoding masks them: `<pad>` and
/// `<s>` never, and only `</s>` once `forced`.
pub fn next_log_probs(
    model: &Transformer,
    src: &[u32],
    prefixes: &[Vec<u32>],
    forced: bool,
    device: &Device,
) -> Vec<Vec<f32>> {
    let (n, len) = (prefixes.len(), prefixes[0].len() + 1);
    let vocab = model.tgt_vocab_size();
    let src_flat: Vec<i64> = (0..n).flat_map(|_| src.iter().map(|&t| t as i64)).collect();
    let src_t = Tensor::<2, Int>::from_data(TensorData::new(src_flat, [n, src.len()]), device);
    let tgt_in: Vec<i64> = prefixes
        .iter()
        .flat_map(|p| std::iter::once(i64::from(BOS_ID)).chain(p.iter().map(|&t| t as i64)))
        .collect();
    let tgt_t = Tensor::<2, Int>::from_data(TensorData::new(tgt_in, [n, len]), device);
    let lp: Vec<f32> = log_softmax(model.forward(src_t, tgt_t), 2)
        .into_data()
        .iter::<f32>()
        .collect();
    (0..n)
        .map(|b| {
            let last = &lp[(b * len + len - 1) * vocab..(b * len + len) * vocab];
            last.iter()
                .enumerate()
                .map(|(t, &v)| {
                    let t = t as u32;
                    let banned = t == PAD_ID || t == BOS_ID || (forced && t != EOS_ID);
                    if banned { f32::NEG_INFINITY } else { v }
                })
                .collect()
        })
        .collect()
}

/// Beam search written plainly: one sentence, no cache (every step re-reads the whole prefix),
/// lists and sorts instead of tensors, and the rules of `nmt_decode`'s beam search spelled out
/// once more. Per step, the top `2 * beam` candidates (prefix, token), best first, ties by
/// (prefix, token): a `</s>` among the first `beam` finishes a hypothesis, other tokens continue
/// until `beam` are kept. The search stops at the length limit, when nothing continues, or when
/// `beam` hypotheses are finished and the best live prefix, scored as if it ended now, does not
/// beat the worst of them.
pub fn reference_beam(
    model: &Transformer,
    src: &[u32],
    max_len: usize,
    beam: usize,
    lenpen: f64,
    device: &Device,
) -> Vec<Hypothesis> {
    reference_beam_with(
        |prefixes, forced| next_log_probs(model, src, prefixes, forced, device),
        max_len,
        beam,
        lenpen,
    )
}

/// [`reference_beam`] over any next-token scorer: `next(prefixes, forced)` gives the masked
/// log-probabilities `[prefix][vocab]` of the token after each prefix.
pub fn reference_beam_with(
    next: impl Fn(&[Vec<u32>], bool) -> Vec<Vec<f32>>,
    max_len: usize,
    beam: usize,
    lenpen: f64,
) -> Vec<Hypothesis> {
    let mut live: Vec<(Vec<u32>, f32)> = vec![(Vec::new(), 0.0)];
    let mut finished: Vec<Hypothesis> = Vec::new();
    for step in 0.. {
        let prefixes: Vec<Vec<u32>> = live.iter().map(|(p, _)| p.clone()).collect();
        let lps = next(&prefixes, step >= max_len);
        let mut candidates: Vec<(f32, usize, u32)> = Vec::new();
        for (i, (_, running)) in live.iter().enumerate() {
            for (t, &lp) in lps[i].iter().enumerate() {
                if lp.is_finite() {
                    candidates.push((running + lp, i, t as u32));
                }
            }
        }
        // Stable: equal values keep (prefix, token) order.
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut next: Vec<(Vec<u32>, f32)> = Vec::new();
        for (rank, &(value, i, t)) in candidates.iter().take(2 * beam).enumerate() {
            if t == EOS {
                if rank < beam {
                    let tokens = live[i].0.clone();
                    let log_prob = f64::from(value);
                    let score = log_prob / length_penalty(tokens.len() + 1, lenpen);
                    let at = finished.partition_point(|h| h.score >= score);
                    finished.insert(
                        at,
                        Hypothesis {
                            tokens,
                            score,
                            log_prob,
                        },
                    );
                    finished.truncate(beam);
                }
            } else if next.len() < beam {
                let mut tokens = live[i].0.clone();
                tokens.push(t);
                next.push((tokens, value));
            }
            if next.len() == beam && rank + 1 >= beam {
                break;
            }
        }
        let Some((best, best_lp)) = next.first() else {
            break;
        };
        if finished.len() >= beam
            && f64::from(*best_lp) / length_penalty(best.len(), lenpen) <= finished[beam - 1].score
        {
            break;
        }
        live = next;
    }
    finished
}
