//! Learning-rate schedules as pure functions of the step, so resuming needs only the step count
//! and the schedule can never restart by accident.

use crate::config::Schedule;

/// The learning rate for optimizer step `step` (counted from 1).
pub fn learning_rate(schedule: Schedule, lr: f64, warmup: u64, d_model: usize, step: u64) -> f64 {
    let step = step.max(1) as f64;
    let warmup = warmup as f64;
    match schedule {
        Schedule::Constant => lr,
        Schedule::InverseSqrt => {
            if warmup > 0.0 && step < warmup {
                lr * step / warmup
            } else {
                lr * (warmup.max(1.0) / step).sqrt()
            }
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

    #[test]
    fn inverse_sqrt_warms_up_linearly_then_decays() {
        let lr = |s| learning_rate(Schedule::InverseSqrt, 1e-3, 100, 256, s);
        assert!((lr(50) - 5e-4).abs() < 1e-12);
        assert!((lr(100) - 1e-3).abs() < 1e-12);
        assert!((lr(400) - 5e-4).abs() < 1e-12);
    }

    #[test]
    fn noam_peaks_at_warmup() {
        let lr = |s| learning_rate(Schedule::Noam, 2.0, 4000, 512, s);
        assert!(lr(4000) > lr(3999) && lr(4000) > lr(4001));
        assert!((lr(4000) - 2.0 / (512f64.sqrt() * 4000f64.sqrt())).abs() < 1e-12);
    }
}
