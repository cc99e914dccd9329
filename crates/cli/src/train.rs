//! `nmt train`: one config in, a trained run out; Ctrl-C writes a checkpoint and says how to
//! resume.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use clap::Args;
use nmt_train::{RunConfig, StopReason, TrainOptions};

use crate::device::parse_device;

#[derive(Args, Debug)]
pub struct TrainArgs {
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
    /// run.device: flex, tch, tch-cuda[:N], wgpu[:N], cuda[:N].
    #[arg(long)]
    device: Option<String>,
    /// train.seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Continue from the run directory's latest checkpoint (or, if it is damaged, from the
    /// newest intact one).
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Continue from this checkpoint of the run (implies --resume).
    #[arg(long, value_name = "CHECKPOINT_DIR", conflicts_with = "overwrite")]
    resume_from: Option<PathBuf>,
    /// Fine-tune: start from the weights of this checkpoint, or of this run directory's best
    /// (train.init_from). Its tokenizer is used; the model's shape and vocabulary must match.
    #[arg(long, value_name = "RUN_DIR|CHECKPOINT_DIR")]
    init_from: Option<PathBuf>,
    /// Start afresh, deleting the run already in the run directory.
    #[arg(long)]
    overwrite: bool,
    /// Print the fully resolved config (defaults filled in) and exit.
    #[arg(long)]
    print_config: bool,
    /// No progress bar and no log lines on stderr (they still go to RUN_DIR/train.log).
    #[arg(long)]
    quiet: bool,
}

pub fn train(a: TrainArgs) -> Result<ExitCode> {
    let started = std::time::Instant::now();
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
    if let Some(p) = &a.init_from {
        overrides.push(format!("train.init_from={:?}", p.display().to_string()));
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
        resume: a.resume || a.resume_from.is_some(),
        resume_from: a.resume_from.clone(),
        overwrite: a.overwrite,
        stop,
        quiet: a.quiet,
        started: Some(started),
    };
    let outcome = nmt_train::train(&config, &device, &opts)?;
    if outcome.stop == StopReason::Interrupted {
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

/// `s` as one shell word: as is when it is plainly safe, else in single quotes.
fn shell_quoted(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "._-+=:/,@%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
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
