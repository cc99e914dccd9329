//! `nmt bench`: commands that print figures (JSON lines), never timed tests.

mod decode;
mod load;
mod train;

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Decoding speed (sentences/s, target tokens/s) for greedy and beam search.
    Decode(decode::BenchDecodeArgs),
    /// Training throughput of the step `nmt train` runs, at a fixed shape comparable with
    /// ../shared/bench/torch_reference.py.
    Train(train::BenchTrainArgs),
    /// Loading time of a checkpoint for translation, and the share its checksum verification
    /// takes.
    Load(load::BenchLoadArgs),
}

pub fn bench(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Decode(a) => decode::bench_decode(a),
        BenchCommand::Train(a) => train::bench_train(a),
        BenchCommand::Load(a) => load::bench_load(a),
    }
}

/// Peak resident memory of this process, from /proc (Linux).
pub(crate) fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}
