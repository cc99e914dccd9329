//! Learning-rate schedules as pure functions of the step, so resuming needs only the step count
//! and the schedule can never restart by accident.

use crate::config::{Schedule, TrainConfig};

/// The learning rate for optimizer step `step` (counted from 1).
pub fn learning_rate(t: &TrainConfig, d_model: usize, step: u64) -> f64 {
    let lr = t.lr;
    let step = step.max(1) as f64;
    let warmup = t.warmup_steps as f64;
    match t.schedule {
        Schedule::Constant => lr,
        Schedule::InverseSqrt => {
            if warmup > 0.0 && step < warmup {
                lr * step / warmup
            } else {
                lr * (warmup.max(1.0) / step).sqrt()
            }
        }
        Schedule::Cosine => {
            if warmup > 0.0 && step < warmup {
                return lr * step / warmup;
            }
            // Validation keeps max_steps > warmup_steps; past max_steps the rate stays at min_lr.
            let progress = ((step - warmup) / (t.max_steps as f64 - warmup)).min(1.0);
            t.min_lr + 0.5 * (lr - t.min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
        }
        Schedule::Noam => {
            let warmup = warmup.max(1.0);
            lr * (d_model as f64).powf(-0.5) * step.powf(-0.5).min(step * warmup.powf(-1.5))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(schedule: Schedule, lr: f64, warmup_steps: u64) -> TrainConfig {
        TrainConfig {
            schedule,
            lr,
            warmup_steps,
            ..TrainConfig::default()
        }
    }

    #[test]
    fn inverse_sqrt_warms_up_linearly_then_decays() {
        let t = config(Schedule::InverseSqrt, 1e-3, 100);
        let lr = |s| learning_rate(&t, 256, s);
        assert!((lr(50) - 5e-4).abs() < 1e-12);
        assert!((lr(100) - 1e-3).abs() < 1e-12);
        assert!((lr(400) - 5e-4).abs() < 1e-12);
    }

    #[test]
    fn noam_peaks_at_warmup() {
        let t = config(Schedule::Noam, 2.0, 4000);
        let lr = |s| learning_rate(&t, 512, s);
        assert!(lr(4000) > lr(3999) && lr(4000) > lr(4001));
        assert!((lr(4000) - 2.0 / (512f64.sqrt() * 4000f64.sqrt())).abs() < 1e-12);
    }

    #[test]
    fn cosine_warms_up_then_falls_to_min_lr_at_max_steps() {
        let t = TrainConfig {
            max_steps: 1100,
            min_lr: 1e-4,
            ..config(Schedule::Cosine, 1e-3, 100)
        };
        let lr = |s| learning_rate(&t, 256, s);
        assert!((lr(50) - 5e-4).abs() < 1e-12);
        assert!((lr(100) - 1e-3).abs() < 1e-12);
        // Half-way through the decay: half-way between the peak and the floor.
        assert!((lr(600) - 5.5e-4).abs() < 1e-12);
        // A quarter of the way: cos(pi / 4) of the span above the floor, halved.
        let quarter = 1e-4 + 0.5 * 9e-4 * (1.0 + std::f64::consts::FRAC_1_SQRT_2);
        assert!((lr(350) - quarter).abs() < 1e-12);
        assert!((lr(1100) - 1e-4).abs() < 1e-12);
        assert!((lr(5000) - 1e-4).abs() < 1e-12);
        assert!((101..1100).all(|s| lr(s + 1) < lr(s)));
    }
}
