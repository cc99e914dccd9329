//! `nmt-data`: from parallel text files to padded batches of token ids.
//!
//! Reading and cleaning ([`corpus`]), subword tokenizers ([`tokenizer`]), length filtering
//! ([`filter`]), token-budget batching with a resumable, seeded order ([`batch`]), and the
//! settings of all of it ([`config`]).
//!
//! This crate must not depend on Burn or on any crate of the workspace but `nmt-core` (the
//! reserved ids): it yields plain `Vec<i64>` id arrays, and the training crate turns them into
//! tensors. That keeps the data
//! pipeline fast to build and testable on its own.

pub mod batch;
pub mod config;
pub mod corpus;
pub mod error;
pub mod filter;
pub mod pairs;
pub mod prepared;
/// The project's one seeded generator, shared with decoding (sampling) through nmt-core.
pub use nmt_core::rng;
pub mod tokenizer;

pub use batch::{BatchCursor, BatchStream, IdBatch, TokenBudgetBatcher, inference_batches};
pub use config::{DataConfig, SplitSpec, TokenizerConfig, TokenizerKind, TrainSplits};
pub use corpus::{LineStream, PairStream, ParallelText, normalize_line, read_lines, read_parallel};
pub use error::DataError;
pub use filter::{EncodedPair, FilterStats, encode_corpus, require_nonempty};
pub use nmt_core::{BOS_ID, EOS_ID, InvalidSetting, PAD_ID, SPECIAL_TOKENS, TokenId, UNK_ID};
pub use pairs::{PairSource, Tokens};
pub use prepared::{Expected, PrepareJob, Prepared, PreparedSplit, Recipe, prepare};
pub use tokenizer::{SubwordTokenizer, Vocabularies};
