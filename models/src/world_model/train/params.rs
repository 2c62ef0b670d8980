//! Parameter copies between modules: a checkpoint's weights into a fresh
//! trainable model (resuming), the EMA update of the target Q ensemble, and
//! a module's values as one flat buffer and back (the fused engine's
//! buffers, the target heads in an optimiser sidecar).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};

use crate::world_model::config::ModelError;
use crate::world_model::model::WorldModel;
use crate::world_model::nn::Mlp;

/// `dst` with the parameter values of `src` (same architecture), on
/// `device`, trainable; `dst` keeps its parameter ids.
pub(super) fn copy_weights(
    src: &WorldModel,
    dst: WorldModel,
    device: &Device,
) -> Result<WorldModel, ModelError> {
    let mut values = Collect(Vec::new());
    src.visit(&mut values);
    let expected = dst.num_params();
    let found: usize = values.0.iter().map(|t| t.shape().num_elements()).sum();
    if found != expected {
        return Err(ModelError::Data(format!(
            "checkpoint weights have {found} values, the model {expected}"
        )));
    }
    let mut m = Copy {
        source: values.0.into_iter(),
        device: device.clone(),
    };
    Ok(dst.map(&mut m))
}

/// Puts the values `source` yields into the parameters it maps, in visit
/// order, on `device`.
struct Copy {
    source: std::vec::IntoIter<Tensor<1>>,
    device: Device,
}

impl ModuleMapper for Copy {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(src) = self.source.next() else {
            return param;
        };
        let device = self.device.clone();
        param.map(|t| {
            let dims = t.dims();
            let data = src.into_data();
            Tensor::<1>::from_data(data, &device)
                .reshape(dims)
                .require_grad()
        })
    }
}

/// Collects detached, flattened parameter values in visit order.
struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val().detach();
        let n = t.shape().num_elements();
        self.0.push(t.reshape([n]));
    }
}

/// Moves each parameter a fraction `tau` towards the value `source` yields.
struct Ema {
    source: std::vec::IntoIter<Tensor<1>>,
    tau: f32,
}

impl ModuleMapper for Ema {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let src = self.source.next().expect("same structure");
        let tau = self.tau;
        param.map(|t| {
            let dims = t.dims();
            let src: Tensor<D> = src.reshape(dims);
            (t.detach().mul_scalar(1.0 - tau) + src.mul_scalar(tau)).detach()
        })
    }
}

/// `target <- (1 - tau) target + tau online`, without gradient.
pub(super) fn ema(target: Vec<Mlp>, online: &Vec<Mlp>, tau: f32) -> Vec<Mlp> {
    let mut c = Collect(Vec::new());
    online.visit(&mut c);
    let mut m = Ema {
        source: c.0.into_iter(),
        tau,
    };
    target.map(&mut m).no_grad()
}

/// The values of `module`'s parameters, flat in visit order, and each
/// tensor's size.
pub(super) fn flat_values<M: Module>(module: &M) -> (Vec<f32>, Vec<usize>) {
    let mut read = Read(Vec::new(), Vec::new());
    module.visit(&mut read);
    (read.0, read.1)
}

/// How many values `module`'s parameters hold.
pub(super) fn flat_len<M: Module>(module: &M) -> usize {
    let mut count = Count(0);
    module.visit(&mut count);
    count.0
}

/// `module` with its parameters holding consecutive `values` in visit order,
/// each on its own device and keeping its id; trainable or not. `values`
/// holds exactly [`flat_len`] values (the caller checks: a shorter buffer
/// panics).
pub(super) fn with_flat_values<M: Module>(module: M, values: &[f32], trainable: bool) -> M {
    module.map(&mut Write {
        values,
        at: 0,
        trainable,
    })
}

/// Collects parameter values in visit order, and each tensor's size.
struct Read(Vec<f32>, Vec<usize>);

impl ModuleVisitor for Read {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let data = param.val().into_data();
        let values = data.try_into_vec::<f32>().unwrap_or_default();
        self.1.push(values.len());
        self.0.extend(values);
    }
}

/// Counts parameter values.
struct Count(usize);

impl ModuleVisitor for Count {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0 += param.val().shape().num_elements();
    }
}

/// Puts consecutive values of `values` into the parameters it maps, in
/// visit order, on each parameter's device.
struct Write<'a> {
    values: &'a [f32],
    at: usize,
    trainable: bool,
}

impl ModuleMapper for Write<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (values, trainable) = (self.values, self.trainable);
        let at = &mut self.at;
        param.map(|t| {
            let dims = t.dims();
            let n: usize = dims.iter().product();
            let device = t.device();
            let chunk = values[*at..*at + n].to_vec();
            *at += n;
            let fresh = Tensor::<D>::from_data(TensorData::new(chunk, dims), &device);
            if trainable {
                fresh.require_grad()
            } else {
                fresh
            }
        })
    }
}
