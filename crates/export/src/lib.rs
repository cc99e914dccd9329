//! A trained model as files other tools read: safetensors (weights under fairseq's names, a
//! `config.json`, the tokenizer) and a CTranslate2 model directory, converted from the
//! safetensors export by CTranslate2's own Python spec API (`scripts/ctranslate2_convert.py`,
//! built into the binary). Every export is written beside its destination and renamed into
//! place.

pub mod names;
pub mod safetensors;

use std::path::{Path, PathBuf};
use std::process::Command;

pub use names::{exported_name, is_linear_weight};
pub use safetensors::{ExportConfig, Exported, read_safetensors, write_safetensors};

/// The name nmt's `config.json` gets in a CTranslate2 directory (whose `config.json` is
/// CTranslate2's).
pub const NMT_CONFIG_IN_CTRANSLATE2: &str = "nmt-config.json";

/// The converter `nmt export --format ctranslate2` runs (also usable on its own).
pub const CTRANSLATE2_CONVERTER: &str = include_str!("../../../scripts/ctranslate2_convert.py");

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {why}")]
    Corrupt { path: PathBuf, why: String },
    #[error("{0} already exists: remove it or choose another --output")]
    OutputExists(PathBuf),
    #[error("cannot export: {0}")]
    Unsupported(String),
    #[error("CTranslate2 conversion failed: {0}")]
    Converter(String),
}

impl ExportError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn corrupt(path: &Path, why: impl Into<String>) -> Self {
        Self::Corrupt {
            path: path.to_path_buf(),
            why: why.into(),
        }
    }
}

/// A fresh directory beside `out` (same file system, so the final rename is atomic).
pub(crate) fn staging_dir(out: &Path) -> Result<PathBuf, ExportError> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| ExportError::io(&parent, e))?;
    let name = out
        .file_name()
        .ok_or_else(|| ExportError::Unsupported(format!("{} names no directory", out.display())))?;
    let tmp = parent.join(format!(
        ".{}.partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| ExportError::io(&tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| ExportError::io(&tmp, e))?;
    Ok(tmp)
}

/// Renames the staging directory into place on success; removes it on failure.
pub(crate) fn finish<T>(
    tmp: PathBuf,
    out: &Path,
    result: Result<T, ExportError>,
) -> Result<T, ExportError> {
    match result {
        Ok(value) => {
            std::fs::rename(&tmp, out).map_err(|e| ExportError::io(out, e))?;
            Ok(value)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

/// Converts the safetensors export in `export_dir` into a CTranslate2 model directory `out`
/// with `python` (which needs `ctranslate2`, `safetensors`, `numpy` and `tokenizers`), and
/// copies the tokenizer file(s) beside it so the directory is all a user needs.
pub fn convert_to_ctranslate2(
    export_dir: &Path,
    out: &Path,
    python: &str,
    quantization: Option<&str>,
) -> Result<(), ExportError> {
    if out.exists() {
        return Err(ExportError::OutputExists(out.to_path_buf()));
    }
    let probe = Command::new(python)
        .args([
            "-c",
            "import ctranslate2, safetensors, numpy, tokenizers; print(ctranslate2.__version__)",
        ])
        .output()
        .map_err(|e| ExportError::Converter(format!("cannot run {python}: {e}")))?;
    if !probe.status.success() {
        return Err(ExportError::Converter(format!(
            "{python} cannot import ctranslate2, safetensors, numpy and tokenizers \
             (pip install ctranslate2 safetensors numpy tokenizers, or pass --python): {}",
            String::from_utf8_lossy(&probe.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )));
    }
    let tmp = staging_dir(out)?;
    // The converter writes into a directory of its own inside the staging one.
    let converted = tmp.join("model");
    let result = (|| {
        let mut cmd = Command::new(python);
        cmd.args(["-c", CTRANSLATE2_CONVERTER])
            .arg(export_dir)
            .arg(&converted);
        if let Some(q) = quantization {
            cmd.args(["--quantization", q]);
        }
        let run = cmd
            .output()
            .map_err(|e| ExportError::Converter(format!("cannot run {python}: {e}")))?;
        if !run.status.success() {
            return Err(ExportError::Converter(
                String::from_utf8_lossy(&run.stderr).trim().to_string(),
            ));
        }
        let config = read_config(export_dir)?;
        // nmt's own description beside CTranslate2's config.json: readers that tokenize as nmt
        // does (scripts/ctranslate2_translate.py) take the position table's length from it.
        let from = export_dir.join(safetensors::CONFIG_FILE);
        std::fs::copy(&from, converted.join(NMT_CONFIG_IN_CTRANSLATE2))
            .map_err(|e| ExportError::io(&from, e))?;
        for name in &config.tokenizers {
            let from = export_dir.join(name);
            std::fs::copy(&from, converted.join(name)).map_err(|e| ExportError::io(&from, e))?;
        }
        std::fs::rename(&converted, out).map_err(|e| ExportError::io(out, e))
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn read_config(dir: &Path) -> Result<ExportConfig, ExportError> {
    let path = dir.join(safetensors::CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| ExportError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| ExportError::corrupt(&path, e.to_string()))
}
