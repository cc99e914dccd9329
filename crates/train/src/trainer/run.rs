//! A run in progress and its phases, in the order `train` calls them.

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use indicatif::ProgressBar;
use nmt_data::{BatchStream, IdBatch, TokenBudgetBatcher};
use nmt_model::Transformer;

use super::data::TrainingData;
use super::run_dir::{RunLog, progress_bar};
use super::validate::{test_best, validate};
use super::{StopReason, TrainOutcome};
use crate::checkpoint::{
    Checkpoint, CheckpointStore, LogWindow, ResumePoint, TrainState, ValidationRecord,
    params_fingerprint,
};
use crate::config::{RunConfig, StopMetric};
use crate::error::{IoContext, Result, TrainError};
use crate::metrics_log::{Event, MetricsLog, StartEvent, TrainEvent, ValidEvent};
use crate::schedule::learning_rate;
use crate::step::TrainStep;

/// A run in progress: the model, the step, the position in the data and the clocks.
pub(super) struct Run<'a> {
    cfg: &'a RunConfig,
    data: &'a TrainingData,
    store: &'a CheckpointStore,
    log: &'a RunLog,
    metrics: MetricsLog,
    /// The autodiff device the model trains on.
    device: Device,
    /// Always `Some` between phases; taken while a step updates it.
    model: Option<Transformer>,
    train_step: TrainStep,
    state: TrainState,
    stream: BatchStream<'a>,
    /// Files copied into every checkpoint (the config and tokenizer), so each stands alone.
    extra: Vec<(&'static str, Vec<u8>)>,
    bar: ProgressBar,
    started: Instant,
    elapsed_before: f64,
    window_started: Instant,
    window_tokens: u64,
    /// The step's learning rate and gradient norm, for the log window.
    last_lr: f64,
    last_grad_norm: f64,
    last_checkpoint: Option<(u64, PathBuf)>,
    /// Set after each step: training time has reached `train.max_hours`.
    pub(super) time_up: bool,
    first_step_of_sitting: bool,
}

impl<'a> Run<'a> {
    /// Builds the model and optimizer, fresh (from `init`'s weights when fine-tuning) or from
    /// the resume point, and writes the run's resolved config.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start(
        cfg: &'a RunConfig,
        device: &Device,
        data: &'a TrainingData,
        batcher: &'a TokenBudgetBatcher,
        store: &'a CheckpointStore,
        log: &'a RunLog,
        resume: Option<ResumePoint>,
        init: Option<Checkpoint>,
    ) -> Result<Self> {
        let t = &cfg.train;
        let run_dir = cfg.run_dir();
        let metrics = MetricsLog::new(run_dir);
        let (src_vocab, tgt_vocab) = (data.vocab().src.vocab_size(), data.vocab().tgt.vocab_size());

        let device = device.clone().autodiff();
        let mut model = nmt_model::seeded(&device, t.seed, || {
            cfg.model.init(src_vocab, tgt_vocab, &device)
        })?
        .with_precision(t.precision);
        let mut train_step = TrainStep::new(t, &device);
        let mut state = TrainState::fresh(t.seed, src_vocab, tgt_vocab, &cfg.model);
        let mut last_checkpoint = None;
        if let Some(parent) = init {
            parent
                .state
                .check_compatible(&cfg.model, src_vocab, tgt_vocab)
                .map_err(|e| {
                    TrainError::Mismatch(format!(
                        "cannot fine-tune from {}: {e}",
                        parent.dir().display()
                    ))
                })?;
            model = parent.load_model(model)?;
            let from = parent.dir().display().to_string();
            log.line(
                None,
                &format!(
                    "initialized from {from} (step {}): weights only; the optimizer, schedule, \
                     data position and best score start fresh",
                    parent.state.step
                ),
            );
            metrics.append(&Event::Start(StartEvent {
                step: 0,
                init_from: Some(from),
            }))?;
        }
        if let Some(point) = resume {
            let ckpt = &point.checkpoint;
            for (dir, why) in &point.skipped {
                log.warn(&format!("skipping checkpoint {}: {why}", dir.display()));
            }
            if !point.skipped.is_empty() {
                log.warn(&format!(
                    "resuming from the newest intact checkpoint, {} (step {}): {} step(s) after it are lost and will be trained again",
                    ckpt.dir().display(),
                    ckpt.state.step,
                    point.lost_steps()
                ));
            }
            ckpt.state
                .check_compatible(&cfg.model, src_vocab, tgt_vocab)?;
            model = ckpt.load_model(model)?;
            train_step.set_optimizer(ckpt.load_optimizer(train_step.optimizer().clone())?);
            train_step.set_loss_scale(ckpt.state.loss_scale);
            state = TrainState {
                model: cfg.model.clone(),
                ..ckpt.state.clone()
            };
            metrics.truncate_after(state.step)?;
            log.line(
                None,
                &format!(
                    "resumed from {} at step {} (epoch {}, batch {})",
                    ckpt.dir().display(),
                    state.step,
                    state.cursor.epoch,
                    state.cursor.index
                ),
            );
            last_checkpoint = Some((state.step, ckpt.dir().to_path_buf()));
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
        let config_toml = cfg.to_toml();
        let config_path = run_dir.join(crate::checkpoint::CONFIG_FILE);
        std::fs::write(&config_path, &config_toml).at("write", &config_path)?;
        data.vocab().save(run_dir)?;
        let mut extra = vec![(crate::checkpoint::CONFIG_FILE, config_toml.into_bytes())];
        extra.extend(data.vocab().to_files()?);

        let bar = progress_bar(log.quiet(), t.max_steps);
        bar.set_position(state.step);
        let elapsed_before = state.elapsed_s;
        let mut run = Self {
            cfg,
            data,
            store,
            log,
            metrics,
            device,
            model: Some(model),
            train_step,
            stream: batcher.stream_from(state.cursor),
            state,
            extra,
            bar,
            started: Instant::now(),
            elapsed_before,
            window_started: Instant::now(),
            window_tokens: 0,
            last_lr: 0.0,
            last_grad_norm: 0.0,
            last_checkpoint,
            time_up: false,
            first_step_of_sitting: true,
        };
        // Before the first step it stops a sitting that starts out of time (a finished run
        // resumed); after each step it is checked before that step's checkpoint, so the last
        // checkpoint's time is past the limit.
        run.time_up = run.out_of_time();
        Ok(run)
    }

    /// Training time across all sittings, as saved in checkpoints and limited by max_hours.
    fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }

    fn out_of_time(&self) -> bool {
        let max_hours = self.cfg.train.max_hours;
        max_hours > 0.0 && self.elapsed() >= max_hours * 3600.0
    }

    /// A limit reached before the next step.
    pub(super) fn limit_reached(&self) -> Option<StopReason> {
        let t = &self.cfg.train;
        if t.max_steps > 0 && self.state.step >= t.max_steps {
            Some(StopReason::MaxSteps(t.max_steps))
        } else if t.max_epochs > 0 && self.state.cursor.epoch > t.max_epochs {
            Some(StopReason::MaxEpochs(t.max_epochs))
        } else if self.time_up {
            Some(StopReason::MaxHours(t.max_hours))
        } else {
            None
        }
    }

    /// One optimizer step on the next `accum_steps` batches.
    pub(super) fn step(&mut self) -> Result<()> {
        let t = &self.cfg.train;
        let step = self.state.step + 1;
        let lr = learning_rate(t, self.cfg.model.d_model, step);
        let mut cursors = Vec::with_capacity(t.accum_steps);
        let mut batches = Vec::with_capacity(t.accum_steps);
        for _ in 0..t.accum_steps {
            let (cursor, indices) = self.stream.next().expect("the batch stream is endless");
            cursors.push(cursor);
            batches.push(IdBatch::from_pairs(&self.data.prepared.train, &indices));
        }
        let model = self
            .model
            .take()
            .expect("the model is there between phases");
        let (model, stats) = self
            .train_step
            .run(model, &batches, step, lr)
            .map_err(|e| TrainError::Diverged {
                what: e.what,
                value: e.value,
                step,
                epoch: cursors[e.micro_batch].epoch,
                batch: cursors[e.micro_batch].index,
            })?;
        self.model = Some(model);
        self.state.step = step;
        self.state.cursor = self.stream.position();
        self.state.loss_scale = self.train_step.loss_scale();
        self.window_tokens += stats.tokens as u64;
        let w = &mut self.state.log_window;
        if stats.skipped {
            // An overflowing f16 step: no update, and its (infinite) loss is not averaged in.
            w.skipped += 1;
        } else {
            w.loss_sum += stats.loss_sum;
            w.tokens += stats.tokens as u64;
        }
        w.steps += 1;
        self.last_lr = lr;
        self.last_grad_norm = stats.grad_norm;
        self.bar.set_position(step);
        self.bar.set_message(format!(
            "epoch {} loss {:.3} lr {lr:.2e} {:.0} tok/s",
            self.state.cursor.epoch,
            stats.loss_sum / stats.tokens.max(1) as f64,
            self.window_tokens as f64 / self.window_started.elapsed().as_secs_f64().max(1e-9)
        ));
        self.time_up = self.out_of_time();
        if self.first_step_of_sitting {
            self.first_step_of_sitting = false;
            self.log.line(
                Some(&self.bar),
                &format!(
                    "step {step}, the first of this sitting, done {:.1}s after the start; RssAnon {} MiB",
                    self.log.started().elapsed().as_secs_f64(),
                    crate::metrics_log::rss_anon_mib().map_or("?".into(), |m| m.to_string())
                ),
            );
        }
        Ok(())
    }

    /// Every `log_every` steps: the window's mean loss and speed to the metrics log.
    pub(super) fn log_window(&mut self) -> Result<()> {
        let (t, step) = (&self.cfg.train, self.state.step);
        if t.log_every == 0 || !step.is_multiple_of(t.log_every) {
            return Ok(());
        }
        let w = self.state.log_window;
        let secs = self.window_started.elapsed().as_secs_f64();
        let tokens_per_s = self.window_tokens as f64 / secs.max(1e-9);
        let train_loss = w.loss_sum / w.tokens.max(1) as f64;
        self.metrics.append(&Event::Train(TrainEvent {
            step,
            epoch: self.state.cursor.epoch,
            train_loss,
            lr: self.last_lr,
            grad_norm: self.last_grad_norm,
            tokens_per_s,
            tgt_tokens: w.tokens,
            loss_scale: self.state.loss_scale.map(|s| s.scale),
            skipped_steps: self.state.loss_scale.map(|_| w.skipped),
            rss_anon_mib: crate::metrics_log::rss_anon_mib(),
        }))?;
        if self.bar.is_hidden() {
            self.log.line(
                None,
                &format!(
                    "step {step} epoch {} loss {train_loss:.4} lr {:.3e} {tokens_per_s:.0} tok/s",
                    self.state.cursor.epoch, self.last_lr
                ),
            );
        }
        self.state.log_window = LogWindow::default();
        self.window_started = Instant::now();
        self.window_tokens = 0;
        Ok(())
    }

    /// The last step, by count or by clock: it is validated and checkpointed like any other.
    pub(super) fn is_last_step(&self) -> bool {
        let t = &self.cfg.train;
        (t.max_steps > 0 && self.state.step >= t.max_steps) || self.time_up
    }

    /// Validates every `valid_every` steps and at the last step; returns whether this step
    /// is the best so far.
    pub(super) fn validate_if_due(&mut self, last_step: bool) -> Result<bool> {
        let (t, step) = (&self.cfg.train, self.state.step);
        let (Some(pairs), Some(text)) = (&self.data.prepared.valid, &self.data.valid_text) else {
            return Ok(false);
        };
        let due = t.valid_every > 0 && step.is_multiple_of(t.valid_every);
        if !(due || last_step) {
            return Ok(false);
        }
        let model = self
            .model
            .as_ref()
            .expect("the model is there between phases");
        let v = validate(
            &model.valid(),
            self.data.vocab(),
            pairs,
            text,
            self.cfg,
            &self.device.clone().without_autodiff(),
        )?;
        let score = match t.best_metric {
            StopMetric::Bleu => v.bleu,
            StopMetric::Loss => -v.loss,
        };
        let is_best = self.state.best_score.is_none_or(|b| score > b);
        if is_best {
            self.state.best_score = Some(score);
            self.state.best_step = Some(step);
            self.state.bad_validations = 0;
        } else {
            self.state.bad_validations += 1;
        }
        self.state.last_validation = Some(ValidationRecord {
            step,
            loss: v.loss,
            bleu: v.bleu,
            chrf: v.chrf,
        });
        self.metrics.append(&Event::Valid(ValidEvent {
            step,
            epoch: self.state.cursor.epoch,
            valid_loss: v.loss,
            valid_ppl: v.loss.exp(),
            valid_bleu: v.bleu,
            valid_chrf: v.chrf,
            best: is_best,
        }))?;
        self.log.line(
            Some(&self.bar),
            &format!(
                "valid step {step}: loss {:.4} ppl {:.2} BLEU {:.2} chrF {:.2}{}",
                v.loss,
                v.loss.exp(),
                v.bleu,
                v.chrf,
                if is_best { " (best)" } else { "" }
            ),
        );
        Ok(is_best)
    }

    pub(super) fn patience_over(&self) -> bool {
        let patience = self.cfg.train.patience;
        patience > 0 && self.state.bad_validations >= patience
    }

    /// Every `checkpoint_every` steps, at a new best, and when the run is about to stop.
    pub(super) fn checkpoint_if_due(&mut self, is_best: bool, stopping: bool) -> Result<()> {
        if self
            .state
            .step
            .is_multiple_of(self.cfg.train.checkpoint_every)
            || is_best
            || stopping
        {
            self.save(is_best)?;
        }
        Ok(())
    }

    fn save(&mut self, is_best: bool) -> Result<()> {
        let model = self
            .model
            .as_ref()
            .expect("the model is there between phases");
        self.state.elapsed_s = self.elapsed();
        self.state.params_fingerprint = params_fingerprint(model);
        let extra: Vec<(&str, Vec<u8>)> = self.extra.iter().map(|(n, b)| (*n, b.clone())).collect();
        let dir = self.store.save(
            model,
            self.train_step.optimizer(),
            &self.state,
            &extra,
            self.cfg.train.keep_last,
            is_best,
        )?;
        self.last_checkpoint = Some((self.state.step, dir));
        Ok(())
    }

    /// After the loop: a checkpoint of the final state if the last step has none (a stop by
    /// max_epochs comes between checkpoints), then, unless interrupted, the test.
    pub(super) fn finish(mut self, stop: StopReason) -> Result<TrainOutcome> {
        self.bar.finish_and_clear();
        let saved = matches!(&self.last_checkpoint, Some((s, _)) if *s == self.state.step);
        if !saved {
            self.save(false)?;
        }
        let (step, last_checkpoint) = self.last_checkpoint.clone().expect("saved above");
        let mut outcome = TrainOutcome {
            step,
            stop,
            last_checkpoint,
            test: None,
        };
        if stop == StopReason::Interrupted {
            return Ok(outcome);
        }
        self.log.line(
            None,
            &format!("training stopped at step {}: {stop}", self.state.step),
        );
        outcome.test = test_best(
            self.cfg,
            &self.device.clone().without_autodiff(),
            &self.metrics,
            self.log,
            self.state.step,
        )?;
        Ok(outcome)
    }
}
