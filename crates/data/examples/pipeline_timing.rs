//! Times the data pipeline (read, train tokenizer, encode + filter, batch one epoch) on a
//! training split, by default all of Multi30k train (29,000 pairs):
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run --release -p nmt-data --example pipeline_timing -- [PREFIX] [bpe|unigram]
//! ```
//!
//! PREFIX defaults to `../shared/data/multi30k/train` (run from the workspace root), meaning
//! `train.en(.gz)` and `train.de(.gz)`; `data/quickstart/train` works too. Prints one line per
//! stage, with the default settings (vocab 8000, max_len 128, max_tokens 4096).

use std::process::ExitCode;
use std::time::Instant;

use nmt_data::{
    BatchCursor, DataError, IdBatch, SplitSpec, TokenBudgetBatcher, TokenizerConfig, TokenizerKind,
    Vocabularies, encode_corpus, read_parallel,
};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let prefix = args
        .next()
        .unwrap_or_else(|| "../shared/data/multi30k/train".into());
    let kind = match args.next().as_deref() {
        None | Some("bpe") => TokenizerKind::Bpe,
        Some("unigram") => TokenizerKind::Unigram,
        Some(other) => {
            eprintln!("error: unknown tokenizer kind {other:?} (bpe or unigram)");
            return ExitCode::FAILURE;
        }
    };
    match run(&prefix, kind) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(prefix: &str, kind: TokenizerKind) -> Result<(), DataError> {
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    println!("{prefix}.{{en,de}}, {kind:?}, RAYON_NUM_THREADS={threads}");
    let (src, tgt) = SplitSpec::Prefix(prefix.to_string()).resolve("en", "de")?;

    let t = Instant::now();
    let text = read_parallel(&src, &tgt)?;
    println!(
        "read + clean      {:>8.3} s  ({} pairs)",
        secs(t),
        text.len()
    );

    let t = Instant::now();
    let cfg = TokenizerConfig {
        kind,
        ..TokenizerConfig::default()
    };
    let vocab = Vocabularies::train(&text, &cfg)?;
    println!(
        "train tokenizer   {:>8.3} s  (joint, vocab {})",
        secs(t),
        vocab.src.vocab_size()
    );

    let t = Instant::now();
    let (pairs, stats) = encode_corpus(&text, &vocab, 128, 3.0);
    let encode = secs(t);
    println!("encode + filter   {encode:>8.3} s  ({stats})");

    let t = Instant::now();
    let batcher = TokenBudgetBatcher::new(&pairs, 4096, 100, 1)?;
    let (mut batches, mut tokens) = (0, 0);
    for (_, indices) in batcher
        .stream_from(BatchCursor::START)
        .take(batcher.batches_in_epoch(1))
    {
        let batch = IdBatch::from_pairs(&pairs, &indices);
        tokens += batch.src_tokens + batch.tgt_tokens;
        batches += 1;
    }
    let batching = secs(t);
    println!(
        "batch one epoch   {batching:>8.3} s  ({batches} batches of <= 4096 tokens, {tokens} tokens, padding {:.1}%)",
        100.0 * batcher.padding_ratio(1)
    );
    println!("encode + batch    {:>8.3} s", encode + batching);
    let src_tokens: usize = pairs.iter().map(|p| p.src.len()).sum();
    let tgt_tokens: usize = pairs.iter().map(|p| p.tgt.len()).sum();
    println!(
        "mean subwords per sentence: en {:.1}, de {:.1}",
        src_tokens as f64 / pairs.len() as f64,
        tgt_tokens as f64 / pairs.len() as f64
    );
    Ok(())
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}
