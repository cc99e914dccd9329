//! Checkpoint averaging (as in fairseq, Marian, Sockeye and JoeyNMT): the element-wise mean of
//! the parameters of a run's last N checkpoints, written as a checkpoint of its own.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};
use nmt_model::Transformer;

use crate::checkpoint::{CheckpointStore, params_fingerprint};
use crate::translate::load_checkpoint;

/// Adds every float parameter into running f64 sums, in module order.
struct Sum<'a>(&'a mut Vec<Vec<f64>>, usize);

impl ModuleVisitor for Sum<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let values = param.val().into_data();
        if self.0.len() <= self.1 {
            self.0.push(vec![0.0; values.num_elements()]);
        }
        for (s, v) in self.0[self.1].iter_mut().zip(values.iter::<f32>()) {
            *s += f64::from(v);
        }
        self.1 += 1;
    }
}

/// Replaces every float parameter by `sum / n`, keeping its id (so optimizer state would still
/// line up) and its shape.
struct Mean<'a> {
    sums: &'a [Vec<f64>],
    n: f64,
    index: usize,
}

impl ModuleMapper for Mean<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let sums = &self.sums[self.index];
        let n = self.n;
        self.index += 1;
        param.map(|t| {
            let shape = t.shape();
            let device = t.device();
            let mean: Vec<f32> = sums.iter().map(|s| (s / n) as f32).collect();
            Tensor::from_data(TensorData::new(mean, shape), &device)
        })
    }
}

/// The element-wise mean of models of one architecture; the first one's structure is kept.
pub fn average_models(models: Vec<Transformer>) -> Result<Transformer> {
    let n = models.len();
    if n == 0 {
        bail!("nothing to average");
    }
    let mut sums = Vec::new();
    for model in &models {
        model.visit(&mut Sum(&mut sums, 0));
    }
    let first = models.into_iter().next().expect("n > 0");
    Ok(first.map(&mut Mean {
        sums: &sums,
        n: n as f64,
        index: 0,
    }))
}

/// Averages the last `last` checkpoints of the run in `run_dir` into `RUN_DIR/checkpoints/
/// averaged-last-N` (or `output`), which `--checkpoint PATH` then accepts like any other.
pub fn average_checkpoints(
    run_dir: &Path,
    last: usize,
    output: Option<&Path>,
    device: &Device,
) -> Result<PathBuf> {
    let store = CheckpointStore::new(run_dir);
    let all = store.list()?;
    if last == 0 || all.len() < last {
        bail!(
            "--last {last}: {} holds {} checkpoint(s)",
            store.dir().display(),
            all.len()
        );
    }
    let chosen = &all[all.len() - last..];
    let mut models = Vec::new();
    let mut newest = None;
    for (_, dir) in chosen {
        let loaded = load_checkpoint(run_dir, &dir.display().to_string(), device)?;
        newest = Some((loaded.checkpoint, loaded.state));
        models.push(loaded.model);
    }
    let (newest_dir, newest_state) = newest.expect("last > 0");
    let averaged = average_models(models)?;
    let out = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| store.dir().join(format!("averaged-last-{last}")));
    let tmp = out.with_extension("tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    // Config, tokenizer and optimizer come from the newest checkpoint; only weights change.
    for entry in std::fs::read_dir(&newest_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name != "model.bpk" && name != "state.json" {
            std::fs::copy(entry.path(), tmp.join(&name))?;
        }
    }
    averaged
        .clone()
        .save_file(tmp.join("model.bpk"))
        .map_err(|e| anyhow::anyhow!("cannot write the averaged model: {e:?}"))?;
    let mut state = serde_json::to_value(&newest_state)?;
    state["params_fingerprint"] = params_fingerprint(&averaged).into();
    state["averaged_from"] = chosen
        .iter()
        .map(|(_, d)| d.display().to_string())
        .collect::<Vec<_>>()
        .into();
    std::fs::write(
        tmp.join("state.json"),
        serde_json::to_string_pretty(&state)?,
    )?;
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    std::fs::rename(&tmp, &out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nmt_model::ModelConfig;

    fn values(m: &Transformer) -> Vec<f32> {
        m.tgt_embed.weight.val().into_data().iter::<f32>().collect()
    }

    #[test]
    fn the_average_is_the_elementwise_mean() {
        let device = Device::flex();
        let cfg = ModelConfig {
            d_model: 16,
            heads: 2,
            ff_dim: 32,
            encoder_layers: 1,
            decoder_layers: 1,
            max_positions: 32,
            ..ModelConfig::default()
        };
        let mut models = Vec::new();
        for seed in [1, 2, 3] {
            models.push(nmt_model::seeded(&device, seed, || {
                cfg.init(30, 30, &device).unwrap()
            }));
        }
        let parts: Vec<Vec<f32>> = models.iter().map(values).collect();
        let q0: Vec<f32> = models[2].decoder.layers[0]
            .cross_attn
            .attention
            .query
            .weight
            .val()
            .into_data()
            .iter::<f32>()
            .collect();
        let avg = average_models(models).unwrap();
        let got = values(&avg);
        for i in 0..got.len() {
            let want = (parts[0][i] + parts[1][i] + parts[2][i]) / 3.0;
            assert!((got[i] - want).abs() < 1e-6);
        }
        let q: Vec<f32> = avg.decoder.layers[0]
            .cross_attn
            .attention
            .query
            .weight
            .val()
            .into_data()
            .iter::<f32>()
            .collect();
        assert_ne!(
            q, q0,
            "parameters other than the embedding are averaged too"
        );
    }
}
