//! Every float parameter of a module, in visiting order, with its structural path (e.g.
//! `encoder.layers.0.ffn.inner.weight`): what fingerprints, averaging, clipping, export and the
//! tests read instead of each writing its own visitor.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

/// One parameter: where it sits in the module tree, its id (what optimizers and gradients key
/// on) and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    pub path: String,
    pub id: ParamId,
    pub dims: Vec<usize>,
}

struct Collect {
    path: Vec<String>,
    with_values: bool,
    found: Vec<(ParamInfo, Vec<f32>)>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let info = ParamInfo {
            path: self.path.join("."),
            id: param.id,
            dims: param.shape().dims::<D>().to_vec(),
        };
        let values = if self.with_values {
            param.val().into_data().iter::<f32>().collect()
        } else {
            Vec::new()
        };
        self.found.push((info, values));
    }
}

fn collect<M: Module>(module: &M, with_values: bool) -> Vec<(ParamInfo, Vec<f32>)> {
    let mut c = Collect {
        path: Vec::new(),
        with_values,
        found: Vec::new(),
    };
    module.visit(&mut c);
    c.found
}

/// Every float parameter's path, id and shape, in visiting order.
pub fn parameters<M: Module>(module: &M) -> Vec<ParamInfo> {
    collect(module, false).into_iter().map(|(i, _)| i).collect()
}

/// Every float parameter with its values (read to the host as f32), in visiting order.
pub fn parameter_values<M: Module>(module: &M) -> Vec<(ParamInfo, Vec<f32>)> {
    collect(module, true)
}
