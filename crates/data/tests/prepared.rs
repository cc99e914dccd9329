//! Prepared datasets: ids read back through the memory map equal the tokenizer's own encoding
//! (u16 and u32 ids), a dataset that no longer matches its corpus, tokenizer or filters is
//! refused saying what changed, damaged files are named, and corpus errors still name the file
//! and line.

use std::path::{Path, PathBuf};

use nmt_data::{
    DataConfig, Expected, PairSource, PrepareJob, Prepared, Recipe, SplitSpec, TokenizerConfig,
    Vocabularies, prepare, read_parallel,
};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A small corpus: 200 pairs of the quick-start data, with an empty pair and an over-long one
/// that the filters drop.
fn corpus(dir: &Path) -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/quickstart");
    let text = read_parallel(&root.join("train.en"), &root.join("train.de")).unwrap();
    let mut src: Vec<String> = text.src[..200].to_vec();
    let mut tgt: Vec<String> = text.tgt[..200].to_vec();
    src.insert(50, String::new());
    tgt.insert(50, "leer".into());
    src.insert(100, "lang ".repeat(150));
    tgt.insert(100, "lang ".repeat(150));
    (
        write(dir, "c.en", &(src.join("\n") + "\n")),
        write(dir, "c.de", &(tgt.join("\n") + "\n")),
    )
}

fn job(files: &(PathBuf, PathBuf), tokenizer: TokenizerConfig) -> PrepareJob {
    // A ratio filter no pair here trips, so exactly the empty and the long pair are dropped.
    let data = DataConfig {
        max_len: 120,
        max_len_ratio: 100.0,
        ..DataConfig::new("en", "de", SplitSpec::Prefix("unused".into()))
    };
    PrepareJob {
        recipe: Recipe::new(&data, &tokenizer, 0, 127),
        train_files: vec![files.clone()],
        valid_files: None,
        vocab: None,
        progress: false,
    }
}

fn small_tokenizer() -> TokenizerConfig {
    TokenizerConfig {
        vocab_size: 400,
        ..TokenizerConfig::default()
    }
}

fn expected(job: &PrepareJob) -> Expected<'_> {
    Expected {
        recipe: &job.recipe,
        train_files: &job.train_files,
        valid_files: job.valid_files.as_ref(),
        vocab: None,
    }
}

/// Every kept pair's ids, read through the memory map, are the tokenizer's encoding of the
/// corpus line, in corpus order, and the filters dropped exactly the empty and long pairs.
fn assert_round_trip(prepared: &Prepared, files: &(PathBuf, PathBuf)) {
    let text = read_parallel(&files.0, &files.1).unwrap();
    let vocab = &prepared.vocab;
    let kept: Vec<usize> = (0..text.len()).filter(|&i| i != 50 && i != 100).collect();
    assert_eq!(prepared.train.num_pairs(), kept.len());
    for (k, &i) in kept.iter().enumerate() {
        let (src, tgt) = prepared.train.pair(k);
        assert_eq!(src.to_vec(), vocab.src.encode(&text.src[i]), "pair {k}");
        assert_eq!(tgt.to_vec(), vocab.tgt.encode(&text.tgt[i]), "pair {k}");
        assert_eq!(vocab.tgt.decode(&tgt.to_vec()), text.tgt[i]);
    }
    let stats = &prepared.header.train.stats;
    assert_eq!((stats.read, stats.empty, stats.too_long), (202, 1, 1));
}

#[test]
fn ids_round_trip_as_u16() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let out = dir.path().join("prepared");
    let job = job(&files, small_tokenizer());
    prepare(&job, &out, &mut |_| {}).unwrap();
    let prepared = Prepared::open(&out).unwrap();
    assert_eq!(prepared.header.token_bytes, 2);
    assert_round_trip(&prepared, &files);
    prepared.check(&expected(&job)).unwrap();
}

/// A word-level tokenizer of 70,000 entries: ids past u16.
fn big_tokenizer(dir: &Path, files: &(PathBuf, PathBuf)) -> PathBuf {
    let text = read_parallel(&files.0, &files.1).unwrap();
    let mut vocab = serde_json::Map::new();
    for (i, t) in ["<pad>", "<s>", "</s>", "<unk>"].iter().enumerate() {
        vocab.insert(t.to_string(), i.into());
    }
    for i in 0..70_000 {
        vocab.insert(format!("filler{i}"), (4 + i).into());
    }
    let mut next = 70_004;
    for word in text.src.iter().chain(&text.tgt).flat_map(|l| l.split(' ')) {
        if !word.is_empty() && !vocab.contains_key(word) {
            vocab.insert(word.to_string(), next.into());
            next += 1;
        }
    }
    let json = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}
    });
    write(dir, "big.json", &json.to_string())
}

#[test]
fn ids_round_trip_as_u32() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let tokenizer = TokenizerConfig {
        path: Some(big_tokenizer(dir.path(), &files)),
        ..TokenizerConfig::default()
    };
    let out = dir.path().join("prepared");
    let job = job(&files, tokenizer);
    let header = prepare(&job, &out, &mut |_| {}).unwrap();
    assert_eq!(header.token_bytes, 4);
    let prepared = Prepared::open(&out).unwrap();
    assert!(prepared.vocab.src.vocab_size() > 70_000);
    let text = read_parallel(&files.0, &files.1).unwrap();
    let (src, _) = prepared.train.pair(0);
    let ids = src.to_vec();
    assert!(ids.iter().any(|&id| id > u32::from(u16::MAX)), "{ids:?}");
    assert_eq!(ids, prepared.vocab.src.encode(&text.src[0]));
    prepared.check(&expected(&job)).unwrap();
}

#[test]
fn stale_data_is_refused_saying_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let out = dir.path().join("prepared");
    let job = job(&files, small_tokenizer());
    prepare(&job, &out, &mut |_| {}).unwrap();
    let prepared = Prepared::open(&out).unwrap();
    let stale = |changed: &PrepareJob| prepared.check(&expected(changed)).unwrap_err().to_string();

    let mut filters = job_like(&job);
    filters.recipe.max_len = 30;
    let err = stale(&filters);
    assert!(
        err.contains("data.max_len: 120 when prepared, 30 now"),
        "{err}"
    );
    assert!(err.contains("nmt prepare --config"), "{err}");

    let mut tokenizer = job_like(&job);
    tokenizer.recipe.tokenizer.vocab_size = 500;
    let err = stale(&tokenizer);
    assert!(
        err.contains("tokenizer.vocab_size: 400 when prepared, 500 now"),
        "{err}"
    );

    // The same bytes touched again are still the same corpus; other bytes are not.
    let text = std::fs::read_to_string(&files.0).unwrap();
    std::fs::write(&files.0, &text).unwrap();
    prepared.check(&expected(&job)).unwrap();
    std::fs::write(&files.0, text.replacen("a", "b", 1)).unwrap();
    let err = stale(&job);
    assert!(err.contains("c.en changed since it was prepared"), "{err}");

    // Another tokenizer than the one the data was encoded with (e.g. a checkpoint's).
    let other = Vocabularies::train(
        &read_parallel(&files.0, &files.1).unwrap(),
        &TokenizerConfig {
            vocab_size: 300,
            ..TokenizerConfig::default()
        },
    )
    .unwrap();
    let mut with_vocab = expected(&job);
    with_vocab.vocab = Some(&other);
    let err = prepared.check(&with_vocab).unwrap_err().to_string();
    assert!(
        err.contains("tokenizer is not the one the data was encoded with"),
        "{err}"
    );
}

fn job_like(job: &PrepareJob) -> PrepareJob {
    PrepareJob {
        recipe: job.recipe.clone(),
        train_files: job.train_files.clone(),
        valid_files: job.valid_files.clone(),
        vocab: None,
        progress: false,
    }
}

#[test]
fn damaged_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let out = dir.path().join("prepared");
    prepare(&job(&files, small_tokenizer()), &out, &mut |_| {}).unwrap();
    let pristine = dir.path().join("pristine");
    std::fs::create_dir(&pristine).unwrap();
    for e in std::fs::read_dir(&out).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), pristine.join(e.file_name())).unwrap();
    }
    let restore = || {
        for e in std::fs::read_dir(&pristine).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), out.join(e.file_name())).unwrap();
        }
    };
    for file in [
        "train.src.bin",
        "train.tgt.bin",
        "train.idx",
        "prepared.json",
    ] {
        let path = out.join(file);
        let mut bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = Prepared::open(&out).err().unwrap().to_string();
        assert!(
            err.contains(&path.display().to_string()) && err.contains("is damaged"),
            "{err}"
        );
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = Prepared::open(&out).err().unwrap().to_string();
        assert!(
            err.contains(&path.display().to_string()) && err.contains("checksum"),
            "{err}"
        );
        restore();
        Prepared::open(&out).unwrap();
    }
}

#[test]
fn corpus_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let src = write(dir.path(), "a.en", "one\ntwo\nthree\n");
    let tgt = write(dir.path(), "a.de", "eins\nzwei\n");
    let out = dir.path().join("prepared");
    let err = prepare(
        &job(&(src.clone(), tgt.clone()), small_tokenizer()),
        &out,
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("a.en has 3 lines") && err.contains("a.de has 2 lines"),
        "{err}"
    );
    std::fs::write(&tgt, b"eins\nzw\xffei\ndrei\n").unwrap();
    let err = prepare(&job(&(src, tgt), small_tokenizer()), &out, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("a.de: line 2 is not valid UTF-8"), "{err}");
    assert!(
        !Prepared::exists(&out),
        "nothing half-written is left where training looks"
    );
}
