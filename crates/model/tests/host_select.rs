//! `nmt_model::select_rows` (the CPU's row gather, used on the decoding cache's encoder memory)
//! against Burn's `select`: rows repeated, reordered and dropped, on Flex and under autodiff
//! (where it is Burn's own op).

use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use nmt_model::{seeded, select_rows};

fn burn_select(t: &Tensor<4>, rows: &[usize]) -> Vec<f32> {
    let ids: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    let index = Tensor::<1, Int>::from_data(TensorData::new(ids, [rows.len()]), &t.device());
    t.clone()
        .select(0, index)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

#[test]
fn host_row_gather_equals_burns_select() {
    for device in [Device::flex(), Device::flex().autodiff()] {
        let t = seeded(&device, 7, || {
            Tensor::<4>::random([6, 4, 5, 8], Distribution::Normal(0.0, 1.0), &device)
        });
        for rows in [vec![0, 1, 2, 3, 4, 5], vec![5, 0, 0, 3], vec![2], vec![]] {
            let got = select_rows(t.clone(), &rows);
            assert_eq!(got.dims(), [rows.len(), 4, 5, 8]);
            let got = got.into_data().try_to_vec::<f32>().unwrap();
            assert_eq!(got, burn_select(&t, &rows), "rows {rows:?}");
        }
    }
}

#[test]
#[should_panic(expected = "out of 0..3")]
fn a_row_out_of_range_is_refused() {
    let t = Tensor::<4>::zeros([3, 1, 1, 2], &Device::flex());
    let _ = select_rows(t, &[1, 3]);
}
