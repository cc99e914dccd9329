//! `nmt bench load`: how long loading a checkpoint for translation takes (open, verify, read
//! config and tokenizer, build the model, read the weights: what `nmt translate` does before
//! it decodes), and how much of it is checksum verification: the same files are verified
//! again on their own, and the share is `verify / (load - verify)`, the cost of checking
//! relative to loading without the check. Alternating rounds, page cache warm.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use nmt_train::Checkpoints;
use serde_json::json;

use crate::device::parse_device;

#[derive(Args, Debug)]
pub struct BenchLoadArgs {
    /// The run directory.
    #[arg(long)]
    run: PathBuf,
    /// `best`, `latest` or a checkpoint directory.
    #[arg(long, default_value = "best")]
    checkpoint: String,
    /// Timed rounds (after one untimed round that warms the page cache).
    #[arg(long, default_value_t = 7)]
    rounds: usize,
    #[arg(long, default_value = "flex")]
    device: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn bench_load(a: BenchLoadArgs) -> Result<()> {
    let device = parse_device(&a.device)?;
    let specs = [a.checkpoint.clone()];
    let load = || -> Result<f64> {
        let start = Instant::now();
        let loaded = Checkpoints::open(&a.run, &specs)?.load(&device)?;
        let secs = start.elapsed().as_secs_f64();
        drop(loaded);
        Ok(secs)
    };
    let opened = Checkpoints::open(&a.run, &specs)?;
    let checkpoint = opened.first().clone();
    // The files inference reads, each verified as loading does.
    let files: Vec<String> = checkpoint
        .file_names()
        .into_iter()
        .filter(|f| f != "optimizer.bpk")
        .collect();
    let verify = || -> Result<f64> {
        let start = Instant::now();
        for f in &files {
            checkpoint.verify(f)?;
        }
        Ok(start.elapsed().as_secs_f64())
    };
    load()?;
    verify()?;
    let (mut loads, mut verifies) = (Vec::new(), Vec::new());
    for _ in 0..a.rounds.max(1) {
        loads.push(load()?);
        verifies.push(verify()?);
    }
    let (load_s, verify_s) = (median(loads), median(verifies));
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(checkpoint.dir().join(f)).map_or(0, |m| m.len()))
        .sum();
    println!(
        "{}",
        json!({
            "bench": "load", "checkpoint": checkpoint.dir().display().to_string(),
            "files": files, "bytes": bytes, "rounds": a.rounds,
            "load_ms": (load_s * 1e4).round() / 10.0,
            "verify_ms": (verify_s * 1e4).round() / 10.0,
            "verify_share_of_unverified_load": ((verify_s / (load_s - verify_s)) * 1e4).round() / 1e4,
        })
    );
    Ok(())
}
