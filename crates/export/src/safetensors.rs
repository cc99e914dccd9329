//! The safetensors export: `model.safetensors` (every weight in f32 under the names of
//! [`crate::names`], linear weights `[out, in]`), `config.json` ([`ExportConfig`]) and the
//! tokenizer file(s), written into a directory beside the output and renamed into place, so an
//! interrupted export never leaves a half-written model behind.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Tensor, TensorData};
use nmt_core::{BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID};
use nmt_data::Vocabularies;
use nmt_model::{ModelConfig, PositionKind, Transformer, parameter_values};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::ExportError;
use crate::names::{exported_name, is_linear_weight};

pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
/// `config.json`'s `format`; `format_version` changes whenever a name or layout does.
pub const FORMAT: &str = "nmt-transformer";
pub const FORMAT_VERSION: u32 = 1;

/// `config.json`: everything needed to rebuild the network from `model.safetensors` without
/// nmt (what CTranslate2's converter and the Python tests read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportConfig {
    pub format: String,
    pub format_version: u32,
    /// The architecture, as in the run's `[model]` (norm placement, positions, sharing, ...).
    pub model: ModelConfig,
    pub src_vocab_size: usize,
    pub tgt_vocab_size: usize,
    /// Token embeddings are multiplied by this (sqrt(d_model)) before positions are added.
    pub embedding_scale: f64,
    /// `{"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3}`.
    pub special_tokens: HashMap<String, u32>,
    /// The source is the tokenizer's ids followed by `</s>` (no `<s>`); the decoder starts
    /// from `<s>`.
    pub source_eos: bool,
    pub decoder_start_token: String,
    /// Tokenizer files in this directory: `[joint]` or `[source, target]`.
    pub tokenizers: Vec<String>,
    /// Where the weights came from (a checkpoint directory), for the record.
    pub exported_from: String,
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    pub tensors: usize,
    pub parameters: usize,
    pub bytes: u64,
}

/// One tensor to write: exported name, shape, values (row-major).
struct Named {
    name: String,
    dims: Vec<usize>,
    values: Vec<f32>,
}

/// Every exported tensor of `model`: its parameters renamed (linear weights transposed to
/// `[out, in]`), plus the fixed sinusoid tables when positions are not learned, so that a
/// reader needs no formula.
fn named_tensors(model: &Transformer) -> Result<Vec<Named>, ExportError> {
    let mut out = Vec::new();
    for (info, values) in parameter_values(model) {
        let name = exported_name(&info.path).ok_or_else(|| {
            ExportError::Unsupported(format!("parameter {} has no exported name", info.path))
        })?;
        let (dims, values) = if is_linear_weight(&name) {
            let (rows, cols) = (info.dims[0], info.dims[1]);
            (vec![cols, rows], transpose(&values, rows, cols))
        } else {
            (info.dims, values)
        };
        out.push(Named { name, dims, values });
    }
    for (side, positions) in [
        ("encoder", &model.src_positions),
        ("decoder", &model.tgt_positions),
    ] {
        if positions.learned.is_none() {
            out.push(Named {
                name: format!("{side}.embed_positions.weight"),
                dims: positions.sinusoids.dims().to_vec(),
                values: positions
                    .sinusoids
                    .clone()
                    .into_data()
                    .iter::<f32>()
                    .collect(),
            });
        }
    }
    Ok(out)
}

/// `[rows, cols]` row-major -> `[cols, rows]` row-major.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// Writes `model` (built from `model_config` for `vocab`) to the directory `out`, which must
/// not exist yet.
pub fn write_safetensors(
    model: &Transformer,
    model_config: &ModelConfig,
    vocab: &Vocabularies,
    exported_from: &str,
    out: &Path,
) -> Result<Exported, ExportError> {
    if out.exists() {
        return Err(ExportError::OutputExists(out.to_path_buf()));
    }
    let tensors = named_tensors(model)?;
    let parameters = model.num_params();
    let tmp = crate::staging_dir(out)?;
    let result = (|| {
        let bytes: Vec<Vec<u8>> = tensors
            .iter()
            .map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
            .collect();
        let views = tensors
            .iter()
            .zip(&bytes)
            .map(|(t, b)| {
                TensorView::new(Dtype::F32, t.dims.clone(), b)
                    .map(|v| (t.name.clone(), v))
                    .map_err(|e| ExportError::Unsupported(format!("{}: {e}", t.name)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let metadata = HashMap::from([
            ("format".to_string(), "pt".to_string()),
            (
                "nmt_format".to_string(),
                format!("{FORMAT}/{FORMAT_VERSION}"),
            ),
        ]);
        let weights = tmp.join(WEIGHTS_FILE);
        safetensors::serialize_to_file(views, Some(metadata), &weights)
            .map_err(|e| ExportError::io(&weights, std::io::Error::other(e.to_string())))?;
        let tokenizers = vocab
            .to_files()
            .map_err(|e| ExportError::Unsupported(format!("cannot write the tokenizer: {e}")))?
            .into_iter()
            .map(|(name, _)| name.to_string())
            .collect();
        vocab
            .save(&tmp)
            .map_err(|e| ExportError::Unsupported(format!("cannot write the tokenizer: {e}")))?;
        let config = ExportConfig {
            format: FORMAT.to_string(),
            format_version: FORMAT_VERSION,
            model: model_config.clone(),
            src_vocab_size: model.src_vocab_size(),
            tgt_vocab_size: model.tgt_vocab_size(),
            embedding_scale: model.tgt_embed.scale,
            special_tokens: [PAD_ID, BOS_ID, EOS_ID, UNK_ID]
                .into_iter()
                .map(|id| (SPECIAL_TOKENS[id as usize].to_string(), id))
                .collect(),
            source_eos: true,
            decoder_start_token: SPECIAL_TOKENS[BOS_ID as usize].to_string(),
            tokenizers,
            exported_from: exported_from.to_string(),
        };
        let config_path = tmp.join(CONFIG_FILE);
        let text = serde_json::to_string_pretty(&config).expect("the config serializes");
        std::fs::write(&config_path, text + "\n").map_err(|e| ExportError::io(&config_path, e))?;
        Ok(std::fs::metadata(&weights)
            .map_err(|e| ExportError::io(&weights, e))?
            .len())
    })();
    crate::finish(tmp, out, result).map(|bytes| Exported {
        tensors: tensors.len(),
        parameters,
        bytes,
    })
}

/// Reads an export back into a model on `device`: what the round-trip test and anyone
/// importing an export into nmt use. Every tensor must be there with its shape, and nothing
/// else may be.
pub fn read_safetensors(
    dir: &Path,
    device: &Device,
) -> Result<(Transformer, ExportConfig), ExportError> {
    let config_path = dir.join(CONFIG_FILE);
    let text =
        std::fs::read_to_string(&config_path).map_err(|e| ExportError::io(&config_path, e))?;
    let config: ExportConfig = serde_json::from_str(&text)
        .map_err(|e| ExportError::corrupt(&config_path, e.to_string()))?;
    if config.format != FORMAT || config.format_version != FORMAT_VERSION {
        return Err(ExportError::corrupt(
            &config_path,
            format!(
                "format {} version {}, this nmt reads {FORMAT} version {FORMAT_VERSION}",
                config.format, config.format_version
            ),
        ));
    }
    let weights = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&weights).map_err(|e| ExportError::io(&weights, e))?;
    let tensors = SafeTensors::deserialize(&bytes)
        .map_err(|e| ExportError::corrupt(&weights, e.to_string()))?;
    let model = config
        .model
        .init(config.src_vocab_size, config.tgt_vocab_size, device)
        .map_err(|e| ExportError::corrupt(&config_path, e.to_string()))?;
    let mut assign = Assign {
        path: Vec::new(),
        tensors: &tensors,
        file: &weights,
        used: HashSet::new(),
        error: None,
    };
    let model = model.map(&mut assign);
    if let Some(e) = assign.error {
        return Err(e);
    }
    let mut used = assign.used;
    if config.model.positions == PositionKind::Sinusoidal {
        // The fixed tables are written for readers without the formula; nmt recomputes them.
        used.insert("encoder.embed_positions.weight".to_string());
        used.insert("decoder.embed_positions.weight".to_string());
    }
    if let Some(extra) = tensors.names().into_iter().find(|n| !used.contains(*n)) {
        return Err(ExportError::corrupt(
            &weights,
            format!("tensor {extra} is not part of this architecture"),
        ));
    }
    Ok((model, config))
}

/// Replaces each parameter with the tensor of its exported name.
struct Assign<'a> {
    path: Vec<String>,
    tensors: &'a SafeTensors<'a>,
    file: &'a Path,
    used: HashSet<String>,
    error: Option<ExportError>,
}

impl Assign<'_> {
    fn values(&mut self, dims: &[usize]) -> Result<(String, Vec<f32>), ExportError> {
        let path = self.path.join(".");
        let name = exported_name(&path).ok_or_else(|| {
            ExportError::Unsupported(format!("parameter {path} has no exported name"))
        })?;
        let view = self
            .tensors
            .tensor(&name)
            .map_err(|_| ExportError::corrupt(self.file, format!("tensor {name} is missing")))?;
        let linear = is_linear_weight(&name);
        let expected: Vec<usize> = if linear {
            vec![dims[1], dims[0]]
        } else {
            dims.to_vec()
        };
        if view.dtype() != Dtype::F32 || view.shape() != expected.as_slice() {
            return Err(ExportError::corrupt(
                self.file,
                format!(
                    "tensor {name} is {:?} {:?}, expected F32 {expected:?}",
                    view.dtype(),
                    view.shape()
                ),
            ));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let values = if linear {
            transpose(&values, dims[1], dims[0])
        } else {
            values
        };
        Ok((name, values))
    }
}

impl ModuleMapper for Assign<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.error.is_some() {
            return param;
        }
        let dims = param.shape().dims::<D>().to_vec();
        match self.values(&dims) {
            Ok((name, values)) => {
                self.used.insert(name);
                param.map(|t| Tensor::from_data(TensorData::new(values, dims), &t.device()))
            }
            Err(e) => {
                self.error = Some(e);
                param
            }
        }
    }
}
