//! Packing a padded batch's real positions together, so that the projections and the MLP, most
//! of a pass's work, run on real tokens only.
//!
//! Why: rows of a batch pad to its longest one, and a training batch of 16 random ML-1M prompts
//! (82 to 251 tokens) is about a fifth padding. Between attentions nothing mixes positions, so
//! the residual stream can hold the real positions alone, `[1, N, H]`; only attention needs the
//! padded `[B, T, ·]` layout, where queries, keys and values are put back. A pad gets a copy of
//! the first real position's values: any finite value does, since the bias gives a pad key zero
//! weight for every real query and a pad query (which sees only itself) is dropped when its
//! output is packed again; zero weights and dropped outputs pass no gradient back. Gathering
//! and placing are `index_select`s, so gradients flow through both.

use candle_core::{Device, Tensor};

use crate::Result;

/// Where each real position of a `[B, T]` batch sits once packed.
pub(crate) struct Packing {
    batch: usize,
    len: usize,
    /// Packed row of each padded position `b * T + t`; pads point at row 0.
    row_of: Vec<u32>,
    /// `[N]`: the padded position of each packed row (`None`: the batch runs unpacked, and
    /// packing is a reshape).
    gather: Option<Tensor>,
    /// `[B * T]`: `row_of` as a tensor, for placing packed rows back.
    place: Option<Tensor>,
}

impl Packing {
    /// From each row's real positions (`real[b][t]`).
    pub(crate) fn new(real: &[Vec<bool>], device: &Device) -> Result<Self> {
        let batch = real.len();
        let len = real.first().map_or(0, Vec::len);
        let positions: Vec<u32> = real
            .iter()
            .flatten()
            .enumerate()
            .filter(|(_, &r)| r)
            .map(|(i, _)| i as u32)
            .collect();
        // A batch with no pad, or nothing but pads (a prefix pass may have such rows), runs
        // unpacked.
        let padded = !positions.is_empty() && positions.len() < batch * len;
        let row_of = if padded {
            let mut row_of = vec![0; batch * len];
            for (n, &p) in positions.iter().enumerate() {
                row_of[p as usize] = n as u32;
            }
            row_of
        } else {
            (0..(batch * len) as u32).collect()
        };
        Ok(Packing {
            batch,
            len,
            gather: padded
                .then(|| Tensor::new(positions.as_slice(), device))
                .transpose()?,
            place: padded
                .then(|| Tensor::new(row_of.as_slice(), device))
                .transpose()?,
            row_of,
        })
    }

    /// `[B, T, X]` to `[1, N, X]`: the real positions, in row order.
    pub(crate) fn pack(&self, t: &Tensor) -> Result<Tensor> {
        let width = t.dim(2)?;
        let flat = t.reshape((1, self.batch * self.len, width))?;
        Ok(match &self.gather {
            Some(g) => flat.squeeze(0)?.index_select(g, 0)?.unsqueeze(0)?,
            None => flat,
        })
    }

    /// `[1, N, X]` back to `[B, T, X]`, pads holding packed row 0's values.
    pub(crate) fn unpack(&self, t: &Tensor) -> Result<Tensor> {
        let shape = (self.batch, self.len, t.dim(2)?);
        Ok(match &self.place {
            Some(p) => t.squeeze(0)?.index_select(p, 0)?.reshape(shape)?,
            None => t.reshape(shape)?,
        })
    }

    /// The packed row of padded position `b * T + t` (a real one).
    pub(crate) fn row_of(&self, position: u32) -> u32 {
        self.row_of[position as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_real_positions_and_puts_them_back() {
        let real = vec![vec![false, true, true], vec![true, true, true]];
        let packing = Packing::new(&real, &Device::Cpu).unwrap();
        let x = Tensor::arange(0f32, 12., &Device::Cpu)
            .unwrap()
            .reshape((2, 3, 2))
            .unwrap();
        let packed = packing.pack(&x).unwrap();
        assert_eq!(packed.dims(), &[1, 5, 2]);
        assert_eq!(
            packed.squeeze(0).unwrap().to_vec2::<f32>().unwrap(),
            vec![
                vec![2., 3.],
                vec![4., 5.],
                vec![6., 7.],
                vec![8., 9.],
                vec![10., 11.]
            ]
        );
        let back = packing.unpack(&packed).unwrap();
        let mut want = x.to_vec3::<f32>().unwrap();
        want[0][0] = vec![2., 3.]; // the pad: packed row 0
        assert_eq!(back.to_vec3::<f32>().unwrap(), want);
        assert_eq!((packing.row_of(1), packing.row_of(5)), (0, 4));
    }

    #[test]
    fn a_batch_without_pads_or_without_real_tokens_runs_unpacked() {
        for real in [vec![vec![true, true]], vec![vec![false, false]]] {
            let packing = Packing::new(&real, &Device::Cpu).unwrap();
            assert!(packing.gather.is_none() && packing.place.is_none());
            let x = Tensor::ones((1, 2, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
            assert_eq!(packing.pack(&x).unwrap().dims(), &[1, 2, 3]);
            assert_eq!(packing.unpack(&x).unwrap().dims(), &[1, 2, 3]);
            assert_eq!(packing.row_of(1), 1);
        }
    }
}
