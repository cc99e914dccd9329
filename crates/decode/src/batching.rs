//! Translating any number of sentences: sort by length, cut into token-budget batches, decode
//! each batch, put the results back in input order.

use std::ops::Range;

use burn::tensor::Device;
use nmt_model::{EOS_ID, Transformer};

use crate::Hypothesis;
use crate::beam::beam_search_ensemble;
use crate::config::DecodeConfig;
use crate::ensemble::DecodeError;
use crate::greedy::greedy_ensemble;
use crate::sample::{sample_ensemble, sentence_rng};
use crate::step::{Scoring, length_penalty, model_max_len};

/// Source length as the length limit sees it: without a trailing `</s>`.
pub fn source_len(src: &[u32]) -> usize {
    match src.last() {
        Some(&last) if last == EOS_ID => src.len() - 1,
        _ => src.len(),
    }
}

/// Cuts sentences, already sorted by decreasing `widths` (source lengths with `</s>`), into
/// consecutive batches whose cost `sentences * widest * beam` stays within `max_tokens`. A
/// batch always takes at least one sentence, so a sentence over the budget is decoded alone.
pub fn token_batches(widths: &[usize], beam: usize, max_tokens: usize) -> Vec<Range<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    while start < widths.len() {
        let mut end = start + 1;
        let mut widest = widths[start];
        while end < widths.len() {
            let w = widest.max(widths[end]);
            if (end + 1 - start) * w * beam > max_tokens {
                break;
            }
            widest = w;
            end += 1;
        }
        batches.push(start..end);
        start = end;
    }
    batches
}

/// Translates `sources` (token ids, each normally ending with `</s>`): sorts them by length
/// into batches of at most `cfg.max_tokens` (see [`token_batches`]), decodes each batch
/// (greedy when `cfg.beam` is 1, else beam search), and returns the results in INPUT order,
/// `cfg.nbest` (clamped to `1..=beam`) hypotheses each, best first.
///
/// Output length is limited to `cfg.max_len(src_len)` tokens before `</s>`, `src_len` without
/// the source's `</s>`, and to what the model's position table allows. An empty source (no
/// ids, or only `</s>`) gives one empty hypothesis with score 0 without running the model.
/// Greedy hypotheses are scored with `cfg.lenpen` like beam search's.
///
/// The model should live on a device without autodiff: on an autodiff device its dropout
/// layers are active unless the module was frozen.
pub fn translate(
    model: &Transformer,
    sources: &[Vec<u32>],
    cfg: &DecodeConfig,
    device: &Device,
) -> Vec<Vec<Hypothesis>> {
    translate_ensemble(&[model], sources, cfg, device).expect("one model always decodes")
}

/// [`translate`] with an ensemble: every step scores the next token by the mean of the
/// models' distributions (fairseq's, Marian's and OpenNMT's ensembles), with each model
/// encoding the source itself. The models must share the target vocabulary (in practice, the
/// tokenizer: checkpoints of one run, or runs trained with the same tokenizer); outputs are
/// limited by the shortest position table among them. One model gives [`translate`]'s results.
///
/// An error if `models` is empty or their target vocabularies differ in size.
pub fn translate_ensemble(
    models: &[&Transformer],
    sources: &[Vec<u32>],
    cfg: &DecodeConfig,
    device: &Device,
) -> Result<Vec<Vec<Hypothesis>>, DecodeError> {
    translate_with_prefixes(models, sources, &[], cfg, device)
}

/// [`translate_ensemble`] where sentence `i`'s translation begins with the target ids
/// `prefixes[i]` (fairseq's `--prefix-size`, Marian's `--force-decode`): greedy, beam search
/// and sampling continue the given prefix, whose log-probabilities count in the score like any
/// other token's. `prefixes` is empty (no prefixes) or one per source; an empty source still
/// gives an empty translation. A prefix is cut to what the position tables hold, and the length
/// limit is raised to it when shorter.
pub fn translate_with_prefixes(
    models: &[&Transformer],
    sources: &[Vec<u32>],
    prefixes: &[Vec<u32>],
    cfg: &DecodeConfig,
    device: &Device,
) -> Result<Vec<Vec<Hypothesis>>, DecodeError> {
    nmt_model::on_worker(device, || {
        nmt_model::with_packed_weights(|| translate_batches(models, sources, prefixes, cfg, device))
    })
}

fn translate_batches(
    models: &[&Transformer],
    sources: &[Vec<u32>],
    prefixes: &[Vec<u32>],
    cfg: &DecodeConfig,
    device: &Device,
) -> Result<Vec<Vec<Hypothesis>>, DecodeError> {
    crate::ensemble::check(models)?;
    assert!(
        prefixes.is_empty() || prefixes.len() == sources.len(),
        "one prefix per source, or none"
    );
    let limit = models.iter().map(|m| model_max_len(m)).min().unwrap_or(0);
    let prefix = |i: usize| -> Vec<u32> {
        let p = prefixes.get(i).map(Vec::as_slice).unwrap_or(&[]);
        p[..p.len().min(limit)].to_vec()
    };
    // The length limit of sentence `i`: the configured one, raised to its prefix.
    let max_len = |i: usize| cfg.max_len(source_len(&sources[i])).max(prefix(i).len());
    let beam = cfg.beam_width();
    let nbest = cfg.nbest_count();
    let mut results: Vec<Vec<Hypothesis>> = vec![Vec::new(); sources.len()];
    let mut order: Vec<usize> = Vec::with_capacity(sources.len());
    for (i, src) in sources.iter().enumerate() {
        if source_len(src) == 0 {
            results[i] = vec![Hypothesis::default()];
        } else {
            order.push(i);
        }
    }
    // Longest first (a batch that does not fit shows up at once); ties keep input order.
    order.sort_by_key(|&i| std::cmp::Reverse(sources[i].len()));
    let widths: Vec<usize> = order.iter().map(|&i| sources[i].len()).collect();
    if let Some(method) = cfg.sampling {
        // n-best samples are n rows of the batch, each with its own generator.
        for batch in token_batches(&widths, nbest, cfg.max_tokens) {
            let ids = &order[batch];
            let rows: Vec<(usize, usize)> = ids
                .iter()
                .flat_map(|&i| (0..nbest).map(move |r| (i, r)))
                .collect();
            let src: Vec<Vec<u32>> = rows.iter().map(|&(i, _)| sources[i].clone()).collect();
            let pre: Vec<Vec<u32>> = rows.iter().map(|&(i, _)| prefix(i)).collect();
            let max_lens: Vec<usize> = rows.iter().map(|&(i, _)| max_len(i)).collect();
            let mut rngs: Vec<_> = rows
                .iter()
                .map(|&(i, r)| sentence_rng(cfg.seed, i, r))
                .collect();
            let decoded = sample_ensemble(
                models,
                &src,
                &pre,
                &max_lens,
                method,
                cfg.temperature,
                &mut rngs,
                device,
            );
            for (&(i, _), mut h) in rows.iter().zip(decoded) {
                h.score = h.log_prob / length_penalty(h.tokens.len() + 1, cfg.lenpen);
                results[i].push(h);
            }
            for &i in ids {
                results[i].sort_by(|a, b| b.score.total_cmp(&a.score));
            }
        }
        return Ok(results);
    }
    for batch in token_batches(&widths, beam, cfg.max_tokens) {
        let ids = &order[batch];
        let src: Vec<Vec<u32>> = ids.iter().map(|&i| sources[i].clone()).collect();
        let pre: Vec<Vec<u32>> = ids.iter().map(|&i| prefix(i)).collect();
        let max_lens: Vec<usize> = ids.iter().map(|&i| max_len(i)).collect();
        let decoded: Vec<Vec<Hypothesis>> = if beam == 1 {
            greedy_ensemble(models, &src, &pre, &max_lens, device)
                .into_iter()
                .map(|mut h| {
                    h.score = h.log_prob / length_penalty(h.tokens.len() + 1, cfg.lenpen);
                    vec![h]
                })
                .collect()
        } else {
            let scoring = Scoring {
                lenpen: cfg.lenpen,
                coverage: cfg.coverage_penalty,
            };
            beam_search_ensemble(models, &src, &pre, &max_lens, beam, scoring, nbest, device)
        };
        for (&i, hyps) in ids.iter().zip(decoded) {
            results[i] = hyps;
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_the_budget_and_cover_everything() {
        let widths = [9, 7, 7, 5, 3, 3, 2, 1];
        for (beam, max_tokens) in [(1, 20), (2, 20), (4, 8), (1, 1000), (3, 1)] {
            let batches = token_batches(&widths, beam, max_tokens);
            let mut next = 0;
            for b in &batches {
                assert_eq!(b.start, next);
                assert!(!b.is_empty());
                let cost = b.len() * widths[b.start..b.end].iter().max().unwrap() * beam;
                assert!(b.len() == 1 || cost <= max_tokens, "{b:?} costs {cost}");
                // Greedy packing: the next sentence would not have fitted.
                if b.end < widths.len() {
                    let more = (b.len() + 1) * widths[b.start..=b.end].iter().max().unwrap() * beam;
                    assert!(more > max_tokens);
                }
                next = b.end;
            }
            assert_eq!(next, widths.len());
        }
        assert_eq!(token_batches(&[], 4, 100), Vec::<Range<usize>>::new());
    }

    #[test]
    fn source_len_ignores_the_final_eos() {
        assert_eq!(source_len(&[]), 0);
        assert_eq!(source_len(&[EOS_ID]), 0);
        assert_eq!(source_len(&[5, 6, EOS_ID]), 2);
        assert_eq!(source_len(&[5, 6]), 2);
    }

    #[test]
    fn max_len_follows_fairseq() {
        let cfg = DecodeConfig::default();
        assert_eq!(cfg.max_len(0), 10);
        assert_eq!(cfg.max_len(10), 22);
        assert_eq!(cfg.max_len(3), 13);
    }
}
