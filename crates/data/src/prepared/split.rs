//! One prepared split on disk, memory-mapped: `NAME.src.bin` and `NAME.tgt.bin` hold every
//! kept pair's token ids back to back (little-endian u16 when the vocabulary fits, else u32),
//! `NAME.idx` the offsets: `pairs + 1` u64 into the source file, then `pairs + 1` into the
//! target file (in ids, not bytes). Pair `i`'s source is `src[idx[i]..idx[i + 1]]`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::DataError;
use crate::pairs::{PairSource, Tokens};

/// File names of split `name` in a prepared directory.
pub(crate) fn split_files(name: &str) -> [String; 3] {
    [
        format!("{name}.src.bin"),
        format!("{name}.tgt.bin"),
        format!("{name}.idx"),
    ]
}

/// Bytes of a memory-mapped file, or nothing for an empty one (which cannot be mapped).
enum Bytes {
    Mapped(Mmap),
    Empty,
}

impl Bytes {
    fn open(path: &Path) -> Result<Self, DataError> {
        let read_error = |reason| DataError::Read {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(read_error)?;
        if file.metadata().map_err(read_error)?.len() == 0 {
            return Ok(Bytes::Empty);
        }
        // SAFETY: the file is only read, and a prepared directory is never written in place
        // (a new one is written beside it and renamed). Another program truncating it while
        // we run could still fault; that is the usual caveat of memory maps.
        let map = unsafe { Mmap::map(&file) }.map_err(read_error)?;
        Ok(Bytes::Mapped(map))
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Empty => &[],
        }
    }
}

/// A prepared split, read through memory maps: the process's own memory does not grow with
/// the corpus.
pub struct PreparedSplit {
    src: Bytes,
    tgt: Bytes,
    index: Bytes,
    pairs: usize,
    /// Bytes per id: 2 or 4.
    width: usize,
}

impl PreparedSplit {
    /// Maps split `name` of `dir` and checks that its files fit together: `pairs + 1`
    /// increasing offsets per side, the last one at the end of its token file.
    pub(crate) fn open(
        dir: &Path,
        name: &str,
        pairs: usize,
        width: usize,
    ) -> Result<Self, DataError> {
        if cfg!(target_endian = "big") {
            return Err(DataError::PreparedCorrupt {
                path: dir.to_path_buf(),
                reason: "prepared data is little-endian; this machine is big-endian".into(),
            });
        }
        let [src, tgt, idx] = split_files(name).map(|f| dir.join(f));
        let split = Self {
            src: Bytes::open(&src)?,
            tgt: Bytes::open(&tgt)?,
            index: Bytes::open(&idx)?,
            pairs,
            width,
        };
        let corrupt = |path: &PathBuf, reason: String| DataError::PreparedCorrupt {
            path: path.clone(),
            reason,
        };
        if split.index.as_slice().len() != 2 * (pairs + 1) * 8 {
            return Err(corrupt(
                &idx,
                format!(
                    "{} bytes where {pairs} pairs need {}",
                    split.index.as_slice().len(),
                    2 * (pairs + 1) * 8
                ),
            ));
        }
        for (side, path, bytes) in [(0, &src, &split.src), (1, &tgt, &split.tgt)] {
            let offsets = split.offsets(side);
            let len = bytes.as_slice().len();
            if offsets[0] != 0
                || offsets.windows(2).any(|w| w[0] > w[1])
                || offsets[pairs] as usize * width != len
            {
                return Err(corrupt(
                    path,
                    format!(
                        "its offsets in {} do not fit its {len} bytes",
                        idx.display()
                    ),
                ));
            }
        }
        Ok(split)
    }

    /// Offsets of side 0 (source) or 1 (target), `pairs + 1` of them.
    fn offsets(&self, side: usize) -> &[u64] {
        let all: &[u64] = bytemuck::cast_slice(self.index.as_slice());
        &all[side * (self.pairs + 1)..(side + 1) * (self.pairs + 1)]
    }

    fn tokens<'a>(&'a self, bytes: &'a Bytes, side: usize, i: usize) -> Tokens<'a> {
        let offsets = self.offsets(side);
        let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
        let bytes = &bytes.as_slice()[start * self.width..end * self.width];
        match self.width {
            2 => Tokens::U16(bytemuck::cast_slice(bytes)),
            _ => Tokens::U32(bytemuck::cast_slice(bytes)),
        }
    }
}

impl PairSource for PreparedSplit {
    fn num_pairs(&self) -> usize {
        self.pairs
    }

    fn pair(&self, i: usize) -> (Tokens<'_>, Tokens<'_>) {
        assert!(i < self.pairs, "pair {i} of {}", self.pairs);
        (self.tokens(&self.src, 0, i), self.tokens(&self.tgt, 1, i))
    }
}

/// Writes a split as it is encoded: ids appended to the two token files, offsets kept until
/// [`Self::finish`] writes the index.
pub(crate) struct SplitWriter {
    src: BufWriter<File>,
    tgt: BufWriter<File>,
    index_path: PathBuf,
    paths: [PathBuf; 2],
    offsets: [Vec<u64>; 2],
    width: usize,
}

impl SplitWriter {
    pub(crate) fn create(dir: &Path, name: &str, width: usize) -> Result<Self, DataError> {
        let [src, tgt, idx] = split_files(name).map(|f| dir.join(f));
        let create = |path: &PathBuf| {
            File::create(path)
                .map(|f| BufWriter::with_capacity(1 << 20, f))
                .map_err(|reason| DataError::Write {
                    path: path.clone(),
                    reason,
                })
        };
        Ok(Self {
            src: create(&src)?,
            tgt: create(&tgt)?,
            index_path: idx,
            paths: [src, tgt],
            offsets: [vec![0], vec![0]],
            width,
        })
    }

    /// Appends one pair.
    pub(crate) fn push(&mut self, src: &[u32], tgt: &[u32]) -> Result<(), DataError> {
        for (side, ids) in [src, tgt].into_iter().enumerate() {
            let out = if side == 0 {
                &mut self.src
            } else {
                &mut self.tgt
            };
            let result = if self.width == 2 {
                ids.iter()
                    .try_for_each(|&id| out.write_all(&(id as u16).to_le_bytes()))
            } else {
                ids.iter()
                    .try_for_each(|&id| out.write_all(&id.to_le_bytes()))
            };
            result.map_err(|reason| DataError::Write {
                path: self.paths[side].clone(),
                reason,
            })?;
            let last = *self.offsets[side].last().expect("starts with 0");
            self.offsets[side].push(last + ids.len() as u64);
        }
        Ok(())
    }

    /// Pairs written so far.
    pub(crate) fn pairs(&self) -> usize {
        self.offsets[0].len() - 1
    }

    /// Ids written so far, per side.
    pub(crate) fn tokens(&self) -> (u64, u64) {
        (
            *self.offsets[0].last().expect("starts with 0"),
            *self.offsets[1].last().expect("starts with 0"),
        )
    }

    /// Flushes and fsyncs the token files and writes the index.
    pub(crate) fn finish(self) -> Result<(), DataError> {
        let write_error = |path: &PathBuf| {
            let path = path.clone();
            move |reason| DataError::Write { path, reason }
        };
        for (mut out, path) in [self.src, self.tgt].into_iter().zip(&self.paths) {
            out.flush().map_err(write_error(path))?;
            out.get_ref().sync_all().map_err(write_error(path))?;
        }
        let mut index =
            BufWriter::new(File::create(&self.index_path).map_err(write_error(&self.index_path))?);
        for offset in self.offsets.iter().flatten() {
            index
                .write_all(&offset.to_le_bytes())
                .map_err(write_error(&self.index_path))?;
        }
        index.flush().map_err(write_error(&self.index_path))?;
        index
            .get_ref()
            .sync_all()
            .map_err(write_error(&self.index_path))
    }
}
