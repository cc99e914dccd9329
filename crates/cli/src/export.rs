//! `nmt export`: a run's checkpoint as safetensors (+ config.json + tokenizer) or as a
//! CTranslate2 model directory (through CTranslate2's converter API; see nmt_export).

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::tensor::Device;
use clap::{Args, ValueEnum};
use nmt_train::Checkpoints;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// model.safetensors (fairseq's names, linear weights [out, in]), config.json, tokenizer.
    Safetensors,
    /// A CTranslate2 model directory (model.bin, vocabularies, config.json) plus the tokenizer.
    Ctranslate2,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The run directory.
    #[arg(long)]
    run: PathBuf,
    /// `best`, `latest` or a checkpoint directory.
    #[arg(long, default_value = "best")]
    checkpoint: String,
    #[arg(long, value_enum)]
    format: Format,
    /// The directory to create (it must not exist).
    #[arg(long)]
    output: PathBuf,
    /// Python with ctranslate2, safetensors, numpy and tokenizers (ctranslate2 format only).
    #[arg(long, default_value = "python3")]
    python: String,
    /// CTranslate2 weight type, e.g. int8 (default: float32 as trained).
    #[arg(long)]
    quantization: Option<String>,
}

pub fn export(a: ExportArgs) -> Result<()> {
    let checkpoints = Checkpoints::open(&a.run, std::slice::from_ref(&a.checkpoint))?;
    let from = checkpoints.first().dir().display().to_string();
    let config = checkpoints.config().model.clone();
    // Export reads weights to the host: the CPU backend is always right for it.
    let loaded = checkpoints.load(&Device::flex())?;
    let model = &loaded.models()[0];
    match a.format {
        Format::Safetensors => {
            let done =
                nmt_export::write_safetensors(model, &config, loaded.vocab(), &from, &a.output)?;
            eprintln!(
                "exported {from} to {}: {} tensors, {} parameters, {} bytes of weights",
                a.output.display(),
                done.tensors,
                done.parameters,
                done.bytes
            );
        }
        Format::Ctranslate2 => {
            let staging = tempfile_dir(&a.output)?;
            let tensors = staging.join("safetensors");
            nmt_export::write_safetensors(model, &config, loaded.vocab(), &from, &tensors)?;
            let converted = nmt_export::convert_to_ctranslate2(
                &tensors,
                &a.output,
                &a.python,
                a.quantization.as_deref(),
            );
            let _ = std::fs::remove_dir_all(&staging);
            converted?;
            eprintln!(
                "exported {from} to {} (CTranslate2{})",
                a.output.display(),
                a.quantization
                    .as_deref()
                    .map(|q| format!(", {q}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// A scratch directory beside the output for the intermediate safetensors export.
fn tempfile_dir(output: &std::path::Path) -> Result<PathBuf> {
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let dir = parent.join(format!(".nmt-export-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
