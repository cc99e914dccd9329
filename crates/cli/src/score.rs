//! `nmt score`: BLEU and chrF exactly as sacreBLEU 2.6.0's command line computes and prints
//! them, flags included: `--lowercase` is sacreBLEU's `-lc` and lowercases BLEU only; chrF
//! keeps case unless `--chrf-lowercase` is given, as in sacreBLEU.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use nmt_metrics::{
    BleuConfig, ChrfConfig, ScoreReport, Smoothing, Tokenize, corpus_bleu, corpus_chrf, read_lines,
};

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// Hypotheses, one a line.
    #[arg(long)]
    hyp: PathBuf,
    /// Reference file(s), each line-aligned with the hypotheses (repeatable).
    #[arg(long = "ref", required = true)]
    refs: Vec<PathBuf>,
    /// BLEU tokenizer: 13a (default), intl, none or char (sacreBLEU's `-tok`).
    #[arg(long, default_value = "13a")]
    tokenize: String,
    /// Lowercase for BLEU (sacreBLEU's `-lc`); chrF is not affected.
    #[arg(long)]
    lowercase: bool,
    /// BLEU smoothing: exp (default), floor, add-k or none (sacreBLEU's `-s`).
    #[arg(long, default_value = "exp")]
    smooth_method: String,
    /// Lowercase for chrF (sacreBLEU's `--chrf-lowercase`).
    #[arg(long)]
    chrf_lowercase: bool,
    /// chrF word n-gram order: 0 for chrF, 2 for chrF++ (sacreBLEU's `--chrf-word-order`).
    #[arg(long, default_value_t = 0)]
    chrf_word_order: usize,
    /// Metrics to compute: bleu, chrf.
    #[arg(long, default_value = "bleu,chrf", value_delimiter = ',')]
    metrics: Vec<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn score(a: ScoreArgs) -> Result<ExitCode> {
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
    let smooth: Smoothing = a
        .smooth_method
        .parse()
        .map_err(|e| anyhow::anyhow!("--smooth-method: {e}"))?;
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
                    smooth,
                    ..BleuConfig::default()
                };
                report.bleu = Some(corpus_bleu(&hyps, &refs, &cfg)?);
            }
            "chrf" => {
                let cfg = ChrfConfig {
                    lowercase: a.chrf_lowercase,
                    word_order: a.chrf_word_order,
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
