//! Where each of a world model's parameters lies in one flat `f32`
//! buffer: burn's module visit order (encoder, dynamics, reward, the Q
//! heads, policy, inverse, decoder, then a pixel model's convolutions; in
//! each MLP its layers' weight and bias, then its LayerNorms' gamma and
//! beta), so values and gradients
//! move between burn and the fused step by one walk over the module.

use std::ops::Range;

use super::conv::ConvStackAt;
use crate::world_model::config::{MlpShape, WorldModelConfig};

/// A dense layer's place: weight `[d_in, d_out]` row-major, bias `[d_out]`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct DenseAt {
    pub weight: Range<usize>,
    pub bias: Range<usize>,
    pub d_in: usize,
    pub d_out: usize,
}

/// A LayerNorm's place: gamma and beta, `[hidden]` each.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct NormAt {
    pub gamma: Range<usize>,
    pub beta: Range<usize>,
}

/// An MLP's place: its layers (input first) and one LayerNorm per hidden
/// layer, or none.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct MlpAt {
    pub layers: Vec<DenseAt>,
    pub norms: Vec<NormAt>,
}

impl MlpAt {
    /// The widths `d_in -> hidden x hidden_layers -> d_out`, laid out from
    /// `*next` on (which moves past it).
    fn new(
        next: &mut usize,
        tensors: &mut Vec<Range<usize>>,
        widths: (usize, usize, usize, usize),
        layer_norm: bool,
    ) -> Self {
        let (d_in, hidden, hidden_layers, d_out) = widths;
        let mut take = |n: usize| {
            let r = *next..*next + n;
            *next += n;
            tensors.push(r.clone());
            r
        };
        let mut layers = Vec::new();
        let mut d = d_in;
        for i in 0..=hidden_layers {
            let out = if i == hidden_layers { d_out } else { hidden };
            let weight = take(d * out);
            let bias = take(out);
            layers.push(DenseAt {
                weight,
                bias,
                d_in: d,
                d_out: out,
            });
            d = out;
        }
        let norms = if layer_norm {
            (0..hidden_layers)
                .map(|_| NormAt {
                    gamma: take(hidden),
                    beta: take(hidden),
                })
                .collect()
        } else {
            Vec::new()
        };
        Self { layers, norms }
    }

    /// The same MLP `by` values further on (a copy in another buffer).
    pub fn shifted(&self, by: isize) -> Self {
        let s = |r: &Range<usize>| (r.start as isize + by) as usize..(r.end as isize + by) as usize;
        Self {
            layers: self
                .layers
                .iter()
                .map(|l| DenseAt {
                    weight: s(&l.weight),
                    bias: s(&l.bias),
                    ..*l
                })
                .collect(),
            norms: self
                .norms
                .iter()
                .map(|n| NormAt {
                    gamma: s(&n.gamma),
                    beta: s(&n.beta),
                })
                .collect(),
        }
    }

    /// Input width.
    #[cfg(test)]
    pub fn d_in(&self) -> usize {
        self.layers[0].d_in
    }

    /// Output width.
    #[cfg(test)]
    pub fn d_out(&self) -> usize {
        self.layers[self.layers.len() - 1].d_out
    }
}

/// Every network of a world model in one flat buffer.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ModelLayout {
    pub encoder: MlpAt,
    pub dynamics: MlpAt,
    pub reward: MlpAt,
    pub q: Vec<MlpAt>,
    pub policy: MlpAt,
    pub inverse: MlpAt,
    pub decoder: MlpAt,
    /// A pixel model's convolutions.
    pub pixel: Option<ConvStackAt>,
    /// Every parameter tensor's range, in visit order (Adam clips each).
    pub tensors: Vec<Range<usize>>,
    /// All the Q heads, one contiguous range (the target ensemble copies it).
    pub q_range: Range<usize>,
    /// Values in all.
    pub len: usize,
}

impl ModelLayout {
    /// The layout of a model of sizes `c`.
    pub fn new(c: &WorldModelConfig) -> Self {
        let (h, ln, s) = (c.hidden, c.layer_norm, c.shapes());
        let mut next = 0;
        let mut tensors = Vec::new();
        let mut mlp =
            |m: MlpShape| MlpAt::new(&mut next, &mut tensors, (m.d_in, h, m.layers, m.d_out), ln);
        let encoder = mlp(s.encoder);
        let dynamics = mlp(s.dynamics);
        let reward = mlp(s.reward);
        let q: Vec<MlpAt> = (0..c.num_q).map(|_| mlp(s.q)).collect();
        let policy = mlp(s.policy);
        let inverse = mlp(s.inverse);
        let decoder = mlp(s.decoder);
        let pixel = c
            .pixels
            .as_ref()
            .map(|p| ConvStackAt::new(p, &mut next, &mut tensors));
        let q_range = q[0].layers[0].weight.start..policy.layers[0].weight.start;
        Self {
            encoder,
            dynamics,
            reward,
            q,
            policy,
            inverse,
            decoder,
            pixel,
            tensors,
            q_range,
            len: next,
        }
    }

    /// The Q heads' places in a buffer holding only `q_range` (the target
    /// ensemble).
    pub fn target_heads(&self) -> Vec<MlpAt> {
        let by = -(self.q_range.start as isize);
        self.q.iter().map(|m| m.shifted(by)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_tile_the_buffer_in_order() {
        let c = WorldModelConfig {
            hidden_layers: 2,
            num_q: 3,
            ..WorldModelConfig::new(5, 2)
        };
        let m = ModelLayout::new(&c);
        let mut at = 0;
        for t in &m.tensors {
            assert_eq!(t.start, at);
            at = t.end;
        }
        assert_eq!(at, m.len);
        assert_eq!(m.dynamics.layers.len(), 3);
        assert_eq!(m.dynamics.norms.len(), 2);
        assert_eq!((m.q[2].d_in(), m.q[2].d_out()), (66, 1));
        let head = m.q[1].layers[0].weight.start - m.q[0].layers[0].weight.start;
        assert_eq!(m.q_range.end - m.q_range.start, 3 * head);
        let t = m.target_heads();
        assert_eq!(t[0].layers[0].weight.start, 0);
        assert_eq!(t[2].norms[0].beta.end, m.q_range.end - m.q_range.start);
    }
}
