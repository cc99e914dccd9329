//! `nmt prepare`: stream the corpus, train the tokenizer on a seeded sample (or take the one
//! given), encode and filter in chunks on all cores, and write the binary splits, the header
//! and the manifest into a temporary directory that is then renamed into place.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use nmt_core::Manifest;

use super::split::{SplitWriter, split_files};
use super::{
    FORMAT_VERSION, HEADER_FILE, Header, Recipe, SourceFile, SplitSummary, tokenizer_digest,
};
use crate::corpus::{PairStream, ParallelText, read_parallel};
use crate::error::DataError;
use crate::filter::{FilterStats, require_nonempty};
use crate::rng::SplitMix64;
use crate::tokenizer::Vocabularies;

/// Pairs encoded at a time: bounds memory, and is large enough for the rayon pool.
const CHUNK: usize = 32_768;

/// What to prepare.
pub struct PrepareJob {
    pub recipe: Recipe,
    pub train_files: Vec<(PathBuf, PathBuf)>,
    pub valid_files: Option<(PathBuf, PathBuf)>,
    /// Encode with this tokenizer instead of training one or loading `tokenizer.path`
    /// (a resumed checkpoint's, so the data matches the weights).
    pub vocab: Option<Vocabularies>,
    /// Progress bars on stderr.
    pub progress: bool,
}

fn bar(progress: bool, what: &str) -> ProgressBar {
    let bar = if progress {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what}: {{human_pos}} pairs, {{per_sec}} [{{elapsed_precise}}]"
        ))
        .expect("valid template"),
    );
    bar.set_prefix(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn pairs_per_s(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// A uniform sample of at most `k` pairs of the training files (reservoir sampling, seeded),
/// in corpus order; all of them when there are at most `k`.
fn sample_pairs(job: &PrepareJob, log: &mut dyn FnMut(String)) -> Result<ParallelText, DataError> {
    let k = job.recipe.tokenizer.sample_lines;
    let mut rng = SplitMix64::new(crate::rng::mix64(job.recipe.tokenizer.sample_seed));
    let mut kept: Vec<(usize, String, String)> = Vec::new();
    let mut seen = 0usize;
    let bar = bar(job.progress, "reading (tokenizer sample)");
    let start = Instant::now();
    for (src, tgt) in &job.train_files {
        for pair in PairStream::open(src, tgt)? {
            let (s, t) = pair?;
            if kept.len() < k {
                kept.push((seen, s, t));
            } else {
                let j = rng.below(seen as u64 + 1) as usize;
                if j < k {
                    kept[j] = (seen, s, t);
                }
            }
            seen += 1;
            if seen.is_multiple_of(4096) {
                bar.set_position(seen as u64);
            }
        }
    }
    bar.finish_and_clear();
    kept.sort_by_key(|(i, _, _)| *i);
    log(format!(
        "read {seen} training pairs in {:.1}s ({:.0} pairs/s); the tokenizer learns from {} of them",
        start.elapsed().as_secs_f64(),
        pairs_per_s(seen, start.elapsed()),
        kept.len()
    ));
    let mut text = ParallelText::default();
    for (_, s, t) in kept {
        text.src.push(s);
        text.tgt.push(t);
    }
    Ok(text)
}

/// The tokenizer the data is encoded with, and the size of the sample it was trained on.
fn tokenizer(
    job: &PrepareJob,
    log: &mut dyn FnMut(String),
) -> Result<(Vocabularies, Option<usize>), DataError> {
    if let Some(vocab) = &job.vocab {
        return Ok((vocab.clone(), None));
    }
    if job.recipe.tokenizer.path.is_some() {
        let vocab = Vocabularies::train(&ParallelText::default(), &job.recipe.tokenizer)?;
        return Ok((vocab, None));
    }
    let sample = sample_pairs(job, log)?;
    let spinner = bar(job.progress, "training the tokenizer");
    let start = Instant::now();
    let vocab = Vocabularies::train(&sample, &job.recipe.tokenizer)?;
    spinner.finish_and_clear();
    log(format!(
        "trained the tokenizer in {:.1}s (vocab {}/{})",
        start.elapsed().as_secs_f64(),
        vocab.src.vocab_size(),
        vocab.tgt.vocab_size()
    ));
    Ok((vocab, Some(sample.len())))
}

/// Encodes and filters the training files into split `train` of `dir`, a chunk at a time.
fn encode_train(
    job: &PrepareJob,
    vocab: &Vocabularies,
    dir: &Path,
    width: usize,
    log: &mut dyn FnMut(String),
) -> Result<SplitSummary, DataError> {
    let mut writer = SplitWriter::create(dir, "train", width)?;
    let mut stats = FilterStats::new(job.recipe.max_len, job.recipe.max_len_ratio);
    let bar = bar(job.progress, "encoding");
    let (start, mut encoding) = (Instant::now(), Duration::ZERO);
    let (mut src_lines, mut tgt_lines) = (Vec::with_capacity(CHUNK), Vec::with_capacity(CHUNK));
    let mut flush = |src_lines: &mut Vec<String>, tgt_lines: &mut Vec<String>| {
        let t = Instant::now();
        let src_ids = vocab.src.encode_batch(src_lines);
        let tgt_ids = vocab.tgt.encode_batch(tgt_lines);
        encoding += t.elapsed();
        for (s, t) in src_ids.iter().zip(&tgt_ids) {
            if stats.admit(s.len(), t.len()) {
                writer.push(s, t)?;
            }
        }
        bar.inc(src_lines.len() as u64);
        src_lines.clear();
        tgt_lines.clear();
        Ok::<(), DataError>(())
    };
    for (src, tgt) in &job.train_files {
        for pair in PairStream::open(src, tgt)? {
            let (s, t) = pair?;
            src_lines.push(s);
            tgt_lines.push(t);
            if src_lines.len() == CHUNK {
                flush(&mut src_lines, &mut tgt_lines)?;
            }
        }
    }
    flush(&mut src_lines, &mut tgt_lines)?;
    bar.finish_and_clear();
    require_nonempty(&stats, "training")?;
    let (src_tokens, tgt_tokens) = writer.tokens();
    let pairs = writer.pairs();
    writer.finish()?;
    log(format!(
        "train: {stats}; {src_tokens} + {tgt_tokens} tokens; {:.1}s in all, of which encoding {:.1}s ({:.0} lines/s, both sides counted)",
        start.elapsed().as_secs_f64(),
        encoding.as_secs_f64(),
        pairs_per_s(2 * stats.read, encoding),
    ));
    Ok(SplitSummary {
        pairs,
        src_tokens,
        tgt_tokens,
        stats,
    })
}

/// The validation split: its first `valid_max_sentences` lines (all if 0), every pair that
/// fits the model kept.
fn encode_valid(
    job: &PrepareJob,
    files: &(PathBuf, PathBuf),
    vocab: &Vocabularies,
    dir: &Path,
    width: usize,
) -> Result<SplitSummary, DataError> {
    let mut text = read_parallel(&files.0, &files.1)?;
    let n = job.recipe.valid_max_sentences;
    if n > 0 {
        text.src.truncate(n);
        text.tgt.truncate(n);
    }
    let (pairs, stats) =
        crate::filter::encode_corpus(&text, vocab, job.recipe.valid_max_len, f64::INFINITY);
    let mut writer = SplitWriter::create(dir, "valid", width)?;
    for p in &pairs {
        writer.push(&p.src, &p.tgt)?;
    }
    let (src_tokens, tgt_tokens) = writer.tokens();
    writer.finish()?;
    Ok(SplitSummary {
        pairs: pairs.len(),
        src_tokens,
        tgt_tokens,
        stats,
    })
}

/// Prepares the dataset `job` describes into `dir` (replacing what is there), and returns its
/// header. `log` receives one line per stage.
pub fn prepare(
    job: &PrepareJob,
    dir: &Path,
    log: &mut dyn FnMut(String),
) -> Result<Header, DataError> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |reason| DataError::Write { path, reason }
    };
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(write_error(parent))?;
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    // Leftovers of a preparation that was killed are removed first.
    if let Ok(entries) = std::fs::read_dir(parent) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&format!(".tmp-{name}-")) || n.starts_with(&format!(".old-{name}-")) {
                std::fs::remove_dir_all(e.path()).ok();
            }
        }
    }
    let tmp = parent.join(format!(".tmp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(write_error(&tmp))?;

    let train_files = job
        .train_files
        .iter()
        .map(|(s, t)| Ok((SourceFile::of(s)?, SourceFile::of(t)?)))
        .collect::<Result<Vec<_>, DataError>>()?;
    let valid_files = match &job.valid_files {
        Some((s, t)) => Some((SourceFile::of(s)?, SourceFile::of(t)?)),
        None => None,
    };
    let (vocab, tokenizer_sample) = tokenizer(job, log)?;
    let largest = vocab.src.vocab_size().max(vocab.tgt.vocab_size());
    let width = if largest <= 1 << 16 { 2 } else { 4 };
    let train = encode_train(job, &vocab, &tmp, width, log)?;
    let valid = match &job.valid_files {
        Some(files) => Some(encode_valid(job, files, &vocab, &tmp, width)?),
        None => None,
    };
    vocab.save(&tmp)?;
    let header = Header {
        format_version: FORMAT_VERSION,
        recipe: job.recipe.clone(),
        train_files,
        valid_files,
        tokenizer_blake3: tokenizer_digest(&vocab)?,
        token_bytes: width,
        train,
        valid,
        tokenizer_sample,
    };
    let header_path = tmp.join(HEADER_FILE);
    let json = serde_json::to_string_pretty(&header).expect("a Header serialises");
    std::fs::write(&header_path, json + "\n").map_err(write_error(&header_path))?;
    let mut names: Vec<String> = vec![HEADER_FILE.to_string()];
    names.extend(vocab.to_files()?.into_iter().map(|(n, _)| n.to_string()));
    names.extend(split_files("train"));
    if header.valid.is_some() {
        names.extend(split_files("valid"));
    }
    // The manifest last: a directory that has one is complete.
    Manifest::of_files(&tmp, &names)?
        .write(&tmp)
        .map_err(write_error(&tmp.join(nmt_core::MANIFEST_FILE)))?;
    if let Ok(d) = std::fs::File::open(&tmp) {
        let _ = d.sync_all();
    }
    // Lets the end-to-end test kill the process when everything but the rename is done.
    if let Some(ms) = std::env::var("NMT_TEST_PREPARE_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
    if dir.exists() {
        let old = parent.join(format!(".old-{name}-{}", std::process::id()));
        std::fs::rename(dir, &old).map_err(write_error(dir))?;
        std::fs::rename(&tmp, dir).map_err(write_error(&tmp))?;
        std::fs::remove_dir_all(&old).ok();
    } else {
        std::fs::rename(&tmp, dir).map_err(write_error(&tmp))?;
    }
    if let Ok(d) = std::fs::File::open(parent) {
        let _ = d.sync_all();
    }
    Ok(header)
}
