//! `nmt score` against the `sacrebleu` command line itself: every run recorded in
//! crates/metrics/tests/fixtures/cli.json (made by scripts/make-sacrebleu-fixtures.py with
//! sacreBLEU 2.6.0) is replayed through the binary with the same flags, and the output must be
//! byte for byte sacreBLEU's, case flags included (`-lc` lowercases BLEU only; chrF has its own
//! `--chrf-lowercase`).

use serde_json::Value;

mod common;
use common::{nmt, root, run_ok};

fn fixture(name: &str) -> Value {
    let path = root().join("crates/metrics/tests/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn lines(v: &Value) -> String {
    let mut text = String::new();
    for line in v.as_array().unwrap() {
        text.push_str(line.as_str().unwrap());
        text.push('\n');
    }
    text
}

/// sacreBLEU's flag -> `nmt score`'s.
fn nmt_flag(flag: &str) -> &str {
    match flag {
        "-tok" => "--tokenize",
        "-lc" => "--lowercase",
        "-s" => "--smooth-method",
        "--chrf-lowercase" | "--chrf-word-order" => flag,
        // A value, e.g. the "intl" after -tok.
        value if !value.starts_with('-') => value,
        other => panic!("no nmt score flag for sacrebleu's {other}"),
    }
}

#[test]
fn score_prints_what_the_sacrebleu_cli_prints() {
    let corpora = fixture("corpora.json");
    let cli = fixture("cli.json");
    let dir = tempfile::tempdir().unwrap();
    let runs = cli["runs"].as_array().unwrap();
    let mut case_flags_seen = (false, false);
    for (i, run) in runs.iter().enumerate() {
        let corpus = &corpora[run["corpus"].as_str().unwrap()];
        let hyp = dir.path().join(format!("{i}.hyp"));
        std::fs::write(&hyp, lines(&corpus["hyps"])).unwrap();
        let mut cmd = nmt();
        cmd.arg("score").arg("--hyp").arg(&hyp);
        let nrefs = run["nrefs"].as_u64().unwrap() as usize;
        for (r, stream) in corpus["refs"].as_array().unwrap()[..nrefs]
            .iter()
            .enumerate()
        {
            let path = dir.path().join(format!("{i}.ref{r}"));
            std::fs::write(&path, lines(stream)).unwrap();
            cmd.arg("--ref").arg(path);
        }
        let args: Vec<&str> = run["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        case_flags_seen.0 |= args == ["-lc"];
        case_flags_seen.1 |= args == ["--chrf-lowercase"];
        cmd.args(args.iter().map(|a| nmt_flag(a)));
        let out = run_ok(&mut cmd);
        let got = String::from_utf8(out.stdout).unwrap();
        let want = run["stdout"].as_str().unwrap();
        assert_eq!(
            got.trim_end_matches('\n'),
            want.trim_end_matches('\n'),
            "sacrebleu {args:?}"
        );
    }
    assert_eq!(
        case_flags_seen,
        (true, true),
        "the fixture covers -lc and --chrf-lowercase on their own"
    );
}
