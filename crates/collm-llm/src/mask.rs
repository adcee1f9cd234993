//! From a key mask (1 real token, 0 pad; pads anywhere) to what attention needs: each token's
//! position counting only real tokens (continuing after a cached prefix), each row's last real
//! index, and the additive causal + padding bias.

use candle_core::{DType, Device, Tensor};

use crate::{LlmError, Result};

/// Reads a `[B, T]` mask of any numeric dtype into booleans (non-zero = real).
pub(crate) fn read_mask(mask: &Tensor, batch: usize, len: usize) -> Result<Vec<Vec<bool>>> {
    let dims = mask.dims();
    if dims != [batch, len] {
        return Err(LlmError::Input(format!(
            "mask has shape {dims:?}, expected [{batch}, {len}]"
        )));
    }
    let values = mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    Ok(values
        .into_iter()
        .map(|row| row.into_iter().map(|v| v != 0.0).collect())
        .collect())
}

/// What came before this call's tokens, per row: which cached keys are real and their positions.
#[derive(Debug, Clone, Default)]
pub(crate) struct PrefixLayout {
    pub(crate) real: Vec<Vec<bool>>,
    pub(crate) positions: Vec<Vec<u32>>,
    /// Real tokens in the prefix of each row: where this call's positions continue.
    pub(crate) counts: Vec<u32>,
}

/// The attention layout of one call over `[B, T]` new tokens after an optional prefix.
pub(crate) struct CallLayout {
    /// Positions of the new tokens, `[B][T]`.
    pub(crate) positions: Vec<Vec<u32>>,
    /// Index of each row's last real new token, if it has one.
    pub(crate) last_real: Vec<Option<usize>>,
    /// The prefix extended by this call's tokens (for a cache that grows, as in generation).
    pub(crate) extended: PrefixLayout,
}

impl CallLayout {
    pub(crate) fn new(real: &[Vec<bool>], prefix: &PrefixLayout) -> Self {
        let batch = real.len();
        let mut positions = Vec::with_capacity(batch);
        let mut last_real = Vec::with_capacity(batch);
        let mut extended = PrefixLayout::default();
        for (b, row) in real.iter().enumerate() {
            let start = prefix.counts.get(b).copied().unwrap_or(0);
            let mut seen = 0u32;
            let row_positions: Vec<u32> = row
                .iter()
                .map(|&is_real| {
                    if is_real {
                        seen += 1;
                    }
                    // A pad takes the position of the last real token before it; nothing attends
                    // to it, so the value only has to be in range.
                    (start + seen).saturating_sub(1)
                })
                .collect();
            last_real.push(row.iter().rposition(|&r| r));
            let mut ext_real = prefix.real.get(b).cloned().unwrap_or_default();
            ext_real.extend_from_slice(row);
            let mut ext_pos = prefix.positions.get(b).cloned().unwrap_or_default();
            ext_pos.extend_from_slice(&row_positions);
            extended.real.push(ext_real);
            extended.positions.push(ext_pos);
            extended.counts.push(start + seen);
            positions.push(row_positions);
        }
        Self {
            positions,
            last_real,
            extended,
        }
    }

    /// Additive bias `[B, 1, T, P + T]`: 0 where query `i` may attend to key `j`, −∞ elsewhere.
    /// A query sees the real prefix keys and the real new keys up to itself, within the sliding
    /// window if any; every query also sees itself, so a pad's softmax row is never empty.
    pub(crate) fn bias(
        &self,
        prefix: &PrefixLayout,
        window: Option<usize>,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let batch = self.positions.len();
        let len = self.positions.first().map_or(0, |r| r.len());
        let prefix_len = prefix.real.first().map_or(0, |r| r.len());
        let keys = prefix_len + len;
        let in_window = |q: u32, k: u32| window.is_none_or(|w| (q.saturating_sub(k) as usize) < w);
        let mut bias = vec![f32::NEG_INFINITY; batch * len * keys];
        for b in 0..batch {
            let new_real = &self.extended.real[b][prefix_len..];
            for i in 0..len {
                let q = self.positions[b][i];
                let row = &mut bias[(b * len + i) * keys..(b * len + i + 1) * keys];
                for (j, bias) in row[..prefix_len].iter_mut().enumerate() {
                    if prefix.real[b][j] && in_window(q, prefix.positions[b][j]) {
                        *bias = 0.0;
                    }
                }
                for j in 0..=i {
                    if j == i || (new_real[j] && in_window(q, self.positions[b][j])) {
                        row[prefix_len + j] = 0.0;
                    }
                }
            }
        }
        Ok(Tensor::from_vec(bias, (batch, 1, len, keys), device)?.to_dtype(dtype)?)
    }
}
