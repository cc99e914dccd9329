//! Corpus BLEU (Papineni et al., 2002) as sacreBLEU 2.6.0 computes it:
//! `sacrebleu.metrics.bleu.BLEU.corpus_score`, same statistics, same floating
//! point operations in the same order, same text and signature.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use crate::SACREBLEU_VERSION;
use crate::error::{MetricError, check_streams};
use crate::ngrams::{Counts, count_all_orders};
use crate::pystr::{py_lower, py_rstrip, py_split};
use crate::tokenize::Tokenize;

/// BLEU's maximum n-gram order (sacreBLEU's `MAX_NGRAM_ORDER`).
pub const MAX_NGRAM_ORDER: usize = 4;

/// What to do with n-gram orders that have no match (Chen & Cherry, 2014).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Smoothing {
    /// NIST geometric sequence smoothing (`exp`), sacreBLEU's default.
    #[default]
    Exp,
    /// Replace a zero match count by a small value (`floor`, default 0.1).
    Floor,
    /// Add k to matches and totals of orders >= 2 (`add-k`, default 1).
    AddK,
    /// No smoothing (`none`).
    None,
}

impl Smoothing {
    /// The name sacreBLEU uses on its command line and in signatures.
    pub fn name(self) -> &'static str {
        match self {
            Smoothing::Exp => "exp",
            Smoothing::Floor => "floor",
            Smoothing::AddK => "add-k",
            Smoothing::None => "none",
        }
    }

    /// sacreBLEU's `SMOOTH_DEFAULTS`: the value used when none is given.
    pub fn default_value(self) -> Option<f64> {
        match self {
            Smoothing::Floor => Some(0.1),
            Smoothing::AddK => Some(1.0),
            Smoothing::Exp | Smoothing::None => None,
        }
    }
}

impl FromStr for Smoothing {
    type Err = MetricError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "exp" => Ok(Smoothing::Exp),
            "floor" => Ok(Smoothing::Floor),
            "add-k" => Ok(Smoothing::AddK),
            "none" => Ok(Smoothing::None),
            other => Err(MetricError::UnknownSmoothing(other.to_string())),
        }
    }
}

impl fmt::Display for Smoothing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// BLEU options; `Default` is sacreBLEU's default (13a, mixed case, exp).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BleuConfig {
    pub tokenize: Tokenize,
    pub lowercase: bool,
    pub smooth: Smoothing,
    /// The value for `floor` / `add-k`; `None` takes sacreBLEU's default.
    /// Ignored by `exp` and `none`, as in sacreBLEU.
    pub smooth_value: Option<f64>,
    /// Leave out orders with no n-gram at all (meant for sentence BLEU).
    pub effective_order: bool,
}

/// A corpus BLEU result with sacreBLEU's fields.
#[derive(Clone, Debug, PartialEq)]
pub struct BleuScore {
    /// BLEU in [0, 100], unrounded; sacreBLEU prints it with 2 decimals.
    pub score: f64,
    /// Clipped n-gram matches per order. These are the raw counts: sacreBLEU's
    /// `add-k` additionally adds k to its reported counts of orders 2-4.
    pub counts: [u64; MAX_NGRAM_ORDER],
    /// Hypothesis n-grams per order (raw, like `counts`).
    pub totals: [u64; MAX_NGRAM_ORDER],
    /// Smoothed precisions in percent, exactly the list sacreBLEU reports.
    pub precisions: [f64; MAX_NGRAM_ORDER],
    /// Brevity penalty.
    pub bp: f64,
    /// `sys_len / ref_len` (0 when `ref_len` is 0).
    pub ratio: f64,
    /// Hypothesis tokens.
    pub sys_len: u64,
    /// Closest-reference tokens, summed over segments.
    pub ref_len: u64,
    /// Number of reference streams, for the signature.
    pub nrefs: usize,
    /// The configuration this was computed with, for the signature.
    pub config: BleuConfig,
}

impl BleuScore {
    /// sacreBLEU's signature, e.g. `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0`.
    pub fn signature(&self) -> String {
        let cfg = &self.config;
        let mut smooth = cfg.smooth.name().to_string();
        // Methods that take a value show it, formatted like Python's `:.2f`.
        if let Some(default) = cfg.smooth.default_value() {
            smooth += &format!("[{:.2}]", cfg.smooth_value.unwrap_or(default));
        }
        format!(
            "nrefs:{}|case:{}|eff:{}|tok:{}|smooth:{}|version:{}",
            self.nrefs,
            if cfg.lowercase { "lc" } else { "mixed" },
            if cfg.effective_order { "yes" } else { "no" },
            cfg.tokenize,
            smooth,
            SACREBLEU_VERSION
        )
    }

    /// The part after the score: precisions, BP, ratio and lengths.
    pub fn verbose(&self) -> String {
        let precisions: Vec<String> = self.precisions.iter().map(|p| format!("{p:.1}")).collect();
        format!(
            "{} (BP = {:.3} ratio = {:.3} hyp_len = {} ref_len = {})",
            precisions.join("/"),
            self.bp,
            self.ratio,
            self.sys_len,
            self.ref_len
        )
    }
}

/// sacreBLEU's `str(score)`: `BLEU = 33.02 65.1/40.3/27.0/18.4 (BP = ...)`.
impl fmt::Display for BleuScore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BLEU = {:.2} {}", self.score, self.verbose())
    }
}

/// Corpus BLEU of `hyps` against the reference streams `refs`
/// (`refs[k][i]` is reference `k` of segment `i`).
pub fn corpus_bleu(
    hyps: &[String],
    refs: &[Vec<String>],
    cfg: &BleuConfig,
) -> Result<BleuScore, MetricError> {
    check_streams(hyps, refs)?;
    let mut stats = Stats::default();
    for (i, hyp) in hyps.iter().enumerate() {
        let processed: Vec<String> = refs.iter().map(|s| preprocess(&s[i], cfg)).collect();
        let tokens: Vec<Vec<&str>> = processed.iter().map(|r| py_split(r).collect()).collect();
        stats.add_segment(&preprocess(hyp, cfg), &tokens);
    }
    Ok(stats.score(refs.len(), cfg))
}

/// `BLEU._preprocess_segment`: lowercase, strip the right end, tokenize.
pub(crate) fn preprocess(sent: &str, cfg: &BleuConfig) -> String {
    if cfg.lowercase {
        cfg.tokenize.tokenize(py_rstrip(&py_lower(sent)))
    } else {
        cfg.tokenize.tokenize(py_rstrip(sent))
    }
}

/// Corpus sufficient statistics, summed over segments.
#[derive(Default)]
struct Stats {
    sys_len: u64,
    ref_len: u64,
    correct: [u64; MAX_NGRAM_ORDER],
    total: [u64; MAX_NGRAM_ORDER],
}

impl Stats {
    /// `_extract_reference_info` + `_compute_segment_statistics` for one segment.
    fn add_segment(&mut self, hyp: &str, refs: &[Vec<&str>]) {
        // Each n-gram may match as often as it occurs in the reference that has most of it.
        let mut ref_ngrams: Counts<'_, &str> = HashMap::new();
        for tokens in refs {
            for (gram, count) in count_all_orders(tokens, MAX_NGRAM_ORDER) {
                let best = ref_ngrams.entry(gram).or_insert(0);
                *best = (*best).max(count);
            }
        }
        let hyp_tokens: Vec<&str> = py_split(hyp).collect();
        let hyp_len = hyp_tokens.len() as u64;
        let ref_lens: Vec<u64> = refs.iter().map(|t| t.len() as u64).collect();
        self.sys_len += hyp_len;
        self.ref_len += closest_ref_len(hyp_len, &ref_lens);
        for (gram, count) in count_all_orders(&hyp_tokens, MAX_NGRAM_ORDER) {
            let n = gram.len() - 1;
            self.total[n] += count;
            if let Some(&r) = ref_ngrams.get(gram) {
                self.correct[n] += count.min(r);
            }
        }
    }

    /// `BLEU.compute_bleu`, operation for operation.
    fn score(&self, nrefs: usize, cfg: &BleuConfig) -> BleuScore {
        let smooth_value = cfg
            .smooth_value
            .or(cfg.smooth.default_value())
            .unwrap_or(0.0);
        let mut bp = 1.0;
        if self.sys_len < self.ref_len {
            bp = if self.sys_len > 0 {
                (1.0 - self.ref_len as f64 / self.sys_len as f64).exp()
            } else {
                0.0
            };
        }
        let mut precisions = [0.0; MAX_NGRAM_ORDER];
        let mut score = 0.0;
        // sacreBLEU stops early, leaving every precision at 0, when nothing matched (#141).
        if self.correct.iter().any(|&c| c > 0) {
            let mut smooth_mteval = 1.0;
            let mut eff_order = MAX_NGRAM_ORDER;
            for n in 1..=MAX_NGRAM_ORDER {
                let mut correct = self.correct[n - 1] as f64;
                let mut total = self.total[n - 1] as f64;
                if cfg.smooth == Smoothing::AddK && n > 1 {
                    correct += smooth_value;
                    total += smooth_value;
                }
                if total == 0.0 {
                    break;
                }
                if cfg.effective_order {
                    eff_order = n;
                }
                if correct == 0.0 {
                    match cfg.smooth {
                        Smoothing::Exp => {
                            smooth_mteval *= 2.0;
                            precisions[n - 1] = 100.0 / (smooth_mteval * total);
                        }
                        Smoothing::Floor => precisions[n - 1] = 100.0 * smooth_value / total,
                        Smoothing::AddK | Smoothing::None => {}
                    }
                } else {
                    precisions[n - 1] = 100.0 * correct / total;
                }
            }
            let log_sum: f64 = precisions[..eff_order].iter().map(|&p| my_log(p)).sum();
            score = bp * (log_sum / eff_order as f64).exp();
        }
        BleuScore {
            score,
            counts: self.correct,
            totals: self.total,
            precisions,
            bp,
            ratio: if self.ref_len > 0 {
                self.sys_len as f64 / self.ref_len as f64
            } else {
                0.0
            },
            sys_len: self.sys_len,
            ref_len: self.ref_len,
            nrefs,
            config: cfg.clone(),
        }
    }
}

/// `BLEU._get_closest_ref_len`: the reference length nearest the hypothesis
/// length; on a tie, the shorter reference.
fn closest_ref_len(hyp_len: u64, ref_lens: &[u64]) -> u64 {
    let mut closest: Option<(u64, u64)> = None; // (diff, len)
    for &len in ref_lens {
        let diff = hyp_len.abs_diff(len);
        closest = match closest {
            Some((best_diff, best_len))
                if diff > best_diff || (diff == best_diff && len >= best_len) =>
            {
                Some((best_diff, best_len))
            }
            _ => Some((diff, len)),
        };
    }
    closest.map_or(0, |(_, len)| len)
}

/// sacreBLEU's `my_log`: log, with log(0) floored to -9999999999.
fn my_log(x: f64) -> f64 {
    if x == 0.0 { -9_999_999_999.0 } else { x.ln() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lowercase + rstrip + tokenize, against what sacreBLEU's
    /// `BLEU._preprocess_segment` returned for the same tricky strings.
    #[test]
    fn preprocessing_matches_sacrebleu() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tokenizers.json"
        );
        let fixture: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for case in fixture["cases"].as_array().unwrap() {
            let input = case["input"].as_str().unwrap();
            for tokenize in [
                Tokenize::Thirteen,
                Tokenize::Intl,
                Tokenize::None,
                Tokenize::Char,
            ] {
                for (case_key, lowercase) in [("mixed", false), ("lc", true)] {
                    let cfg = BleuConfig {
                        tokenize,
                        lowercase,
                        ..BleuConfig::default()
                    };
                    let expected = &case["bleu_preprocessed"][tokenize.name()][case_key];
                    assert_eq!(
                        preprocess(input, &cfg),
                        expected.as_str().unwrap(),
                        "{tokenize} {case_key} {input:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn closest_ref_len_prefers_shorter_on_tie() {
        assert_eq!(closest_ref_len(4, &[5, 3]), 3);
        assert_eq!(closest_ref_len(4, &[3, 5]), 3);
        assert_eq!(closest_ref_len(4, &[6, 4, 3]), 4);
        assert_eq!(closest_ref_len(0, &[]), 0);
    }

    #[test]
    fn smoothing_names_round_trip() {
        for s in [
            Smoothing::Exp,
            Smoothing::Floor,
            Smoothing::AddK,
            Smoothing::None,
        ] {
            assert_eq!(s.to_string().parse::<Smoothing>().unwrap(), s);
        }
        assert!("add_k".parse::<Smoothing>().is_err());
    }
}
