//! `nmt prepare` and training from prepared data, end to end: prepared once and reused (resume
//! never tokenizes again), refused when stale, re-made with --force, a list of training
//! splits read as one corpus, and a kill during preparation leaves nothing half-written in use.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{nmt, root, run_ok, tiny_config, train_events};

fn prepare(cfg: &Path, extra: &[&str]) -> Output {
    nmt()
        .args(["prepare", "--quiet", "--config"])
        .arg(cfg)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn prepared_once_reused_by_train_and_resume_refused_when_stale() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let run = dir.path().join("run");
    let out = prepare(&cfg, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("train: 6000 pairs read"),
        "{}",
        stderr(&out)
    );
    let again = prepare(&cfg, &[]);
    assert!(again.status.success());
    assert!(
        stderr(&again).contains("is up to date"),
        "{}",
        stderr(&again)
    );

    run_ok(
        nmt()
            .args(["train", "--quiet", "--max-steps", "4", "--config"])
            .arg(&cfg),
    );
    run_ok(
        nmt()
            .args([
                "train",
                "--quiet",
                "--resume",
                "--max-steps",
                "8",
                "--config",
            ])
            .arg(&cfg),
    );
    let log = std::fs::read_to_string(run.join("train.log")).unwrap();
    assert!(
        !log.contains("preparing the data"),
        "train and resume used the data nmt prepare made: {log}"
    );
    assert_eq!(train_events(&run).len(), 8);

    // Other filters: refused, naming the key, by prepare and by a resumed train.
    let out = prepare(&cfg, &["--set", "data.max_len=20"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("data.max_len: 32 when prepared, 20 now"),
        "{}",
        stderr(&out)
    );
    let out = nmt()
        .args([
            "train",
            "--quiet",
            "--resume",
            "--set",
            "data.max_len=20",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("data.max_len: 32 when prepared, 20 now")
            && stderr(&out).contains("nmt prepare --config"),
        "{}",
        stderr(&out)
    );
    // --force makes it again, with the new filter.
    let out = prepare(&cfg, &["--set", "data.max_len=20", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let header: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("prepared/prepared.json")).unwrap())
            .unwrap();
    assert_eq!(header["recipe"]["max_len"], 20);
}

#[test]
fn a_list_of_training_splits_is_one_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let data = root().join("data/quickstart");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("train = \"{}\"", data.join("train").display()),
        &format!(
            "train = [\"{}\", \"{}\"]",
            data.join("train").display(),
            data.join("valid").display()
        ),
    );
    std::fs::write(&cfg, text).unwrap();
    let out = prepare(&cfg, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("train: 6300 pairs read"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_kill_during_preparation_leaves_nothing_half_written_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let run = dir.path().join("run");
    // The test hook pauses after every file is written, before the directory is renamed.
    let mut child = nmt()
        .args(["prepare", "--quiet", "--config"])
        .arg(&cfg)
        .env("NMT_TEST_PREPARE_DELAY_MS", "5000")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let half_written = || {
        std::fs::read_dir(&run)
            .map(|d| {
                d.flatten().any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(".tmp-prepared-")
                        && e.path().join("manifest.json").exists()
                })
            })
            .unwrap_or(false)
    };
    while !half_written() {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !run.join("prepared").exists(),
        "the half-made data is not where training looks"
    );
    run_ok(
        nmt()
            .args(["train", "--quiet", "--max-steps", "2", "--config"])
            .arg(&cfg),
    );
    assert!(!half_written(), "the leftover was cleaned up");
    assert!(run.join("prepared/manifest.json").exists());
}
