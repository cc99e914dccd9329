//! Sampled decoding, as back-translation uses it (fairseq's `--sampling --sampling-topk`,
//! Marian's `--output-sampling`): each step draws the next token from the model's
//! distribution, sharpened or flattened by a temperature and cut to the `k` most probable
//! tokens (`topk:K`) or to the smallest set holding probability `p` (`topp:P`), or not cut
//! (`full`). Every sentence draws from its own generator, seeded from the run's seed and the
//! sentence's input position (and the sample's number, for n-best), so a seed gives the same
//! output whatever the batching. The hypothesis' `log_prob` is the model's own (untempered).

use std::str::FromStr;

use burn::tensor::Device;
use nmt_core::rng::{SplitMix64, mix64};
use nmt_model::Transformer;
use serde::{Deserialize, Serialize};

use crate::Hypothesis;
use crate::greedy::run;
use crate::scores::{StepScores, log_prob_rows};
use crate::step::top_k_row;

/// Which tokens a step may draw from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Sampling {
    /// The `k` most probable (`topk:K`; 1 is greedy).
    TopK(usize),
    /// The most probable tokens until their probability reaches `p` (`topp:P`, nucleus).
    TopP(f64),
    /// Every token (`full`).
    Full,
}

impl FromStr for Sampling {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?}: expected topk:K (K >= 1), topp:P (0 < P <= 1) or full");
        match s.split_once(':') {
            None if s == "full" => Ok(Self::Full),
            Some(("topk", k)) => match k.parse::<usize>() {
                Ok(k) if k >= 1 => Ok(Self::TopK(k)),
                _ => Err(bad()),
            },
            Some(("topp", p)) => match p.parse::<f64>() {
                Ok(p) if p > 0.0 && p <= 1.0 => Ok(Self::TopP(p)),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

impl TryFrom<String> for Sampling {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Sampling> for String {
    fn from(s: Sampling) -> String {
        match s {
            Sampling::TopK(k) => format!("topk:{k}"),
            Sampling::TopP(p) => format!("topp:{p}"),
            Sampling::Full => "full".to_string(),
        }
    }
}

/// One draw from a row of log-probabilities (`-inf` = never): the chosen id.
pub fn draw(log_probs: &[f32], method: Sampling, temperature: f64, rng: &mut SplitMix64) -> usize {
    let mut candidates: Vec<(usize, f32)> = match method {
        Sampling::TopK(k) => top_k_row(log_probs, k),
        Sampling::TopP(_) | Sampling::Full => top_k_row(log_probs, log_probs.len()),
    };
    candidates.retain(|&(_, lp)| lp.is_finite());
    let Some(&(best, best_lp)) = candidates.first() else {
        return 0; // nothing allowed at all: the caller's masks never leave a row empty
    };
    // Probabilities of the tempered distribution, relative to the best candidate's.
    let mut weights: Vec<f64> = candidates
        .iter()
        .map(|&(_, lp)| (f64::from(lp - best_lp) / temperature).exp())
        .collect();
    if let Sampling::TopP(p) = method {
        let total: f64 = weights.iter().sum();
        let mut mass = 0.0;
        let keep = weights
            .iter()
            .position(|w| {
                mass += w / total;
                mass >= p
            })
            .map_or(weights.len(), |i| i + 1);
        weights.truncate(keep);
    }
    let total: f64 = weights.iter().sum();
    let mut u = rng.unit() * total;
    for (&(id, _), w) in candidates.iter().zip(&weights) {
        if u < *w {
            return id;
        }
        u -= w;
    }
    // Rounding left u at the very end: the last kept candidate.
    candidates.get(weights.len() - 1).map_or(best, |c| c.0)
}

/// The generator of sentence `sentence` (input position), sample `sample`, under `seed`.
pub fn sentence_rng(seed: u64, sentence: usize, sample: usize) -> SplitMix64 {
    SplitMix64::new(mix64(
        mix64(seed) ^ mix64(sentence as u64 ^ ((sample as u64) << 40)),
    ))
}

/// Samples one hypothesis for each of `src` (an ensemble's mean distribution when several
/// models are given); `rngs[i]` is sentence `i`'s generator. `score` equals `log_prob`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sample_ensemble(
    models: &[&Transformer],
    src: &[Vec<u32>],
    prefixes: &[Vec<u32>],
    max_lens: &[usize],
    method: Sampling,
    temperature: f64,
    rngs: &mut [SplitMix64],
    device: &Device,
) -> Vec<Hypothesis> {
    let mut pick = |step: StepScores, sentences: &[usize]| {
        let vocab = step.scores.dims()[1];
        let allowed = step.allowed();
        let rows = log_prob_rows(step.scores, &allowed);
        let mut values = Vec::with_capacity(sentences.len());
        let mut tokens = Vec::with_capacity(sentences.len());
        for (row, &s) in rows.chunks_exact(vocab).zip(sentences) {
            let id = draw(row, method, temperature, &mut rngs[s]);
            values.push(row[id]);
            tokens.push(id as i64);
        }
        (values, tokens)
    };
    run(models, src, prefixes, max_lens, device, false, &mut pick).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse_and_print_back() {
        for text in ["topk:1", "topk:40", "topp:0.9", "full"] {
            let s: Sampling = text.parse().unwrap();
            assert_eq!(String::from(s), text);
        }
        for bad in ["topk:0", "topk:x", "topp:0", "topp:1.5", "nucleus", "topk"] {
            assert!(bad.parse::<Sampling>().is_err(), "{bad}");
        }
    }

    #[test]
    fn draws_follow_the_distribution_and_respect_the_cut() {
        // p = 0.5, 0.3, 0.2, 0 (masked).
        let row = [0.5f32.ln(), 0.3f32.ln(), 0.2f32.ln(), f32::NEG_INFINITY];
        let mut rng = SplitMix64::new(7);
        let n = 20_000;
        let mut counts = [0usize; 4];
        for _ in 0..n {
            counts[draw(&row, Sampling::Full, 1.0, &mut rng)] += 1;
        }
        assert_eq!(counts[3], 0, "a masked token was drawn");
        for (i, p) in [0.5, 0.3, 0.2].into_iter().enumerate() {
            let got = counts[i] as f64 / n as f64;
            assert!((got - p).abs() < 0.015, "token {i}: {got} vs {p}");
        }
        let mut counts = [0usize; 4];
        for _ in 0..n {
            counts[draw(&row, Sampling::TopK(2), 1.0, &mut rng)] += 1;
        }
        assert_eq!(counts[2] + counts[3], 0, "top-2 drew outside the top 2");
        assert!(
            (counts[0] as f64 / n as f64 - 0.625).abs() < 0.015,
            "{counts:?}"
        );
        // Nucleus 0.75: 0.5 + 0.3 reaches it, so only the first two.
        for _ in 0..2000 {
            assert!(draw(&row, Sampling::TopP(0.75), 1.0, &mut rng) < 2);
        }
        // Top-1 and a temperature near zero are greedy.
        for _ in 0..200 {
            assert_eq!(draw(&row, Sampling::TopK(1), 1.0, &mut rng), 0);
            assert_eq!(draw(&row, Sampling::Full, 1e-4, &mut rng), 0);
        }
        // A high temperature flattens: the third token comes up far more often than 20%.
        let hot = (0..n)
            .filter(|_| draw(&row, Sampling::Full, 100.0, &mut rng) == 2)
            .count();
        assert!(hot as f64 / n as f64 > 0.3, "{hot}");
    }

    #[test]
    fn generators_differ_by_sentence_sample_and_seed() {
        let first = |mut r: SplitMix64| r.next_u64();
        let a = first(sentence_rng(1, 0, 0));
        assert_eq!(a, first(sentence_rng(1, 0, 0)));
        assert_ne!(a, first(sentence_rng(1, 1, 0)));
        assert_ne!(a, first(sentence_rng(1, 0, 1)));
        assert_ne!(a, first(sentence_rng(2, 0, 0)));
    }
}
