//! `nmt translate` and `nmt eval`: decode with a run's checkpoint(s), through the one inference
//! path (`nmt_train::inference`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use nmt_decode::DecodeConfig;
use nmt_metrics::ScoreReport;
use nmt_model::Precision;
use nmt_train::{Checkpoints, Loaded};

use crate::device::parse_device;
use crate::input::SourceLines;
use nmt_data::LineStream;

/// Decoding flags shared by translate and eval; unset flags keep the run's `[decode]` values.
#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// Beam size (1 = greedy).
    #[arg(long)]
    beam: Option<usize>,
    /// Length penalty alpha.
    #[arg(long)]
    lenpen: Option<f64>,
    /// Coverage penalty beta (beam search; 0 = off).
    #[arg(long)]
    coverage_penalty: Option<f64>,
    /// Hypotheses per sentence.
    #[arg(long)]
    nbest: Option<usize>,
    /// Token budget of a decoding batch.
    #[arg(long)]
    max_tokens: Option<usize>,
    /// `best`, `latest` or a checkpoint directory. Repeat it to decode with an ensemble: each
    /// step then takes the mean of the models' distributions (their tokenizers must match).
    #[arg(long = "checkpoint", default_value = "best")]
    checkpoints: Vec<String>,
    /// Device (default: the run's run.device).
    #[arg(long)]
    device: Option<String>,
    /// Draw tokens instead of searching: topk:K, topp:P or full (needs --beam 1; --nbest N
    /// gives N independent samples). For back-translation.
    #[arg(long)]
    sampling: Option<nmt_decode::Sampling>,
    /// Sampling temperature (default 1).
    #[arg(long)]
    temperature: Option<f64>,
    /// Seed of the draws (default 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Dtype of the model's matrix products: f32 (default), bf16 or f16.
    #[arg(long, default_value = "f32")]
    precision: Precision,
}

impl DecodeArgs {
    /// The run's `[decode]` with these flags applied, checked like the config's.
    fn apply(&self, mut cfg: DecodeConfig) -> Result<DecodeConfig> {
        if let Some(b) = self.beam {
            cfg.beam = b;
            cfg.nbest = cfg.nbest.min(b);
        }
        if let Some(l) = self.lenpen {
            cfg.lenpen = l;
        }
        if let Some(c) = self.coverage_penalty {
            cfg.coverage_penalty = c;
        }
        if let Some(n) = self.nbest {
            cfg.nbest = n;
        }
        if let Some(m) = self.max_tokens {
            cfg.max_tokens = m;
        }
        if let Some(method) = self.sampling {
            cfg.sampling = Some(method);
            if self.beam.is_none() {
                cfg.beam = 1;
                cfg.nbest = self.nbest.unwrap_or(1);
            }
        }
        if let Some(t) = self.temperature {
            cfg.temperature = t;
        }
        if let Some(s) = self.seed {
            cfg.seed = s;
        }
        cfg.validate()
            .context("invalid decoding flags (--beam, --nbest, --lenpen, ...)")?;
        Ok(cfg)
    }

    /// Opens the checkpoints of `run` and loads them on `--device`, else on the device the
    /// (first) checkpoint was trained on.
    fn load(&self, run: &Path) -> Result<Loaded> {
        let checkpoints = Checkpoints::open(run, &self.checkpoints)?;
        for c in checkpoints.iter().filter(|c| !c.is_verified()) {
            eprintln!(
                "warning: {} was written before checkpoints had checksums; its files are not verified",
                c.dir().display()
            );
        }
        let spec = self
            .device
            .clone()
            .unwrap_or_else(|| checkpoints.config().run.device.clone());
        Ok(checkpoints
            .load(&parse_device(&spec)?)?
            .with_precision(self.precision))
    }
}

#[derive(Args, Debug)]
pub struct TranslateArgs {
    /// The run directory.
    #[arg(long)]
    run: PathBuf,
    /// Input file, one sentence a line (default: stdin).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Output file (default: stdout).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Also write the raw hypotheses (subword tokens and scores) to this file.
    #[arg(long)]
    raw: Option<PathBuf>,
    /// Most lines translated together. Input is read as a stream: each window is translated,
    /// written and flushed before more is read, and a window also closes early when no further
    /// line has arrived yet, so a terminal or a pipe that waits is answered line by line.
    #[arg(long, default_value_t = 2000)]
    window: usize,
    /// Target prefixes, one a line beside the input's lines: each translation begins with its
    /// prefix and the model continues it (greedy, beam or sampling). An empty line: no prefix.
    #[arg(long)]
    prefix: Option<PathBuf>,
    #[command(flatten)]
    decode: DecodeArgs,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[arg(long)]
    run: PathBuf,
    /// Source sentences.
    #[arg(long)]
    src: PathBuf,
    /// Reference translations.
    #[arg(long = "ref")]
    reference: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    decode: DecodeArgs,
}

fn create(path: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(std::io::BufWriter::new(file))
}

pub fn translate(a: TranslateArgs) -> Result<ExitCode> {
    if a.window == 0 {
        bail!("--window must be at least 1");
    }
    let loaded = a.decode.load(&a.run)?;
    let cfg = a.decode.apply(loaded.config().decode.clone())?;
    let mut source = SourceLines::open(&a.input)?;
    let mut prefixes = a.prefix.as_deref().map(LineStream::open).transpose()?;
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(create(p)?),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut raw = a.raw.as_deref().map(create).transpose()?;
    let mut window = Vec::new();
    let mut first = 0;
    loop {
        let line = source.next_line()?;
        let end = line.is_none();
        window.extend(line);
        if !window.is_empty() && (end || window.len() >= a.window || !source.ready()) {
            let window_prefixes = match prefixes.as_mut() {
                Some(stream) => take_prefixes(stream, window.len(), first)?,
                None => Vec::new(),
            };
            let results = loaded.translate_with_prefixes(&window, &window_prefixes, &cfg)?;
            write_window(&loaded, &cfg, &results, first, &mut out, raw.as_mut())?;
            first += window.len();
            window.clear();
        }
        if end {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The next `n` prefixes (for input lines `first..first + n`); the file must not run out.
fn take_prefixes(stream: &mut LineStream, n: usize, first: usize) -> Result<Vec<String>> {
    let mut prefixes = Vec::with_capacity(n);
    for _ in 0..n {
        match stream.next() {
            Some(line) => prefixes.push(line?),
            None => bail!(
                "{} has {} line(s), but the input has more ({} or more)",
                stream.path().display(),
                stream.lines_read(),
                first + n
            ),
        }
    }
    Ok(prefixes)
}

/// Writes one translated window (numbered from `first` in n-best and raw output) and flushes,
/// so that what was read is answered before more is waited for.
fn write_window(
    loaded: &Loaded,
    cfg: &DecodeConfig,
    results: &[Vec<(String, nmt_decode::Hypothesis)>],
    first: usize,
    out: &mut dyn Write,
    mut raw: Option<&mut std::io::BufWriter<std::fs::File>>,
) -> Result<()> {
    for (i, nbest) in results.iter().enumerate() {
        let i = first + i;
        if cfg.nbest == 1 {
            writeln!(out, "{}", nbest.first().map(|h| h.0.as_str()).unwrap_or(""))?;
        } else {
            for (text, h) in nbest {
                writeln!(out, "{i} ||| {text} ||| {:.4}", h.score)?;
            }
        }
        if let Some(raw) = raw.as_mut() {
            for (_, h) in nbest {
                let pieces: Vec<String> = h
                    .tokens
                    .iter()
                    .map(|&t| loaded.vocab().tgt.id_to_token(t))
                    .collect();
                writeln!(
                    raw,
                    "{i}\t{:.4}\t{:.4}\t{}",
                    h.score,
                    h.log_prob,
                    pieces.join(" ")
                )?;
            }
        }
    }
    out.flush()?;
    if let Some(raw) = raw {
        raw.flush()?;
    }
    Ok(())
}

pub fn eval(a: EvalArgs) -> Result<ExitCode> {
    let loaded = a.decode.load(&a.run)?;
    let cfg = a.decode.apply(loaded.config().decode.clone())?;
    let sources = nmt_data::read_lines(&a.src)?;
    let refs = nmt_data::read_lines(&a.reference)?;
    if sources.len() != refs.len() {
        bail!(
            "{} has {} lines but {} has {}",
            a.src.display(),
            sources.len(),
            a.reference.display(),
            refs.len()
        );
    }
    let (hyps, bleu, chrf) = loaded.evaluate(&sources, &refs, &cfg)?;
    let stem = a
        .src
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "eval".into());
    let hyp_path = a.run.join(format!("{stem}.hyp"));
    std::fs::write(&hyp_path, hyps.join("\n") + "\n")
        .with_context(|| format!("cannot write {}", hyp_path.display()))?;
    let report = ScoreReport {
        bleu: Some(bleu),
        chrf: Some(chrf),
    };
    if a.json {
        let mut v = report.to_json();
        v["hypotheses"] = serde_json::Value::String(hyp_path.display().to_string());
        v["checkpoint"] = serde_json::Value::String(loaded.first().dir().display().to_string());
        if loaded.models().len() > 1 {
            let all = loaded.checkpoints.iter();
            v["ensemble"] = all.map(|c| c.dir().display().to_string()).collect();
        }
        println!("{v}");
    } else {
        eprintln!("hypotheses written to {}", hyp_path.display());
        println!("{}", report.to_text());
    }
    Ok(ExitCode::SUCCESS)
}
