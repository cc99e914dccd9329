//! `nmt translate` reads its input as a stream: a line written to a pipe that stays open is
//! answered before the pipe closes; windows keep order, empty lines and n-best numbering.
//! Sampled decoding: reproducible for a seed whatever the batching, different across seeds,
//! top-k 1 equal to greedy, n-best from independent samples. Target prefixes are continued.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

mod common;
use common::{nmt, run_ok, tiny_config};

fn tiny_run(dir: &Path) -> PathBuf {
    trained_run(dir, 4)
}

/// The tiny model trained `steps` steps at a high learning rate: 600 give German-like output.
fn trained_run(dir: &Path, steps: u32) -> PathBuf {
    let cfg = tiny_config(dir);
    run_ok(
        nmt()
            .args([
                "train",
                "--quiet",
                "--max-steps",
                &steps.to_string(),
                "--config",
            ])
            .arg(&cfg)
            .args(["--set", "train.lr=5e-3", "--set", "train.warmup_steps=50"])
            .args(["--set", &format!("train.checkpoint_every={steps}")]),
    );
    dir.join("run")
}

fn translate_file(run: &Path, input: &Path, extra: &[&str]) -> String {
    let out = run_ok(
        nmt()
            .args(["translate", "--checkpoint", "latest", "--input"])
            .arg(input)
            .arg("--run")
            .arg(run)
            .args(extra),
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_line_is_answered_before_stdin_closes_and_order_and_empty_lines_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path());
    let lines = [
        "My child is young.",
        "",
        "He finds a man.",
        "The dog sleeps.",
    ];
    let input = dir.path().join("in.txt");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let want: Vec<String> = translate_file(&run, &input, &[])
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(want.len(), 4);
    assert_eq!(want[1], "");

    let mut child = nmt()
        .args(["translate", "--checkpoint", "latest", "--run"])
        .arg(&run)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    writeln!(stdin, "{}", lines[0]).unwrap();
    stdin.flush().unwrap();
    let first = rx.recv_timeout(Duration::from_secs(120));
    assert_eq!(
        first.as_deref().ok(),
        Some(want[0].as_str()),
        "line 1 was not answered while stdin stayed open"
    );
    for line in &lines[1..] {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    let rest: Vec<String> = rx.iter().collect();
    assert!(child.wait().unwrap().success());
    assert_eq!(rest, want[1..], "later lines, in order, empty line kept");
}

#[test]
fn small_windows_give_the_same_output_with_global_nbest_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path());
    let input = dir.path().join("in.txt");
    std::fs::write(
        &input,
        "My child is young.\n\nHe finds a man.\nThe dog sleeps.\nA woman reads.\n",
    )
    .unwrap();
    let nbest = ["--beam", "2", "--nbest", "2"];
    let whole = translate_file(&run, &input, &nbest);
    let windows = translate_file(&run, &input, &[&nbest[..], &["--window", "2"]].concat());
    assert_eq!(whole, windows);
    let numbers: Vec<usize> = windows
        .lines()
        .map(|l| l.split(" ||| ").next().unwrap().parse().unwrap())
        .collect();
    // The empty line has one (empty) translation, the others two each.
    assert_eq!(numbers, [0, 0, 1, 2, 2, 3, 3, 4, 4], "{windows}");
    let refused = nmt()
        .args(["translate", "--window", "0", "--run"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--window"));
}

fn translate_stdout(run: &Path, input: &Path, extra: &[&str]) -> Vec<String> {
    translate_file(run, input, extra)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn sampling_is_reproducible_with_a_seed_differs_across_seeds_and_top1_is_greedy() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained_run(dir.path(), 600);
    let input = dir.path().join("in.txt");
    let text = std::fs::read_to_string(common::root().join("data/quickstart/test.en")).unwrap();
    let lines: Vec<&str> = text.lines().take(40).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();

    let sample =
        |seed: &str| translate_stdout(&run, &input, &["--sampling", "full", "--seed", seed]);
    let a = sample("1");
    assert_eq!(a.len(), 40);
    assert_eq!(a, sample("1"), "the same seed gave other samples");
    // Also with other batching: the draws follow the sentence, not the batch.
    let small_batches = translate_stdout(
        &run,
        &input,
        &["--sampling", "full", "--seed", "1", "--max-tokens", "16"],
    );
    assert_eq!(a, small_batches, "the batching changed the samples");
    let b = sample("2");
    let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert!(
        differ >= 10,
        "seeds 1 and 2 differ on only {differ} of 40 lines"
    );

    let greedy = translate_stdout(&run, &input, &["--beam", "1"]);
    let top1 = translate_stdout(&run, &input, &["--sampling", "topk:1", "--seed", "5"]);
    assert_eq!(top1, greedy, "top-k 1 is greedy");

    // n-best samples: 3 numbered lines per sentence, best first.
    let nbest = translate_stdout(&run, &input, &["--sampling", "topp:0.9", "--nbest", "3"]);
    assert_eq!(nbest.len(), 120);
    for (i, group) in nbest.chunks(3).enumerate() {
        let scores: Vec<f64> = group
            .iter()
            .map(|l| {
                assert!(l.starts_with(&format!("{i} ||| ")), "{l}");
                l.rsplit(" ||| ").next().unwrap().parse().unwrap()
            })
            .collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{group:?}");
    }
    for (args, key) in [
        (["--sampling", "topk:0"], "topk"),
        (["--temperature", "0"], "temperature"),
    ] {
        let out = nmt()
            .args(["translate", "--checkpoint", "latest", "--run"])
            .arg(&run)
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(key),
            "{args:?}"
        );
    }
    let out = nmt()
        .args([
            "translate",
            "--checkpoint",
            "latest",
            "--beam",
            "4",
            "--sampling",
            "full",
        ])
        .arg("--run")
        .arg(&run)
        .output()
        .unwrap();
    assert!(!out.status.success(), "sampling with a beam was accepted");
    assert!(String::from_utf8_lossy(&out.stderr).contains("decode.beam"));
}

#[test]
fn every_translation_begins_with_its_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path());
    let input = dir.path().join("in.txt");
    std::fs::write(
        &input,
        "My child is young.\nHe finds a man.\n\nThe dog sleeps.\n",
    )
    .unwrap();
    let prefixes = dir.path().join("prefixes.txt");
    std::fs::write(&prefixes, "Mein Kind\n\nEin\nDer Hund schläft\n").unwrap();
    let prefix_arg = prefixes.display().to_string();
    for beam in ["1", "3"] {
        let out = translate_stdout(&run, &input, &["--beam", beam, "--prefix", &prefix_arg]);
        assert_eq!(out.len(), 4, "beam {beam}: {out:?}");
        assert!(out[0].starts_with("Mein Kind"), "beam {beam}: {out:?}");
        assert!(
            out[3].starts_with("Der Hund schläft"),
            "beam {beam}: {out:?}"
        );
        assert_eq!(out[2], "", "an empty source stays empty");
    }
    std::fs::write(&prefixes, "Mein Kind\n").unwrap();
    let short = nmt()
        .args([
            "translate",
            "--checkpoint",
            "latest",
            "--prefix",
            &prefix_arg,
            "--input",
        ])
        .arg(&input)
        .arg("--run")
        .arg(&run)
        .output()
        .unwrap();
    assert!(!short.status.success());
    let err = String::from_utf8_lossy(&short.stderr);
    assert!(
        err.contains("prefixes.txt") && err.contains("1 line"),
        "{err}"
    );
}
