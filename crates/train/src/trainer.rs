//! The training loop: batches -> model -> loss -> gradients -> clipping -> optimizer, with
//! validation, the metrics log, progress, checkpoints and exact resume.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::{
    AdamConfig, AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer,
    decay::WeightDecayConfig,
};
use burn::tensor::{Device, Int, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use nmt_data::{
    BatchCursor, EncodedPair, IdBatch, ParallelText, TokenBudgetBatcher, Vocabularies,
    encode_corpus, read_parallel, require_nonempty,
};
use nmt_model::Transformer;
use serde_json::json;

use crate::checkpoint::{
    CheckpointStore, FORMAT_VERSION, LogWindow, TrainState, params_fingerprint,
};
use crate::config::{OptimizerKind, RunConfig, StopMetric};
use crate::loss::label_smoothed_loss;
use crate::metrics_log::MetricsLog;
use crate::schedule::learning_rate;
use crate::translate::{evaluate, translate_lines};
use crate::{clip::clip_global_norm, translate};

/// How `nmt train` was asked to start.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Continue from the run directory's latest checkpoint.
    pub resume: bool,
    /// Start afresh in a run directory that already holds a run, deleting it.
    pub overwrite: bool,
    /// Set by SIGINT/SIGTERM: write a checkpoint and stop after the current step.
    pub stop: Arc<AtomicBool>,
    /// Print progress (bars and log lines) to stderr.
    pub quiet: bool,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub step: u64,
    pub interrupted: bool,
    pub last_checkpoint: PathBuf,
    pub test: Option<(f64, f64)>,
}

/// Files of a run directory that a fresh start (`--overwrite`) removes.
const RUN_FILES: &[&str] = &[
    "checkpoints",
    "metrics.jsonl",
    "config.toml",
    "tokenizer.json",
    "tokenizer.src.json",
    "tokenizer.tgt.json",
    "train.log",
    "test.hyp",
];

struct ValidSet {
    pairs: Vec<EncodedPair>,
    src: Vec<String>,
    refs: Vec<String>,
}

struct Data {
    vocab: Vocabularies,
    pairs: Vec<EncodedPair>,
    valid: Option<ValidSet>,
}

/// What a run reports: to the terminal (unless quiet) and, always, to `RUN_DIR/train.log`.
struct RunLog {
    quiet: bool,
    file: std::sync::Mutex<std::fs::File>,
}

impl RunLog {
    fn open(run_dir: &Path, quiet: bool) -> Result<Self> {
        let path = run_dir.join("train.log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self {
            quiet,
            file: std::sync::Mutex::new(file),
        })
    }

    fn line(&self, bar: Option<&ProgressBar>, line: &str) {
        if let Ok(mut f) = self.file.lock() {
            use std::io::Write;
            let _ = writeln!(f, "{line}");
        }
        if self.quiet {
            return;
        }
        match bar {
            Some(bar) if !bar.is_hidden() => bar.println(line),
            _ => eprintln!("{line}"),
        }
    }
}

fn prepare_run_dir(dir: &Path, opts: &TrainOptions) -> Result<()> {
    // A run is there once it has logged or checkpointed anything; a start that failed before
    // that (e.g. on a corpus error) can simply be started again.
    let occupied = dir.join("metrics.jsonl").exists() || dir.join("checkpoints").exists();
    if opts.resume {
        return Ok(());
    }
    if occupied && !opts.overwrite {
        bail!(
            "run directory {} already holds a run: pass --resume to continue it or --overwrite to start over",
            dir.display()
        );
    }
    for f in RUN_FILES {
        let p = dir.join(f);
        if p.is_dir() {
            std::fs::remove_dir_all(&p)?;
        } else if p.exists() {
            std::fs::remove_file(&p)?;
        }
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create run directory {}", dir.display()))?;
    Ok(())
}

fn load_data(cfg: &RunConfig, opts: &TrainOptions, log: &RunLog) -> Result<Data> {
    let run_dir = cfg.run_dir();
    let d = &cfg.data;
    let (src_path, tgt_path) = d.train.resolve(&d.src_lang, &d.tgt_lang)?;
    let text = read_parallel(&src_path, &tgt_path)?;
    let t0 = Instant::now();
    let vocab = if opts.resume {
        Vocabularies::load(run_dir)?
    } else {
        let v = Vocabularies::train(&text, &cfg.tokenizer)?;
        v.save(run_dir)?;
        v
    };
    let tok_s = t0.elapsed().as_secs_f64();
    let (pairs, stats) = encode_corpus(&text, &vocab, d.max_len, d.max_len_ratio);
    log.line(
        None,
        &format!(
            "train {} -> {}: {stats} (vocab {}/{}, tokenizer ready in {tok_s:.1}s)",
            src_path.display(),
            tgt_path.display(),
            vocab.src.vocab_size(),
            vocab.tgt.vocab_size()
        ),
    );
    require_nonempty(&stats, "training set")?;
    let valid = match &d.valid {
        Some(split) => {
            let (s, t) = split.resolve(&d.src_lang, &d.tgt_lang)?;
            let mut text: ParallelText = read_parallel(&s, &t)?;
            if cfg.train.valid_max_sentences > 0 {
                text.src.truncate(cfg.train.valid_max_sentences);
                text.tgt.truncate(cfg.train.valid_max_sentences);
            }
            // Loss on every pair that fits the model; BLEU on every line, as a user would score.
            let (pairs, stats) =
                encode_corpus(&text, &vocab, cfg.model.max_positions - 1, f64::INFINITY);
            log.line(None, &format!("valid {}: {stats}", s.display()));
            Some(ValidSet {
                pairs,
                src: text.src,
                refs: text.tgt,
            })
        }
        None => None,
    };
    Ok(Data {
        vocab,
        pairs,
        valid,
    })
}

fn optimizer(cfg: &RunConfig) -> ModuleOptimizer {
    let t = &cfg.train;
    match t.optimizer {
        OptimizerKind::Adam => {
            let mut c = AdamConfig::new()
                .with_beta_1(t.betas[0] as f32)
                .with_beta_2(t.betas[1] as f32)
                .with_epsilon(t.eps as f32);
            if t.weight_decay > 0.0 {
                c = c.with_weight_decay(Some(WeightDecayConfig::new(t.weight_decay as f32)));
            }
            c.init()
        }
        OptimizerKind::Adamw => AdamWConfig::new()
            .with_beta_1(t.betas[0] as f32)
            .with_beta_2(t.betas[1] as f32)
            .with_epsilon(t.eps as f32)
            .with_weight_decay(t.weight_decay as f32)
            .init(),
    }
}

/// Turns an id batch into `(src, tgt_in, tgt_out)` tensors, each built in one go.
pub fn batch_tensors(
    batch: &IdBatch,
    device: &Device,
) -> (Tensor<2, Int>, Tensor<2, Int>, Tensor<2, Int>) {
    let make = |v: &Vec<i64>, len: usize| {
        Tensor::<2, Int>::from_data(TensorData::new(v.clone(), [batch.batch_size, len]), device)
    };
    (
        make(&batch.src, batch.src_len),
        make(&batch.tgt_in, batch.tgt_len),
        make(&batch.tgt_out, batch.tgt_len),
    )
}

/// Dropout randomness is a function of (seed, step, micro-batch), so resuming needs no RNG state.
fn dropout_seed(seed: u64, step: u64, micro: usize) -> u64 {
    let mut x = seed
        ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (micro as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x.wrapping_mul(0x94D0_49BB_1331_11EB)
}

struct Validation {
    loss: f64,
    bleu: f64,
    chrf: f64,
}

fn validate(
    model: &Transformer,
    data: &Data,
    valid: &ValidSet,
    cfg: &RunConfig,
    device: &Device,
) -> Result<Validation> {
    // Teacher-forced NLL per target token (no smoothing), batched like training.
    let batches = nmt_data::inference_batches(
        &valid
            .pairs
            .iter()
            .map(|p| p.src.len().max(p.tgt.len()) + 1)
            .collect::<Vec<_>>(),
        cfg.data.max_tokens,
    );
    let (mut nll, mut tokens) = (0.0f64, 0usize);
    for indices in batches {
        let batch = IdBatch::from_pairs(&valid.pairs, &indices);
        let (src, tgt_in, tgt_out) = batch_tensors(&batch, device);
        let sums = label_smoothed_loss(model.forward(src, tgt_in), tgt_out, 0.0);
        nll += f64::from(sums.nll.into_scalar::<f32>());
        tokens += batch.tgt_tokens;
    }
    let hyps: Vec<String> = translate_lines(
        &[model],
        &data.vocab,
        &valid.src,
        &cfg.decode,
        cfg.model.max_positions,
        device,
    )
    .into_iter()
    .map(|mut n| n.swap_remove(0).0)
    .collect();
    let (bleu, chrf) = translate::score(&hyps, &valid.refs)?;
    Ok(Validation {
        loss: nll / tokens.max(1) as f64,
        bleu: bleu.score,
        chrf: chrf.score,
    })
}

/// Trains as `cfg` says, on `device` (any backend; autodiff is added here).
pub fn train(cfg: &RunConfig, device: &Device, opts: &TrainOptions) -> Result<TrainOutcome> {
    let run_dir = cfg.run_dir().to_path_buf();
    prepare_run_dir(&run_dir, opts)?;
    let store = CheckpointStore::new(&run_dir);
    store.clean_partial()?;
    let metrics = MetricsLog::new(&run_dir);
    let t = &cfg.train;
    let resume_from = if opts.resume {
        let latest = store.latest()?.with_context(|| {
            format!(
                "--resume: no checkpoint in {} to resume from",
                store.dir().display()
            )
        })?;
        Some(latest)
    } else {
        None
    };

    let config_toml = cfg.to_toml();
    let log = RunLog::open(&run_dir, opts.quiet)?;
    let data = load_data(cfg, opts, &log)?;
    let (src_vocab, tgt_vocab) = (data.vocab.src.vocab_size(), data.vocab.tgt.vocab_size());
    let batcher = TokenBudgetBatcher::new(
        &data.pairs,
        cfg.data.max_tokens,
        cfg.data.bucket_pool,
        t.seed,
    )?;
    log.line(
        None,
        &format!(
            "batches: {} in epoch 1 of at most {} tokens, {:.1}% padding",
            batcher.batches_in_epoch(1),
            cfg.data.max_tokens,
            100.0 * batcher.padding_ratio(1)
        ),
    );

    let device = device.clone().autodiff();
    let mut model = nmt_model::seeded(&device, t.seed, || {
        cfg.model.init(src_vocab, tgt_vocab, &device)
    })
    .map_err(anyhow::Error::msg)?;
    let mut optim = optimizer(cfg);
    let mut state = TrainState {
        format_version: FORMAT_VERSION,
        step: 0,
        cursor: BatchCursor { epoch: 1, index: 0 },
        best_score: None,
        best_step: None,
        bad_validations: 0,
        seed: t.seed,
        src_vocab,
        tgt_vocab,
        model: cfg.model.clone(),
        log_window: LogWindow::default(),
        elapsed_s: 0.0,
        params_fingerprint: String::new(),
    };
    if let Some(ckpt) = &resume_from {
        let saved = CheckpointStore::load_state(ckpt)?;
        saved.check_compatible(&cfg.model, src_vocab, tgt_vocab)?;
        model = CheckpointStore::load_model(ckpt, model)?;
        optim = CheckpointStore::load_optimizer(ckpt, optim)?;
        state = TrainState {
            model: cfg.model.clone(),
            ..saved
        };
        metrics.truncate_after(state.step)?;
        log.line(
            None,
            &format!(
                "resumed from {} at step {} (epoch {}, batch {})",
                ckpt.display(),
                state.step,
                state.cursor.epoch,
                state.cursor.index
            ),
        );
    }
    log.line(
        None,
        &format!(
            "model: {} parameters; device {:?}",
            model.num_params(),
            device
        ),
    );

    // Written only now, once a resumed checkpoint is known to fit this config.
    std::fs::write(run_dir.join("config.toml"), &config_toml)?;
    let tokenizer_files = tokenizer_files(&run_dir)?;
    let extra: Vec<(&str, Vec<u8>)> =
        std::iter::once(("config.toml", config_toml.clone().into_bytes()))
            .chain(tokenizer_files.iter().map(|(n, b)| (n.as_str(), b.clone())))
            .collect();

    let bar = if opts.quiet {
        ProgressBar::hidden()
    } else if t.max_steps > 0 {
        ProgressBar::new(t.max_steps)
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} step {pos}/{len} {wide_bar} {msg} [{elapsed_precise}<{eta_precise}]",
        )
        .expect("valid template"),
    );
    bar.set_position(state.step);

    let mut stream = batcher.stream_from(state.cursor);
    let started = Instant::now();
    let elapsed_before = state.elapsed_s;
    let mut window_started = Instant::now();
    let mut window_tokens = 0u64;
    let mut last_ckpt = resume_from.clone();
    let mut saved_step = last_ckpt.as_ref().map(|_| state.step);
    let mut interrupted = false;
    let mut stop_reason = String::new();
    // Training time across all sittings, as saved in checkpoints and limited by max_hours.
    let elapsed = || elapsed_before + started.elapsed().as_secs_f64();
    let out_of_time = || t.max_hours > 0.0 && elapsed() >= t.max_hours * 3600.0;
    // Checked after each step, before its checkpoint, so the last checkpoint's time is past the
    // limit; before the loop it stops a sitting that starts out of time (a finished run resumed).
    let mut time_up = out_of_time();

    loop {
        if t.max_steps > 0 && state.step >= t.max_steps {
            stop_reason = format!("reached train.max_steps = {}", t.max_steps);
            break;
        }
        if t.max_epochs > 0 && state.cursor.epoch > t.max_epochs {
            stop_reason = format!("reached train.max_epochs = {}", t.max_epochs);
            break;
        }
        if time_up {
            stop_reason = format!("reached train.max_hours = {}", t.max_hours);
            break;
        }
        let step = state.step + 1;
        let lr = learning_rate(t, cfg.model.d_model, step);

        // Read this step's micro-batches first: the loss is averaged over all their tokens.
        let mut micro = Vec::with_capacity(t.accum_steps);
        for _ in 0..t.accum_steps {
            let (cursor, indices) = stream.next().expect("the batch stream is endless");
            micro.push((cursor, IdBatch::from_pairs(&data.pairs, &indices)));
        }
        let total_tokens: usize = micro.iter().map(|(_, b)| b.tgt_tokens).sum();
        let mut accumulator = GradientsAccumulator::<Transformer>::new();
        let mut loss_sum = 0.0f64;
        for (i, (cursor, batch)) in micro.iter().enumerate() {
            let (src, tgt_in, tgt_out) = batch_tensors(batch, &device);
            let logits = nmt_model::seeded(&device, dropout_seed(t.seed, step, i), || {
                model.forward(src, tgt_in)
            });
            let sums = label_smoothed_loss(logits, tgt_out, t.label_smoothing);
            let loss = sums.smoothed.div_scalar(total_tokens as f64);
            loss_sum += f64::from(loss.clone().into_scalar::<f32>()) * total_tokens as f64;
            if !loss_sum.is_finite() {
                bail!(
                    "loss became {loss_sum} at step {step} (epoch {}, batch {}): stopping without saving it; lower train.lr or check the data",
                    cursor.epoch,
                    cursor.index
                );
            }
            accumulator.accumulate(&model, GradientsParams::from_grads(loss.backward(), &model));
        }
        let mut grads = accumulator.grads();
        let grad_norm = clip_global_norm(&model, &mut grads, t.clip_norm);
        if !grad_norm.is_finite() {
            let c = micro[0].0;
            bail!(
                "gradient norm became {grad_norm} at step {step} (epoch {}, batch {}): stopping without saving it; lower train.lr or check the data",
                c.epoch,
                c.index
            );
        }
        model = optim.step(lr, model, grads);
        state.step = step;
        state.cursor = stream.position();
        window_tokens += total_tokens as u64;
        state.log_window.loss_sum += loss_sum;
        state.log_window.tokens += total_tokens as u64;
        state.log_window.steps += 1;
        bar.set_position(step);
        bar.set_message(format!(
            "epoch {} loss {:.3} lr {lr:.2e} {:.0} tok/s",
            state.cursor.epoch,
            loss_sum / total_tokens.max(1) as f64,
            window_tokens as f64 / window_started.elapsed().as_secs_f64().max(1e-9)
        ));

        if t.log_every > 0 && step.is_multiple_of(t.log_every) {
            let w = state.log_window;
            let secs = window_started.elapsed().as_secs_f64();
            let tokens_per_s = window_tokens as f64 / secs.max(1e-9);
            let train_loss = w.loss_sum / w.tokens.max(1) as f64;
            metrics.append(&json!({
                "event": "train", "step": step, "epoch": state.cursor.epoch,
                "train_loss": train_loss, "lr": lr, "grad_norm": grad_norm,
                "tokens_per_s": tokens_per_s, "tgt_tokens": w.tokens,
            }))?;
            if bar.is_hidden() {
                log.line(None,
                    &format!(
                        "step {step} epoch {} loss {train_loss:.4} lr {lr:.3e} {tokens_per_s:.0} tok/s",
                        state.cursor.epoch
                    ),
                );
            }
            state.log_window = LogWindow::default();
            window_started = Instant::now();
            window_tokens = 0;
        }

        let mut is_best = false;
        // The last step, by count or by clock, is validated and checkpointed like any other.
        time_up = out_of_time();
        let last_step = (t.max_steps > 0 && step >= t.max_steps) || time_up;
        if let Some(valid) = &data.valid
            && ((t.valid_every > 0 && step.is_multiple_of(t.valid_every)) || last_step)
        {
            let v = validate(
                &model.valid(),
                &data,
                valid,
                cfg,
                &device.clone().without_autodiff(),
            )?;
            let score = match t.best_metric {
                StopMetric::Bleu => v.bleu,
                StopMetric::Loss => -v.loss,
            };
            if state.best_score.is_none_or(|b| score > b) {
                state.best_score = Some(score);
                state.best_step = Some(step);
                state.bad_validations = 0;
                is_best = true;
            } else {
                state.bad_validations += 1;
            }
            metrics.append(&json!({
                    "event": "valid", "step": step, "epoch": state.cursor.epoch,
                    "valid_loss": v.loss, "valid_ppl": v.loss.exp(), "valid_bleu": v.bleu, "valid_chrf": v.chrf,
                    "best": is_best,
                }))?;
            log.line(
                Some(&bar),
                &format!(
                    "valid step {step}: loss {:.4} ppl {:.2} BLEU {:.2} chrF {:.2}{}",
                    v.loss,
                    v.loss.exp(),
                    v.bleu,
                    v.chrf,
                    if is_best { " (best)" } else { "" }
                ),
            );
        }
        let stop_requested = opts.stop.load(Ordering::SeqCst);
        let patience_over = t.patience > 0 && state.bad_validations >= t.patience;
        if step.is_multiple_of(t.checkpoint_every)
            || is_best
            || last_step
            || stop_requested
            || patience_over
        {
            state.elapsed_s = elapsed();
            state.params_fingerprint = params_fingerprint(&model);
            last_ckpt = Some(store.save(&model, &optim, &state, &extra, t.keep_last, is_best)?);
            saved_step = Some(step);
        }
        if stop_requested {
            interrupted = true;
            break;
        }
        if time_up {
            stop_reason = format!("reached train.max_hours = {}", t.max_hours);
            break;
        }
        if patience_over {
            stop_reason = format!(
                "no improvement in {} validations (train.patience)",
                t.patience
            );
            break;
        }
    }
    bar.finish_and_clear();
    let last_checkpoint = match last_ckpt {
        Some(c) if saved_step == Some(state.step) => c,
        _ => {
            // Stopped between checkpoints (e.g. by max_epochs): keep the final state too.
            state.elapsed_s = elapsed();
            state.params_fingerprint = params_fingerprint(&model);
            store.save(&model, &optim, &state, &extra, t.keep_last, false)?
        }
    };
    if interrupted {
        return Ok(TrainOutcome {
            step: state.step,
            interrupted,
            last_checkpoint,
            test: None,
        });
    }
    log.line(
        None,
        &format!("training stopped at step {}: {stop_reason}", state.step),
    );
    let test = run_test(
        &log,
        cfg,
        &run_dir,
        &device.without_autodiff(),
        &metrics,
        state.step,
    )?;
    Ok(TrainOutcome {
        step: state.step,
        interrupted,
        last_checkpoint,
        test,
    })
}

fn tokenizer_files(run_dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for name in ["tokenizer.json", "tokenizer.src.json", "tokenizer.tgt.json"] {
        let p = run_dir.join(name);
        if p.exists() {
            files.push((name.to_string(), std::fs::read(&p)?));
        }
    }
    Ok(files)
}

/// Evaluates the best checkpoint on the test split, if the config has one.
fn run_test(
    log: &RunLog,
    cfg: &RunConfig,
    run_dir: &Path,
    device: &Device,
    metrics: &MetricsLog,
    step: u64,
) -> Result<Option<(f64, f64)>> {
    let Some(split) = &cfg.data.test else {
        return Ok(None);
    };
    let (src_path, ref_path) = split.resolve(&cfg.data.src_lang, &cfg.data.tgt_lang)?;
    let text = read_parallel(&src_path, &ref_path)?;
    let loaded = translate::load_checkpoint(run_dir, "best", device)?;
    let (hyps, bleu, chrf) = evaluate(
        &[&loaded.model],
        &loaded.vocab,
        &text.src,
        &text.tgt,
        &cfg.decode,
        cfg.model.max_positions,
        device,
    )?;
    std::fs::write(run_dir.join("test.hyp"), hyps.join("\n") + "\n")?;
    metrics.append(&json!({
        "event": "test", "step": step, "checkpoint": loaded.checkpoint.display().to_string(),
        "test_bleu": bleu.score, "test_chrf": chrf.score,
        "bleu_signature": bleu.signature(), "chrf_signature": chrf.signature(),
    }))?;
    log.line(
        None,
        &format!(
            "test ({}, checkpoint {}):\n{bleu}\n{chrf}\n{}",
            src_path.display(),
            loaded.checkpoint.display(),
            bleu.signature()
        ),
    );
    Ok(Some((bleu.score, chrf.score)))
}
