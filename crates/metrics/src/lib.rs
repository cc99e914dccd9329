//! BLEU and chrF for `nmt`, with figures identical to sacreBLEU 2.6.0.
//!
//! Takes detokenized hypothesis and reference strings and returns scores,
//! sacreBLEU's text (`BLEU = 33.02 65.1/...`) and its reproducibility
//! signatures. Everything is native Rust, reproducing sacreBLEU's tokenizers
//! (13a, intl, none, char), smoothing and chrF(++) operation for operation.
//!
//! This crate must not depend on Burn, on models or on any other workspace
//! crate: it scores strings, so it stays cheap to build and easy to trust.
//! `tests/sacrebleu_parity.rs` checks it against fixtures written by the real
//! sacreBLEU (`scripts/make-sacrebleu-fixtures.py`).

mod bleu;
mod chrf;
mod error;
mod io;
mod ngrams;
mod pystr;
mod report;
mod tokenize;
mod unicode_cat;

pub use bleu::{BleuConfig, BleuScore, MAX_NGRAM_ORDER, Smoothing, corpus_bleu};
pub use chrf::{ChrfConfig, ChrfScore, corpus_chrf};
pub use error::MetricError;
pub use io::read_lines;
pub use report::ScoreReport;
pub use tokenize::Tokenize;

/// The sacreBLEU release whose results and signatures this crate reproduces.
pub const SACREBLEU_VERSION: &str = "2.6.0";
