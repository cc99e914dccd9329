//! Subword tokenizers (BPE or Unigram) from the Hugging Face `tokenizers` crate, stored as
//! the standard `tokenizer.json`.
//!
//! The trained model is SentencePiece-like: the Metaspace pre-tokenizer turns each space into
//! `▁` and starts every word with one, and the decoder turns them back, so the text of a
//! cleaned line ([`normalize_line`](crate::corpus::normalize_line)) survives
//! `decode(encode(line))` exactly. Characters the training text never showed are not mapped
//! to `<unk>`: the 256 byte tokens `<0x00>`..`<0xFF>` are in every vocabulary and the model
//! falls back to the UTF-8 bytes of such a character (the ByteFallback decoder reassembles
//! them).
//!
//! Ids 0..4 are always `<pad>`, `<s>`, `</s>`, `<unk>`. They live only in the model's
//! vocabulary, not among the tokenizer's "added tokens", so a sentence that contains the text
//! `</s>` is encoded as ordinary characters instead of as an end-of-sentence id. (Unigram
//! gives the special and byte pieces the lowest scores for the same reason; only if `<`, `s`
//! or `>` never occurred in its training text can it still pick the piece.)

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use tokenizers::SplitDelimiterBehavior;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainer};
use tokenizers::models::unigram::{Unigram, UnigramTrainer};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::punctuation::Punctuation;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

use crate::config::{TokenizerConfig, TokenizerKind};
use crate::corpus::ParallelText;
use crate::error::DataError;

mod byte_fallback;

use byte_fallback::{bpe_with_byte_fallback, unigram_with_byte_fallback};

pub use nmt_core::{BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID};

/// Ids every trained vocabulary reserves: the 4 special tokens and the 256 byte tokens.
pub const RESERVED_IDS: usize = SPECIAL_TOKENS.len() + 256;

/// File name of a joint tokenizer in a run directory.
pub const JOINT_TOKENIZER_FILE: &str = "tokenizer.json";
/// File name of the source-side tokenizer when vocabularies are separate.
pub const SRC_TOKENIZER_FILE: &str = "tokenizer.src.json";
/// File name of the target-side tokenizer when vocabularies are separate.
pub const TGT_TOKENIZER_FILE: &str = "tokenizer.tgt.json";

/// A trained or loaded subword tokenizer. Cloning is cheap (shared).
#[derive(Clone, Debug)]
pub struct SubwordTokenizer {
    inner: Arc<Tokenizer>,
}

impl SubwordTokenizer {
    /// Trains a BPE or Unigram model (per `cfg.kind`) of at most `cfg.vocab_size` ids on the
    /// given (cleaned) sentences. `cfg.path` is ignored here; see [`Vocabularies::train`].
    pub fn train<'a>(
        texts: impl Iterator<Item = &'a str> + Send,
        cfg: &TokenizerConfig,
    ) -> Result<Self, DataError> {
        cfg.validate()?;
        let specials: Vec<AddedToken> = SPECIAL_TOKENS
            .iter()
            .map(|t| AddedToken::from(*t, true))
            .collect();
        // The trainers count the special tokens but not the byte tokens added afterwards, nor
        // the user's own tokens, appended last.
        let learned_size = cfg.vocab_size - 256 - cfg.special_tokens.len();
        let train_error = |e: tokenizers::Error| DataError::TokenizerTrain {
            reason: e.to_string(),
        };
        let (mut tokenizer, mut trainer): (Tokenizer, TrainerWrapper) = match cfg.kind {
            TokenizerKind::Bpe => (
                Tokenizer::new(BPE::default()),
                BpeTrainer::builder()
                    .vocab_size(learned_size)
                    .min_frequency(cfg.min_frequency)
                    .special_tokens(specials)
                    .show_progress(false)
                    .build()
                    .into(),
            ),
            TokenizerKind::Unigram => (
                Tokenizer::new(Unigram::default()),
                UnigramTrainer::builder()
                    .vocab_size(u32::try_from(learned_size).unwrap_or(u32::MAX))
                    .special_tokens(specials)
                    .unk_token(Some(SPECIAL_TOKENS[UNK_ID as usize].to_string()))
                    .show_progress(false)
                    .build()
                    .map_err(|e| DataError::TokenizerTrain {
                        reason: e.to_string(),
                    })?
                    .into(),
            ),
        };
        let json_error = |e: serde_json::Error| DataError::TokenizerTrain {
            reason: e.to_string(),
        };
        let pre_tokenizer = pre_tokenizer(cfg.split_punctuation);
        // tokenizer.json gets the pre-tokenizer and decoder serialised from the same values
        // used here, so the saved file splits and joins exactly as trained.
        let pre_tokenizer_json = serde_json::to_value(&pre_tokenizer).map_err(json_error)?;
        let metaspace_json = serde_json::to_value(metaspace()).map_err(json_error)?;
        tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
        tokenizer.train(&mut trainer, texts).map_err(train_error)?;

        let model = serde_json::to_value(tokenizer.get_model()).map_err(json_error)?;
        let model = match cfg.kind {
            TokenizerKind::Bpe => bpe_with_byte_fallback(model)?,
            TokenizerKind::Unigram => unigram_with_byte_fallback(model)?,
        };
        let full = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [],
            "normalizer": null,
            "pre_tokenizer": pre_tokenizer_json,
            "post_processor": null,
            "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, metaspace_json]},
            "model": model,
        });
        let mut trained = Self::from_json(&full.to_string(), Path::new("<trained>"))?;
        if !cfg.special_tokens.is_empty() {
            // Added tokens: matched whole before pre-tokenization, so never split, and saved in
            // tokenizer.json's "added_tokens" (Python `tokenizers` reads them the same way).
            let added: Vec<AddedToken> = cfg
                .special_tokens
                .iter()
                .map(|t| AddedToken::from(t.clone(), true))
                .collect();
            let mut inner = (*trained.inner).clone();
            inner.add_special_tokens(&added);
            trained.inner = Arc::new(inner);
        }
        Ok(trained)
    }

    /// Loads a `tokenizer.json` (ours or one made by Python `tokenizers`). It must have
    /// `<pad>`, `<s>`, `</s>`, `<unk>` at ids 0, 1, 2, 3. Padding and truncation settings
    /// in the file are ignored: batching pads, and filtering handles long sentences.
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let text = fs::read_to_string(path).map_err(|reason| DataError::Read {
            path: path.to_path_buf(),
            reason,
        })?;
        Self::from_json(&text, path)
    }

    /// Parses and checks tokenizer JSON; `origin` only names it in errors.
    fn from_json(text: &str, origin: &Path) -> Result<Self, DataError> {
        let load_error = |reason: String| DataError::TokenizerLoad {
            path: origin.to_path_buf(),
            reason,
        };
        let mut tokenizer =
            Tokenizer::from_bytes(text.as_bytes()).map_err(|e| load_error(e.to_string()))?;
        for (expected, token) in SPECIAL_TOKENS.iter().enumerate() {
            let found = tokenizer.token_to_id(token);
            if found != Some(expected as u32) {
                let found = found.map_or("is missing".to_string(), |id| format!("has id {id}"));
                return Err(load_error(format!(
                    "special token \"{token}\" {found}; nmt needs <pad>=0, <s>=1, </s>=2, <unk>=3 \
                     (in Python: special_tokens=[\"<pad>\", \"<s>\", \"</s>\", \"<unk>\"], in this order)"
                )));
            }
        }
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| load_error(e.to_string()))?;
        // Text with characters outside the vocabulary must still encode (unk or bytes);
        // a model that can do neither would fail on the first such sentence in training.
        if let Err(e) = tokenizer.encode_fast("probe \u{2603} \u{1F600}", false) {
            return Err(load_error(format!(
                "it cannot encode characters outside its vocabulary ({e}); give the model an unk token or byte fallback"
            )));
        }
        Ok(Self {
            inner: Arc::new(tokenizer),
        })
    }

    /// Writes the standard `tokenizer.json` format (readable by Python `tokenizers`).
    pub fn save(&self, path: &Path) -> Result<(), DataError> {
        self.inner
            .save(path, true)
            .map_err(|e| DataError::TokenizerSave {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
    }

    /// Subword ids of one sentence, no special tokens added. Only a loaded tokenizer whose
    /// model can fail (checked at load) could fail here; the sentence then comes back empty.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.inner
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }

    /// [`encode`](Self::encode) for many sentences at once, in parallel on the rayon pool
    /// (`RAYON_NUM_THREADS` sets its size).
    pub fn encode_batch(&self, texts: &[String]) -> Vec<Vec<u32>> {
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        match self.inner.encode_batch_fast(inputs, false) {
            Ok(encodings) => encodings.iter().map(|e| e.get_ids().to_vec()).collect(),
            // One failing sentence fails the whole batch: redo them one by one.
            Err(_) => texts.iter().map(|t| self.encode(t)).collect(),
        }
    }

    /// The text of a sequence of ids, special and out-of-range ids skipped.
    pub fn decode(&self, ids: &[u32]) -> String {
        let vocab_size = self.vocab_size();
        let ids: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|&id| id > UNK_ID && (id as usize) < vocab_size)
            .collect();
        self.inner.decode(&ids, false).unwrap_or_default()
    }

    /// The subword string of an id as stored in the vocabulary (with `▁` word marks), for
    /// displays such as attention maps; `"<id N?>"` for an id outside the vocabulary.
    pub fn id_to_token(&self, id: u32) -> String {
        self.inner
            .id_to_token(id)
            .unwrap_or_else(|| format!("<id {id}?>"))
    }

    /// Number of ids, special and byte tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The wrapped `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }
}

/// Words become `▁word` pieces; with `split_punctuation` each punctuation character is then
/// isolated (`▁Zaun.` -> `▁Zaun`, `.`).
fn pre_tokenizer(split_punctuation: bool) -> PreTokenizerWrapper {
    if split_punctuation {
        Sequence::new(vec![
            metaspace().into(),
            Punctuation::new(SplitDelimiterBehavior::Isolated).into(),
        ])
        .into()
    } else {
        metaspace().into()
    }
}

/// Spaces to `▁`, one at the start of every word; as a decoder, back to spaces.
fn metaspace() -> Metaspace {
    Metaspace::new('\u{2581}', PrependScheme::Always, true)
}

/// The source and target tokenizers of a run: one shared (joint, saved once as
/// `tokenizer.json`) or two separate ones (`tokenizer.src.json`, `tokenizer.tgt.json`).
#[derive(Clone, Debug)]
pub struct Vocabularies {
    pub src: SubwordTokenizer,
    pub tgt: SubwordTokenizer,
    pub joint: bool,
}

impl Vocabularies {
    /// Trains the vocabularies on a (training) corpus, or loads `cfg.path` when it is set:
    /// a file is one joint tokenizer, a directory is loaded as by [`Vocabularies::load`].
    pub fn train(text: &ParallelText, cfg: &TokenizerConfig) -> Result<Self, DataError> {
        if let Some(path) = &cfg.path {
            if path.is_dir() {
                return Self::load(path);
            }
            if !cfg.joint {
                return Err(nmt_core::InvalidSetting::new(
                    "tokenizer.joint",
                    false,
                    format!(
                        "tokenizer.path = {} is one tokenizer file, used for both languages; \
                         set joint = true, or point path at a directory holding {SRC_TOKENIZER_FILE} and {TGT_TOKENIZER_FILE}",
                        path.display()
                    ),
                )
                .into());
            }
            let shared = SubwordTokenizer::load(path)?;
            return Ok(Self::joint(shared));
        }
        if cfg.joint {
            let all = text.src.iter().chain(text.tgt.iter()).map(String::as_str);
            Ok(Self::joint(SubwordTokenizer::train(all, cfg)?))
        } else {
            let src = SubwordTokenizer::train(text.src.iter().map(String::as_str), cfg)?;
            let tgt = SubwordTokenizer::train(text.tgt.iter().map(String::as_str), cfg)?;
            Ok(Self {
                src,
                tgt,
                joint: false,
            })
        }
    }

    /// One tokenizer for both sides.
    pub fn joint(tokenizer: SubwordTokenizer) -> Self {
        Self {
            src: tokenizer.clone(),
            tgt: tokenizer,
            joint: true,
        }
    }

    /// The tokenizer file(s) as [`save`](Self::save) writes them: `tokenizer.json`, or
    /// `tokenizer.src.json` and `tokenizer.tgt.json`, with their bytes.
    pub fn to_files(&self) -> Result<Vec<(&'static str, Vec<u8>)>, DataError> {
        let json = |t: &SubwordTokenizer, name: &'static str| {
            t.inner
                .to_string(true)
                .map(|s| (name, s.into_bytes()))
                .map_err(|e| DataError::TokenizerSave {
                    path: PathBuf::from(name),
                    reason: e.to_string(),
                })
        };
        if self.joint {
            Ok(vec![json(&self.src, JOINT_TOKENIZER_FILE)?])
        } else {
            Ok(vec![
                json(&self.src, SRC_TOKENIZER_FILE)?,
                json(&self.tgt, TGT_TOKENIZER_FILE)?,
            ])
        }
    }

    /// Writes the tokenizer file(s) into `dir` (created if needed).
    pub fn save(&self, dir: &Path) -> Result<(), DataError> {
        fs::create_dir_all(dir).map_err(|reason| DataError::Write {
            path: dir.to_path_buf(),
            reason,
        })?;
        for (name, bytes) in self.to_files()? {
            let path = dir.join(name);
            fs::write(&path, bytes).map_err(|reason| DataError::Write { path, reason })?;
        }
        Ok(())
    }

    /// Loads what [`save`](Self::save) wrote: `dir/tokenizer.json` if it exists (joint),
    /// else `dir/tokenizer.src.json` and `dir/tokenizer.tgt.json`.
    pub fn load(dir: &Path) -> Result<Self, DataError> {
        let joint = dir.join(JOINT_TOKENIZER_FILE);
        if joint.is_file() {
            return Ok(Self::joint(SubwordTokenizer::load(&joint)?));
        }
        let src = dir.join(SRC_TOKENIZER_FILE);
        let tgt = dir.join(TGT_TOKENIZER_FILE);
        match (src.is_file(), tgt.is_file()) {
            (true, true) => Ok(Self {
                src: SubwordTokenizer::load(&src)?,
                tgt: SubwordTokenizer::load(&tgt)?,
                joint: false,
            }),
            (true, false) => Err(missing(dir, vec![tgt])),
            (false, true) => Err(missing(dir, vec![src])),
            (false, false) => Err(missing(dir, vec![joint, src, tgt])),
        }
    }
}

fn missing(dir: &Path, tried: Vec<PathBuf>) -> DataError {
    DataError::MissingTokenizer {
        dir: dir.to_path_buf(),
        tried,
    }
}
