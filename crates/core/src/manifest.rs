//! Files that are written together and must be read back exactly as written (a checkpoint, a
//! prepared dataset) carry a `manifest.json`: the size and BLAKE3 checksum of each file. It is
//! written last, after every file it lists is on disk, so its presence also means "complete".
//! Reading a file through [`Manifest::verify_file`] turns a truncated, missing or altered file
//! into an error that names it, instead of wrong weights or wrong tokens.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The manifest's file name inside the directory it describes.
pub const MANIFEST_FILE: &str = "manifest.json";

/// One file as it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub bytes: u64,
    /// BLAKE3 of the whole file, lowercase hex.
    pub blake3: String,
}

/// The files of one directory, by name (relative to the directory).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub files: BTreeMap<String, FileDigest>,
}

/// Why a directory's files cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    #[error("{} is missing: the directory is incomplete (a crash while it was written?) or was altered", path.display())]
    MissingManifest { path: PathBuf },
    #[error("{} is not a readable manifest ({reason}): the directory is damaged", path.display())]
    BadManifest { path: PathBuf, reason: String },
    #[error("{} is missing (listed in its manifest): the directory is damaged", path.display())]
    Missing { path: PathBuf },
    #[error("{} is not listed in its directory's manifest, so it cannot be verified", path.display())]
    NotListed { path: PathBuf },
    #[error(
        "{} is damaged: it has {found} bytes but was written with {expected} (truncated or altered)",
        path.display()
    )]
    WrongSize {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error(
        "{} is damaged: its BLAKE3 checksum differs from the one recorded when it was written",
        path.display()
    )]
    WrongChecksum { path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// BLAKE3 of a file, lowercase hex, and its size. Large files are hashed on all cores.
pub fn digest_file(path: &Path) -> Result<FileDigest, IntegrityError> {
    let io = |source| IntegrityError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = fs::metadata(path).map_err(io)?.len();
    let mut hasher = blake3::Hasher::new();
    if bytes >= 1 << 20 {
        hasher.update_mmap_rayon(path).map_err(io)?;
    } else {
        hasher.update(&fs::read(path).map_err(io)?);
    }
    Ok(FileDigest {
        bytes,
        blake3: hasher.finalize().to_hex().to_string(),
    })
}

impl Manifest {
    /// Digests the files `names` of `dir`.
    pub fn of_files<S: AsRef<str>>(dir: &Path, names: &[S]) -> Result<Self, IntegrityError> {
        let mut files = BTreeMap::new();
        for name in names {
            let name = name.as_ref();
            files.insert(name.to_string(), digest_file(&dir.join(name))?);
        }
        Ok(Self { files })
    }

    /// Writes `dir/manifest.json` and fsyncs it. Call it after every listed file is synced.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let path = dir.join(MANIFEST_FILE);
        let mut f = fs::File::create(&path)?;
        f.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    }

    /// Reads `dir/manifest.json`.
    pub fn read(dir: &Path) -> Result<Self, IntegrityError> {
        let path = dir.join(MANIFEST_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(IntegrityError::MissingManifest { path });
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(IntegrityError::BadManifest {
                    path,
                    reason: "not UTF-8".into(),
                });
            }
            Err(source) => return Err(IntegrityError::Io { path, source }),
        };
        serde_json::from_str(&text).map_err(|e| IntegrityError::BadManifest {
            path,
            reason: e.to_string(),
        })
    }

    /// Checks that `dir/name` is the file this manifest recorded: present, same size, same
    /// checksum.
    pub fn verify_file(&self, dir: &Path, name: &str) -> Result<(), IntegrityError> {
        let path = dir.join(name);
        let want = self
            .files
            .get(name)
            .ok_or_else(|| IntegrityError::NotListed { path: path.clone() })?;
        let found = match fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(IntegrityError::Missing { path });
            }
            Err(source) => return Err(IntegrityError::Io { path, source }),
        };
        if found != want.bytes {
            return Err(IntegrityError::WrongSize {
                path,
                expected: want.bytes,
                found,
            });
        }
        if digest_file(&path)?.blake3 != want.blake3 {
            return Err(IntegrityError::WrongChecksum { path });
        }
        Ok(())
    }

    /// Checks every file the manifest lists.
    pub fn verify_all(&self, dir: &Path) -> Result<(), IntegrityError> {
        self.files
            .keys()
            .try_for_each(|name| self.verify_file(dir, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("a.bin"), vec![7u8; 3000]).unwrap();
        fs::write(d.join("b.txt"), "hello").unwrap();
        Manifest::of_files(d, &["a.bin", "b.txt"])
            .unwrap()
            .write(d)
            .unwrap();
        let m = Manifest::read(d).unwrap();
        m.verify_all(d).unwrap();

        // One flipped byte, same size.
        let mut bytes = fs::read(d.join("a.bin")).unwrap();
        bytes[1500] ^= 1;
        fs::write(d.join("a.bin"), &bytes).unwrap();
        let err = m.verify_file(d, "a.bin").unwrap_err();
        assert!(matches!(err, IntegrityError::WrongChecksum { .. }), "{err}");
        assert!(err.to_string().contains("a.bin is damaged"), "{err}");
        // Truncated.
        fs::write(d.join("a.bin"), &bytes[..1000]).unwrap();
        let err = m.verify_file(d, "a.bin").unwrap_err().to_string();
        assert!(
            err.contains("1000 bytes but was written with 3000"),
            "{err}"
        );
        // Missing.
        fs::remove_file(d.join("a.bin")).unwrap();
        let err = m.verify_all(d).unwrap_err();
        assert!(matches!(err, IntegrityError::Missing { .. }), "{err}");
        // b.txt is still fine; a file the manifest never listed cannot be vouched for.
        m.verify_file(d, "b.txt").unwrap();
        assert!(matches!(
            m.verify_file(d, "c.txt").unwrap_err(),
            IntegrityError::NotListed { .. }
        ));
        // No manifest, or a damaged one.
        fs::write(d.join(MANIFEST_FILE), "{\"files\": ").unwrap();
        assert!(matches!(
            Manifest::read(d).unwrap_err(),
            IntegrityError::BadManifest { .. }
        ));
        fs::remove_file(d.join(MANIFEST_FILE)).unwrap();
        assert!(matches!(
            Manifest::read(d).unwrap_err(),
            IntegrityError::MissingManifest { .. }
        ));
    }

    #[test]
    fn large_files_hash_the_same_on_all_cores() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let data: Vec<u8> = (0..3u32 << 20).map(|i| (i * 31 % 251) as u8).collect();
        fs::write(&path, &data).unwrap();
        let want = blake3::hash(&data).to_hex().to_string();
        assert_eq!(digest_file(&path).unwrap().blake3, want);
    }
}
