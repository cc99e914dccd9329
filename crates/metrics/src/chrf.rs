//! Corpus chrF (Popović, 2015) and chrF++ (Popović, 2017) as sacreBLEU 2.6.0
//! computes them: `sacrebleu.metrics.chrf.CHRF.corpus_score` with
//! `eps_smoothing=False`, the default.

use std::fmt;

use crate::SACREBLEU_VERSION;
use crate::error::{MetricError, check_streams};
use crate::ngrams::{Counts, clipped_matches, count_order};
use crate::pystr::{is_py_space, py_lower, py_split};

/// chrF options; `Default` is sacreBLEU's chrF2 (6 character orders, no words).
#[derive(Clone, Debug, PartialEq)]
pub struct ChrfConfig {
    /// Character n-gram order (sacreBLEU's `CHAR_ORDER`, 6).
    pub char_order: usize,
    /// Word n-gram order: 0 for chrF, 2 for chrF++.
    pub word_order: usize,
    /// Weight of recall relative to precision (2 for chrF2).
    pub beta: f64,
    pub lowercase: bool,
    /// Keep whitespace inside character n-grams (sacreBLEU's `whitespace`).
    pub whitespace: bool,
}

impl Default for ChrfConfig {
    fn default() -> Self {
        ChrfConfig {
            char_order: 6,
            word_order: 0,
            beta: 2.0,
            lowercase: false,
            whitespace: false,
        }
    }
}

/// A corpus chrF result.
#[derive(Clone, Debug, PartialEq)]
pub struct ChrfScore {
    /// chrF in [0, 100], unrounded; sacreBLEU prints it with 2 decimals.
    pub score: f64,
    /// Number of reference streams, for the signature.
    pub nrefs: usize,
    /// The configuration this was computed with, for the name and signature.
    pub config: ChrfConfig,
}

impl ChrfScore {
    /// The metric's name as sacreBLEU prints it: `chrF2`, `chrF2++`, ...
    pub fn name(&self) -> String {
        // `{}` prints an integral f64 without a fraction, as Python prints the int beta.
        format!(
            "chrF{}{}",
            self.config.beta,
            "+".repeat(self.config.word_order)
        )
    }

    /// sacreBLEU's signature, e.g. `nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0`.
    pub fn signature(&self) -> String {
        let cfg = &self.config;
        format!(
            "nrefs:{}|case:{}|eff:yes|nc:{}|nw:{}|space:{}|version:{}",
            self.nrefs,
            if cfg.lowercase { "lc" } else { "mixed" },
            cfg.char_order,
            cfg.word_order,
            if cfg.whitespace { "yes" } else { "no" },
            SACREBLEU_VERSION
        )
    }
}

/// sacreBLEU's `str(score)`: `chrF2 = 55.12`.
impl fmt::Display for ChrfScore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {:.2}", self.name(), self.score)
    }
}

/// Corpus chrF of `hyps` against the reference streams `refs`
/// (`refs[k][i]` is reference `k` of segment `i`).
pub fn corpus_chrf(
    hyps: &[String],
    refs: &[Vec<String>],
    cfg: &ChrfConfig,
) -> Result<ChrfScore, MetricError> {
    check_streams(hyps, refs)?;
    let mut totals = vec![0u64; 3 * (cfg.char_order + cfg.word_order)];
    for (i, hyp) in hyps.iter().enumerate() {
        let hyp_text = preprocess(hyp, cfg);
        let hyp = Segment::new(&hyp_text, cfg);
        let hyp_ngrams = hyp.ngrams(cfg);
        // Each segment is scored against the reference it matches best; on a
        // tie the earlier reference wins (sacreBLEU compares with `>`).
        let mut best: Option<(f64, Vec<u64>)> = None;
        for stream in refs {
            let ref_text = preprocess(&stream[i], cfg);
            let reference = Segment::new(&ref_text, cfg);
            let stats = match_statistics(&hyp_ngrams, &reference.ngrams(cfg));
            let f = f_score(&stats, cfg.beta);
            if best.as_ref().is_none_or(|(best_f, _)| f > *best_f) {
                best = Some((f, stats));
            }
        }
        if let Some((_, stats)) = best {
            totals.iter_mut().zip(stats).for_each(|(t, s)| *t += s);
        }
    }
    Ok(ChrfScore {
        score: f_score(&totals, cfg.beta),
        nrefs: refs.len(),
        config: cfg.clone(),
    })
}

/// `CHRF._preprocess_segment`: optional lowercasing, nothing else.
fn preprocess(sent: &str, cfg: &ChrfConfig) -> String {
    if cfg.lowercase {
        py_lower(sent)
    } else {
        sent.to_string()
    }
}

/// One preprocessed sentence: the characters chrF counts and chrF++'s words.
struct Segment<'a> {
    chars: Vec<char>,
    words: Vec<&'a str>,
}

/// The n-gram counts of a segment, one map per order.
struct Ngrams<'s> {
    chars: Vec<Counts<'s, char>>,
    words: Vec<Counts<'s, &'s str>>,
}

impl<'a> Segment<'a> {
    fn new(text: &'a str, cfg: &ChrfConfig) -> Segment<'a> {
        // Without `whitespace`, sacreBLEU does `''.join(line.split())`.
        let chars = text
            .chars()
            .filter(|&c| cfg.whitespace || !is_py_space(c))
            .collect();
        let words = if cfg.word_order > 0 {
            remove_punctuation(text)
        } else {
            Vec::new()
        };
        Segment { chars, words }
    }

    fn ngrams(&self, cfg: &ChrfConfig) -> Ngrams<'_> {
        Ngrams {
            chars: (1..=cfg.char_order)
                .map(|n| count_order(&self.chars, n))
                .collect(),
            words: (1..=cfg.word_order)
                .map(|n| count_order(&self.words, n))
                .collect(),
        }
    }
}

/// `string.punctuation`, the set chrF++ peels off word edges.
fn is_ascii_punct(c: char) -> bool {
    c.is_ascii_punctuation()
}

/// `CHRF._remove_punctuation`: splits one punctuation character off the end
/// of each word, or else off its start. Only one: `(hi)` gives `(hi` and `)`,
/// a quirk sacreBLEU keeps (its issue #124).
pub(crate) fn remove_punctuation(sent: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for w in py_split(sent) {
        let mut chars = w.chars();
        let (first, last) = (chars.next(), chars.next_back());
        match (first, last) {
            // A single character (`last` is None) stays whole.
            (Some(_), None) | (None, _) => out.push(w),
            (Some(_), Some(l)) if is_ascii_punct(l) => {
                out.push(&w[..w.len() - 1]);
                out.push(&w[w.len() - 1..]);
            }
            (Some(f), Some(_)) if is_ascii_punct(f) => {
                out.push(&w[..1]);
                out.push(&w[1..]);
            }
            _ => out.push(w),
        }
    }
    out
}

/// `CHRF._get_match_statistics` for every order: `[hyp, ref, match]` triples.
fn match_statistics(hyp: &Ngrams<'_>, reference: &Ngrams<'_>) -> Vec<u64> {
    fn triple<T: std::hash::Hash + Eq>(h: &Counts<'_, T>, r: &Counts<'_, T>) -> [u64; 3] {
        let hyp_count: u64 = h.values().sum();
        // Hypothesis n-grams are not counted when the reference has none of this order.
        [
            if r.is_empty() { 0 } else { hyp_count },
            r.values().sum(),
            clipped_matches(h, r),
        ]
    }
    let chars = hyp
        .chars
        .iter()
        .zip(&reference.chars)
        .map(|(h, r)| triple(h, r));
    let words = hyp
        .words
        .iter()
        .zip(&reference.words)
        .map(|(h, r)| triple(h, r));
    chars.chain(words).flatten().collect()
}

/// `CHRF._compute_f_score` without eps smoothing: the F-beta of precision and
/// recall averaged over the orders that have both hypothesis and reference
/// n-grams. The same float operations in the same order as sacreBLEU.
fn f_score(stats: &[u64], beta: f64) -> f64 {
    let factor = beta.powi(2);
    let (mut avg_prec, mut avg_rec) = (0.0, 0.0);
    let mut effective_order = 0usize;
    for triple in stats.chunks_exact(3) {
        let (n_hyp, n_ref, n_match) = (triple[0], triple[1], triple[2]);
        if n_hyp > 0 && n_ref > 0 {
            avg_prec += n_match as f64 / n_hyp as f64;
            avg_rec += n_match as f64 / n_ref as f64;
            effective_order += 1;
        }
    }
    if effective_order == 0 {
        return 0.0;
    }
    avg_prec /= effective_order as f64;
    avg_rec /= effective_order as f64;
    if avg_prec + avg_rec == 0.0 {
        return 0.0;
    }
    let mut score = (1.0 + factor) * avg_prec * avg_rec;
    score /= (factor * avg_prec) + avg_rec;
    100.0 * score
}

#[cfg(test)]
mod tests {
    use super::*;

    /// chrF++'s word splitting, against sacreBLEU's `_remove_punctuation`.
    #[test]
    fn word_splitting_matches_sacrebleu() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tokenizers.json"
        );
        let fixture: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for case in fixture["cases"].as_array().unwrap() {
            let input = case["input"].as_str().unwrap();
            let expected: Vec<&str> = case["chrf_words"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect();
            assert_eq!(remove_punctuation(input), expected, "{input:?}");
        }
    }

    #[test]
    fn remove_punctuation_splits_one_edge_only() {
        assert_eq!(
            remove_punctuation("(hi) a, .b x ..."),
            ["(hi", ")", "a", ",", ".", "b", "x", "..", "."]
        );
        assert_eq!(remove_punctuation("„Tag“, né."), ["„Tag“", ",", "né", "."]);
    }

    #[test]
    fn f_score_of_nothing_is_zero() {
        assert_eq!(f_score(&[0; 18], 2.0), 0.0);
        assert_eq!(f_score(&[], 2.0), 0.0);
    }
}
