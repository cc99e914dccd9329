//! Parity with the real sacreBLEU 2.6.0. The fixtures under `tests/fixtures/`
//! are written by `scripts/make-sacrebleu-fixtures.py`, which runs sacreBLEU
//! itself. The few literal strings in the smaller tests below were also
//! printed by sacreBLEU 2.6.0.

use nmt_metrics::{
    BleuConfig, ChrfConfig, MetricError, ScoreReport, Smoothing, Tokenize, corpus_bleu, corpus_chrf,
};
use serde_json::Value;

/// Figures built only from IEEE-754 arithmetic on integers (precisions,
/// ratio, chrF) must be bit-identical to sacreBLEU's. Those that go through
/// `exp`/`ln` (BLEU score, BP) depend on the platform's libm, which Python and
/// Rust share on one machine but not necessarily across machines: allow a
/// relative 1e-12, still far inside the 0.01 that two printed decimals need.
const LIBM_TOL: f64 = 1e-12;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// The hypotheses and the first `nrefs` reference streams of a named corpus.
fn corpus(corpora: &Value, name: &str, nrefs: usize) -> (Vec<String>, Vec<Vec<String>>) {
    let c = &corpora[name];
    assert!(c.is_object(), "corpus {name} missing from corpora.json");
    let refs = c["refs"].as_array().unwrap()[..nrefs]
        .iter()
        .map(strings)
        .collect();
    (strings(&c["hyps"]), refs)
}

/// A float the script stored as Python's repr string. `str::parse` rounds
/// correctly (serde_json's default float parser may be one ulp off), so this
/// is exactly sacreBLEU's value.
fn exact(v: &Value) -> f64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("expected a float string, got {v}"));
    s.parse().unwrap()
}

fn close(ours: f64, theirs: f64) -> bool {
    (ours - theirs).abs() <= LIBM_TOL * theirs.abs().max(1.0)
}

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

fn bleu_config(cfg: &Value) -> BleuConfig {
    BleuConfig {
        tokenize: cfg["tokenize"].as_str().unwrap().parse().unwrap(),
        lowercase: cfg["lowercase"].as_bool().unwrap(),
        smooth: cfg["smooth_method"].as_str().unwrap().parse().unwrap(),
        smooth_value: cfg["smooth_value"].as_f64(),
        effective_order: cfg["effective_order"].as_bool().unwrap(),
    }
}

fn chrf_config(cfg: &Value) -> ChrfConfig {
    ChrfConfig {
        char_order: cfg["char_order"].as_u64().unwrap() as usize,
        word_order: cfg["word_order"].as_u64().unwrap() as usize,
        beta: cfg["beta"].as_f64().unwrap(),
        lowercase: cfg["lowercase"].as_bool().unwrap(),
        whitespace: cfg["whitespace"].as_bool().unwrap(),
    }
}

#[test]
fn bleu_matches_sacrebleu() {
    let corpora = fixture("corpora.json");
    let cases = fixture("bleu.json");
    let mut failures = Vec::new();
    let cases = cases["cases"].as_array().unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (hyps, refs) = corpus(
            &corpora,
            case["corpus"].as_str().unwrap(),
            case["nrefs"].as_u64().unwrap() as usize,
        );
        let cfg = bleu_config(&case["config"]);
        let ours = corpus_bleu(&hyps, &refs, &cfg).unwrap();
        let exp = &case["expected"];

        // sacreBLEU's add-k adds k in place to the counts and totals it
        // reports for orders 2-4 (when anything matched); ours stay raw.
        let mut counts = u64s(&exp["counts"]);
        let mut totals = u64s(&exp["totals"]);
        if cfg.smooth == Smoothing::AddK && ours.counts.iter().any(|&c| c > 0) {
            let k = cfg.smooth_value.unwrap_or(1.0) as u64;
            for n in 1..counts.len() {
                counts[n] -= k;
                totals[n] -= k;
            }
        }
        let precisions: Vec<f64> = exp["precisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(exact)
            .collect();
        let checks = [
            ("score", close(ours.score, exact(&exp["score"]))),
            ("counts", ours.counts[..] == counts[..]),
            ("totals", ours.totals[..] == totals[..]),
            ("precisions", ours.precisions[..] == precisions[..]),
            ("bp", close(ours.bp, exact(&exp["bp"]))),
            ("ratio", ours.ratio == exact(&exp["ratio"])),
            ("sys_len", ours.sys_len == exp["sys_len"].as_u64().unwrap()),
            ("ref_len", ours.ref_len == exp["ref_len"].as_u64().unwrap()),
            (
                "signature",
                ours.signature() == exp["signature"].as_str().unwrap(),
            ),
            (
                "formatted",
                ours.to_string() == exp["formatted"].as_str().unwrap(),
            ),
        ];
        for (what, ok) in checks {
            if !ok {
                failures.push(format!("{name}: {what} differs\n  ours: {ours}\n        {}\n        counts {:?} totals {:?}\n  sacreBLEU: {}\n        {}\n        counts {} totals {}",
                    ours.signature(), ours.counts, ours.totals, exp["formatted"], exp["signature"], exp["counts"], exp["totals"]));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} BLEU cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn chrf_matches_sacrebleu() {
    let corpora = fixture("corpora.json");
    let cases = fixture("chrf.json");
    let mut failures = Vec::new();
    let cases = cases["cases"].as_array().unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (hyps, refs) = corpus(
            &corpora,
            case["corpus"].as_str().unwrap(),
            case["nrefs"].as_u64().unwrap() as usize,
        );
        let ours = corpus_chrf(&hyps, &refs, &chrf_config(&case["config"])).unwrap();
        let exp = &case["expected"];
        let checks = [
            ("score", ours.score == exact(&exp["score"])),
            (
                "signature",
                ours.signature() == exp["signature"].as_str().unwrap(),
            ),
            (
                "formatted",
                ours.to_string() == exp["formatted"].as_str().unwrap(),
            ),
        ];
        for (what, ok) in checks {
            if !ok {
                failures.push(format!(
                    "{name}: {what} differs\n  ours:      {ours} ({}) {}\n  sacreBLEU: {} ({}) {}",
                    ours.score,
                    ours.signature(),
                    exp["formatted"],
                    exp["score"],
                    exp["signature"]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} chrF cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn tokenizers_match_sacrebleu() {
    let cases = fixture("tokenizers.json");
    let mut failures = Vec::new();
    for case in cases["cases"].as_array().unwrap() {
        let input = case["input"].as_str().unwrap();
        for tok in [
            Tokenize::Thirteen,
            Tokenize::Intl,
            Tokenize::None,
            Tokenize::Char,
        ] {
            let expected = case["tokenized"][tok.name()].as_str().unwrap();
            let ours = tok.tokenize(input);
            if ours != expected {
                failures.push(format!(
                    "{tok} on {input:?}:\n  ours:      {ours:?}\n  sacreBLEU: {expected:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn report_text_matches_sacrebleu_cli() {
    let corpora = fixture("corpora.json");
    let cli = fixture("cli.json");
    for run in cli["runs"].as_array().unwrap() {
        let (hyps, refs) = corpus(
            &corpora,
            run["corpus"].as_str().unwrap(),
            run["nrefs"].as_u64().unwrap() as usize,
        );
        // The CLI rstrip()s every line it reads; these corpora have no
        // characters where Rust's and Python's whitespace differ.
        let hyps: Vec<String> = hyps.iter().map(|h| h.trim_end().to_string()).collect();
        let refs: Vec<Vec<String>> = refs
            .iter()
            .map(|s| s.iter().map(|r| r.trim_end().to_string()).collect())
            .collect();
        let args = strings(&run["args"]);
        let arg = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .map(|i| args[i + 1].clone())
        };
        let bleu_cfg = BleuConfig {
            tokenize: arg("-tok").map_or(Tokenize::Thirteen, |t| t.parse().unwrap()),
            lowercase: args.iter().any(|a| a == "-lc"),
            smooth: arg("-s").map_or(Smoothing::Exp, |s| s.parse().unwrap()),
            ..BleuConfig::default()
        };
        // `-lc` is BLEU's alone; chrF has its own `--chrf-lowercase`.
        let chrf_cfg = ChrfConfig {
            word_order: arg("--chrf-word-order").map_or(0, |n| n.parse().unwrap()),
            lowercase: args.iter().any(|a| a == "--chrf-lowercase"),
            ..ChrfConfig::default()
        };
        let report = ScoreReport {
            bleu: Some(corpus_bleu(&hyps, &refs, &bleu_cfg).unwrap()),
            chrf: Some(corpus_chrf(&hyps, &refs, &chrf_cfg).unwrap()),
        };
        assert_eq!(
            report.to_text(),
            run["stdout"].as_str().unwrap().trim_end_matches('\n'),
            "args {args:?}"
        );
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn line_count_mismatch_names_both_counts_and_the_reference() {
    let hyps = s(&["a", "b", "c"]);
    let refs = vec![s(&["a", "b", "c"]), s(&["a", "b"])];
    for err in [
        corpus_bleu(&hyps, &refs, &BleuConfig::default()).unwrap_err(),
        corpus_chrf(&hyps, &refs, &ChrfConfig::default()).unwrap_err(),
    ] {
        assert!(matches!(
            err,
            MetricError::LineCountMismatch {
                reference: 2,
                hyp_lines: 3,
                ref_lines: 2
            }
        ));
        let msg = err.to_string();
        assert!(
            msg.contains("3 lines") && msg.contains("reference 2 has 2 lines"),
            "{msg}"
        );
    }
}

#[test]
fn zero_references_is_an_error() {
    let hyps = s(&["a"]);
    assert!(matches!(
        corpus_bleu(&hyps, &[], &BleuConfig::default()),
        Err(MetricError::NoReferences)
    ));
    assert!(matches!(
        corpus_chrf(&hyps, &[], &ChrfConfig::default()),
        Err(MetricError::NoReferences)
    ));
}

#[test]
fn empty_inputs() {
    // No segments at all: sacreBLEU cannot score that either.
    let err = corpus_bleu(&[], &[vec![]], &BleuConfig::default()).unwrap_err();
    assert!(matches!(err, MetricError::EmptyHypotheses), "{err}");
    assert!(corpus_chrf(&[], &[vec![]], &ChrfConfig::default()).is_err());

    // Empty lines are ordinary segments (the fixtures cover them against
    // sacreBLEU); an all-empty corpus scores 0 without dividing by zero.
    let empty = s(&["", "  "]);
    let refs = vec![empty.clone()];
    let bleu = corpus_bleu(&empty, &refs, &BleuConfig::default()).unwrap();
    assert_eq!(
        bleu.to_string(),
        "BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 1.000 ratio = 0.000 hyp_len = 0 ref_len = 0)"
    );
    let chrf = corpus_chrf(&empty, &refs, &ChrfConfig::default()).unwrap();
    assert_eq!(chrf.to_string(), "chrF2 = 0.00");
}

#[test]
fn defaults_are_sacrebleus() {
    let hyps = s(&["The cat sat on the mat."]);
    let refs = vec![s(&["The cat is on the mat."])];
    let bleu = corpus_bleu(&hyps, &refs, &BleuConfig::default()).unwrap();
    assert_eq!(
        bleu.signature(),
        "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
    );
    let chrf = corpus_chrf(&hyps, &refs, &ChrfConfig::default()).unwrap();
    assert_eq!(
        chrf.signature(),
        "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0"
    );
    assert_eq!(chrf.name(), "chrF2");
}

#[test]
fn report_json_has_the_cli_keys() {
    let hyps = s(&["The cat sat on the mat."]);
    let refs = vec![s(&["The cat is on the mat."])];
    let report = ScoreReport {
        bleu: Some(corpus_bleu(&hyps, &refs, &BleuConfig::default()).unwrap()),
        chrf: Some(corpus_chrf(&hyps, &refs, &ChrfConfig::default()).unwrap()),
    };
    let json = report.to_json();
    for key in [
        "bleu",
        "chrf",
        "precisions",
        "bp",
        "ratio",
        "sys_len",
        "ref_len",
        "signature",
        "chrf_signature",
    ] {
        assert!(!json[key].is_null(), "{key} missing in {json}");
    }
    assert_eq!(json["sys_len"], 7);
    let only_chrf = ScoreReport {
        bleu: None,
        chrf: report.chrf.clone(),
    };
    assert!(only_chrf.to_json()["bleu"].is_null());
    // sacreBLEU 2.6.0 gives `chrF2 = 67.17` for this pair.
    assert_eq!(
        only_chrf.to_text(),
        "chrF2|nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0 = 67.17"
    );
}

/// Guards the fixtures themselves: regenerating them must keep every
/// configuration the brief asks to be checked against sacreBLEU.
#[test]
fn fixtures_cover_every_option() {
    let bleu = fixture("bleu.json");
    let configs: Vec<(BleuConfig, u64)> = bleu["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (bleu_config(&c["config"]), c["nrefs"].as_u64().unwrap()))
        .collect();
    for tok in [
        Tokenize::Thirteen,
        Tokenize::Intl,
        Tokenize::None,
        Tokenize::Char,
    ] {
        for lc in [false, true] {
            for nrefs in [1, 2] {
                assert!(
                    configs
                        .iter()
                        .any(|(c, n)| c.tokenize == tok && c.lowercase == lc && *n == nrefs),
                    "{tok} lc={lc} nrefs={nrefs}"
                );
            }
        }
    }
    let smoothings = [
        Smoothing::Exp,
        Smoothing::Floor,
        Smoothing::AddK,
        Smoothing::None,
    ];
    for smooth in smoothings {
        assert!(configs.iter().any(|(c, _)| c.smooth == smooth), "{smooth}");
    }
    for smooth in [Smoothing::Floor, Smoothing::AddK] {
        let with_value = configs
            .iter()
            .any(|(c, _)| c.smooth == smooth && c.smooth_value.is_some());
        assert!(with_value, "{smooth} with a value");
    }
    assert!(configs.iter().any(|(c, _)| c.effective_order));
    let chrf = fixture("chrf.json");
    let chrf: Vec<ChrfConfig> = chrf["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| chrf_config(&c["config"]))
        .collect();
    for (nw, lc, ws) in [
        (0, false, false),
        (2, false, false),
        (0, true, false),
        (2, true, true),
    ] {
        assert!(
            chrf.iter()
                .any(|c| c.word_order == nw && c.lowercase == lc && c.whitespace == ws)
        );
    }
}
