//! `nmt plot` on the committed metrics log in tests/fixtures/plot-run: the image it writes
//! (PNG or SVG by extension, RUN_DIR/curves.png by default) and its errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::nmt;

/// A copy of the fixture run, so the default output lands in a temporary directory.
fn fixture_run(dir: &Path) -> PathBuf {
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plot-run/metrics.jsonl"),
        run.join("metrics.jsonl"),
    )
    .unwrap();
    run
}

fn run(cmd: &mut Command) -> (Output, String) {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, err)
}

#[test]
fn plot_writes_png_by_default_and_svg_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = fixture_run(dir.path());
    let (out, err) = run(nmt().args(["plot", "--run"]).arg(&run_dir));
    assert!(out.status.success(), "{err}");
    let png = std::fs::read(run_dir.join("curves.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 10_000);

    let svg_path = dir.path().join("curves.svg");
    let (out, err) = run(nmt()
        .args(["plot", "--run"])
        .arg(&run_dir)
        .arg("--output")
        .arg(&svg_path));
    assert!(out.status.success(), "{err}");
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    for text in [
        "Loss",
        "Validation BLEU",
        "Learning rate",
        "test BLEU 74.81",
    ] {
        assert!(svg.contains(text), "no {text:?} in the SVG");
    }
}

#[test]
fn plot_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = fixture_run(dir.path());
    let (out, err) = run(nmt()
        .args(["plot", "--run"])
        .arg(&run_dir)
        .args(["--output", "curves.jpg"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains(".jpg") && err.contains(".png or .svg"),
        "{err}"
    );

    std::fs::write(run_dir.join("metrics.jsonl"), "").unwrap();
    let (out, err) = run(nmt().args(["plot", "--run"]).arg(&run_dir));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("metrics.jsonl") && err.contains("no training or validation events"),
        "{err}"
    );
    assert!(!run_dir.join("curves.png").exists());

    let (out, err) = run(nmt()
        .args(["plot", "--run"])
        .arg(dir.path().join("nowhere")));
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("metrics.jsonl"), "{err}");
}
