//! Dynamic loss scaling for f16 training (PyTorch's `GradScaler`, fairseq's `--fp16`): the
//! loss is multiplied by a large factor before backward so that small f16 gradients do not
//! flush to zero; the gradients are divided by it again before clipping. A step whose
//! gradients overflow (inf/NaN) is skipped and the factor halved; after `window` clean steps in
//! a row it is doubled. Its state is saved in checkpoints, so a resumed run scales exactly as
//! an uninterrupted one.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossScale {
    /// The factor the loss is multiplied by.
    pub scale: f64,
    /// Clean steps since the factor last changed.
    pub clean_steps: u64,
}

impl LossScale {
    pub fn new(initial: f64) -> Self {
        Self {
            scale: initial,
            clean_steps: 0,
        }
    }

    /// Records one step: `finite` says whether its gradients were all finite. Returns whether
    /// the update is to be applied. Overflow halves the scale (never below 2^-24, where f16
    /// gradients would vanish anyway); `window` clean steps in a row double it.
    pub fn update(&mut self, finite: bool, window: u64) -> bool {
        if finite {
            self.clean_steps += 1;
            if self.clean_steps >= window {
                self.scale *= 2.0;
                self.clean_steps = 0;
            }
        } else {
            self.scale = (self.scale * 0.5).max(2f64.powi(-24));
            self.clean_steps = 0;
        }
        finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_skips_and_halves_and_clean_steps_double() {
        let mut s = LossScale::new(1024.0);
        assert!(!s.update(false, 3), "an overflowing step is skipped");
        assert_eq!(
            s,
            LossScale {
                scale: 512.0,
                clean_steps: 0
            }
        );
        assert!(s.update(true, 3));
        assert!(s.update(true, 3));
        assert_eq!(s.scale, 512.0, "not yet: 2 clean steps of 3");
        assert!(s.update(true, 3));
        assert_eq!(
            s,
            LossScale {
                scale: 1024.0,
                clean_steps: 0
            },
            "3 clean steps double it"
        );
        s.update(true, 3);
        assert!(!s.update(false, 3));
        assert_eq!(
            s,
            LossScale {
                scale: 512.0,
                clean_steps: 0
            },
            "overflow restarts the count"
        );
        let mut tiny = LossScale::new(2f64.powi(-24));
        tiny.update(false, 3);
        assert_eq!(tiny.scale, 2f64.powi(-24), "bounded below");
    }
}
