//! Reading parallel text: plain UTF-8 or gzip (by the `.gz` extension), one sentence a line,
//! cleaned by [`normalize_line`].

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

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
    LineStream::open(path)?.collect()
}

/// Reads the two sides of a parallel corpus and checks that they have as many lines.
pub fn read_parallel(src: &Path, tgt: &Path) -> Result<ParallelText, DataError> {
    let mut text = ParallelText::default();
    for pair in PairStream::open(src, tgt)? {
        let (s, t) = pair?;
        text.src.push(s);
        text.tgt.push(t);
    }
    Ok(text)
}

/// The cleaned lines of one file, read as a stream (plain, or gzip by the `.gz` extension):
/// what [`read_lines`] returns, without holding the file in memory.
pub struct LineStream {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
    /// Lines read so far (the 1-based number of the last one).
    line: usize,
    gzip: bool,
    done: bool,
}

impl LineStream {
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|reason| DataError::Read {
            path: path.to_path_buf(),
            reason,
        })?;
        let gzip = path.extension().is_some_and(|ext| ext == "gz");
        // MultiGzDecoder: a .gz may hold several members back to back (as `cat a.gz b.gz`
        // makes); the single-member decoder would stop silently after the first.
        let reader: Box<dyn BufRead + Send> = if gzip {
            Box::new(BufReader::with_capacity(1 << 16, MultiGzDecoder::new(file)))
        } else {
            Box::new(BufReader::with_capacity(1 << 16, file))
        };
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            buf: Vec::new(),
            line: 0,
            gzip,
            done: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> usize {
        self.line
    }

    fn read_error(&self, e: std::io::Error) -> DataError {
        let read_error = |reason| DataError::Read {
            path: self.path.clone(),
            reason,
        };
        if !self.gzip {
            return read_error(e);
        }
        match e.kind() {
            // A directory or an unreadable file fails on the first read, not on open.
            std::io::ErrorKind::IsADirectory | std::io::ErrorKind::PermissionDenied => {
                read_error(e)
            }
            std::io::ErrorKind::UnexpectedEof => DataError::CorruptGzip {
                path: self.path.clone(),
                reason: "the file ends in the middle of the gzip stream".to_string(),
            },
            _ => DataError::CorruptGzip {
                path: self.path.clone(),
                reason: e.to_string(),
            },
        }
    }
}

impl Iterator for LineStream {
    type Item = Result<String, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.buf.clear();
        match self.reader.read_until(b'\n', &mut self.buf) {
            Ok(0) => {
                self.done = true;
                return None;
            }
            Ok(_) => {}
            Err(e) => {
                self.done = true;
                return Some(Err(self.read_error(e)));
            }
        }
        self.line += 1;
        let mut raw: &[u8] = &self.buf;
        if self.line == 1 {
            raw = raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(raw);
            if raw.is_empty() {
                // A file that holds only a byte-order mark has no lines.
                self.line = 0;
                self.done = true;
                return None;
            }
        }
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        Some(match std::str::from_utf8(raw) {
            Ok(text) => Ok(normalize_line(text)),
            Err(e) => {
                self.done = true;
                Err(DataError::InvalidUtf8 {
                    path: self.path.clone(),
                    line: self.line,
                    column: e.valid_up_to() + 1,
                })
            }
        })
    }
}

/// The two sides of a parallel corpus read in step, as a stream of `(source, target)` lines.
/// When one file ends before the other, the rest of the longer one is counted so that the
/// error names both files and both line counts.
pub struct PairStream {
    src: LineStream,
    tgt: LineStream,
    done: bool,
}

impl PairStream {
    pub fn open(src: &Path, tgt: &Path) -> Result<Self, DataError> {
        Ok(Self {
            src: LineStream::open(src)?,
            tgt: LineStream::open(tgt)?,
            done: false,
        })
    }

    /// Pairs read so far.
    pub fn pairs_read(&self) -> usize {
        self.src.lines_read().min(self.tgt.lines_read())
    }

    fn mismatch(&mut self) -> DataError {
        // Count what is left of each side; a read error there is the one to report.
        for side in [&mut self.src, &mut self.tgt] {
            for line in side.by_ref() {
                if let Err(e) = line {
                    return e;
                }
            }
        }
        DataError::LineCountMismatch {
            src: self.src.path.clone(),
            src_lines: self.src.lines_read(),
            tgt: self.tgt.path.clone(),
            tgt_lines: self.tgt.lines_read(),
        }
    }
}

impl Iterator for PairStream {
    type Item = Result<(String, String), DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match (self.src.next(), self.tgt.next()) {
            (None, None) => None,
            (Some(Err(e)), _) | (_, Some(Err(e))) => Some(Err(e)),
            (Some(Ok(s)), Some(Ok(t))) => return Some(Ok((s, t))),
            (Some(Ok(_)), None) | (None, Some(Ok(_))) => Some(Err(self.mismatch())),
        };
        self.done = true;
        item
    }
}
