//! `nmt export`: bad input is a clear error, and a CTranslate2 export translates exactly as nmt
//! does (greedy and beam), run through `ctranslate2` itself when a Python with it is at hand
//! (`NMT_TEST_PYTHON`, else `.venv-ct2/bin/python`, which .ci/run makes); otherwise that test
//! says it was skipped.

mod common;
use common::{nmt, root, run_ok, tiny_config};
use std::path::{Path, PathBuf};

/// A tiny run trained long enough that its translations end with `</s>` on their own.
fn trained_run(dir: &Path) -> PathBuf {
    let cfg = tiny_config(dir);
    run_ok(
        nmt()
            .args(["train", "--quiet", "--max-steps", "600", "--config"])
            .arg(&cfg)
            .args([
                "--set",
                "train.checkpoint_every=600",
                "--set",
                "train.lr=5e-3",
            ])
            .args(["--set", "train.warmup_steps=50"]),
    );
    dir.join("run")
}

fn stderr_of(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "{cmd:?} succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn python_with_ctranslate2() -> Option<String> {
    let candidates = std::env::var("NMT_TEST_PYTHON")
        .ok()
        .into_iter()
        .chain([root().join(".venv-ct2/bin/python").display().to_string()]);
    for python in candidates {
        let ok = std::process::Command::new(&python)
            .args(["-c", "import ctranslate2, safetensors, numpy, tokenizers"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    None
}

#[test]
fn missing_runs_existing_outputs_and_a_python_without_ctranslate2_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-run");
    let err = stderr_of(
        nmt()
            .args(["export", "--format", "safetensors", "--run"])
            .arg(&missing)
            .arg("--output")
            .arg(dir.path().join("out")),
    );
    assert!(err.contains("no-such-run"), "{err}");

    let cfg = tiny_config(dir.path());
    run_ok(
        nmt()
            .args(["train", "--quiet", "--max-steps", "4", "--config"])
            .arg(&cfg),
    );
    let run = dir.path().join("run");
    let taken = dir.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    let err = stderr_of(
        nmt()
            .args([
                "export",
                "--format",
                "safetensors",
                "--checkpoint",
                "latest",
                "--run",
            ])
            .arg(&run)
            .arg("--output")
            .arg(&taken),
    );
    assert!(err.contains("already exists"), "{err}");

    let err = stderr_of(
        nmt()
            .args([
                "export",
                "--format",
                "ctranslate2",
                "--checkpoint",
                "latest",
            ])
            .args(["--python", "/no/such/python", "--run"])
            .arg(&run)
            .arg("--output")
            .arg(dir.path().join("ct2")),
    );
    assert!(err.contains("/no/such/python"), "{err}");
    assert!(!dir.path().join("ct2").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");

    // A file where a checkpoint should be is named.
    let bogus = dir.path().join("bogus-checkpoint");
    std::fs::create_dir(&bogus).unwrap();
    let err = stderr_of(
        nmt()
            .args(["export", "--format", "safetensors", "--run"])
            .arg(&run)
            .arg("--checkpoint")
            .arg(&bogus)
            .arg("--output")
            .arg(dir.path().join("out2")),
    );
    assert!(err.contains("bogus-checkpoint"), "{err}");
}

#[test]
fn ctranslate2_translates_the_exported_model_as_nmt_does() {
    let Some(python) = python_with_ctranslate2() else {
        println!(
            "skipped: no Python with ctranslate2, safetensors, numpy and tokenizers \
             (set NMT_TEST_PYTHON, or make .venv-ct2 as .ci/run does)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = trained_run(dir.path());
    let ct2 = dir.path().join("ct2");
    run_ok(
        nmt()
            .args([
                "export",
                "--format",
                "ctranslate2",
                "--checkpoint",
                "latest",
            ])
            .args(["--python", &python, "--run"])
            .arg(&run)
            .arg("--output")
            .arg(&ct2),
    );
    for name in ["model.bin", "config.json", "tokenizer.json"] {
        assert!(ct2.join(name).is_file(), "{name} missing from the export");
    }
    let input = dir.path().join("in.txt");
    let text = std::fs::read_to_string(root().join("data/quickstart/test.en")).unwrap();
    let lines: Vec<&str> = text.lines().take(60).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    for beam in ["1", "4"] {
        let ours = run_ok(
            nmt()
                .args(["translate", "--checkpoint", "latest", "--lenpen", "0"])
                .args(["--beam", beam, "--input"])
                .arg(&input)
                .arg("--run")
                .arg(&run),
        );
        let ours = String::from_utf8(ours.stdout).unwrap();
        let theirs = run_ok(
            std::process::Command::new(&python)
                .arg(root().join("scripts/ctranslate2_translate.py"))
                .args(["--exact-caps", "--lenpen", "0", "--beam", beam, "--model"])
                .arg(&ct2)
                .arg("--input")
                .arg(&input),
        );
        let theirs = String::from_utf8(theirs.stdout).unwrap();
        let (ours, theirs): (Vec<&str>, Vec<&str>) =
            (ours.lines().collect(), theirs.lines().collect());
        assert_eq!(ours.len(), theirs.len(), "beam {beam}");
        let same = ours.iter().zip(&theirs).filter(|(a, b)| a == b).count();
        let nonempty = ours.iter().filter(|l| l.split(' ').count() >= 3).count();
        assert!(
            nonempty * 2 > ours.len(),
            "the tiny model says too little to compare: {ours:?}"
        );
        println!("beam {beam}: {same} of {} lines identical", ours.len());
        let diffs: Vec<_> = ours
            .iter()
            .zip(&theirs)
            .filter(|(a, b)| a != b)
            .take(3)
            .collect();
        assert!(
            same * 100 >= ours.len() * 98,
            "beam {beam}: {same} of {} lines agree; e.g. {diffs:?}",
            ours.len()
        );
    }
}
