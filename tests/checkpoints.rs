//! Checkpoints that prove their integrity: every kind of damage to every file of `latest`,
//! `best` and an older checkpoint is detected and named (by `nmt check`, by loading), and
//! `--resume` falls back to the newest intact checkpoint and then ends bit for bit where a run
//! resumed from that checkpoint would.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod common;
use common::{nmt, root, run_ok, tiny_config, train_events};

/// The tiny run of `tests/common`, validated every 4 steps on 20 sentences so that it has a
/// `best`; checkpoints at steps 4, 8 and 12.
fn config(dir: &Path) -> PathBuf {
    let cfg = tiny_config(dir);
    let text = std::fs::read_to_string(&cfg).unwrap();
    let valid = root().join("data/quickstart/valid");
    let text = text
        .replace(
            "max_tokens = 512",
            &format!("max_tokens = 512\nvalid = \"{}\"", valid.display()),
        )
        .replace(
            "valid_every = 0",
            "valid_every = 4\nvalid_max_sentences = 20",
        );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn train(cfg: &Path, extra: &[&str]) -> Output {
    run_ok(
        nmt()
            .args(["train", "--quiet", "--config"])
            .arg(cfg)
            .args(extra),
    )
}

fn state(checkpoint: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(checkpoint.join("state.json")).unwrap()).unwrap()
}

fn pointer(run: &Path, name: &str) -> PathBuf {
    let ckpts = run.join("checkpoints");
    ckpts.join(std::fs::read_to_string(ckpts.join(name)).unwrap().trim())
}

fn step_dir(run: &Path, step: u64) -> PathBuf {
    run.join("checkpoints").join(format!("step-{step:09}"))
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Truncate,
    FlipByte,
    Remove,
}

fn damage(path: &Path, how: Damage) {
    match how {
        Damage::Truncate => {
            let bytes = std::fs::read(path).unwrap();
            std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
        }
        Damage::FlipByte => {
            let mut bytes = std::fs::read(path).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x10;
            std::fs::write(path, bytes).unwrap();
        }
        Damage::Remove => std::fs::remove_file(path).unwrap(),
    }
}

/// A copy of the directory tree `from` at `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn check(run: &Path) -> (Option<i32>, String) {
    let out = nmt().arg("check").arg(run).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn every_damaged_file_is_named_by_check_and_by_loading() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let pristine = dir.path().join("run");
    train(&cfg, &[]);
    let (code, text) = check(&pristine);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(text.matches("intact").count(), 3, "{text}");

    let best_step = state(&pointer(&pristine, "best"))["step"].as_u64().unwrap();
    let latest_step = 12;
    let older = [4, 8]
        .into_iter()
        .find(|&s| s != best_step)
        .expect("an older checkpoint that is not the best");
    let copies = dir.path().join("copies");
    for (which, step) in [
        ("latest", latest_step),
        ("best", best_step),
        ("older", older),
    ] {
        for file in ["model.bpk", "optimizer.bpk", "state.json"] {
            for how in [Damage::Truncate, Damage::FlipByte, Damage::Remove] {
                let case = format!("{which}/{file}/{how:?}");
                let run = copies.join(case.replace('/', "-"));
                copy_tree(&pristine, &run);
                let victim = step_dir(&run, step).join(file);
                damage(&victim, how);
                let (code, text) = check(&run);
                let named = victim.display().to_string();
                assert!(text.contains(&named), "{case}: {text}");
                let said = match how {
                    Damage::Remove => "is missing",
                    _ => "is damaged",
                };
                assert!(text.contains(said), "{case}: {text}");
                let pointed = which != "older" || step == best_step;
                assert_eq!(code, Some(if pointed { 1 } else { 0 }), "{case}: {text}");
                // Loading the checkpoint (translate) stops with the same file named.
                if file != "optimizer.bpk" {
                    let out = nmt()
                        .args(["translate", "--run"])
                        .arg(&run)
                        .arg("--checkpoint")
                        .arg(step_dir(&run, step))
                        .stdin(std::process::Stdio::null())
                        .output()
                        .unwrap();
                    assert_eq!(out.status.code(), Some(2), "{case}");
                    let err = String::from_utf8_lossy(&out.stderr);
                    assert!(err.contains(&named) && err.contains(said), "{case}: {err}");
                }
                std::fs::remove_dir_all(&run).unwrap();
            }
        }
    }
}

#[test]
fn resume_falls_back_to_the_newest_intact_checkpoint_and_ends_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let run = dir.path().join("run");
    train(&cfg, &[]);
    let straight = state(&step_dir(&run, 12));
    let straight_losses = train_events(&run);

    // Each newer checkpoint damaged in another file: step 12's model, and (second round)
    // step 8's state as well, so the run goes back to step 4.
    for (damaged, back_to) in [
        (vec![(12, "model.bpk")], 8u64),
        (vec![(12, "model.bpk"), (8, "state.json")], 4),
    ] {
        let run2 = dir.path().join(format!("run-from-{back_to}"));
        copy_tree(&run, &run2);
        for (step, file) in &damaged {
            damage(&step_dir(&run2, *step).join(file), Damage::FlipByte);
        }
        let text = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace(&run.display().to_string(), &run2.display().to_string());
        let cfg2 = dir.path().join(format!("from-{back_to}.toml"));
        std::fs::write(&cfg2, text).unwrap();
        let out = train(&cfg2, &["--resume"]);
        let err = String::from_utf8_lossy(&out.stderr);
        let lost = 12 - back_to;
        assert!(
            err.contains(&format!(
                "resuming from the newest intact checkpoint, {}",
                step_dir(&run2, back_to).display()
            )) && err.contains(&format!("{lost} step(s) after it are lost")),
            "{err}"
        );
        for (step, file) in &damaged {
            let named = step_dir(&run2, *step).join(file).display().to_string();
            assert!(err.contains(&named), "{err}");
        }
        let resumed = state(&pointer(&run2, "latest"));
        assert_eq!(resumed["step"], 12);
        assert_eq!(
            resumed["params_fingerprint"], straight["params_fingerprint"],
            "the run resumed from step {back_to} does not end where the straight run did"
        );
        assert_eq!(train_events(&run2), straight_losses, "losses differ");
        let (code, text) = check(&run2);
        assert_eq!(
            code,
            Some(0),
            "the re-trained checkpoints are intact: {text}"
        );
    }
}

#[test]
fn resume_from_a_chosen_checkpoint_and_nothing_intact_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let run = dir.path().join("run");
    train(&cfg, &[]);
    let straight = state(&step_dir(&run, 12));
    let run2 = dir.path().join("run2");
    copy_tree(&run, &run2);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(&run.display().to_string(), &run2.display().to_string());
    let cfg2 = dir.path().join("two.toml");
    std::fs::write(&cfg2, text).unwrap();
    train(
        &cfg2,
        &["--resume-from", step_dir(&run2, 4).to_str().unwrap()],
    );
    assert_eq!(
        state(&pointer(&run2, "latest"))["params_fingerprint"],
        straight["params_fingerprint"]
    );

    // A damaged checkpoint chosen by hand is refused, not skipped.
    damage(&step_dir(&run2, 8).join("optimizer.bpk"), Damage::Truncate);
    let out = nmt()
        .args(["train", "--quiet", "--config"])
        .arg(&cfg2)
        .args(["--resume-from", step_dir(&run2, 8).to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("optimizer.bpk is damaged"), "{err}");

    // With every checkpoint damaged there is nothing to resume from: said, with each reason.
    for step in [4, 12] {
        damage(&step_dir(&run2, step).join("model.bpk"), Damage::Remove);
    }
    let out = nmt()
        .args(["train", "--quiet", "--resume", "--config"])
        .arg(&cfg2)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no intact checkpoint"), "{err}");
    assert!(err.contains("model.bpk is missing"), "{err}");
}
