//! The quick-start path a new user takes, shortened: train on the generated corpus, then
//! translate, evaluate and score with the binary.

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;

mod common;
use common::{nmt, run_ok as ok};

#[test]
fn quickstart_trains_translates_and_scores() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    ok(nmt()
        .args([
            "train",
            "--quiet",
            "--config",
            "configs/quickstart.toml",
            "--max-steps",
            "200",
        ])
        .args([
            "--set",
            "train.valid_every=100",
            "--set",
            "train.log_every=20",
            "--set",
            "train.checkpoint_every=100",
        ])
        .arg("--run-dir")
        .arg(&run));

    let events: Vec<Value> = std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let losses: Vec<f64> = events
        .iter()
        .filter(|e| e["event"] == "train")
        .map(|e| e["train_loss"].as_f64().unwrap())
        .collect();
    assert_eq!(losses.len(), 10);
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    assert!(
        last < 0.6 * first,
        "loss did not fall clearly: {first} -> {last}"
    );
    let valid: Vec<&Value> = events.iter().filter(|e| e["event"] == "valid").collect();
    assert_eq!(valid.len(), 2);
    for key in ["valid_loss", "valid_ppl", "valid_bleu", "valid_chrf"] {
        assert!(valid[1][key].as_f64().is_some(), "{key} missing");
    }
    let test = events
        .iter()
        .find(|e| e["event"] == "test")
        .expect("a test event");
    let test_bleu = test["test_bleu"].as_f64().unwrap();
    assert!(test["test_chrf"].as_f64().unwrap() > 0.0);
    assert!(run.join("test.hyp").exists());
    assert!(run.join("checkpoints/best").exists() && run.join("checkpoints/latest").exists());

    // translate: stdin in, one line out per line in, an empty line stays empty.
    let mut child = nmt()
        .args(["translate", "--run"])
        .arg(&run)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"My child is young.\n\nThe small woman can carry thirty-five dogs.\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[1], "");
    assert!(!lines[0].is_empty() && !lines[2].is_empty());

    // eval (with `--checkpoint` once per name given; none: the default, `best`) prints JSON.
    let eval_json = |checkpoints: &[&str]| -> Value {
        let mut cmd = nmt();
        cmd.args([
            "eval",
            "--json",
            "--src",
            "data/quickstart/test.en",
            "--ref",
            "data/quickstart/test.de",
            "--run",
        ])
        .arg(&run);
        for c in checkpoints {
            cmd.args(["--checkpoint", c]);
        }
        serde_json::from_slice(&ok(&mut cmd).stdout).unwrap()
    };

    // eval reproduces the training run's test score through the same code path.
    let report = eval_json(&[]);
    assert!((report["bleu"].as_f64().unwrap() - test_bleu).abs() < 1e-9);
    assert_eq!(
        report["signature"],
        "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
    );

    // score on the written hypotheses gives the same BLEU again.
    let hyp = PathBuf::from(report["hypotheses"].as_str().unwrap());
    let out = ok(nmt()
        .args([
            "score",
            "--json",
            "--ref",
            "data/quickstart/test.de",
            "--hyp",
        ])
        .arg(&hyp));
    let scored: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((scored["bleu"].as_f64().unwrap() - test_bleu).abs() < 1e-9);

    // (Last: eval below rewrites the hypotheses file scored above.)
    // An ensemble of a checkpoint with itself is that checkpoint (the mean of two equal
    // distributions); an ensemble of two checkpoints decodes and reports both.
    let twice = eval_json(&["best", "best"]);
    assert!((twice["bleu"].as_f64().unwrap() - test_bleu).abs() < 0.5);
    assert_eq!(twice["ensemble"].as_array().unwrap().len(), 2);
    let latest = run.join("checkpoints").join(
        std::fs::read_to_string(run.join("checkpoints/latest"))
            .unwrap()
            .trim(),
    );
    let step_100 = run.join("checkpoints/step-000000100");
    let pair = eval_json(&[latest.to_str().unwrap(), step_100.to_str().unwrap()]);
    assert_eq!(
        pair["ensemble"],
        serde_json::json!([latest.display().to_string(), step_100.display().to_string()])
    );
    assert!(pair["bleu"].as_f64().unwrap() > 0.0);

    // A checkpoint whose tokenizer gives the same ids to other subwords cannot join: the
    // copy below swaps the ids of two vocabulary entries.
    let other = dir.path().join("other-tokenizer");
    std::fs::create_dir(&other).unwrap();
    for entry in std::fs::read_dir(&latest).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, other.join(path.file_name().unwrap())).unwrap();
    }
    let tok_path = other.join("tokenizer.json");
    let mut tok: Value =
        serde_json::from_str(&std::fs::read_to_string(&tok_path).unwrap()).unwrap();
    let vocab = tok["model"]["vocab"].as_object_mut().unwrap();
    let (a, b) = ("<0x61>", "<0x62>");
    let (ia, ib) = (vocab[a].clone(), vocab[b].clone());
    vocab.insert(a.into(), ib);
    vocab.insert(b.into(), ia);
    std::fs::write(&tok_path, tok.to_string()).unwrap();
    // A well-formed checkpoint of another tokenizer, not a damaged one: its manifest is
    // rewritten for the new file.
    let mut manifest = nmt_core::Manifest::read(&other).unwrap();
    manifest.files.insert(
        "tokenizer.json".into(),
        nmt_core::manifest::digest_file(&tok_path).unwrap(),
    );
    manifest.write(&other).unwrap();
    let out = nmt()
        .args(["translate", "--checkpoint", "best", "--checkpoint"])
        .arg(&other)
        .arg("--run")
        .arg(&run)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tokenizers differ") && err.contains("other-tokenizer"),
        "{err}"
    );
}

/// `nmt score --hyp hyp --ref reference` with the default metrics and text output.
fn score(hyp: &std::path::Path, reference: &std::path::Path) -> std::process::Output {
    nmt()
        .args(["score", "--hyp"])
        .arg(hyp)
        .arg("--ref")
        .arg(reference)
        .output()
        .unwrap()
}

#[test]
fn score_refuses_mismatched_line_counts() {
    let dir = tempfile::tempdir().unwrap();
    let hyp = dir.path().join("hyp.txt");
    let reference = dir.path().join("ref.txt");
    std::fs::write(&hyp, "a b c\nd e f\n").unwrap();
    std::fs::write(&reference, "a b c\n").unwrap();
    let out = score(&hyp, &reference);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains('2') && err.contains('1') && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn unknown_device_and_missing_backend_are_clear_errors() {
    let out = nmt()
        .args([
            "train",
            "--config",
            "configs/quickstart.toml",
            "--device",
            "tpu",
            "--print-config",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "print-config does not touch the device"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = nmt()
        .args([
            "train",
            "--config",
            "configs/quickstart.toml",
            "--device",
            "tpu",
            "--run-dir",
        ])
        .arg(dir.path().join("r"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("unknown device \"tpu\""), "{err}");
    if !cfg!(feature = "wgpu") {
        let out = nmt()
            .args([
                "train",
                "--config",
                "configs/quickstart.toml",
                "--device",
                "wgpu",
                "--run-dir",
            ])
            .arg(dir.path().join("r"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--features wgpu"), "{err}");
    }
}

#[test]
fn print_config_fills_in_every_default() {
    let out = ok(nmt().args([
        "train",
        "--config",
        "configs/quickstart.toml",
        "--print-config",
        "--set",
        "train.seed=7",
    ]));
    let text = String::from_utf8(out.stdout).unwrap();
    let resolved: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(resolved["train"]["seed"].as_integer(), Some(7));
    assert_eq!(resolved["train"]["label_smoothing"].as_float(), Some(0.1));
    assert_eq!(resolved["run"]["dir"].as_str(), Some("runs/quickstart"));
    assert_eq!(resolved["model"]["d_model"].as_integer(), Some(128));
}

/// The configs we ship are read with the same strict parser and checks as a user's, so a key
/// renamed in the code (or mistyped in a config) fails here rather than hours into a run.
#[test]
fn every_shipped_config_loads() {
    let mut names = Vec::new();
    for entry in
        std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs")).unwrap()
    {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let out = ok(nmt()
            .arg("train")
            .arg("--config")
            .arg(&path)
            .arg("--print-config"));
        let resolved: toml::Table =
            toml::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            resolved["run"]["dir"].as_str(),
            Some(format!("runs/{stem}").as_str()),
            "{}",
            path.display()
        );
        names.push(stem);
    }
    for expected in ["multi30k-de-en", "multi30k-en-de", "quickstart"] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
}

#[test]
fn score_prints_sacrebleu_lines_each_ending_in_a_newline() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("text.txt");
    std::fs::write(&text, "a small house .\nthe dog runs .\n").unwrap();
    let out = score(&text, &text);
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    // Scripts print their own lines after ours: the last line must be complete. The lines are
    // right-aligned on " = ", as sacreBLEU prints them.
    assert!(printed.ends_with('\n'), "{printed:?}");
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    assert!(
        lines[0].trim_start().starts_with(
            "BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = 100.00"
        ),
        "{printed}"
    );
    assert!(lines[1].trim_start().starts_with("chrF2|") && lines[1].ends_with("= 100.00"));
}
