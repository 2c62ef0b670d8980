//! One MLP of the fused step: the forward pass keeping what the backward
//! pass needs, and the backward pass into a flat gradient buffer.

use super::kernels::{
    Operand, add_bias, add_column_sums, layer_norm_relu, layer_norm_relu_backward, matmul, product,
    relu, relu_backward,
};
use super::layout::MlpAt;
use crate::world_model::nn::LAYER_NORM_EPS;

/// What a forward pass of an MLP on `rows` rows keeps: each hidden layer's
/// output (the next layer's input; also the ReLU's mask), its LayerNorm's
/// normalised values and inverse deviations, and the output.
pub(super) struct Pass {
    pub rows: usize,
    hidden: Vec<Vec<f32>>,
    xhat: Vec<Vec<f32>>,
    rstd: Vec<Vec<f32>>,
    /// The last layer's output, `rows x d_out`.
    pub out: Vec<f32>,
}

/// Which gradients a backward pass computes besides the parameters'.
pub(super) enum InputGrad {
    /// None (the input is data or a detached latent).
    None,
    /// The input's columns `lo..hi`, `rows x (hi - lo)`.
    Columns(usize, usize),
}

/// `mlp` (at `params`) on `rows` rows of `x`.
pub(super) fn forward(mlp: &MlpAt, params: &[f32], x: &[f32], rows: usize) -> Pass {
    let last = mlp.layers.len() - 1;
    let mut pass = Pass {
        rows,
        hidden: Vec::with_capacity(last),
        xhat: Vec::with_capacity(mlp.norms.len()),
        rstd: Vec::with_capacity(mlp.norms.len()),
        out: Vec::new(),
    };
    for (i, layer) in mlp.layers.iter().enumerate() {
        let input: &[f32] = if i == 0 { x } else { &pass.hidden[i - 1] };
        let mut y = product(
            rows,
            layer.d_out,
            layer.d_in,
            Operand::rows(input, layer.d_in),
            Operand::rows(&params[layer.weight.clone()], layer.d_out),
        );
        add_bias(&mut y, &params[layer.bias.clone()]);
        if i == last {
            pass.out = y;
        } else {
            if let Some(norm) = mlp.norms.get(i) {
                let mut xhat = vec![0.0f32; rows * layer.d_out];
                let mut rstd = vec![0.0f32; rows];
                layer_norm_relu(
                    &mut y,
                    &params[norm.gamma.clone()],
                    &params[norm.beta.clone()],
                    LAYER_NORM_EPS as f32,
                    &mut xhat,
                    &mut rstd,
                );
                pass.xhat.push(xhat);
                pass.rstd.push(rstd);
            } else {
                relu(&mut y);
            }
            pass.hidden.push(y);
        }
    }
    pass
}

/// The backward pass of `pass` (a [`forward`] of `mlp` on `x`) for the
/// output gradient `dout` (`rows x d_out`, consumed): the parameters'
/// gradients are added into `grads` at `mlp`'s places when it is given
/// (`None` for frozen parameters, such as the target heads), and the
/// input gradient `wanted` is returned (empty for [`InputGrad::None`]).
pub(super) fn backward(
    mlp: &MlpAt,
    params: &[f32],
    x: &[f32],
    pass: &Pass,
    mut dout: Vec<f32>,
    mut grads: Option<&mut [f32]>,
    wanted: InputGrad,
) -> Vec<f32> {
    let rows = pass.rows;
    for (i, layer) in mlp.layers.iter().enumerate().rev() {
        let input: &[f32] = if i == 0 { x } else { &pass.hidden[i - 1] };
        if let Some(g) = grads.as_deref_mut() {
            matmul(
                &mut g[layer.weight.clone()],
                layer.d_in,
                layer.d_out,
                rows,
                Operand::transposed(input, layer.d_in),
                Operand::rows(&dout, layer.d_out),
                true,
            );
            add_column_sums(&mut g[layer.bias.clone()], &dout);
        }
        // The gradient of this layer's input: all of it for a hidden
        // layer, the wanted columns for the first.
        let (lo, hi) = match (i, &wanted) {
            (0, InputGrad::None) => return Vec::new(),
            (0, InputGrad::Columns(lo, hi)) => (*lo, *hi),
            _ => (0, layer.d_in),
        };
        let w = &params[layer.weight.clone()];
        let mut dx = product(
            rows,
            hi - lo,
            layer.d_out,
            Operand::rows(&dout, layer.d_out),
            Operand::transposed(&w[lo * layer.d_out..hi * layer.d_out], layer.d_out),
        );
        if i == 0 {
            return dx;
        }
        // Back through the previous hidden layer's LayerNorm and ReLU.
        let out = &pass.hidden[i - 1];
        match (mlp.norms.get(i - 1), grads.as_deref_mut()) {
            (Some(norm), Some(g)) => {
                let (gamma, beta) = (norm.gamma.clone(), norm.beta.clone());
                // gamma and beta are adjacent: split the buffer between them.
                let (dg, db) = g.split_at_mut(beta.start);
                layer_norm_relu_backward(
                    &mut dx,
                    out,
                    &pass.xhat[i - 1],
                    &pass.rstd[i - 1],
                    &params[gamma.clone()],
                    &mut dg[gamma],
                    Some(&mut db[..beta.end - beta.start]),
                );
            }
            (Some(norm), None) => {
                let mut scratch = vec![0.0f32; norm.gamma.len()];
                layer_norm_relu_backward(
                    &mut dx,
                    out,
                    &pass.xhat[i - 1],
                    &pass.rstd[i - 1],
                    &params[norm.gamma.clone()],
                    &mut scratch,
                    None,
                );
            }
            (None, _) => relu_backward(&mut dx, out),
        }
        dout = dx;
    }
    Vec::new()
}
