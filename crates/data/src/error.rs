//! The one error type of the crate. Every `Display` message is written for the person who
//! runs `nmt`: it names the file, the line or the setting involved and, where there is one,
//! what to change.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong between parallel text files and id batches.
///
/// OS errors are kept as a `reason` field, not as `#[source]`, so that the text of the
/// reason appears exactly once when the message is printed with its cause chain.
#[derive(Debug, Error)]
pub enum DataError {
    /// A file could not be opened or read (missing, permission, I/O error).
    #[error("cannot read {}: {reason}", path.display())]
    Read { path: PathBuf, reason: io::Error },

    /// A file could not be created or written.
    #[error("cannot write {}: {reason}", path.display())]
    Write { path: PathBuf, reason: io::Error },

    /// A `.gz` file is not gzip data, or ends before its gzip stream does.
    #[error("{}: corrupt or truncated gzip file ({reason}); download or copy it again", path.display())]
    CorruptGzip { path: PathBuf, reason: String },

    /// A line is not valid UTF-8.
    #[error("{}: line {line} is not valid UTF-8 (bad byte at column {column}); convert the file to UTF-8", path.display())]
    InvalidUtf8 {
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based byte column of the first invalid byte.
        column: usize,
    },

    /// The two sides of a parallel corpus have different line counts.
    #[error(
        "parallel files differ in length: {} has {src_lines} lines but {} has {tgt_lines} lines; \
         line i of one file must translate line i of the other",
        src.display(),
        tgt.display()
    )]
    LineCountMismatch {
        src: PathBuf,
        src_lines: usize,
        tgt: PathBuf,
        tgt_lines: usize,
    },

    /// A split was given as a prefix, and no file exists for one of its languages.
    #[error(
        "missing data file for language \"{lang}\": tried {}",
        join_paths(tried)
    )]
    MissingSplitFile { lang: String, tried: Vec<PathBuf> },

    /// Filtering removed every pair of a split.
    #[error(
        "empty {what} set after filtering: {read} pairs read, {empty} empty, \
         {too_long} longer than max_len={max_len} tokens, \
         {bad_ratio} with a length ratio above max_len_ratio={max_len_ratio}; \
         check the files or raise max_len / max_len_ratio"
    )]
    EmptyAfterFiltering {
        what: String,
        read: usize,
        empty: usize,
        too_long: usize,
        bad_ratio: usize,
        max_len: usize,
        max_len_ratio: f64,
    },

    /// There are no pairs at all to make batches of.
    #[error("no sentence pairs to make batches of")]
    NoPairs,

    /// One pair alone does not fit in a batch.
    #[error(
        "pair {index} needs {needed} tokens in a batch (source {src_len} + </s>, target {tgt_len} + <s>) \
         but max_tokens = {max_tokens}; raise max_tokens to at least {needed} or lower max_len below {max_tokens}"
    )]
    PairExceedsBudget {
        /// Index into the encoded pairs.
        index: usize,
        src_len: usize,
        tgt_len: usize,
        needed: usize,
        max_tokens: usize,
    },

    /// A file of a prepared dataset is not what was written (the message names it).
    #[error(transparent)]
    Integrity(#[from] nmt_core::IntegrityError),

    /// A prepared dataset whose files do not fit together.
    #[error("{}: not a usable prepared dataset: {reason}; prepare it again", path.display())]
    PreparedCorrupt { path: PathBuf, reason: String },

    /// A prepared dataset made from another corpus, tokenizer or filters than the config's.
    #[error(
        "the prepared data in {} does not match the config: {}; prepare it again with \
         `nmt prepare --config <your config> --force` (or delete the directory)",
        dir.display(),
        changes.join("; ")
    )]
    PreparedStale { dir: PathBuf, changes: Vec<String> },

    /// A setting has a value that cannot work.
    #[error("invalid setting {0}")]
    InvalidSetting(#[from] nmt_core::InvalidSetting),

    /// The `tokenizers` library refused to train.
    #[error("tokenizer training failed: {reason}")]
    TokenizerTrain { reason: String },

    /// A tokenizer.json file exists but cannot be used.
    #[error("cannot load tokenizer {}: {reason}", path.display())]
    TokenizerLoad { path: PathBuf, reason: String },

    /// A tokenizer could not be written.
    #[error("cannot save tokenizer {}: {reason}", path.display())]
    TokenizerSave { path: PathBuf, reason: String },

    /// No tokenizer files in a run directory.
    #[error("no tokenizer in {}: tried {}", dir.display(), join_paths(tried))]
    MissingTokenizer { dir: PathBuf, tried: Vec<PathBuf> },
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
