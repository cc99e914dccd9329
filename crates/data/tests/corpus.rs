//! Reading parallel text: cleaning, gzip, and the message of every bad-input case.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use nmt_data::{SplitSpec, normalize_line, read_lines, read_parallel};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn normalize_line_cleans_whitespace_only() {
    assert_eq!(normalize_line("  Ein   Hund\tläuft.\r"), "Ein Hund läuft.");
    assert_eq!(
        normalize_line("\u{feff}A\u{a0}dog\u{2003}runs"),
        "A dog runs"
    );
    assert_eq!(normalize_line("a\u{2581}b"), "a b");
    assert_eq!(normalize_line(" \t "), "");
    // No lowercasing, no Unicode normalisation: "é" as e + combining accent stays so.
    assert_eq!(normalize_line("Ce\u{301}LINE"), "Ce\u{301}LINE");
    let once = normalize_line(" x  y ");
    assert_eq!(normalize_line(&once), once);
}

#[test]
fn bom_crlf_and_whitespace_are_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "a.en",
        b"\xef\xbb\xbfA man  walks.\r\n\tTwo dogs\r\n\r\nlast line",
    );
    assert_eq!(
        read_lines(&path).unwrap(),
        ["A man walks.", "Two dogs", "", "last line"]
    );
    // A final newline does not add a line; a lone newline is one empty line.
    let path = write(dir.path(), "b.en", b"one\ntwo\n");
    assert_eq!(read_lines(&path).unwrap(), ["one", "two"]);
    let path = write(dir.path(), "c.en", b"\n");
    assert_eq!(read_lines(&path).unwrap(), [""]);
    let path = write(dir.path(), "d.en", b"");
    assert!(read_lines(&path).unwrap().is_empty());
}

#[test]
fn gzip_reads_the_same_as_plain() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\u{feff}Ein Hund.\r\nZwei  Katzen\nÄpfel und Öl\n".as_bytes();
    let plain = write(dir.path(), "t.de", text);
    let gz = write(dir.path(), "t.de.gz", &gzip(text));
    assert_eq!(read_lines(&gz).unwrap(), read_lines(&plain).unwrap());
    // Concatenated gzip members (`cat a.gz b.gz`) are read to the end.
    let mut two = gzip(b"first\n");
    two.extend(gzip(b"second\n"));
    let cat = write(dir.path(), "cat.de.gz", &two);
    assert_eq!(read_lines(&cat).unwrap(), ["first", "second"]);
}

#[test]
fn different_line_counts_name_both_files_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let src = write(dir.path(), "train.en", b"a\nb\nc\n");
    let tgt = write(dir.path(), "train.de", b"x\ny\n");
    let err = read_parallel(&src, &tgt).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "parallel files differ in length: {} has 3 lines but {} has 2 lines; \
             line i of one file must translate line i of the other",
            src.display(),
            tgt.display()
        )
    );
}

#[test]
fn invalid_utf8_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.de", b"gut\nauch gut\nschl\xe4cht\n");
    let err = read_lines(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: line 3 is not valid UTF-8 (bad byte at column 5); convert the file to UTF-8",
            path.display()
        )
    );
    // The same inside a gzip file.
    let gz = write(dir.path(), "bad.de.gz", &gzip(b"ok\n\xff\n"));
    let err = read_lines(&gz).unwrap_err().to_string();
    assert!(
        err.contains("bad.de.gz: line 2 is not valid UTF-8"),
        "{err}"
    );
}

#[test]
fn missing_file_names_path_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.en");
    let err = read_lines(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("cannot read {}: ", path.display())),
        "{err}"
    );
    assert!(err.contains("No such file"), "{err}");
}

#[test]
fn corrupt_and_truncated_gzip_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let full = gzip("Ein Hund läuft über die Wiese.\n".repeat(200).as_bytes());
    let truncated = write(dir.path(), "cut.de.gz", &full[..full.len() / 2]);
    let err = read_lines(&truncated).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: corrupt or truncated gzip file (the file ends in the middle of the gzip stream); \
             download or copy it again",
            truncated.display()
        )
    );
    let not_gzip = write(dir.path(), "plain.de.gz", b"this is not gzip\n");
    let err = read_lines(&not_gzip).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}: corrupt or truncated gzip file",
            not_gzip.display()
        )),
        "{err}"
    );
    let mut flipped = full.clone();
    let middle = flipped.len() / 2;
    for b in &mut flipped[middle..middle + 16] {
        *b ^= 0x5a;
    }
    let flipped = write(dir.path(), "flipped.de.gz", &flipped);
    let err = read_lines(&flipped).unwrap_err().to_string();
    assert!(
        err.contains("flipped.de.gz: corrupt or truncated gzip file"),
        "{err}"
    );
}

#[test]
fn split_prefix_resolves_plain_then_gz_and_lists_tried_paths() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "train.en", b"a\n");
    write(dir.path(), "train.de.gz", &gzip(b"b\n"));
    let prefix = dir.path().join("train").display().to_string();
    let (src, tgt) = SplitSpec::Prefix(prefix.clone())
        .resolve("en", "de")
        .unwrap();
    assert_eq!(src, dir.path().join("train.en"));
    assert_eq!(tgt, dir.path().join("train.de.gz"));

    let err = SplitSpec::Prefix(prefix.clone())
        .resolve("en", "fr")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!("missing data file for language \"fr\": tried {prefix}.fr, {prefix}.fr.gz")
    );

    let files = SplitSpec::Files {
        src: dir.path().join("train.en"),
        tgt: dir.path().join("other.de"),
    };
    let err = files.resolve("en", "de").unwrap_err().to_string();
    assert!(err.contains("other.de"), "{err}");
}
