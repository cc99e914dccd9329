//! Greedy decoding: at every step each sentence takes its most probable next token. Batched over
//! sentences; a sentence that has emitted `</s>` leaves the batch (its cache row is dropped).

use burn::tensor::{Device, Tensor};
use nmt_model::{BOS_ID, EOS_ID, StepAttention, Transformer};

use crate::Hypothesis;
use crate::ensemble::EnsembleCache;
use crate::scores::{StepScores, best_tokens};
use crate::step::{TopK, VocabMasks, capped, floats, ids_1d, ints, prefix_tokens, source_batch};

/// Greedy decoding of one batch. `src[i]` are source ids (normally ending with `</s>`),
/// `max_lens[i]` the most tokens sentence `i` may produce before `</s>` (`</s>` is forced
/// there). Returns one hypothesis per sentence, in order; its `score` equals its `log_prob`
/// (no length penalty: [`crate::translate`] rescales it with the configured one).
pub fn greedy(
    model: &Transformer,
    src: &[Vec<u32>],
    max_lens: &[usize],
    device: &Device,
) -> Vec<Hypothesis> {
    run(
        &[model],
        src,
        &[],
        max_lens,
        device,
        false,
        &mut most_probable,
    )
    .0
}

/// Greedy's choice: the most probable allowed token of each row (ties: the lower id), and its
/// log-probability; where the device's memory is not the host's, on the device (one small
/// read instead of the whole matrix, see [`TopK`]). A row allowed nothing ends (`</s>` at
/// -inf).
fn most_probable(step: StepScores, _sentences: &[usize]) -> (Vec<f32>, Vec<i64>) {
    if step.select == TopK::Device {
        let (values, tokens) = step.masked_log_probs().max_dim_with_indices(1);
        return (floats(values), ints(tokens));
    }
    let allowed = step.allowed();
    best_tokens(step.scores, &allowed, 1)
        .into_iter()
        .map(|best| match best.first() {
            Some(&(token, log_prob)) => (log_prob, token as i64),
            None => (f32::NEG_INFINITY, i64::from(EOS_ID)),
        })
        .unzip()
}

/// [`greedy`] with an ensemble: each step takes the most probable token under the mean of the
/// models' distributions (see `ensemble.rs`). One model gives exactly [`greedy`]'s results.
pub(crate) fn greedy_ensemble(
    models: &[&Transformer],
    src: &[Vec<u32>],
    prefixes: &[Vec<u32>],
    max_lens: &[usize],
    device: &Device,
) -> Vec<Hypothesis> {
    run(
        models,
        src,
        prefixes,
        max_lens,
        device,
        false,
        &mut most_probable,
    )
    .0
}

/// Greedy decoding of one sentence that also records the attention of every step: element `t`
/// of the returned vector is the [`StepAttention`] of the step that produced output token `t`
/// (the last one produced `</s>`, so there are `tokens.len() + 1` of them). Each holds, per
/// decoder layer, the self-attention weights `[1, heads, 1, t + 1]` over `<s>` and the tokens
/// before `t`, and the cross-attention weights `[1, heads, 1, src_len]` over the whole source
/// (its `</s>` included). Tensors stay on the device; read them with `into_data()`.
/// Asking for weights makes attention take its explicit (unfused) path, which computes the
/// same function up to float rounding, so the output matches [`greedy`]'s but for near-ties.
pub fn greedy_with_attention(
    model: &Transformer,
    src: &[u32],
    max_len: usize,
    device: &Device,
) -> (Hypothesis, Vec<StepAttention>) {
    let (mut hyps, steps) = run(
        &[model],
        &[src.to_vec()],
        &[],
        &[max_len],
        device,
        true,
        &mut most_probable,
    );
    (hyps.remove(0), steps)
}

/// What picks each step's tokens: given the step's scores of the sentences still decoding and
/// what each row may produce (`sentences[row]` is the sentence of a row), the log-probability
/// and id of the token each row takes. Greedy takes the best; sampling draws
/// (`crate::sample`).
pub(crate) type Pick<'a> = dyn FnMut(StepScores, &[usize]) -> (Vec<f32>, Vec<i64>) + 'a;

/// The left-to-right loop greedy decoding and sampling share: a sentence leaves the batch
/// (its cache row is dropped) once it has taken `</s>`. `prefixes` (empty, or one per
/// sentence) are target tokens each sentence is made to begin with; their log-probabilities
/// count as any other token's.
pub(crate) fn run(
    models: &[&Transformer],
    src: &[Vec<u32>],
    prefixes: &[Vec<u32>],
    max_lens: &[usize],
    device: &Device,
    record: bool,
    pick: &mut Pick,
) -> (Vec<Hypothesis>, Vec<StepAttention>) {
    assert_eq!(
        src.len(),
        max_lens.len(),
        "one max length per source sentence"
    );
    let n = src.len();
    let mut hyps = vec![Hypothesis::default(); n];
    let mut attention = Vec::new();
    if n == 0 {
        return (hyps, attention);
    }
    let mut cache = EnsembleCache::start(models, source_batch(src, device));
    let max_lens = capped(models, max_lens);
    let masks = VocabMasks::new(models[0].tgt_vocab_size(), device);
    let select = TopK::for_device(device);

    // Row r of the cache decodes sentence alive[r]; last[r] is its previous output.
    let mut alive: Vec<usize> = (0..n).collect();
    let mut last = vec![i64::from(BOS_ID); n];
    let mut log_probs = vec![0f64; n];
    let mut step = 0;
    while !alive.is_empty() {
        let (next, att) = cache.step(models, ids_1d(&last, device), record);
        if record {
            attention.push(att);
        }
        let forced: Vec<bool> = alive.iter().map(|&s| step >= max_lens[s]).collect();
        let only = prefix_tokens(prefixes, &alive, step);
        let step_scores = StepScores {
            scores: next,
            forced: &forced,
            only: &only,
            masks: &masks,
            select,
        };
        let (values, tokens) = pick(step_scores, &alive);
        let mut keep = Vec::with_capacity(alive.len());
        for (row, &s) in alive.iter().enumerate() {
            log_probs[s] += f64::from(values[row]);
            if tokens[row] != i64::from(EOS_ID) {
                hyps[s].tokens.push(tokens[row] as u32);
                keep.push(row);
            }
        }
        if keep.len() < alive.len() && !keep.is_empty() {
            cache = cache.select_rows(&keep);
        }
        last = keep.iter().map(|&r| tokens[r]).collect();
        alive = keep.iter().map(|&r| alive[r]).collect();
        step += 1;
    }
    for (h, lp) in hyps.iter_mut().zip(log_probs) {
        h.log_prob = lp;
        h.score = lp;
    }
    (hyps, attention)
}

/// Greedy decoding WITHOUT the cache, the reference the cached decoders are tested against:
/// every step re-runs the full teacher-forced [`Transformer::forward`] (encoder included) on the
/// whole batch and the growing prefixes, and reads the last position's logits. Same contract
/// and results as [`greedy`], at O(T^2) cost.
pub fn greedy_uncached(
    model: &Transformer,
    src: &[Vec<u32>],
    max_lens: &[usize],
    device: &Device,
) -> Vec<Hypothesis> {
    assert_eq!(
        src.len(),
        max_lens.len(),
        "one max length per source sentence"
    );
    let n = src.len();
    let mut hyps = vec![Hypothesis::default(); n];
    if n == 0 {
        return hyps;
    }
    let max_lens = capped(&[model], max_lens);
    let masks = VocabMasks::new(model.tgt_vocab_size(), device);
    let src = source_batch(src, device);
    // prefixes[s]: <s> and the outputs so far; finished rows keep being fed (and ignored).
    let mut prefixes: Vec<Vec<i64>> = vec![vec![i64::from(BOS_ID)]; n];
    let mut done = vec![false; n];
    let mut step = 0;
    while done.iter().any(|&d| !d) {
        let width = step + 1;
        let flat: Vec<i64> = prefixes.iter().flatten().copied().collect();
        let tgt = Tensor::from_data(burn::tensor::TensorData::new(flat, [n, width]), device);
        let logits = model.forward(src.clone(), tgt);
        let vocab = masks.vocab;
        let last = logits
            .slice([0..n, step..width, 0..vocab])
            .reshape([n, vocab]);
        let forced: Vec<bool> = (0..n).map(|s| step >= max_lens[s]).collect();
        let (values, tokens) = masks.log_probs(last, &forced).max_dim_with_indices(1);
        let (values, tokens) = (floats(values), ints(tokens));
        for s in 0..n {
            prefixes[s].push(tokens[s]);
            if done[s] {
                continue;
            }
            hyps[s].log_prob += f64::from(values[s]);
            if tokens[s] == i64::from(EOS_ID) {
                done[s] = true;
            } else {
                hyps[s].tokens.push(tokens[s] as u32);
            }
        }
        step += 1;
    }
    for h in &mut hyps {
        h.score = h.log_prob;
    }
    hyps
}
