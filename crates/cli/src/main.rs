//! `nmt`: train Transformer translation models, translate with them, and score translations.
//! One file per subcommand; each is a thin layer over the library crates.

mod attention;
mod bench;
mod check;
mod device;
mod export;
mod input;
mod plot;
mod prepare;
mod score;
mod train;
mod translate;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::device::parse_device;

#[derive(Parser, Debug)]
#[command(
    name = "nmt",
    version,
    about = "Train Transformer translation models on Burn, translate and score."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Tokenize a config's corpus once into a prepared (binary, memory-mapped) dataset.
    Prepare(prepare::PrepareArgs),
    /// Train a model from a TOML config (checkpoints, validation BLEU, test BLEU).
    Train(train::TrainArgs),
    /// Translate text with a trained run.
    Translate(translate::TranslateArgs),
    /// Translate a test set and score it against references.
    Eval(translate::EvalArgs),
    /// Score hypotheses against references (BLEU, chrF), as sacreBLEU does.
    Score(score::ScoreArgs),
    /// Write the generated quick-start corpus (English -> German).
    GenQuickstart(GenArgs),
    /// List the backends this build can use.
    Devices,
    /// Average the parameters of a run's last N checkpoints into a new checkpoint.
    Average(AverageArgs),
    /// List a run's checkpoints and verify every file of each against its checksums.
    Check(check::CheckArgs),
    /// Export a checkpoint as safetensors or as a CTranslate2 model.
    Export(export::ExportArgs),
    /// Benchmarks that print figures.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Translate one sentence and write an HTML page of the model's attention.
    Attention(attention::AttentionArgs),
    /// Draw a run's training curves (loss, validation BLEU, learning rate) as PNG or SVG.
    Plot(plot::PlotArgs),
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
    #[arg(long, default_value_t = nmt_quickstart::QUICKSTART_SEED)]
    seed: u64,
}

fn main() -> ExitCode {
    tune_allocator();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Prepare(a) => prepare::prepare(a),
        Command::Train(a) => train::train(a),
        Command::Translate(a) => translate::translate(a),
        Command::Eval(a) => translate::eval(a),
        Command::Score(a) => score::score(a),
        Command::Check(a) => check::check(a),
        Command::GenQuickstart(a) => {
            nmt_quickstart::write_quickstart(&a.out, a.seed)?;
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
        Command::Bench(b) => bench::bench(b).map(|()| ExitCode::SUCCESS),
        Command::Attention(a) => attention::attention(a).map(|()| ExitCode::SUCCESS),
        Command::Plot(a) => plot::plot(a).map(|()| ExitCode::SUCCESS),
        Command::Export(a) => export::export(a).map(|()| ExitCode::SUCCESS),
        Command::Devices => {
            for line in device::available() {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// glibc hands every allocation above 128 KiB straight to mmap and back to the kernel on free,
/// so each step's activation tensors cost fresh page faults (~8% of a training step in `perf`).
/// Keeping freed memory in the process removes that; peak memory is unchanged.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts glibc's allocator thresholds; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, -1);
    }
}
