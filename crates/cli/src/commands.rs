//! The subcommands, each a thin layer over the library crates.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use nmt_decode::DecodeConfig;
use nmt_metrics::{
    BleuConfig, ChrfConfig, ScoreReport, Tokenize, corpus_bleu, corpus_chrf, read_lines,
};
use nmt_train::{LoadedModel, RunConfig, TrainOptions, load_ensemble, translate_lines};

use crate::device::{available, parse_device};

#[derive(Parser, Debug)]
#[command(
    name = "nmt",
    version,
    about = "Train Transformer translation models on Burn, translate and score."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model from a TOML config (checkpoints, validation BLEU, test BLEU).
    Train(TrainArgs),
    /// Translate text with a trained run.
    Translate(TranslateArgs),
    /// Translate a test set and score it against references.
    Eval(EvalArgs),
    /// Score hypotheses against references (BLEU, chrF), as sacreBLEU does.
    Score(ScoreArgs),
    /// Write the generated quick-start corpus (English -> German).
    GenQuickstart(GenArgs),
    /// List the backends this build can use.
    Devices,
    /// Average the parameters of a run's last N checkpoints into a new checkpoint.
    Average(AverageArgs),
    /// Benchmarks that print figures.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Translate one sentence and write an HTML page of the model's attention.
    Attention(crate::attention::AttentionArgs),
    /// Draw a run's training curves (loss, validation BLEU, learning rate) as PNG or SVG.
    Plot(crate::plot::PlotArgs),
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Decoding speed (sentences/s, target tokens/s) for greedy and beam search.
    Decode(crate::bench::BenchDecodeArgs),
    /// Training throughput at a fixed shape, comparable with ../shared/bench/torch_reference.py.
    Train(crate::bench::BenchTrainArgs),
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// The run config (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Override one key: section.key=value (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    set: Vec<String>,
    /// Run directory (run.dir).
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// train.max_steps.
    #[arg(long)]
    max_steps: Option<u64>,
    /// run.device: flex, tch, tch-cuda[:N], wgpu[:N].
    #[arg(long)]
    device: Option<String>,
    /// train.seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Continue from the run directory's latest checkpoint.
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Start afresh, deleting the run already in the run directory.
    #[arg(long)]
    overwrite: bool,
    /// Print the fully resolved config (defaults filled in) and exit.
    #[arg(long)]
    print_config: bool,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
}

/// Decoding flags shared by translate and eval; unset flags keep the run's `[decode]` values.
#[derive(Args, Debug)]
struct DecodeArgs {
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
}

impl DecodeArgs {
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
        if cfg.beam == 0 || cfg.nbest == 0 || cfg.nbest > cfg.beam {
            bail!("need --beam >= 1 and 1 <= --nbest <= --beam");
        }
        if !(cfg.coverage_penalty.is_finite() && cfg.coverage_penalty >= 0.0) {
            bail!("--coverage-penalty must be a finite number >= 0 (0 = off)");
        }
        Ok(cfg)
    }
}

#[derive(Args, Debug)]
struct TranslateArgs {
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
    #[command(flatten)]
    decode: DecodeArgs,
}

#[derive(Args, Debug)]
struct EvalArgs {
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

#[derive(Args, Debug)]
struct ScoreArgs {
    /// Hypotheses, one a line.
    #[arg(long)]
    hyp: PathBuf,
    /// Reference file(s), each line-aligned with the hypotheses (repeatable).
    #[arg(long = "ref", required = true)]
    refs: Vec<PathBuf>,
    /// 13a (default), intl, none or char.
    #[arg(long, default_value = "13a")]
    tokenize: String,
    /// Lowercase before scoring.
    #[arg(long)]
    lowercase: bool,
    /// Metrics to compute: bleu, chrf.
    #[arg(long, default_value = "bleu,chrf", value_delimiter = ',')]
    metrics: Vec<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct AverageArgs {
    #[arg(long)]
    run: PathBuf,
    /// How many of the newest checkpoints to average.
    #[arg(long, default_value_t = 5)]
    last: usize,
    /// Where to write it (default RUN/checkpoints/averaged-last-N).
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct GenArgs {
    #[arg(long, default_value = "data/quickstart")]
    out: PathBuf,
    /// Generator seed; the committed corpus uses the default.
    #[arg(long, default_value_t = nmt_data::quickstart::QUICKSTART_SEED)]
    seed: u64,
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Train(a) => train(a),
        Command::Translate(a) => translate(a),
        Command::Eval(a) => eval(a),
        Command::Score(a) => score(a),
        Command::GenQuickstart(a) => {
            nmt_data::write_quickstart(&a.out, a.seed)?;
            eprintln!("wrote the quick-start corpus to {}", a.out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Average(a) => {
            let out = nmt_train::average_checkpoints(
                &a.run,
                a.last,
                a.output.as_deref(),
                &parse_device("flex")?,
            )?;
            println!("{}", out.display());
            eprintln!(
                "use it with: nmt translate --run {} --checkpoint {}",
                a.run.display(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Decode(a)) => {
            crate::bench::bench_decode(a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Train(a)) => {
            crate::bench::bench_train(a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Attention(a) => {
            crate::attention::attention(a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plot(a) => {
            crate::plot::plot(a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Devices => {
            for line in available() {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `s` as one shell word: as is when it is plainly safe, else in single quotes.
fn shell_quoted(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "._-+=:/,@%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn train(a: TrainArgs) -> Result<ExitCode> {
    let mut overrides = a.set.clone();
    if let Some(d) = &a.run_dir {
        overrides.push(format!("run.dir={:?}", d.display().to_string()));
    }
    if let Some(n) = a.max_steps {
        overrides.push(format!("train.max_steps={n}"));
    }
    if let Some(d) = &a.device {
        overrides.push(format!("run.device={d:?}"));
    }
    if let Some(s) = a.seed {
        overrides.push(format!("train.seed={s}"));
    }
    let config = RunConfig::load(&a.config, &overrides)?;
    if a.print_config {
        print!("{}", config.to_toml());
        return Ok(ExitCode::SUCCESS);
    }
    let device = parse_device(&config.run.device)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                // A second signal: the user really wants out now.
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: finishing this step and writing a checkpoint...");
        })
        .context("cannot install the SIGINT/SIGTERM handler")?;
    }
    let opts = TrainOptions {
        resume: a.resume,
        overwrite: a.overwrite,
        stop,
        quiet: a.quiet,
    };
    let outcome = nmt_train::train(&config, &device, &opts)?;
    if outcome.interrupted {
        eprintln!(
            "stopped at step {}; checkpoint {}\nresume with: nmt train --config {} --resume{}",
            outcome.step,
            outcome.last_checkpoint.display(),
            a.config.display(),
            // Every flag that changed the config (--run-dir, --device, ... included), so the
            // resumed run finds the same directory and settings.
            overrides
                .iter()
                .map(|s| format!(" --set {}", shell_quoted(s)))
                .collect::<String>()
        );
        return Ok(ExitCode::from(130));
    }
    if let Some((bleu, chrf)) = outcome.test {
        println!("test BLEU {bleu:.2} chrF {chrf:.2}");
    }
    Ok(ExitCode::SUCCESS)
}

fn read_input(path: &Option<PathBuf>) -> Result<Vec<String>> {
    let lines = match path {
        Some(p) => nmt_data::read_lines(p)?,
        None => {
            let mut text = String::new();
            std::io::stdin()
                .lock()
                .read_to_string(&mut text)
                .context("stdin is not valid UTF-8")?;
            text.lines().map(nmt_data::normalize_line).collect()
        }
    };
    Ok(lines)
}

/// `--device` if given, else the device the checkpoint's run was trained on.
fn run_device(run: &std::path::Path, decode: &DecodeArgs) -> Result<burn::tensor::Device> {
    if let Some(spec) = &decode.device {
        return parse_device(spec);
    }
    let checkpoint = nmt_train::CheckpointStore::new(run).resolve(&decode.checkpoints[0])?;
    let path = checkpoint.join("config.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    parse_device(&RunConfig::from_toml(&text, &path)?.run.device)
}

/// The checkpoints `--checkpoint` names (one, or an ensemble), the models as decoding takes
/// them, and the source length every one of them can read.
struct Models {
    loaded: Vec<LoadedModel>,
}

impl Models {
    fn load(
        run: &std::path::Path,
        decode: &DecodeArgs,
        device: &burn::tensor::Device,
    ) -> Result<Self> {
        Ok(Self {
            loaded: load_ensemble(run, &decode.checkpoints, device)?,
        })
    }

    /// The first checkpoint: its config's `[decode]` and its tokenizers serve the ensemble.
    fn first(&self) -> &LoadedModel {
        &self.loaded[0]
    }

    fn models(&self) -> Vec<&nmt_model::Transformer> {
        self.loaded.iter().map(|l| &l.model).collect()
    }

    fn max_positions(&self) -> usize {
        self.loaded
            .iter()
            .map(|l| l.config.model.max_positions)
            .min()
            .unwrap_or(0)
    }
}

fn translate(a: TranslateArgs) -> Result<ExitCode> {
    let lines = read_input(&a.input)?;
    let device = run_device(&a.run, &a.decode)?;
    let models = Models::load(&a.run, &a.decode, &device)?;
    let loaded = models.first();
    let cfg = a.decode.apply(loaded.config.decode.clone())?;
    let results = translate_lines(
        &models.models(),
        &loaded.vocab,
        &lines,
        &cfg,
        models.max_positions(),
        &device,
    );
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut raw = match &a.raw {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => None,
    };
    for (i, nbest) in results.iter().enumerate() {
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
                    .map(|&t| loaded.vocab.tgt.id_to_token(t))
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
    Ok(ExitCode::SUCCESS)
}

fn eval(a: EvalArgs) -> Result<ExitCode> {
    let device = run_device(&a.run, &a.decode)?;
    let models = Models::load(&a.run, &a.decode, &device)?;
    let loaded = models.first();
    let cfg = a.decode.apply(loaded.config.decode.clone())?;
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
    let (hyps, bleu, chrf) = nmt_train::evaluate(
        &models.models(),
        &loaded.vocab,
        &sources,
        &refs,
        &cfg,
        models.max_positions(),
        &device,
    )?;
    let stem = a
        .src
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "eval".into());
    let hyp_path = a.run.join(format!("{stem}.hyp"));
    std::fs::write(&hyp_path, hyps.join("\n") + "\n")?;
    let report = ScoreReport {
        bleu: Some(bleu),
        chrf: Some(chrf),
    };
    if a.json {
        let mut v = report.to_json();
        v["hypotheses"] = serde_json::Value::String(hyp_path.display().to_string());
        v["checkpoint"] = serde_json::Value::String(loaded.checkpoint.display().to_string());
        if models.loaded.len() > 1 {
            let all = models.loaded.iter();
            v["ensemble"] = all.map(|l| l.checkpoint.display().to_string()).collect();
        }
        println!("{v}");
    } else {
        eprintln!("hypotheses written to {}", hyp_path.display());
        println!("{}", report.to_text());
    }
    Ok(ExitCode::SUCCESS)
}

fn score(a: ScoreArgs) -> Result<ExitCode> {
    let hyps = read_lines(&a.hyp)?;
    let refs = a
        .refs
        .iter()
        .map(|p| read_lines(p))
        .collect::<Result<Vec<_>, _>>()?;
    let tokenize: Tokenize = a
        .tokenize
        .parse()
        .map_err(|e| anyhow::anyhow!("--tokenize: {e}"))?;
    let mut report = ScoreReport {
        bleu: None,
        chrf: None,
    };
    for metric in &a.metrics {
        match metric.trim() {
            "bleu" => {
                let cfg = BleuConfig {
                    tokenize,
                    lowercase: a.lowercase,
                    ..BleuConfig::default()
                };
                report.bleu = Some(corpus_bleu(&hyps, &refs, &cfg)?);
            }
            "chrf" => {
                let cfg = ChrfConfig {
                    lowercase: a.lowercase,
                    ..ChrfConfig::default()
                };
                report.chrf = Some(corpus_chrf(&hyps, &refs, &cfg)?);
            }
            other => bail!("unknown metric {other:?}: expected bleu or chrf"),
        }
    }
    if a.json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.to_text());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::shell_quoted;

    #[test]
    fn shell_quoted_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quoted("train.lr=2e-3"), "train.lr=2e-3");
        assert_eq!(
            shell_quoted(r#"run.dir="runs/a b's""#),
            r#"'run.dir="runs/a b'\''s"'"#
        );
        assert_eq!(shell_quoted(""), "''");
    }
}
