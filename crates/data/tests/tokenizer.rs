//! Subword tokenizers: training, saving, loading (ours and Python's), fixed special ids, and
//! exact round trips.

use std::path::{Path, PathBuf};
use std::time::Instant;

use nmt_data::tokenizer::{
    JOINT_TOKENIZER_FILE, RESERVED_IDS, SPECIAL_TOKENS, SRC_TOKENIZER_FILE, TGT_TOKENIZER_FILE,
};
use nmt_data::{
    BOS_ID, EOS_ID, PAD_ID, ParallelText, SubwordTokenizer, TokenizerConfig, TokenizerKind, UNK_ID,
    Vocabularies, read_lines, read_parallel,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tiny() -> ParallelText {
    read_parallel(&fixture("tiny.en"), &fixture("tiny.de")).unwrap()
}

fn config(kind: TokenizerKind, vocab_size: usize) -> TokenizerConfig {
    TokenizerConfig {
        kind,
        vocab_size,
        ..TokenizerConfig::default()
    }
}

/// Text with characters the fixture never shows: they must come back through byte fallback.
const UNSEEN: &str = "Zürich – 50 € ☃ 😀 中文 ñandú";

fn assert_round_trip(tok: &SubwordTokenizer, text: &str) {
    let ids = tok.encode(text);
    assert!(
        !ids.contains(&UNK_ID),
        "{text:?} produced <unk>: {:?}",
        ids.iter().map(|&i| tok.id_to_token(i)).collect::<Vec<_>>()
    );
    assert_eq!(tok.decode(&ids), text, "round trip of {text:?} via {ids:?}");
}

#[test]
fn bpe_and_unigram_train_save_load_and_round_trip() {
    let text = tiny();
    for kind in [TokenizerKind::Bpe, TokenizerKind::Unigram] {
        let vocab = Vocabularies::train(&text, &config(kind, 400)).unwrap();
        assert!(vocab.joint);
        let tok = &vocab.src;
        assert!(tok.vocab_size() <= 400, "{kind:?}: {}", tok.vocab_size());
        for (id, token) in SPECIAL_TOKENS.iter().enumerate() {
            assert_eq!(tok.id_to_token(id as u32), *token, "{kind:?}");
        }
        assert_eq!(tok.id_to_token(4), "<0x00>", "{kind:?}: byte tokens follow");
        assert_eq!(tok.id_to_token(259), "<0xFF>", "{kind:?}");
        for line in text.src.iter().chain(&text.tgt) {
            assert_round_trip(tok, line);
        }
        assert_round_trip(tok, UNSEEN);
        assert_eq!(tok.encode(""), Vec::<u32>::new());
        assert_eq!(tok.decode(&[]), "");

        // Special ids are dropped by decode.
        let mut ids = vec![BOS_ID];
        ids.extend(tok.encode("A dog."));
        ids.extend([EOS_ID, PAD_ID, PAD_ID]);
        assert_eq!(tok.decode(&ids), "A dog.", "{kind:?}");

        let dir = tempfile::tempdir().unwrap();
        vocab.save(dir.path()).unwrap();
        assert!(dir.path().join(JOINT_TOKENIZER_FILE).is_file());
        let loaded = Vocabularies::load(dir.path()).unwrap();
        assert!(loaded.joint);
        for line in text.src.iter().chain(&text.tgt) {
            assert_eq!(loaded.tgt.encode(line), tok.encode(line), "{kind:?}");
        }
        assert_eq!(loaded.src.vocab_size(), tok.vocab_size());
    }
}

#[test]
fn split_punctuation_isolates_punctuation_and_still_round_trips() {
    let text = tiny();
    let pieces = |tok: &SubwordTokenizer, s: &str| -> Vec<String> {
        tok.encode(s).iter().map(|&i| tok.id_to_token(i)).collect()
    };
    // Learned pieces (after the special and byte tokens) that join punctuation and letters.
    let glued_pieces = |tok: &SubwordTokenizer| -> Vec<String> {
        (RESERVED_IDS as u32..tok.vocab_size() as u32)
            .map(|id| tok.id_to_token(id))
            .filter(|p| {
                p.chars().any(|c| c.is_ascii_punctuation()) && p.chars().any(char::is_alphanumeric)
            })
            .collect()
    };
    for kind in [TokenizerKind::Bpe, TokenizerKind::Unigram] {
        let cfg = TokenizerConfig {
            split_punctuation: true,
            ..config(kind, 400)
        };
        let vocab = Vocabularies::train(&text, &cfg).unwrap();
        let tok = &vocab.src;
        assert_eq!(glued_pieces(tok), Vec::<String>::new(), "{kind:?}");
        let dog = pieces(tok, "A dog runs in the grass.");
        assert_eq!(
            dog.last().map(String::as_str),
            Some("."),
            "{kind:?}: {dog:?}"
        );
        for line in text.src.iter().chain(&text.tgt) {
            assert_round_trip(tok, line);
        }
        for s in [UNSEEN, "\"Hi!\" she said -- don't (x).", "...leading"] {
            assert_round_trip(tok, s);
        }
        // The setting lives in tokenizer.json: a loaded tokenizer splits the same way.
        let dir = tempfile::tempdir().unwrap();
        vocab.save(dir.path()).unwrap();
        let loaded = Vocabularies::load(dir.path()).unwrap();
        assert_eq!(
            pieces(&loaded.src, "A dog runs in the grass."),
            dog,
            "{kind:?}"
        );
    }
    // Without the setting, BPE learns pieces such as `.` glued to a word end.
    let plain = Vocabularies::train(&text, &config(TokenizerKind::Bpe, 400)).unwrap();
    assert!(
        !glued_pieces(&plain.src).is_empty(),
        "the fixture should make plain BPE glue punctuation to letters"
    );
}

#[test]
fn literal_special_token_text_stays_text_in_bpe() {
    let vocab = Vocabularies::train(&tiny(), &config(TokenizerKind::Bpe, 400)).unwrap();
    let text = "he wrote <s> and </s> and <pad> <unk> <0x41>";
    let ids = vocab.src.encode(text);
    assert!(ids.iter().all(|&id| id > UNK_ID), "{ids:?}");
    assert_eq!(vocab.src.decode(&ids), text);
}

#[test]
fn separate_vocabularies_save_two_files() {
    let cfg = TokenizerConfig {
        joint: false,
        ..config(TokenizerKind::Bpe, 300)
    };
    let text = tiny();
    let vocab = Vocabularies::train(&text, &cfg).unwrap();
    assert!(!vocab.joint);
    // The English vocabulary has learned English words, the German one German words.
    assert!(vocab.src.encode("the").len() < vocab.tgt.encode("the").len());
    let dir = tempfile::tempdir().unwrap();
    vocab.save(dir.path()).unwrap();
    assert!(dir.path().join(SRC_TOKENIZER_FILE).is_file());
    assert!(dir.path().join(TGT_TOKENIZER_FILE).is_file());
    assert!(!dir.path().join(JOINT_TOKENIZER_FILE).exists());
    let loaded = Vocabularies::load(dir.path()).unwrap();
    assert!(!loaded.joint);
    assert_eq!(
        loaded.src.encode(&text.src[0]),
        vocab.src.encode(&text.src[0])
    );
    assert_eq!(
        loaded.tgt.encode(&text.tgt[0]),
        vocab.tgt.encode(&text.tgt[0])
    );

    std::fs::remove_file(dir.path().join(TGT_TOKENIZER_FILE)).unwrap();
    let err = Vocabularies::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains(TGT_TOKENIZER_FILE), "{err}");
}

#[test]
fn missing_and_broken_tokenizers_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = Vocabularies::load(dir.path()).unwrap_err().to_string();
    assert!(err.starts_with("no tokenizer in "), "{err}");
    for file in [JOINT_TOKENIZER_FILE, SRC_TOKENIZER_FILE, TGT_TOKENIZER_FILE] {
        assert!(err.contains(file), "{err}");
    }

    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{ not json").unwrap();
    let err = SubwordTokenizer::load(&broken).unwrap_err().to_string();
    assert!(err.starts_with("cannot load tokenizer "), "{err}");
    assert!(err.contains("broken.json"), "{err}");

    let err = SubwordTokenizer::load(&dir.path().join("absent.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent.json"), "{err}");

    // A tokenizer whose special tokens are not at 0..4 cannot be used.
    let json = std::fs::read_to_string(fixture("python_bpe_tokenizer.json")).unwrap();
    let swapped = json.replace("\"<s>\"", "\"<bos>\"");
    let path = dir.path().join("swapped.json");
    std::fs::write(&path, swapped).unwrap();
    let err = SubwordTokenizer::load(&path).unwrap_err().to_string();
    assert!(err.contains("\"<s>\" is missing"), "{err}");
    assert!(err.contains("<pad>=0, <s>=1, </s>=2, <unk>=3"), "{err}");
}

#[test]
fn too_small_vocab_size_is_rejected() {
    let err = Vocabularies::train(&tiny(), &config(TokenizerKind::Bpe, 100))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("invalid setting tokenizer.vocab_size = 100: must be more than 260"),
        "{err}"
    );
}

/// A tokenizer.json made by Python `tokenizers` (see fixtures/make_python_tokenizer.py) loads
/// unchanged and gives the same ids as in Python; its padding and post-processor are ignored.
#[test]
fn python_tokenizer_loads_and_matches_python_ids() {
    let tok = SubwordTokenizer::load(&fixture("python_bpe_tokenizer.json")).unwrap();
    assert_eq!(tok.vocab_size(), 300);
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("python_bpe_expected.json")).unwrap(),
    )
    .unwrap();
    for case in expected.as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let ids: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tok.encode(text), ids, "{text}");
        assert_eq!(tok.decode(&ids), case["decoded"].as_str().unwrap());
    }
    // As a configured path it becomes the joint vocabulary.
    let cfg = TokenizerConfig {
        path: Some(fixture("python_bpe_tokenizer.json")),
        ..TokenizerConfig::default()
    };
    let vocab = Vocabularies::train(&ParallelText::default(), &cfg).unwrap();
    assert!(vocab.joint);
    assert_eq!(vocab.tgt.vocab_size(), 300);

    let separate = TokenizerConfig {
        joint: false,
        ..cfg
    };
    let err = Vocabularies::train(&ParallelText::default(), &separate)
        .unwrap_err()
        .to_string();
    assert!(err.contains("set joint = true"), "{err}");
}

fn multi30k_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/multi30k");
    if dir.join("val.de.gz").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "note: {} not found, skipping the Multi30k round-trip test",
            dir.display()
        );
        None
    }
}

/// `decode(encode(line)) == line` for every line of Multi30k val, both languages, with a
/// joint BPE tokenizer of 8000 trained on Multi30k train.
#[test]
fn multi30k_val_round_trips_exactly() {
    let Some(dir) = multi30k_dir() else { return };
    let started = Instant::now();
    let train = read_parallel(&dir.join("train.en.gz"), &dir.join("train.de.gz")).unwrap();
    let vocab = Vocabularies::train(&train, &config(TokenizerKind::Bpe, 8000)).unwrap();
    let trained = started.elapsed();
    let mut checked = 0;
    for lang in ["en", "de"] {
        for line in read_lines(&dir.join(format!("val.{lang}.gz"))).unwrap() {
            assert_round_trip(&vocab.src, &line);
            checked += 1;
        }
    }
    assert_eq!(checked, 2 * 1014);
    eprintln!(
        "Multi30k: tokenizer trained in {:.2?}, {checked} val lines round-tripped in {:.2?} total",
        trained,
        started.elapsed()
    );
}

/// `tokenizer.special_tokens`: each is one id of its own, matched whole wherever it stands,
/// kept through tokenizer.json, decoded back to its text, and within `vocab_size`.
#[test]
fn user_special_tokens_are_never_split_and_survive_tokenizer_json() {
    let lines: Vec<String> = (0..200)
        .map(|i| format!("a small dog number {i} runs to the big house"))
        .collect();
    let cfg = TokenizerConfig {
        vocab_size: 330,
        special_tokens: vec!["<bt>".to_string(), "<2de>".to_string()],
        ..Default::default()
    };
    let tok = SubwordTokenizer::train(lines.iter().map(String::as_str), &cfg).unwrap();
    assert!(tok.vocab_size() <= 330, "{}", tok.vocab_size());
    let plain = SubwordTokenizer::train(
        lines.iter().map(String::as_str),
        &TokenizerConfig {
            vocab_size: 330,
            ..Default::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    tok.save(&path).unwrap();
    let loaded = SubwordTokenizer::load(&path).unwrap();
    for t in [&tok, &loaded] {
        let bt = t.encode("<bt>");
        assert_eq!(bt.len(), 1, "<bt> was split: {bt:?}");
        let de = t.encode("<2de>");
        assert_eq!(de.len(), 1);
        assert_ne!(bt, de);
        let ids = t.encode("<bt> a small dog<2de> runs");
        assert_eq!(ids[0], bt[0]);
        assert!(ids.contains(&de[0]), "{ids:?}");
        assert_eq!(
            t.decode(&t.encode("<bt> a small dog runs")),
            "<bt> a small dog runs"
        );
    }
    assert!(
        plain.encode("<bt>").len() > 1,
        "without the setting the tag is ordinary text"
    );
    let bad = TokenizerConfig {
        special_tokens: vec!["<s>".to_string()],
        ..Default::default()
    };
    let err = SubwordTokenizer::train(lines.iter().map(String::as_str), &bad).unwrap_err();
    assert!(
        err.to_string().contains("tokenizer.special_tokens"),
        "{err}"
    );
}
