//! The data of a run: the prepared dataset (tokenizer, training and validation pairs as ids,
//! memory-mapped) and the validation text BLEU is scored on. Prepared once, by `nmt prepare`
//! or by the first `nmt train`; every later start, `--resume` included, only opens it.

use std::path::PathBuf;

use nmt_data::{Expected, PrepareJob, Prepared, Recipe, Vocabularies, prepare, read_parallel};

use super::run_dir::RunLog;
use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::config::RunConfig;
use crate::error::{Result, TrainError};

/// The validation split's text: what is decoded, and the references it is scored against.
pub(crate) struct ValidText {
    pub src: Vec<String>,
    pub refs: Vec<String>,
}

pub(crate) struct TrainingData {
    pub prepared: Prepared,
    pub valid_text: Option<ValidText>,
}

/// Where a run's prepared data lives: `data.prepared_dir`, else `RUN_DIR/prepared`.
pub fn prepared_dir(cfg: &RunConfig) -> PathBuf {
    cfg.data
        .prepared_dir
        .clone()
        .unwrap_or_else(|| cfg.run_dir().join("prepared"))
}

/// The checkpoint `train.init_from` names: a checkpoint directory, or a run directory (its
/// best checkpoint, else its latest). `None` when the config has no `init_from`.
pub fn init_checkpoint(cfg: &RunConfig) -> Result<Option<Checkpoint>> {
    let Some(path) = &cfg.train.init_from else {
        return Ok(None);
    };
    if cfg.tokenizer.path.is_some() {
        return Err(TrainError::Refused(
            "train.init_from and tokenizer.path are both set: a fine-tuned model keeps its \
             parent's tokenizer (remove tokenizer.path)"
                .into(),
        ));
    }
    let dir = if path.join("checkpoints").is_dir() {
        let store = CheckpointStore::new(path);
        match store.best()?.or(store.latest()?) {
            Some(dir) => dir,
            None => {
                return Err(TrainError::Refused(format!(
                    "train.init_from = {}: the run has no checkpoint",
                    path.display()
                )));
            }
        }
    } else if path.join(crate::checkpoint::STATE_FILE).is_file() {
        path.clone()
    } else {
        return Err(TrainError::Refused(format!(
            "train.init_from = {}: neither a run directory nor a checkpoint",
            path.display()
        )));
    };
    Ok(Some(Checkpoint::open(&dir)?))
}

/// What preparing `cfg`'s data means: its recipe and files; `vocab` to encode with a given
/// tokenizer (a resumed checkpoint's) instead of training one. Without one, a fine-tuning
/// run (`train.init_from`) encodes with its parent's tokenizer.
pub fn prepare_job(
    cfg: &RunConfig,
    vocab: Option<Vocabularies>,
    progress: bool,
) -> Result<PrepareJob> {
    let vocab = match (vocab, init_checkpoint(cfg)?) {
        (Some(v), _) => Some(v),
        (None, Some(parent)) => Some(parent.vocab()?),
        (None, None) => None,
    };
    let d = &cfg.data;
    Ok(PrepareJob {
        recipe: Recipe::new(
            d,
            &cfg.tokenizer,
            cfg.train.valid_max_sentences,
            cfg.model.max_positions - 1,
        ),
        train_files: d.train.resolve(&d.src_lang, &d.tgt_lang)?,
        valid_files: match &d.valid {
            Some(split) => Some(split.resolve(&d.src_lang, &d.tgt_lang)?),
            None => None,
        },
        vocab,
        progress,
    })
}

impl TrainingData {
    /// Opens the run's prepared data (refusing it, with what changed, if it no longer matches
    /// the config), or prepares it when there is none. `vocab`: the resumed checkpoint's
    /// tokenizer, which the data must have been (or now be) encoded with.
    pub(crate) fn load(cfg: &RunConfig, vocab: Option<Vocabularies>, log: &RunLog) -> Result<Self> {
        let dir = prepared_dir(cfg);
        let job = prepare_job(cfg, vocab.clone(), !log.quiet())?;
        let expected = Expected {
            recipe: &job.recipe,
            train_files: &job.train_files,
            valid_files: job.valid_files.as_ref(),
            vocab: vocab.as_ref(),
        };
        let prepared = if Prepared::exists(&dir) {
            let prepared = Prepared::open(&dir)?;
            prepared.check(&expected)?;
            prepared
        } else {
            log.line(None, &format!("preparing the data in {}", dir.display()));
            prepare(&job, &dir, &mut |line| log.line(None, &line))?;
            Prepared::open(&dir)?
        };
        let h = &prepared.header;
        log.line(
            None,
            &format!(
                "train: {} pairs, {} + {} tokens (prepared data in {}; {}); vocab {}/{}",
                h.train.pairs,
                h.train.src_tokens,
                h.train.tgt_tokens,
                dir.display(),
                h.train.stats,
                prepared.vocab.src.vocab_size(),
                prepared.vocab.tgt.vocab_size()
            ),
        );
        let valid_text = match &job.valid_files {
            Some((src, tgt)) => {
                let mut text = read_parallel(src, tgt)?;
                let n = cfg.train.valid_max_sentences;
                if n > 0 {
                    text.src.truncate(n);
                    text.tgt.truncate(n);
                }
                if let Some(v) = &h.valid {
                    log.line(None, &format!("valid {}: {}", src.display(), v.stats));
                }
                Some(ValidText {
                    src: text.src,
                    refs: text.tgt,
                })
            }
            None => None,
        };
        Ok(Self {
            prepared,
            valid_text,
        })
    }

    pub fn vocab(&self) -> &Vocabularies {
        &self.prepared.vocab
    }
}
