//! Checkpoint averaging (as in fairseq, Marian, Sockeye and JoeyNMT): the element-wise mean of
//! the parameters of a run's last N checkpoints, written as a checkpoint of its own.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Tensor, TensorData};
use nmt_model::Transformer;

use crate::checkpoint::store::{move_into_place, temp_dir_for, write_checkpoint_files};
use crate::checkpoint::{CheckpointStore, MODEL_FILE, STATE_FILE, params_fingerprint};
use crate::error::{Result, TrainError};
use crate::inference::Checkpoints;

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
        return Err(TrainError::Refused("nothing to average".into()));
    }
    // Running f64 sums of every parameter, in module order.
    let mut sums: Vec<Vec<f64>> = Vec::new();
    for model in &models {
        for (i, (_, values)) in nmt_model::parameter_values(model).into_iter().enumerate() {
            if sums.len() <= i {
                sums.push(vec![0.0; values.len()]);
            }
            for (s, v) in sums[i].iter_mut().zip(values) {
                *s += f64::from(v);
            }
        }
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
    let all = store.list();
    if last == 0 || all.len() < last {
        return Err(TrainError::Refused(format!(
            "--last {last}: {} holds {} checkpoint(s)",
            store.dir().display(),
            all.len()
        )));
    }
    let chosen: Vec<String> = all[all.len() - last..]
        .iter()
        .map(|(_, d)| d.display().to_string())
        .collect();
    let loaded = Checkpoints::open(run_dir, &chosen)?.load(device)?;
    let newest = loaded.checkpoints.iter().last().expect("last > 0").clone();
    let averaged = average_models(loaded.into_models())?;
    // Config, tokenizer and optimizer come from the newest checkpoint; only weights change.
    let mut extra = Vec::new();
    for name in newest.file_names() {
        if ![MODEL_FILE, STATE_FILE].contains(&name.as_str()) {
            let bytes = newest.read(&name)?;
            extra.push((name, bytes));
        }
    }
    let extra: Vec<(&str, Vec<u8>)> = extra.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let mut state = newest.state.clone();
    state.params_fingerprint = params_fingerprint(&averaged);
    state.averaged_from = Some(chosen);
    let out = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| store.dir().join(format!("averaged-last-{last}")));
    let tmp = temp_dir_for(&out)?;
    write_checkpoint_files(&tmp, &averaged, None, &state, &extra)?;
    move_into_place(&tmp, &out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nmt_model::ModelConfig;
    use nmt_testkit::{all_values, model_with, tiny_config};

    #[test]
    fn the_average_is_the_elementwise_mean_of_every_parameter() {
        let device = Device::flex();
        let cfg = ModelConfig {
            max_positions: 32,
            share_embeddings: false,
            tie_output: false,
            ..tiny_config()
        };
        let models: Vec<Transformer> = [1, 2, 3]
            .iter()
            .map(|&seed| model_with(&cfg, seed, 30, &device))
            .collect();
        let parts: Vec<Vec<f32>> = models.iter().map(all_values).collect();
        let avg = all_values(&average_models(models).unwrap());
        assert_eq!(avg.len(), parts[0].len());
        for (i, got) in avg.iter().enumerate() {
            let want = (parts[0][i] + parts[1][i] + parts[2][i]) / 3.0;
            assert!(
                (got - want).abs() < 1e-6,
                "parameter value {i}: {got} vs {want}"
            );
        }
        assert!(
            parts[0] != parts[1],
            "the models differ, so the mean is not any one of them"
        );
    }
}
