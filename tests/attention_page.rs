//! End-to-end test of `nmt attention`: a tiny model trained for a few seconds, the page it
//! writes, and (with NMT_BROWSER_TEST=1) a real headless Chromium opening that page from disk
//! through scripts/browser-test/attention.mjs.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod common;
use common::{nmt, root, run_ok, tiny_config};

/// The JSON blob the page carries.
fn page_json(page: &str) -> Value {
    let start = page
        .find(r#"<script type="application/json" id="attention-data">"#)
        .expect("no data script");
    let body = &page[page[start..].find('>').unwrap() + start + 1..];
    serde_json::from_str(&body[..body.find("</script>").unwrap()]).unwrap()
}

#[test]
fn attention_page_is_self_contained_and_works_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    // Long enough that the attention is no longer uniform.
    run_ok(
        nmt()
            .args([
                "train",
                "--quiet",
                "--max-steps",
                "80",
                "--set",
                "train.checkpoint_every=80",
            ])
            .args([
                "--set",
                "train.lr=3e-3",
                "--set",
                "train.warmup_steps=5",
                "--set",
                "train.accum_steps=1",
            ])
            .arg("--config")
            .arg(&cfg),
    );
    let run = dir.path().join("run");
    let page_path = dir.path().join("attention.html");
    let text = "The small woman can carry thirty-five dogs.";
    let out = run_ok(
        nmt()
            .args([
                "attention",
                "--checkpoint",
                "latest",
                "--text",
                text,
                "--run",
            ])
            .arg(&run)
            .arg("--output")
            .arg(&page_path),
    );
    let translation = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let page = std::fs::read_to_string(&page_path).unwrap();

    // Self-contained: nothing is loaded from anywhere.
    let lower = page.to_ascii_lowercase();
    for bad in [
        "http://",
        "https://",
        "<script src",
        "<link",
        "@import",
        "url(",
        "src=\"//",
        "href=\"//",
    ] {
        assert!(!lower.contains(bad), "the page contains {bad:?}");
    }
    assert_eq!(
        lower.matches("<script").count(),
        2,
        "one data and one code script"
    );

    // The data: the sentence, its subwords and all three attention roles of the one layer.
    let data = page_json(&page);
    assert_eq!(data["source"], text);
    assert_eq!(data["translation"].as_str().unwrap().trim(), translation);
    assert_eq!(data["heads"], 2);
    let src = data["tokens"]["src"].as_array().unwrap();
    let tgt = data["tokens"]["tgt"].as_array().unwrap();
    assert_eq!(src.last().unwrap(), "</s>");
    assert_eq!(tgt.first().unwrap(), "<s>");
    assert_eq!(tgt.last().unwrap(), "</s>");
    let views: Vec<&str> = data["views"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(views, ["cross", "encoder", "decoder"]);
    for view in data["views"].as_array().unwrap() {
        let layers = view["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 1, "{}", view["id"]);
        let rows = if view["rows"]["side"] == "src" {
            src.len()
        } else {
            tgt.len() - 1
        };
        for m in layers[0]["heads"]
            .as_array()
            .unwrap()
            .iter()
            .chain([&layers[0]["average"]])
        {
            let m = m.as_array().unwrap();
            assert_eq!(m.len(), rows, "{}", view["id"]);
            for row in m {
                let sum: f64 = row
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|w| w.as_f64().unwrap())
                    .sum();
                // 4 decimals per weight in the page.
                assert!(
                    (sum - 1.0).abs() < 2e-3,
                    "{}: row sums to {sum}",
                    view["id"]
                );
            }
        }
    }

    if std::env::var("NMT_BROWSER_TEST").as_deref() != Ok("1") {
        eprintln!(
            "browser part skipped: set NMT_BROWSER_TEST=1 (needs chromium and \
             `npm ci --prefix scripts/browser-test`)"
        );
        return;
    }
    let script_dir = root().join("scripts/browser-test");
    assert!(
        script_dir.join("node_modules/playwright-core").exists(),
        "NMT_BROWSER_TEST=1 but playwright-core is not installed: run `npm ci --prefix scripts/browser-test`"
    );
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("attention-page");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("attention.png");
    let _ = std::fs::remove_file(&shot);
    let out = run_ok(
        Command::new("node")
            .arg(script_dir.join("attention.mjs"))
            .arg(&page_path)
            .arg(&shot),
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("browser check passed"), "{said}");
    let png = std::fs::read(&shot).expect("no screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 10_000, "screenshot of {} bytes", png.len());
    eprintln!("{}", said.trim());
}
