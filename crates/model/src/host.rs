//! Work done on the host CPU instead of through tensor ops, where the backend runs on this
//! machine's CPU: Flex runs element-wise ops on one thread, so one parallel pass over a host
//! buffer beats several tensor ops there (the dropout mask, the loss, Adam, the decoding cache
//! and token choice).

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Device, Tensor, TensorData};

/// Whether `device` computes on this machine's CPU (Flex, NdArray), where host-side kernels
/// beat composed tensor ops, as opposed to an accelerator (or libtorch), where copying to the
/// host costs more.
pub fn is_host_cpu(device: &Device) -> bool {
    let name = format!("{device:?}");
    name.contains("Flex") || name.contains("NdArray")
}

/// Runs `work` on one of rayon's worker threads when `device` is the host CPU and the caller
/// is not one already (elsewhere, or from a worker, where it is called). Decoding runs each
/// step's small serial part on the host between some forty parallel ops; called from outside
/// the pool, every op injected a job and put the caller to sleep until it was done, a futex
/// wake-up each time. From a worker an op is a `join` the other worker steals while spinning:
/// greedy decoding of test_2016_flickr went from 32k context switches to 2.5k and ~8% faster.
pub fn on_worker<R: Send>(device: &Device, work: impl FnOnce() -> R + Send) -> R {
    if is_host_cpu(device) && rayon::current_thread_index().is_none() {
        rayon::scope(|_| work())
    } else {
        work()
    }
}

/// `t`'s Flex primitive, read in place, when it is an f32 tensor of Flex off the autodiff graph;
/// `None` for any other backend (NdArray included), under autodiff, or for another dtype. What
/// the host kernels here and in `host_attention.rs` read.
pub(crate) fn flex_f32<const D: usize>(t: &Tensor<D>) -> Option<FlexTensor> {
    let device = t.device();
    if device.is_autodiff() || !is_host_cpu(&device) || t.dtype() != DType::F32 {
        return None;
    }
    t.clone().try_into_primitive::<Flex>().ok()
}

/// Reads a float tensor to the host as an f32 buffer to work in: on the CPU backend a tensor
/// nothing else holds is handed over without a copy; another dtype is converted once.
pub fn host_f32<const D: usize>(t: Tensor<D>) -> TensorData {
    let data = t.into_data();
    if data.dtype() == DType::F32 {
        data
    } else {
        data.convert::<f32>()
    }
}

/// `t` in a buffer of its own, laid out in order, on the host CPU (elsewhere `t` as it is). For a
/// strided view that an op reads many times: Flex's attention copies strided keys and values
/// into order on every call, so the encoder memory's keys and values, split into heads once per
/// batch, were copied again at every decoding step and layer (7% of greedy decoding).
pub fn contiguous<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    let device = t.device();
    if !is_host_cpu(&device) || device.is_autodiff() {
        return t;
    }
    Tensor::from_data(t.into_data(), &device)
}

/// `t`'s rows `rows` (along its first dimension), in that order. On the host CPU one parallel
/// copy of whole rows; Flex's `select` zero-filled its output and gathered on one thread, and
/// greedy decoding gathers the encoder memory's keys and values whenever a sentence finishes
/// (5% of its wall time, while the other thread waited). Elsewhere Burn's `select`.
pub fn select_rows<const D: usize>(t: Tensor<D>, rows: &[usize]) -> Tensor<D> {
    use rayon::prelude::*;
    let device = t.device();
    let dims = t.dims();
    let row: usize = dims[1..].iter().product();
    // Read where it lies (into_data would copy it first); a strided view is laid out once.
    let flex = match flex_f32(&t) {
        Some(flex) if row > 0 => flex,
        _ => return t.select(0, crate::cache::row_index(rows, &device)),
    };
    assert!(
        rows.iter().all(|&r| r < dims[0]),
        "select_rows: a row out of 0..{}",
        dims[0]
    );
    let flex = if flex.is_contiguous() {
        flex
    } else {
        flex.to_contiguous()
    };
    let src = &flex.storage::<f32>()[flex.layout().start_offset()..];
    let len = rows.len() * row;
    let mut out: Vec<f32> = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(row)
        .zip(rows)
        .for_each(|(dst, &r)| {
            dst.write_copy_of_slice(&src[r * row..][..row]);
        });
    // SAFETY: the chunks cover all `len` elements and each was written above.
    unsafe { out.set_len(len) };
    let mut shape = dims;
    shape[0] = rows.len();
    Tensor::from_data(TensorData::new(out, shape), &device)
}

/// `x W + b` for `x` `[rows, d_in]`, `W` `[d_in, d_out]`, on the Flex backend off the autodiff
/// graph, all f32; `None` anywhere else (the caller then takes Burn's `linear`). The output
/// buffer starts as copies of the bias and gemm adds the product into it, where Burn's `linear`
/// zero-fills the output, multiplies, and adds the bias in a separate single-threaded pass; in
/// beam search that pass and the zeroing were a fifth of the main thread's time. The operands
/// are read where they lie (a weight is not copied, a transposed one is read by its strides).
pub fn linear_rows(
    x: &Tensor<2>,
    weight: &Tensor<2>,
    bias: Option<&Tensor<1>>,
) -> Option<Tensor<2>> {
    let device = x.device();
    let (x, w) = (flex_f32(x)?, flex_f32(weight)?);
    let b = match bias {
        Some(b) => Some(flex_f32(b)?.to_contiguous()),
        None => None,
    };
    let ([rows, d_in], [w_in, d_out]) = (dims2(x.layout()), dims2(w.layout()));
    assert_eq!(
        d_in, w_in,
        "linear: input width {d_in} against weight rows {w_in}"
    );
    if d_in == 0 || d_out == 0 {
        // gemm would write nothing into the unzeroed buffer, and the bias fill cannot split an
        // empty row; Burn's linear copes.
        return None;
    }
    // Not zeroed: every element is written once, by the bias rows below or by gemm (which then
    // does not read it); at beam 5 the zeroing of the logits alone was 5% of decoding.
    let mut out: Vec<f32> = Vec::with_capacity(rows * d_out);
    if let Some(b) = &b {
        let b = b.as_slice::<f32>().expect("a contiguous bias");
        assert_eq!(b.len(), d_out, "linear: bias length");
        use rayon::prelude::*;
        out.spare_capacity_mut()[..rows * d_out]
            .par_chunks_mut(d_out)
            .for_each(|row| {
                row.write_copy_of_slice(b);
            });
    }
    let (x_rs, x_cs) = strides2(x.layout());
    let (w_rs, w_cs) = strides2(w.layout());
    let (xs, ws) = (x.storage::<f32>(), w.storage::<f32>());
    let parallel = rows * d_in * d_out >= PARALLEL_MACS;
    // Inside a decoding call, the weight packed once (see `packed.rs`).
    let packed = match (x_cs, usize::try_from(x_rs)) {
        (1, Ok(x_rs)) => crate::packed::packed(&w).map(|p| (p, x_rs)),
        _ => None,
    };
    if let Some((packed, x_rs)) = packed {
        // SAFETY: `x` is `rows` rows of `d_in` values `x_rs` apart with unit column stride
        // (its Flex layout), `packed` is this weight's `[d_in, d_out]`, and `out` has room for
        // `rows x d_out` values, initialized by the bias fill when there is a bias.
        unsafe {
            crate::packed::product(
                out.as_mut_ptr(),
                xs.as_ptr().add(x.layout().start_offset()),
                x_rs,
                rows,
                &packed,
                b.is_some(),
                parallel,
            );
            // SAFETY: every element was written, by the bias fill or by the product.
            out.set_len(rows * d_out);
        }
        return Some(Tensor::from_data(
            TensorData::new(out, [rows, d_out]),
            &device,
        ));
    }
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the pointers and strides describe the two operands' own layouts within their
    // storage (Flex's layout invariants), and `out` has room for `rows x d_out` row-major values.
    unsafe {
        gemm::gemm(
            rows,
            d_out,
            d_in,
            out.as_mut_ptr(),
            1,
            d_out as isize,
            b.is_some(),
            xs.as_ptr().add(x.layout().start_offset()),
            x_cs,
            x_rs,
            ws.as_ptr().add(w.layout().start_offset()),
            w_cs,
            w_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
        // SAFETY: all `rows * d_out` elements were written, by the bias fill or by gemm.
        out.set_len(rows * d_out);
    }
    Some(Tensor::from_data(
        TensorData::new(out, [rows, d_out]),
        &device,
    ))
}

/// The smallest product (multiply-adds) that `linear_rows` splits across threads: 64^3, where
/// Flex's own threshold is 192^3. Greedy decoding's batches shrink as sentences finish, and
/// below 192^3 (about 110 rows of a 256 x 256 projection) their last steps ran every
/// projection on one thread while the other waited (a fifth of greedy decoding's wall time).
const PARALLEL_MACS: usize = 64 * 64 * 64;

fn dims2(layout: &burn::backend::flex::Layout) -> [usize; 2] {
    let shape = layout.shape();
    [shape[0], shape[1]]
}

fn strides2(layout: &burn::backend::flex::Layout) -> (isize, isize) {
    let s = layout.strides();
    (s[0], s[1])
}
