//! Seeded random draws that stay one caller's own when several threads share the backend.
//!
//! Burn's backends keep one random generator per process, not per thread or device (Flex: a
//! global `Mutex<Option<StdRng>>` that `Device::seed` replaces; libtorch: its default
//! generator). Two threads that each seed and then draw (tests building models in parallel, a
//! program training two models at once) interleave their draws, and "same seed, same weights"
//! silently stops holding. Everything in nmt that seeds and then draws does both under one
//! process-wide lock, through [`seeded`].

use std::sync::{Mutex, PoisonError};

use burn::tensor::Device;

static DEVICE_RNG: Mutex<()> = Mutex::new(());

/// Seeds the backend's generator and runs `draw` while no other caller of `seeded` can seed
/// or draw, so the random values `draw` takes (weight init, dropout masks, random tensors) are
/// exactly those that follow `seed`. Draws made outside `seeded` are not held off: code that
/// must be reproducible draws inside it. Not re-entrant: `draw` must not call `seeded`.
pub fn seeded<R>(device: &Device, seed: u64, draw: impl FnOnce() -> R) -> R {
    // A panic in another caller's `draw` leaves nothing half-done that the lock guards.
    let _only_drawer = DEVICE_RNG.lock().unwrap_or_else(PoisonError::into_inner);
    device.seed(seed);
    draw()
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tensor};

    use super::*;

    fn draws(device: &Device, seed: u64) -> Vec<f32> {
        seeded(device, seed, || {
            // Many small draws, so an unguarded neighbour has many chances to cut in.
            (0..256)
                .flat_map(|_| {
                    Tensor::<1>::random([64], Distribution::Default, device)
                        .into_data()
                        .iter::<f32>()
                        .collect::<Vec<_>>()
                })
                .collect()
        })
    }

    #[test]
    fn threads_drawing_at_once_get_their_own_seeded_values() {
        let device = Device::flex();
        let want: Vec<Vec<f32>> = (0..4).map(|s| draws(&device, s)).collect();
        assert_ne!(want[0], want[1]);
        // Every round starts all threads together, so unguarded draws would overlap. Threads
        // count their mismatches rather than panic, which would leave the others at the barrier.
        let start = std::sync::Barrier::new(4);
        let mismatches: Vec<usize> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4u64)
                .map(|s| {
                    let (device, want, start) = (device.clone(), &want[s as usize], &start);
                    scope.spawn(move || {
                        (0..20)
                            .filter(|_| {
                                start.wait();
                                draws(&device, s) != *want
                            })
                            .count()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert_eq!(
            mismatches,
            [0, 0, 0, 0],
            "rounds whose draws were not the seed's own"
        );
    }
}
