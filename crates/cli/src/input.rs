//! The lines `nmt translate` reads, as a stream: a file (plain or .gz) or stdin. Stdin also says
//! whether its next line is already there, so that translate can batch what has arrived and
//! answer an interactive session (or a pipe that writes one line and waits) line by line, while
//! a file or a fast pipe is still translated in full windows.

use std::io::{BufRead, BufReader, Stdin};
use std::path::PathBuf;

use anyhow::{Result, bail};
use nmt_data::{LineStream, normalize_line};

pub enum SourceLines {
    File(LineStream),
    Stdin {
        reader: BufReader<Stdin>,
        buf: Vec<u8>,
        line: usize,
    },
}

impl SourceLines {
    /// `path`, or stdin when there is none.
    pub fn open(path: &Option<PathBuf>) -> Result<Self> {
        Ok(match path {
            Some(p) => Self::File(LineStream::open(p)?),
            None => Self::Stdin {
                reader: BufReader::with_capacity(1 << 16, std::io::stdin()),
                buf: Vec::new(),
                line: 0,
            },
        })
    }

    /// The next cleaned line (as the corpus reader cleans lines), or `None` at the end. Waits
    /// for stdin.
    pub fn next_line(&mut self) -> Result<Option<String>> {
        match self {
            Self::File(lines) => Ok(lines.next().transpose()?),
            Self::Stdin { reader, buf, line } => {
                buf.clear();
                if reader.read_until(b'\n', buf)? == 0 {
                    return Ok(None);
                }
                *line += 1;
                let mut raw: &[u8] = buf;
                if *line == 1 {
                    raw = raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(raw);
                }
                let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
                match std::str::from_utf8(raw) {
                    Ok(text) => Ok(Some(normalize_line(text))),
                    Err(e) => bail!(
                        "stdin: line {line} is not valid UTF-8 (column {})",
                        e.valid_up_to() + 1
                    ),
                }
            }
        }
    }

    /// Whether the next line (or the end) can be read without waiting: always for a file; for
    /// stdin, when bytes are buffered or the descriptor is readable now.
    pub fn ready(&self) -> bool {
        match self {
            Self::File(_) => true,
            Self::Stdin { reader, .. } => !reader.buffer().is_empty() || stdin_readable(),
        }
    }
}

#[cfg(unix)]
fn stdin_readable() -> bool {
    let mut fd = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, a zero timeout; poll only writes `revents`.
    unsafe { libc::poll(&mut fd, 1, 0) > 0 }
}

#[cfg(not(unix))]
fn stdin_readable() -> bool {
    true
}
