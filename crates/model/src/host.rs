//! Work done on the host CPU instead of through tensor ops, where the backend runs on this
//! machine's CPU: Flex runs element-wise ops on one thread, so one parallel pass over a host
//! buffer beats several tensor ops there (the dropout mask, the loss, Adam, the decoding cache
//! and token choice).

use burn::tensor::{DType, Device, Tensor, TensorData};

/// Whether `device` computes on this machine's CPU (Flex, NdArray), where host-side kernels
/// beat composed tensor ops, as opposed to an accelerator (or libtorch), where copying to the
/// host costs more.
pub fn is_host_cpu(device: &Device) -> bool {
    let name = format!("{device:?}");
    name.contains("Flex") || name.contains("NdArray")
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
