//! Writes the quick-start corpus: `cargo run --release -p nmt-data --example gen_quickstart -- data/quickstart [SEED]`
//! (the `nmt gen-quickstart` subcommand does the same).

use std::path::PathBuf;
use std::process::ExitCode;

use nmt_data::quickstart::QUICKSTART_SEED;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "data/quickstart".into()));
    let seed = match args.next().map(|s| s.parse::<u64>()) {
        None => QUICKSTART_SEED,
        Some(Ok(seed)) => seed,
        Some(Err(e)) => {
            eprintln!("error: the seed must be a whole number: {e}");
            return ExitCode::FAILURE;
        }
    };
    match nmt_data::write_quickstart(&dir, seed) {
        Ok(()) => {
            println!(
                "wrote {}/{{train,valid,test}}.{{en,de}} (seed {seed})",
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
