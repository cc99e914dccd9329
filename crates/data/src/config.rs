//! The data and tokenizer settings of a run, as read from its config file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use nmt_core::{InvalidSetting, check};

use crate::error::DataError;

/// Where the parallel text of a run comes from and how it is cut into batches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Source language code, e.g. `"en"`; also the file suffix of prefix splits. Required.
    pub src_lang: String,
    /// Target language code, e.g. `"de"`. Required.
    pub tgt_lang: String,
    /// The training split, or a list of them read one after another as one corpus. Required.
    pub train: TrainSplits,
    /// The validation split. Default: none.
    #[serde(default)]
    pub valid: Option<SplitSpec>,
    /// The test split. Default: none.
    #[serde(default)]
    pub test: Option<SplitSpec>,
    /// Training pairs with more subword tokens than this on either side (not counting
    /// `<s>`/`</s>`) are dropped. Default: 128.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// Training pairs whose token-length ratio longer/shorter exceeds this are dropped, as
    /// likely misaligned. Only checked when the longer side has more than
    /// [`RATIO_CHECK_MIN_TOKENS`](crate::filter::RATIO_CHECK_MIN_TOKENS) tokens, because
    /// short pairs have large ratios by nature ("Hi ." / "Hallo zusammen !"). Default: 3.0.
    #[serde(default = "default_max_len_ratio")]
    pub max_len_ratio: f64,
    /// Token budget of one training batch, padding included:
    /// `batch_size * max(src_len, tgt_len) <= max_tokens`, where the lengths count the
    /// `</s>` appended to the source and the `<s>`/`</s>` of the target. Default: 4096.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    /// How many batches' worth of shuffled sentences are sorted by length together before
    /// they are cut into batches: larger pools mean less padding but less randomness.
    /// Default: 100.
    #[serde(default = "default_bucket_pool")]
    pub bucket_pool: usize,
    /// Where the prepared (tokenized, binary) dataset is written and read (`nmt prepare`).
    /// Default: `RUN_DIR/prepared`. Runs that share a corpus, filters and tokenizer can share
    /// one directory; a prepared dataset that no longer matches the config is refused.
    #[serde(default)]
    pub prepared_dir: Option<PathBuf>,
}

/// `data.train`: one split, or several concatenated in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TrainSplits {
    One(SplitSpec),
    Many(Vec<SplitSpec>),
}

impl TrainSplits {
    /// The (source, target) files of every split, in order.
    pub fn resolve(
        &self,
        src_lang: &str,
        tgt_lang: &str,
    ) -> Result<Vec<(PathBuf, PathBuf)>, DataError> {
        match self {
            TrainSplits::One(s) => Ok(vec![s.resolve(src_lang, tgt_lang)?]),
            TrainSplits::Many(list) => list.iter().map(|s| s.resolve(src_lang, tgt_lang)).collect(),
        }
    }
}

fn default_max_len() -> usize {
    128
}
fn default_max_len_ratio() -> f64 {
    3.0
}
fn default_max_tokens() -> usize {
    4096
}
fn default_bucket_pool() -> usize {
    100
}

impl DataConfig {
    /// A config with the given languages and training split, every other field at its default.
    pub fn new(src_lang: &str, tgt_lang: &str, train: SplitSpec) -> Self {
        Self {
            src_lang: src_lang.to_string(),
            tgt_lang: tgt_lang.to_string(),
            train: TrainSplits::One(train),
            valid: None,
            test: None,
            max_len: default_max_len(),
            max_len_ratio: default_max_len_ratio(),
            max_tokens: default_max_tokens(),
            bucket_pool: default_bucket_pool(),
            prepared_dir: None,
        }
    }

    /// Checks the values that serde cannot: language codes, non-zero sizes, a ratio of at
    /// least 1, and a token budget that can hold the longest pair `max_len` lets through.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        for (key, lang) in [
            ("data.src_lang", &self.src_lang),
            ("data.tgt_lang", &self.tgt_lang),
        ] {
            check(
                !lang.trim().is_empty() && !lang.contains(['/', '\\']),
                key,
                format!("{lang:?}"),
                "must be a language code such as \"en\" (it is also the suffix of the split's files)",
            )?;
        }
        check(
            self.max_len > 0,
            "data.max_len",
            self.max_len,
            "must be at least 1",
        )?;
        check(
            self.max_len_ratio >= 1.0,
            "data.max_len_ratio",
            self.max_len_ratio,
            "must be at least 1.0 (a pair's ratio is longer/shorter)",
        )?;
        check(
            self.max_tokens > self.max_len,
            "data.max_tokens",
            self.max_tokens,
            &format!(
                "must exceed data.max_len = {} so that a pair of max_len tokens plus <s>/</s> fits in a batch",
                self.max_len
            ),
        )?;
        check(
            self.bucket_pool > 0,
            "data.bucket_pool",
            self.bucket_pool,
            "must be at least 1",
        )?;
        check(
            !matches!(&self.train, TrainSplits::Many(list) if list.is_empty()),
            "data.train",
            "[]",
            "must name at least one split",
        )
    }
}

/// One split of a parallel corpus.
///
/// In a config file either a string prefix, `train = "data/quickstart/train"`, which means
/// `train.<src_lang>` and `train.<tgt_lang>` (or the same names with `.gz`), or a table of
/// two files, `train = { src = "a.en", tgt = "a.de" }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum SplitSpec {
    /// `PREFIX.<lang>`, falling back to `PREFIX.<lang>.gz`.
    Prefix(String),
    /// Two explicit files, plain or `.gz`.
    Files { src: PathBuf, tgt: PathBuf },
}

impl SplitSpec {
    /// The source and target file of this split. Paths are used as given (relative paths
    /// are relative to the working directory). A missing file is an error that lists every
    /// path tried.
    pub fn resolve(&self, src_lang: &str, tgt_lang: &str) -> Result<(PathBuf, PathBuf), DataError> {
        match self {
            SplitSpec::Prefix(prefix) => Ok((
                resolve_prefix(prefix, src_lang)?,
                resolve_prefix(prefix, tgt_lang)?,
            )),
            SplitSpec::Files { src, tgt } => {
                for (path, lang) in [(src, src_lang), (tgt, tgt_lang)] {
                    if !path.is_file() {
                        return Err(DataError::MissingSplitFile {
                            lang: lang.to_string(),
                            tried: vec![path.clone()],
                        });
                    }
                }
                Ok((src.clone(), tgt.clone()))
            }
        }
    }
}

fn resolve_prefix(prefix: &str, lang: &str) -> Result<PathBuf, DataError> {
    let plain = PathBuf::from(format!("{prefix}.{lang}"));
    let gzipped = PathBuf::from(format!("{prefix}.{lang}.gz"));
    for candidate in [&plain, &gzipped] {
        if Path::new(candidate).is_file() {
            return Ok(candidate.clone());
        }
    }
    Err(DataError::MissingSplitFile {
        lang: lang.to_string(),
        tried: vec![plain, gzipped],
    })
}

/// Which subword model to train.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerKind {
    /// Byte-pair encoding (merges learned bottom-up).
    #[default]
    Bpe,
    /// SentencePiece-style unigram language model (pruned top-down).
    Unigram,
}

/// How the subword vocabularies of a run are made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerConfig {
    /// `"bpe"` or `"unigram"`. Default: `"bpe"`.
    #[serde(default)]
    pub kind: TokenizerKind,
    /// Target size of each vocabulary, including the 4 special tokens and the 256
    /// byte-fallback tokens; the result is smaller when the corpus has fewer distinct
    /// subwords. Default: 8000.
    #[serde(default = "default_vocab_size")]
    pub vocab_size: usize,
    /// One vocabulary shared by source and target (`tokenizer.json`) instead of one each
    /// (`tokenizer.src.json`, `tokenizer.tgt.json`). Default: true.
    #[serde(default = "default_joint")]
    pub joint: bool,
    /// BPE only: a pair must occur at least this often to be merged. Default: 2.
    #[serde(default = "default_min_frequency")]
    pub min_frequency: u64,
    /// Split punctuation off words before learning subwords, so `Zaun.`, `Zaun,` and `Zaun`
    /// share the piece `▁Zaun` instead of spending merges on each (as Moses tokenisation does
    /// for the subword models of the MT literature). Lossless: the pieces carry no extra
    /// spaces, so decoding restores `Zaun.`. Default: false.
    #[serde(default)]
    pub split_punctuation: bool,
    /// An existing tokenizer to use instead of training one: a `tokenizer.json` file (used for
    /// both languages; one made by Python `tokenizers` loads unchanged) or a run directory
    /// holding `tokenizer.json` or `tokenizer.src.json` + `tokenizer.tgt.json`.
    /// Default: none (train).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// A tokenizer is trained on at most this many training pairs, a uniform sample drawn
    /// with `sample_seed` (the whole corpus when it is smaller, in corpus order). Bounds the
    /// memory and time of preparing corpora of millions of pairs. Default: 1000000.
    #[serde(default = "default_sample_lines")]
    pub sample_lines: usize,
    /// Seed of that sample. Default: 1.
    #[serde(default = "default_sample_seed")]
    pub sample_seed: u64,
    /// Tokens of the user's own, such as tags for tagged back-translation (`"<bt>"`) or target
    /// languages (`"<2de>"`): added to every vocabulary (after the learned subwords, within
    /// `vocab_size`), matched whole in the text and never split. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub special_tokens: Vec<String>,
}

impl TokenizerConfig {
    /// Checks the values that serde cannot: a vocabulary with room for learned subwords.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let reserved = crate::tokenizer::RESERVED_IDS;
        check(
            self.vocab_size > reserved,
            "tokenizer.vocab_size",
            self.vocab_size,
            &format!(
                "must be more than {reserved}: that many ids go to the 4 special tokens and the 256 byte-fallback tokens"
            ),
        )?;
        check(
            self.min_frequency > 0,
            "tokenizer.min_frequency",
            self.min_frequency,
            "must be at least 1",
        )?;
        check(
            self.sample_lines > 0,
            "tokenizer.sample_lines",
            self.sample_lines,
            "must be at least 1",
        )?;
        for (i, token) in self.special_tokens.iter().enumerate() {
            check(
                !token.is_empty() && !token.chars().any(char::is_whitespace),
                "tokenizer.special_tokens",
                format!("{token:?}"),
                "each must be a non-empty token without spaces",
            )?;
            check(
                !crate::SPECIAL_TOKENS.contains(&token.as_str())
                    && !self.special_tokens[..i].contains(token),
                "tokenizer.special_tokens",
                format!("{token:?}"),
                "must not repeat a token or name <pad>, <s>, </s>, <unk> (they are always there)",
            )?;
        }
        check(
            self.vocab_size > crate::tokenizer::RESERVED_IDS + self.special_tokens.len(),
            "tokenizer.vocab_size",
            self.vocab_size,
            "must leave room for learned subwords beside the reserved ids and tokenizer.special_tokens",
        )
    }
}

fn default_vocab_size() -> usize {
    8000
}
fn default_joint() -> bool {
    true
}
fn default_min_frequency() -> u64 {
    2
}
fn default_sample_lines() -> usize {
    1_000_000
}
fn default_sample_seed() -> u64 {
    1
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self {
            kind: TokenizerKind::default(),
            vocab_size: default_vocab_size(),
            joint: default_joint(),
            min_frequency: default_min_frequency(),
            split_punctuation: false,
            path: None,
            sample_lines: default_sample_lines(),
            sample_seed: default_sample_seed(),
            special_tokens: Vec::new(),
        }
    }
}
