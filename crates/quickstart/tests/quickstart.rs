//! The quick-start corpus: deterministic, the committed files are what the generator writes,
//! and no test or validation sentence occurs in train.

use std::collections::HashSet;
use std::path::Path;

use nmt_data::read_lines;
use nmt_quickstart::{MAX_WORDS, MIN_WORDS, QUICKSTART_SEED, TEST_PAIRS, TRAIN_PAIRS, VALID_PAIRS};
use nmt_quickstart::{generate_quickstart, write_quickstart};

#[test]
fn same_seed_same_corpus_other_seed_other_corpus() {
    let a = generate_quickstart(7);
    assert_eq!(a, generate_quickstart(7));
    assert_ne!(a.train.src, generate_quickstart(8).train.src);
    assert_eq!(a.train.len(), TRAIN_PAIRS);
    assert_eq!(a.valid.len(), VALID_PAIRS);
    assert_eq!(a.test.len(), TEST_PAIRS);
}

#[test]
fn test_and_valid_sentences_are_not_in_train() {
    let corpus = generate_quickstart(QUICKSTART_SEED);
    for side in [
        (&corpus.train.src, &corpus.valid.src, &corpus.test.src),
        (&corpus.train.tgt, &corpus.valid.tgt, &corpus.test.tgt),
    ] {
        let train: HashSet<&String> = side.0.iter().collect();
        assert_eq!(train.len(), TRAIN_PAIRS, "train has duplicates");
        assert!(side.1.iter().all(|s| !train.contains(s)));
        assert!(side.2.iter().all(|s| !train.contains(s)));
        let valid: HashSet<&String> = side.1.iter().collect();
        assert!(side.2.iter().all(|s| !valid.contains(s)));
    }
    for line in corpus.train.src.iter().chain(&corpus.train.tgt) {
        let words = line.split(' ').count();
        assert!((MIN_WORDS..=MAX_WORDS).contains(&words), "{line}");
    }
}

#[test]
fn committed_files_are_what_the_generator_writes() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/quickstart");
    let fresh = tempfile::tempdir().unwrap();
    write_quickstart(fresh.path(), QUICKSTART_SEED).unwrap();
    for split in ["train", "valid", "test"] {
        for lang in ["en", "de"] {
            let name = format!("{split}.{lang}");
            let want = std::fs::read(fresh.path().join(&name)).unwrap();
            let have = std::fs::read(committed.join(&name)).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; regenerate with `nmt gen-quickstart --out data/quickstart`",
                    committed.join(&name).display()
                )
            });
            assert!(
                have == want,
                "data/quickstart/{name} differs from the generator's output; regenerate it"
            );
        }
    }
    // Reading cleans nothing away: the files are already clean.
    let corpus = generate_quickstart(QUICKSTART_SEED);
    assert_eq!(
        read_lines(&committed.join("test.de")).unwrap(),
        corpus.test.tgt
    );
}

/// A few translations checked by hand, so that a change of the grammar is a visible decision.
#[test]
fn german_grammar_samples() {
    let corpus = generate_quickstart(QUICKSTART_SEED);
    let all: Vec<(&String, &String)> = corpus.train.src.iter().zip(&corpus.train.tgt).collect();
    let has = |en: &str, de: &str| {
        all.iter()
            .any(|(s, t)| s.as_str() == en && t.as_str() == de)
    };
    for (en, de) in [
        (
            "Fifty-nine men washed a child because the bird has seen fifty-five cars.",
            "Neunundfünfzig Männer haben ein Kind gewaschen, weil der Vogel fünfundfünfzig Autos gesehen hat.",
        ),
        (
            "Yesterday the old woman saw fifty-three cats.",
            "Gestern hat die alte Frau dreiundfünfzig Katzen gesehen.",
        ),
        (
            "Can the man paint the old chair?",
            "Kann der Mann den alten Stuhl malen?",
        ),
        (
            "One young girl buys two bottles with the old horses.",
            "Ein junges Mädchen kauft zwei Flaschen mit den alten Pferden.",
        ),
        (
            "If one white dog is happy, seventy-three children want to paint the old woman.",
            "Wenn ein weißer Hund glücklich ist, wollen dreiundsiebzig Kinder die alte Frau malen.",
        ),
        (
            "Eleven children think that she has bought eighty-six young dogs.",
            "Elf Kinder glauben, dass sie sechsundachtzig junge Hunde gekauft hat.",
        ),
    ] {
        assert!(has(en, de), "missing: {en} / {de}");
    }
}
