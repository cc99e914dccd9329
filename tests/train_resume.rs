//! End-to-end tests of `nmt train`: exact resume, crashes at any moment, config errors.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{nmt, root, run_ok, tiny_config, train_events};

fn latest_state(run: &Path) -> Value {
    let ckpts = run.join("checkpoints");
    let name = std::fs::read_to_string(ckpts.join("latest")).unwrap();
    let text = std::fs::read_to_string(ckpts.join(name.trim()).join("state.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn resumed_training_is_bit_identical_to_an_uninterrupted_run() {
    let straight = tempfile::tempdir().unwrap();
    let cfg = tiny_config(straight.path());
    run_ok(nmt().args(["train", "--quiet", "--config"]).arg(&cfg));
    let want_losses = train_events(&straight.path().join("run"));
    let want = latest_state(&straight.path().join("run"));
    assert_eq!(want_losses.len(), 12);
    assert_eq!(want["step"], 12);

    let split = tempfile::tempdir().unwrap();
    let cfg = tiny_config(split.path());
    run_ok(
        nmt()
            .args(["train", "--quiet", "--max-steps", "6", "--config"])
            .arg(&cfg),
    );
    // A fresh start into the same directory is refused without --resume or --overwrite.
    let refused = nmt()
        .args(["train", "--quiet", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--resume"));
    run_ok(
        nmt()
            .args(["train", "--quiet", "--resume", "--config"])
            .arg(&cfg),
    );
    let got_losses = train_events(&split.path().join("run"));
    let got = latest_state(&split.path().join("run"));

    assert_eq!(got_losses, want_losses, "losses differ step by step");
    assert_eq!(
        got["params_fingerprint"], want["params_fingerprint"],
        "final parameters differ"
    );
    assert_eq!(got["cursor"], want["cursor"], "data position differs");
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn_train(cfg: &Path, env: &[(&str, &str)], max_steps: u64) -> Child {
    let mut cmd = nmt();
    cmd.args([
        "train",
        "--quiet",
        "--max-steps",
        &max_steps.to_string(),
        "--config",
    ])
    .arg(cfg)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn resume_to(cfg: &Path, steps: u64) {
    run_ok(
        nmt()
            .args([
                "train",
                "--quiet",
                "--resume",
                "--max-steps",
                &steps.to_string(),
                "--config",
            ])
            .arg(cfg),
    );
}

#[test]
fn sigkill_during_training_resumes_from_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let run = dir.path().join("run");
    let mut child = spawn_train(&cfg, &[], 100_000);
    wait_for("a second checkpoint", Duration::from_secs(120), || {
        run.join("checkpoints/latest").exists() && latest_state(&run)["step"].as_u64().unwrap() >= 8
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let saved = latest_state(&run)["step"].as_u64().unwrap();
    resume_to(&cfg, saved + 4);
    let steps: Vec<u64> = train_events(&run).iter().map(|(s, _)| *s).collect();
    assert_eq!(
        steps,
        (1..=saved + 4).collect::<Vec<_>>(),
        "log is not one contiguous run"
    );
    assert_eq!(latest_state(&run)["step"].as_u64().unwrap(), saved + 4);
}

#[test]
fn a_kill_while_writing_a_checkpoint_leaves_the_previous_one_usable() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let run = dir.path().join("run");
    // The test hook pauses between writing a checkpoint's files and renaming it into place.
    let mut child = spawn_train(&cfg, &[("NMT_TEST_CHECKPOINT_DELAY_MS", "3000")], 100_000);
    let half_written = || {
        std::fs::read_dir(run.join("checkpoints"))
            .map(|d| {
                d.flatten().any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(".tmp-step-000000008")
                })
            })
            .unwrap_or(false)
    };
    wait_for(
        "the second checkpoint being written",
        Duration::from_secs(120),
        half_written,
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        latest_state(&run)["step"],
        4,
        "latest must still be the complete checkpoint"
    );
    resume_to(&cfg, 10);
    assert_eq!(latest_state(&run)["step"], 10);
    assert!(!half_written(), "the partial checkpoint was not cleaned up");
}

/// The 1-based line of the first line containing `needle`.
fn line_of(path: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    1 + text.lines().position(|l| l.contains(needle)).unwrap()
}

/// Runs `nmt train ARGS --config CFG`, which must fail as a usage error (exit 2, no panic), and
/// returns what it printed on stderr.
fn train_failure(cfg: &Path, args: &[&str]) -> String {
    let out = nmt()
        .arg("train")
        .args(args)
        .arg("--config")
        .arg(cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "nmt train {args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// `train_failure` on the tiny config with `config_text` appended to it.
fn train_err(config_text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(config_text);
    std::fs::write(&cfg, text).unwrap();
    train_failure(&cfg, &["--quiet"])
}

#[test]
fn config_errors_name_the_key_and_line() {
    let err = train_err("\n[extra]\nfoo = 1\n");
    assert!(err.contains("unknown field `extra`"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("max_steps = 12", "max_step = 12");
    std::fs::write(&cfg, text).unwrap();
    let line = format!("line {}", line_of(&cfg, "max_step = 12"));
    let err = train_failure(&cfg, &[]);
    assert!(
        err.contains("unknown field `max_step`") && err.contains(&line),
        "{err}"
    );

    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("max_step = 12", "max_steps = \"twelve\"");
    std::fs::write(&cfg, text).unwrap();
    let err = train_failure(&cfg, &[]);
    assert!(err.contains("invalid type") && err.contains(&line), "{err}");

    let err = train_failure(Path::new("no/such/config.toml"), &[]);
    assert!(err.contains("no/such/config.toml"), "{err}");

    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("max_steps = \"twelve\"", "max_steps = 12");
    std::fs::write(&cfg, text).unwrap();
    let err = train_failure(&cfg, &["--set", "train.nope=3"]);
    assert!(err.contains("nope"), "{err}");

    // Cross-field checks name the fields: a cosine schedule needs a run longer than its warm-up.
    let err = train_failure(
        &cfg,
        &[
            "--set",
            "train.schedule=\"cosine\"",
            "--set",
            "train.warmup_steps=20",
        ],
    );
    assert!(
        err.contains("train.max_steps = 12") && err.contains("train.warmup_steps (20)"),
        "{err}"
    );
    let err = train_failure(&cfg, &["--set", "train.min_lr=1.0"]);
    assert!(
        err.contains("train.min_lr = 1: must be in [0, train.lr"),
        "{err}"
    );
    let err = train_failure(&cfg, &["--set", "decode.coverage_penalty=-0.2"]);
    assert!(
        err.contains("decode.coverage_penalty = -0.2: must be a finite number >= 0"),
        "{err}"
    );

    // A value out of range anywhere is refused before anything runs, naming the key.
    let err = train_failure(&cfg, &["--set", "data.max_len_ratio=0.5"]);
    assert!(
        err.contains("data.max_len_ratio = 0.5: must be at least 1.0"),
        "{err}"
    );

    // A corpus whose sides differ in length names both files and both counts.
    let src = dir.path().join("bad.en");
    let tgt = dir.path().join("bad.de");
    std::fs::write(&src, "a\nb\nc\n").unwrap();
    std::fs::write(&tgt, "x\ny\n").unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!(
            "train = \"{}\"",
            root().join("data/quickstart/train").display()
        ),
        &format!("train = \"{}\"", dir.path().join("bad").display()),
    );
    std::fs::write(&cfg, text).unwrap();
    let err = train_failure(&cfg, &["--quiet"]);
    assert!(
        err.contains("bad.en") && err.contains("bad.de") && err.contains('3') && err.contains('2'),
        "{err}"
    );
}

#[test]
fn sigterm_writes_a_checkpoint_and_says_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let run = dir.path().join("run");
    let child = nmt()
        .args(["train", "--quiet", "--max-steps", "100000", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(
        "training to start logging",
        Duration::from_secs(120),
        || run.join("metrics.jsonl").exists() && train_events(&run).len() >= 5,
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("--resume"), "{err}");
    // The hint repeats the flags that changed the config, not only --set.
    assert!(err.contains(" --set train.max_steps=100000"), "{err}");
    // The checkpoint is the state after the last logged step: nothing trained is lost.
    let last_logged = train_events(&run).last().unwrap().0;
    assert_eq!(latest_state(&run)["step"].as_u64().unwrap(), last_logged);
    resume_to(&cfg, last_logged + 2);
    assert_eq!(
        latest_state(&run)["step"].as_u64().unwrap(),
        last_logged + 2
    );
}

#[test]
fn a_diverging_loss_stops_the_run_and_is_never_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let err = train_failure(
        &cfg,
        &[
            "--quiet",
            "--set",
            "train.lr=1e30",
            "--set",
            "train.clip_norm=0",
            "--set",
            "train.warmup_steps=0",
            "--set",
            "train.checkpoint_every=1",
        ],
    );
    assert!(
        err.contains("at step") && err.contains("without saving"),
        "{err}"
    );
    // Every checkpoint that was written holds finite numbers only.
    let run = dir.path().join("run");
    if run.join("checkpoints/latest").exists() {
        let bad_step = err
            .split("at step ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap();
        assert!(latest_state(&run)["step"].as_u64().unwrap() < bad_step);
    }
}

#[test]
fn a_checkpoint_from_another_model_is_refused_with_the_field_that_differs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    run_ok(
        nmt()
            .args(["train", "--quiet", "--max-steps", "4", "--config"])
            .arg(&cfg),
    );
    let err = train_failure(
        &cfg,
        &[
            "--quiet",
            "--resume",
            "--max-steps",
            "8",
            "--set",
            "model.d_model=64",
        ],
    );
    assert!(
        err.contains("another model")
            && err.contains("model.d_model is 32 in the checkpoint but 64"),
        "{err}"
    );
    // Nothing was lost: the checkpoint still resumes with the right config.
    resume_to(&cfg, 8);
    assert_eq!(latest_state(&dir.path().join("run"))["step"], 8);
}

#[test]
fn averaged_checkpoints_translate_like_any_other() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let run = dir.path().join("run");
    run_ok(
        nmt()
            .args(["train", "--quiet", "--max-steps", "8", "--config"])
            .arg(&cfg),
    );
    let out = run_ok(nmt().args(["average", "--last", "2", "--run"]).arg(&run));
    let averaged = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(averaged.join("state.json")).unwrap())
            .unwrap();
    assert_eq!(state["averaged_from"].as_array().unwrap().len(), 2);
    assert_ne!(
        state["params_fingerprint"],
        latest_state(&run)["params_fingerprint"]
    );
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "My child is young.\n").unwrap();
    let out = run_ok(
        nmt()
            .args(["translate", "--input"])
            .arg(&input)
            .arg("--checkpoint")
            .arg(&averaged)
            .arg("--run")
            .arg(&run),
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
    let out = nmt()
        .args(["average", "--last", "9", "--run"])
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds 2 checkpoint"));
}

#[test]
fn max_hours_stops_on_the_clock_across_sittings_with_a_final_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let run = dir.path().join("run");
    // 0.0005 h = 1.8 s of training: far fewer than the 1,000,000 steps allowed.
    let train = |extra: &[&str]| {
        let out = run_ok(
            nmt()
                .args(["train", "--quiet", "--max-steps", "1000000"])
                .args(["--set", "train.max_hours=0.0005", "--config"])
                .arg(&cfg)
                .args(extra),
        );
        std::fs::read_to_string(run.join("train.log")).unwrap()
            + &String::from_utf8_lossy(&out.stderr)
    };
    let log = train(&[]);
    assert!(log.contains("reached train.max_hours = 0.0005"), "{log}");
    let state = latest_state(&run);
    let step = state["step"].as_u64().unwrap();
    assert!(step > 1 && step < 1_000_000, "stopped at step {step}");
    let elapsed = state["elapsed_s"].as_f64().unwrap();
    assert!(elapsed >= 1.8, "checkpointed after {elapsed} s");
    assert_eq!(
        train_events(&run).last().unwrap().0,
        step,
        "last step not logged"
    );

    // The clock counts across sittings: a resumed run that has already used its hours stops
    // at once, where it was.
    let log = train(&["--resume"]);
    assert!(log.matches("reached train.max_hours").count() >= 2, "{log}");
    assert_eq!(latest_state(&run)["step"].as_u64().unwrap(), step);
}

/// Mixed precision resumes bit for bit too: the f32 master weights, Adam's state and (for f16)
/// the loss scale are all in the checkpoint. A run killed with SIGKILL while writing its
/// second checkpoint, then resumed, logs the same losses and ends with the same parameters as
/// one that was never interrupted.
#[test]
fn bf16_and_f16_runs_killed_mid_checkpoint_resume_bit_for_bit() {
    for precision in ["bf16", "f16"] {
        let with_precision = |dir: &Path| {
            let cfg = tiny_config(dir);
            let text = std::fs::read_to_string(&cfg).unwrap();
            // A short growth window, so that the f16 loss scale changes before and after the
            // kill and a resume that lost it would end with another scale (and other steps).
            let window = if precision == "f16" {
                "loss_scale_window = 3\n"
            } else {
                ""
            };
            let text = text.replace(
                "[train]\n",
                &format!("[train]\nprecision = \"{precision}\"\n{window}"),
            );
            std::fs::write(&cfg, text).unwrap();
            cfg
        };
        let straight = tempfile::tempdir().unwrap();
        let cfg = with_precision(straight.path());
        run_ok(nmt().args(["train", "--quiet", "--config"]).arg(&cfg));
        let want_losses = train_events(&straight.path().join("run"));
        let want = latest_state(&straight.path().join("run"));
        assert_eq!(want["step"], 12, "{precision}");

        let killed = tempfile::tempdir().unwrap();
        let cfg = with_precision(killed.path());
        let run = killed.path().join("run");
        let mut child = spawn_train(&cfg, &[("NMT_TEST_CHECKPOINT_DELAY_MS", "1500")], 12);
        wait_for(
            "the second checkpoint being written",
            Duration::from_secs(120),
            || {
                std::fs::read_dir(run.join("checkpoints")).is_ok_and(|d| {
                    d.flatten().any(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .starts_with(".tmp-step-000000008")
                    })
                })
            },
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert_eq!(latest_state(&run)["step"], 4, "{precision}");
        run_ok(
            nmt()
                .args(["train", "--quiet", "--resume", "--config"])
                .arg(&cfg),
        );
        let got = latest_state(&run);
        assert_eq!(
            train_events(&run),
            want_losses,
            "{precision}: losses differ"
        );
        assert_eq!(
            got["params_fingerprint"], want["params_fingerprint"],
            "{precision}: final parameters differ"
        );
        assert_eq!(got["loss_scale"], want["loss_scale"], "{precision}");
        if precision == "f16" {
            let scale = got["loss_scale"]["scale"].as_f64().unwrap_or(0.0);
            assert!(
                scale > 65536.0,
                "the f16 loss scale should have grown past its initial 65536: {got}"
            );
        }
    }
}
