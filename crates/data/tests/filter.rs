//! Length filtering and its report, and the data settings as a config file spells them.

use nmt_data::{
    DataConfig, ParallelText, SplitSpec, TokenizerConfig, TokenizerKind, Vocabularies,
    encode_corpus, require_nonempty,
};

fn text(pairs: &[(&str, &str)]) -> ParallelText {
    ParallelText {
        src: pairs.iter().map(|p| p.0.to_string()).collect(),
        tgt: pairs.iter().map(|p| p.1.to_string()).collect(),
    }
}

fn vocab() -> Vocabularies {
    let corpus = text(&[
        ("a b c d e f g h", "a b c d e f g h"),
        ("the dog", "der Hund"),
    ]);
    Vocabularies::train(
        &corpus,
        &TokenizerConfig {
            vocab_size: 300,
            min_frequency: 1,
            ..TokenizerConfig::default()
        },
    )
    .unwrap()
}

#[test]
fn filters_count_each_reason() {
    let corpus = text(&[
        ("a b", "a b"),                 // kept
        ("", "a"),                      // empty
        ("a b", ""),                    // empty
        ("a b c d e f g h a b c", "a"), // too long (11 > 10)
        ("a b c d e f g h", "a b"),     // ratio 8/2 > 3
        ("a", "a b c d e"),             // ratio 5, but only 5 tokens: kept
        ("a b c d e f g h", "a b c"),   // ratio 8/3 <= 3: kept
    ]);
    let (pairs, stats) = encode_corpus(&corpus, &vocab(), 10, 3.0);
    assert_eq!(
        (
            stats.read,
            stats.empty,
            stats.too_long,
            stats.bad_ratio,
            stats.kept
        ),
        (7, 2, 1, 1, 3)
    );
    assert_eq!(pairs.len(), 3);
    assert_eq!(pairs[0].src.len(), 2);
    assert_eq!(
        stats.to_string(),
        "7 pairs read, 3 kept; dropped 2 empty, 1 longer than 10 tokens, 1 with length ratio above 3"
    );
    require_nonempty(&stats, "training").unwrap();
}

#[test]
fn empty_training_set_says_what_was_removed_and_why() {
    let corpus = text(&[("", "x"), ("a b c d e f g h", "a b c d e f g h")]);
    let (pairs, stats) = encode_corpus(&corpus, &vocab(), 4, 3.0);
    assert!(pairs.is_empty());
    let err = require_nonempty(&stats, "training")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "empty training set after filtering: 2 pairs read, 1 empty, 1 longer than max_len=4 tokens, \
         0 with a length ratio above max_len_ratio=3; check the files or raise max_len / max_len_ratio"
    );
}

#[test]
fn config_reads_from_toml_with_defaults() {
    let cfg: DataConfig = toml::from_str(
        r#"
        src_lang = "en"
        tgt_lang = "de"
        train = "data/quickstart/train"
        valid = { src = "v.en", tgt = "v.de" }
        "#,
    )
    .unwrap();
    assert_eq!(
        cfg.train,
        nmt_data::TrainSplits::One(SplitSpec::Prefix("data/quickstart/train".into()))
    );
    assert_eq!(
        cfg.valid,
        Some(SplitSpec::Files {
            src: "v.en".into(),
            tgt: "v.de".into()
        })
    );
    assert_eq!(cfg.test, None);
    assert_eq!(
        (
            cfg.max_len,
            cfg.max_len_ratio,
            cfg.max_tokens,
            cfg.bucket_pool
        ),
        (128, 3.0, 4096, 100)
    );
    cfg.validate().unwrap();
    let mut expected = DataConfig::new(
        "en",
        "de",
        SplitSpec::Prefix("data/quickstart/train".into()),
    );
    expected.valid = cfg.valid.clone();
    assert_eq!(cfg, expected);

    let err = toml::from_str::<DataConfig>(
        "src_lang = \"en\"\ntgt_lang = \"de\"\ntrain = \"t\"\nmax_lenn = 3",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown field `max_lenn`"), "{err}");

    // A typo inside a split table is an error too, not a silently ignored key.
    assert!(
        toml::from_str::<DataConfig>(
            "src_lang = \"en\"\ntgt_lang = \"de\"\ntrain = { src = \"a\", tgt = \"b\", tg = \"c\" }"
        )
        .is_err()
    );

    let bad = DataConfig {
        max_tokens: 100,
        ..cfg
    };
    let err = bad.validate().unwrap_err().to_string();
    assert!(
        err.starts_with("data.max_tokens = 100: must exceed data.max_len = 128"),
        "{err}"
    );

    let tok: TokenizerConfig = toml::from_str("kind = \"unigram\"").unwrap();
    assert_eq!(tok.kind, TokenizerKind::Unigram);
    assert_eq!(
        (tok.vocab_size, tok.joint, tok.min_frequency),
        (8000, true, 2)
    );
    assert!(toml::from_str::<TokenizerConfig>("kind = \"wordpiece\"").is_err());
}
