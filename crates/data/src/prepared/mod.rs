//! A prepared dataset: the training (and validation) pairs tokenized once, filtered, and
//! written as binary token ids that training reads through memory maps, so that a run's
//! memory does not grow with the corpus and `--resume` never tokenizes again.
//!
//! A prepared directory holds `prepared.json` (this format's version, the [`Recipe`] it was
//! made with, the identity of every corpus file and of the tokenizer, the counts), the
//! tokenizer file(s), the splits ([`split`]) and `manifest.json` with every file's BLAKE3,
//! written last. It is written beside its final place and renamed into it, so a crash never
//! leaves half a dataset where training looks. Opening one verifies every file; a dataset whose
//! recipe, corpus or tokenizer no longer matches the config is refused, saying what changed.

mod split;
mod write;

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use nmt_core::Manifest;
use nmt_core::manifest::digest_file;
use serde::{Deserialize, Serialize};

pub use split::PreparedSplit;
pub use write::{PrepareJob, prepare};

use crate::config::{DataConfig, TokenizerConfig};
use crate::error::DataError;
use crate::filter::FilterStats;
use crate::tokenizer::Vocabularies;

/// Bumped whenever the layout or meaning of a prepared directory changes.
pub const FORMAT_VERSION: u32 = 1;
/// The header of a prepared directory.
pub const HEADER_FILE: &str = "prepared.json";

/// Everything the prepared ids depend on besides the corpus files and the tokenizer's bytes:
/// a change in any of them makes the dataset stale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub src_lang: String,
    pub tgt_lang: String,
    /// `data.max_len` and `data.max_len_ratio`: the training filters.
    pub max_len: usize,
    pub max_len_ratio: f64,
    /// The `[tokenizer]` section (how the tokenizer is trained, or which file it is).
    pub tokenizer: TokenizerConfig,
    /// `train.valid_max_sentences` (0 = all): how much of the validation split is kept.
    pub valid_max_sentences: usize,
    /// Longest validation side kept (`model.max_positions - 1`).
    pub valid_max_len: usize,
}

impl Recipe {
    pub fn new(
        data: &DataConfig,
        tokenizer: &TokenizerConfig,
        valid_max_sentences: usize,
        valid_max_len: usize,
    ) -> Self {
        Self {
            src_lang: data.src_lang.clone(),
            tgt_lang: data.tgt_lang.clone(),
            max_len: data.max_len,
            max_len_ratio: data.max_len_ratio,
            tokenizer: tokenizer.clone(),
            valid_max_sentences,
            valid_max_len,
        }
    }
}

/// One corpus file as it was when the dataset was prepared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Absolute path.
    pub path: PathBuf,
    pub bytes: u64,
    /// Modification time, nanoseconds since the epoch (a quick test before hashing).
    pub modified_ns: Option<u128>,
    pub blake3: String,
}

impl SourceFile {
    pub fn of(path: &Path) -> Result<Self, DataError> {
        let absolute = std::fs::canonicalize(path).map_err(|reason| DataError::Read {
            path: path.to_path_buf(),
            reason,
        })?;
        let digest = digest_file(&absolute)?;
        Ok(Self {
            modified_ns: modified_ns(&absolute),
            path: absolute,
            bytes: digest.bytes,
            blake3: digest.blake3,
        })
    }

    /// Why `path` is not this file any more, if it is not: moved, resized or rewritten. Only
    /// hashed again when its size or time changed.
    fn changed(&self, path: &Path) -> Result<Option<String>, DataError> {
        let Ok(absolute) = std::fs::canonicalize(path) else {
            return Ok(Some(format!("{} cannot be read", path.display())));
        };
        if absolute != self.path {
            return Ok(Some(format!(
                "the corpus file is {} but was {}",
                absolute.display(),
                self.path.display()
            )));
        }
        let bytes = std::fs::metadata(&absolute).map(|m| m.len()).unwrap_or(0);
        if bytes == self.bytes && modified_ns(&absolute) == self.modified_ns {
            return Ok(None);
        }
        Ok((digest_file(&absolute)?.blake3 != self.blake3)
            .then(|| format!("{} changed since it was prepared", absolute.display())))
    }
}

fn modified_ns(path: &Path) -> Option<u128> {
    let time = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    Some(time.duration_since(UNIX_EPOCH).ok()?.as_nanos())
}

/// Counts of one prepared split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSummary {
    pub pairs: usize,
    pub src_tokens: u64,
    pub tgt_tokens: u64,
    pub stats: FilterStats,
}

/// `prepared.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format_version: u32,
    pub recipe: Recipe,
    /// The training files, (source, target), in the order they were read.
    pub train_files: Vec<(SourceFile, SourceFile)>,
    pub valid_files: Option<(SourceFile, SourceFile)>,
    /// BLAKE3 of the tokenizer file(s), concatenated in file-name order.
    pub tokenizer_blake3: String,
    /// Bytes per token id: 2 (u16) when every id fits, else 4.
    pub token_bytes: usize,
    pub train: SplitSummary,
    pub valid: Option<SplitSummary>,
    /// Pairs the tokenizer was trained on (`None` when it was given).
    pub tokenizer_sample: Option<usize>,
}

/// What a prepared dataset must match to be used: the recipe, the corpus files (train, and
/// valid if any) and, when given, the tokenizer.
pub struct Expected<'a> {
    pub recipe: &'a Recipe,
    pub train_files: &'a [(PathBuf, PathBuf)],
    pub valid_files: Option<&'a (PathBuf, PathBuf)>,
    /// A tokenizer the data must have been encoded with (a resumed checkpoint's).
    pub vocab: Option<&'a Vocabularies>,
}

/// An opened prepared dataset, every file verified.
pub struct Prepared {
    dir: PathBuf,
    pub header: Header,
    pub vocab: Vocabularies,
    pub train: PreparedSplit,
    pub valid: Option<PreparedSplit>,
}

/// BLAKE3 over the tokenizer files' bytes, in file-name order: equal iff the files are.
pub fn tokenizer_digest(vocab: &Vocabularies) -> Result<String, DataError> {
    let mut hasher = blake3::Hasher::new();
    for (name, bytes) in vocab.to_files()? {
        hasher.update(name.as_bytes());
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

impl Prepared {
    /// Whether `dir` holds a finished prepared dataset (it has its manifest).
    pub fn exists(dir: &Path) -> bool {
        dir.join(nmt_core::MANIFEST_FILE).is_file()
    }

    /// Opens `dir`: verifies every file against the manifest, reads the header and maps the
    /// splits.
    pub fn open(dir: &Path) -> Result<Self, DataError> {
        let manifest = Manifest::read(dir)?;
        manifest.verify_all(dir)?;
        let header_path = dir.join(HEADER_FILE);
        let text = std::fs::read_to_string(&header_path).map_err(|reason| DataError::Read {
            path: header_path.clone(),
            reason,
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| DataError::PreparedCorrupt {
                path: header_path.clone(),
                reason: e.to_string(),
            })?;
        let version = value.get("format_version").and_then(|v| v.as_u64());
        if version != Some(u64::from(FORMAT_VERSION)) {
            return Err(DataError::PreparedStale {
                dir: dir.to_path_buf(),
                changes: vec![format!(
                    "it has format version {}, this nmt reads {FORMAT_VERSION}",
                    version.map_or("(none)".into(), |v| v.to_string())
                )],
            });
        }
        let header: Header =
            serde_json::from_value(value).map_err(|e| DataError::PreparedCorrupt {
                path: header_path.clone(),
                reason: e.to_string(),
            })?;
        let vocab = Vocabularies::load(dir)?;
        let train = PreparedSplit::open(dir, "train", header.train.pairs, header.token_bytes)?;
        let valid = match &header.valid {
            Some(v) => Some(PreparedSplit::open(
                dir,
                "valid",
                v.pairs,
                header.token_bytes,
            )?),
            None => None,
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            header,
            vocab,
            train,
            valid,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every way this dataset differs from what the config asks for; empty when it can be
    /// used as it is.
    pub fn differences(&self, want: &Expected) -> Result<Vec<String>, DataError> {
        let h = &self.header;
        let mut changes = Vec::new();
        let have = serde_json::to_value(&h.recipe).expect("a Recipe serialises");
        let wanted = serde_json::to_value(want.recipe).expect("a Recipe serialises");
        diff_values("", &have, &wanted, &mut changes);
        if h.train_files.len() != want.train_files.len() {
            changes.push(format!(
                "data.train has {} split(s) but the prepared data was made from {}",
                want.train_files.len(),
                h.train_files.len()
            ));
        } else {
            for ((src, tgt), (s, t)) in h.train_files.iter().zip(want.train_files) {
                changes.extend(src.changed(s)?);
                changes.extend(tgt.changed(t)?);
            }
        }
        match (&h.valid_files, want.valid_files) {
            (None, None) => {}
            (Some((src, tgt)), Some((s, t))) => {
                changes.extend(src.changed(s)?);
                changes.extend(tgt.changed(t)?);
            }
            (Some(_), None) => changes.push("data.valid was removed".into()),
            (None, Some(_)) => changes.push("data.valid was added".into()),
        }
        if let Some(path) = &want.recipe.tokenizer.path {
            let given = if path.is_dir() {
                Vocabularies::load(path)?
            } else {
                Vocabularies::joint(crate::SubwordTokenizer::load(path)?)
            };
            if tokenizer_digest(&given)? != h.tokenizer_blake3 {
                changes.push(format!(
                    "tokenizer.path = {} is not the tokenizer the data was encoded with",
                    path.display()
                ));
            }
        }
        if let Some(vocab) = want.vocab
            && tokenizer_digest(vocab)? != h.tokenizer_blake3
        {
            changes
                .push("the checkpoint's tokenizer is not the one the data was encoded with".into());
        }
        Ok(changes)
    }

    /// [`Self::differences`] as an error when there are any.
    pub fn check(&self, want: &Expected) -> Result<(), DataError> {
        let changes = self.differences(want)?;
        if changes.is_empty() {
            Ok(())
        } else {
            Err(DataError::PreparedStale {
                dir: self.dir.clone(),
                changes,
            })
        }
    }
}

/// The keys whose values differ between two JSON trees, as `tokenizer.vocab_size: 8000 -> 4000`.
fn diff_values(
    prefix: &str,
    have: &serde_json::Value,
    want: &serde_json::Value,
    out: &mut Vec<String>,
) {
    match (have, want) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (key, value) in b {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                diff_values(
                    &path,
                    a.get(key).unwrap_or(&serde_json::Value::Null),
                    value,
                    out,
                );
            }
        }
        _ if have != want => out.push(format!(
            "{}: {have} when prepared, {want} now",
            recipe_key(prefix)
        )),
        _ => {}
    }
}

/// The config key a recipe field comes from.
fn recipe_key(field: &str) -> String {
    match field {
        "src_lang" | "tgt_lang" | "max_len" | "max_len_ratio" => format!("data.{field}"),
        "valid_max_sentences" => "train.valid_max_sentences".into(),
        "valid_max_len" => "model.max_positions - 1".into(),
        other => other.to_string(),
    }
}
