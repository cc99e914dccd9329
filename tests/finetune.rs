//! Fine-tuning (`nmt train --init-from`): the child starts from its parent's weights and
//! tokenizer, raises BLEU on the domain it is tuned on, resumes bit for bit like any run, and a
//! parent of another shape is refused with the field named.

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{events, nmt, root, run_ok, tiny_config, train_events};
use nmt_train::Event;

fn latest_state(run: &Path) -> Value {
    let ckpts = run.join("checkpoints");
    let name = std::fs::read_to_string(ckpts.join("latest")).unwrap();
    let text = std::fs::read_to_string(ckpts.join(name.trim()).join("state.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The quick-start pairs whose English holds a compound number ("ninety-eight"): the domain.
fn domain_split(name: &str, dir: &Path) -> PathBuf {
    let en = std::fs::read_to_string(root().join(format!("data/quickstart/{name}.en"))).unwrap();
    let de = std::fs::read_to_string(root().join(format!("data/quickstart/{name}.de"))).unwrap();
    let (mut keep_en, mut keep_de) = (String::new(), String::new());
    for (e, d) in en.lines().zip(de.lines()) {
        if e.contains('-') {
            keep_en.push_str(e);
            keep_en.push('\n');
            keep_de.push_str(d);
            keep_de.push('\n');
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("{name}.en")), keep_en).unwrap();
    std::fs::write(dir.join(format!("{name}.de")), keep_de).unwrap();
    dir.join(name)
}

fn train(cfg: &Path, run: &Path, args: &[&str]) {
    run_ok(
        nmt()
            .args(["train", "--quiet", "--config"])
            .arg(cfg)
            .arg("--run-dir")
            .arg(run)
            .args(["--set", "train.lr=5e-3", "--set", "train.warmup_steps=50"])
            .args(args),
    );
}

fn domain_bleu(run: &Path, test: &Path) -> f64 {
    let out = run_ok(
        nmt()
            .args(["eval", "--json", "--checkpoint", "latest", "--run"])
            .arg(run)
            .arg("--src")
            .arg(test.with_extension("en"))
            .arg("--ref")
            .arg(test.with_extension("de")),
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["bleu"].as_f64().unwrap_or_else(|| panic!("{v}"))
}

#[test]
fn a_fine_tuned_run_starts_from_its_parent_and_learns_the_new_domain() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let parent = dir.path().join("parent");
    train(
        &cfg,
        &parent,
        &["--max-steps", "300", "--set", "train.checkpoint_every=300"],
    );
    let domain = dir.path().join("domain");
    let domain_train = domain_split("train", &domain);
    let domain_test = domain_split("test", &domain);
    let on_domain = format!("data.train={:?}", domain_train.display().to_string());
    let parent_arg = parent.display().to_string();

    // A learning rate far below any weight's precision: one step leaves the weights as they
    // came, so the child's first checkpoint is its parent's weights, bit for bit.
    let frozen = dir.path().join("frozen");
    train(
        &cfg,
        &frozen,
        &[
            "--max-steps",
            "1",
            "--init-from",
            &parent_arg,
            "--set",
            &on_domain,
        ]
        .iter()
        .chain(&[
            "--set",
            "train.lr=1e-30",
            "--set",
            "train.checkpoint_every=1",
        ])
        .copied()
        .collect::<Vec<_>>(),
    );
    assert_eq!(
        latest_state(&frozen)["params_fingerprint"],
        latest_state(&parent)["params_fingerprint"],
        "the child did not start from its parent's weights"
    );
    assert_eq!(
        latest_state(&frozen)["step"],
        1,
        "the step count starts fresh"
    );
    let started = events(&frozen);
    assert!(
        matches!(&started[0], Event::Start(s) if s.init_from.as_deref().is_some_and(|p| p.contains("parent"))),
        "metrics.jsonl does not record the parent: {started:?}"
    );
    let config = std::fs::read_to_string(frozen.join("config.toml")).unwrap();
    assert!(config.contains("init_from"), "{config}");
    // The parent's tokenizer, not a new one trained on the domain.
    assert_eq!(
        std::fs::read(frozen.join("tokenizer.json")).unwrap(),
        std::fs::read(parent.join("tokenizer.json")).unwrap()
    );
    // Its first loss is the trained parent's, far below a fresh model's on the same batch.
    let fresh = dir.path().join("fresh");
    train(&cfg, &fresh, &["--max-steps", "1", "--set", &on_domain]);
    let (child_first, fresh_first) = (train_events(&frozen)[0].1, train_events(&fresh)[0].1);
    assert!(
        child_first < 0.6 * fresh_first,
        "first loss {child_first} vs a fresh model's {fresh_first}"
    );

    // Fine-tuned on the domain: better there than the parent; and split by a resume, the
    // same run bit for bit.
    let tuned = dir.path().join("tuned");
    let tune = |run: &Path, extra: &[&str]| {
        let mut args = vec!["--init-from", &parent_arg, "--set", &on_domain];
        args.extend_from_slice(&["--set", "train.checkpoint_every=100"]);
        args.extend_from_slice(extra);
        train(&cfg, run, &args);
    };
    tune(&tuned, &["--max-steps", "400"]);
    let split = dir.path().join("split");
    tune(&split, &["--max-steps", "200"]);
    tune(&split, &["--max-steps", "400", "--resume"]);
    assert_eq!(
        train_events(&split),
        train_events(&tuned),
        "losses differ after resume"
    );
    assert_eq!(
        latest_state(&split)["params_fingerprint"],
        latest_state(&tuned)["params_fingerprint"]
    );
    let (before, after) = (
        domain_bleu(&parent, &domain_test),
        domain_bleu(&tuned, &domain_test),
    );
    println!("domain BLEU: parent {before:.2}, fine-tuned {after:.2}");
    assert!(
        after > before + 1.0,
        "domain BLEU {before:.2} -> {after:.2}: fine-tuning did not help"
    );

    // A parent of another shape is refused, the field named.
    let out = nmt()
        .args(["train", "--quiet", "--config"])
        .arg(&cfg)
        .arg("--run-dir")
        .arg(dir.path().join("wrong"))
        .args(["--init-from", &parent_arg, "--set", "model.ff_dim=48"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("model.ff_dim"), "{err}");
    let out = nmt()
        .args(["train", "--quiet", "--config"])
        .arg(&cfg)
        .arg("--run-dir")
        .arg(dir.path().join("nowhere"))
        .args(["--init-from", "/no/such/run"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/run"));
}
