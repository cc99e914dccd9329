//! `nmt check RUN_DIR`: every checkpoint of a run, with its step, its latest validation and
//! whether every file verifies against its checksums. Exits 1 when `latest` or `best` is
//! damaged (a run whose latest is damaged still resumes, from the newest intact checkpoint).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use nmt_train::CheckpointStore;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The run directory.
    run: PathBuf,
}

pub fn check(a: CheckArgs) -> Result<ExitCode> {
    let store = CheckpointStore::new(&a.run);
    let reports = store.report()?;
    if reports.is_empty() {
        bail!("no checkpoints in {}", store.dir().display());
    }
    println!("{}:", store.dir().display());
    let mut pointer_damaged = false;
    for r in &reports {
        let step = r.step.map_or("-".to_string(), |s| s.to_string());
        let valid = r.validation.map_or(String::new(), |v| {
            format!(
                "valid BLEU {:.2} loss {:.4} (step {})",
                v.bleu, v.loss, v.step
            )
        });
        let pointers: Vec<&str> = [(r.is_latest, "latest"), (r.is_best, "best")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect();
        let status = match (&r.problem, r.verified) {
            (None, true) => "intact".to_string(),
            (None, false) => "present (format 1, no checksums to verify)".to_string(),
            (Some(why), _) => format!("DAMAGED: {why}"),
        };
        println!(
            "  {:<16} step {step:>9}  {:<13} {valid:<44} {status}",
            r.name,
            pointers.join(" ")
        );
        if r.problem.is_some() && (r.is_latest || r.is_best) {
            pointer_damaged = true;
        }
    }
    if pointer_damaged {
        eprintln!(
            "`latest` or `best` is damaged: `nmt train --resume` continues from the newest intact \
             checkpoint; translate with --checkpoint PATH of an intact one"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
