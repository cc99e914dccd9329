//! `nmt_model::on_worker`: host-CPU work moves onto a rayon worker, once.

use burn::tensor::Device;
use nmt_model::on_worker;

#[test]
fn host_work_runs_on_a_worker_and_nested_calls_stay_there() {
    assert_eq!(
        rayon::current_thread_index(),
        None,
        "the test thread is no worker"
    );
    let device = Device::flex();
    let (outer, inner, same_thread) = on_worker(&device, || {
        let outer = rayon::current_thread_index();
        let here = std::thread::current().id();
        // Already on a worker: runs where it is called.
        let (inner, there) = on_worker(&device, || {
            (rayon::current_thread_index(), std::thread::current().id())
        });
        (outer, inner, here == there)
    });
    assert!(outer.is_some(), "not moved onto a worker");
    assert_eq!(inner, outer);
    assert!(same_thread);
    // A result comes back, and parallel work inside still runs.
    let sum: u64 = on_worker(&device, || {
        use rayon::prelude::*;
        (0..1000u64).into_par_iter().sum()
    });
    assert_eq!(sum, 499_500);
}
