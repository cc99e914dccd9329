//! The data of a run: the training pairs as subword ids, the tokenizer, and the validation set.

use std::time::Instant;

use nmt_data::{
    EncodedPair, ParallelText, Vocabularies, encode_corpus, read_parallel, require_nonempty,
};

use super::run_dir::RunLog;
use crate::config::RunConfig;
use crate::error::Result;

/// The validation split: pairs for the loss, text for BLEU.
pub(crate) struct ValidSet {
    pub pairs: Vec<EncodedPair>,
    pub src: Vec<String>,
    pub refs: Vec<String>,
}

pub(crate) struct TrainingData {
    pub vocab: Vocabularies,
    pub pairs: Vec<EncodedPair>,
    pub valid: Option<ValidSet>,
}

impl TrainingData {
    /// Reads the training split, trains the tokenizer (or takes `vocab`, the resumed
    /// checkpoint's) and encodes and filters the pairs; reads the validation split if any.
    pub(crate) fn load(cfg: &RunConfig, vocab: Option<Vocabularies>, log: &RunLog) -> Result<Self> {
        let run_dir = cfg.run_dir();
        let d = &cfg.data;
        let (src_path, tgt_path) = d.train.resolve(&d.src_lang, &d.tgt_lang)?;
        let text = read_parallel(&src_path, &tgt_path)?;
        let t0 = Instant::now();
        let vocab = match vocab {
            Some(v) => v,
            None => {
                let v = Vocabularies::train(&text, &cfg.tokenizer)?;
                v.save(run_dir)?;
                v
            }
        };
        let tok_s = t0.elapsed().as_secs_f64();
        let (pairs, stats) = encode_corpus(&text, &vocab, d.max_len, d.max_len_ratio);
        log.line(
            None,
            &format!(
                "train {} -> {}: {stats} (vocab {}/{}, tokenizer ready in {tok_s:.1}s)",
                src_path.display(),
                tgt_path.display(),
                vocab.src.vocab_size(),
                vocab.tgt.vocab_size()
            ),
        );
        require_nonempty(&stats, "training")?;
        let valid = match &d.valid {
            Some(split) => {
                let (s, t) = split.resolve(&d.src_lang, &d.tgt_lang)?;
                let mut text: ParallelText = read_parallel(&s, &t)?;
                if cfg.train.valid_max_sentences > 0 {
                    text.src.truncate(cfg.train.valid_max_sentences);
                    text.tgt.truncate(cfg.train.valid_max_sentences);
                }
                // Loss on every pair that fits the model; BLEU on every line, as a user would score.
                let (pairs, stats) =
                    encode_corpus(&text, &vocab, cfg.model.max_positions - 1, f64::INFINITY);
                log.line(None, &format!("valid {}: {stats}", s.display()));
                Some(ValidSet {
                    pairs,
                    src: text.src,
                    refs: text.tgt,
                })
            }
            None => None,
        };
        Ok(Self {
            vocab,
            pairs,
            valid,
        })
    }
}
