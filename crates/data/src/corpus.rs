//! Reading parallel text: plain UTF-8 or gzip (by the `.gz` extension), one sentence a line,
//! cleaned by [`normalize_line`].

use std::fs::File;
use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::DataError;

/// The two sides of a parallel corpus: `src[i]` translates to `tgt[i]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParallelText {
    pub src: Vec<String>,
    pub tgt: Vec<String>,
}

impl ParallelText {
    /// Number of sentence pairs.
    pub fn len(&self) -> usize {
        self.src.len()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.src.is_empty()
    }
}

/// The tokenizer marks word starts with U+2581 (`▁`, SentencePiece's metaspace); a literal
/// one in the text would come back from the tokenizer as a space, so cleaning makes it one.
const METASPACE: char = '\u{2581}';

/// Cleans one line of text so that every later stage sees the same string:
///
/// - a leading byte-order mark (U+FEFF) is removed;
/// - every run of whitespace (anything `char::is_whitespace` accepts: spaces, tabs, CR,
///   no-break and other Unicode spaces, and also `▁` U+2581) becomes one ASCII space;
/// - leading and trailing whitespace is removed.
///
/// Nothing else changes: no lowercasing, no Unicode normalisation, punctuation as is.
/// Cleaning twice gives the same result as cleaning once.
pub fn normalize_line(s: &str) -> String {
    let s = s.strip_prefix('\u{feff}').unwrap_or(s);
    let mut out = String::with_capacity(s.len());
    for word in s
        .split(|c: char| c.is_whitespace() || c == METASPACE)
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Reads a text file as cleaned lines (see [`normalize_line`]); a file ending in `.gz` is
/// decompressed first. A final newline does not start an extra line; `\r\n` line ends count
/// as `\n` (the CR is whitespace to [`normalize_line`]). Empty lines are kept, as empty
/// strings, so that line numbers stay aligned with the other side of a parallel corpus.
pub fn read_lines(path: &Path) -> Result<Vec<String>, DataError> {
    let bytes = read_bytes(path)?;
    let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    // "a\nb\n" is two lines, like "a\nb"; "\n" alone is one empty line.
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, raw)| {
            let text = std::str::from_utf8(raw).map_err(|e| DataError::InvalidUtf8 {
                path: path.to_path_buf(),
                line: i + 1,
                column: e.valid_up_to() + 1,
            })?;
            Ok(normalize_line(text))
        })
        .collect()
}

/// Reads the two sides of a parallel corpus and checks that they have as many lines.
pub fn read_parallel(src: &Path, tgt: &Path) -> Result<ParallelText, DataError> {
    let src_lines = read_lines(src)?;
    let tgt_lines = read_lines(tgt)?;
    if src_lines.len() != tgt_lines.len() {
        return Err(DataError::LineCountMismatch {
            src: src.to_path_buf(),
            src_lines: src_lines.len(),
            tgt: tgt.to_path_buf(),
            tgt_lines: tgt_lines.len(),
        });
    }
    Ok(ParallelText {
        src: src_lines,
        tgt: tgt_lines,
    })
}

/// The whole file as bytes, gunzipped when the name ends in `.gz`.
fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    let read_error = |reason| DataError::Read {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    let is_gzip = path.extension().is_some_and(|ext| ext == "gz");
    if is_gzip {
        // MultiGzDecoder: a .gz may hold several members back to back (as `cat a.gz b.gz`
        // makes); the single-member decoder would stop silently after the first.
        MultiGzDecoder::new(file)
            .read_to_end(&mut bytes)
            .map_err(|e| match e.kind() {
                // A directory or an unreadable file fails on the first read, not on open.
                std::io::ErrorKind::IsADirectory | std::io::ErrorKind::PermissionDenied => {
                    read_error(e)
                }
                std::io::ErrorKind::UnexpectedEof => DataError::CorruptGzip {
                    path: path.to_path_buf(),
                    reason: "the file ends in the middle of the gzip stream".to_string(),
                },
                _ => DataError::CorruptGzip {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                },
            })?;
    } else {
        file.read_to_end(&mut bytes).map_err(read_error)?;
    }
    Ok(bytes)
}
