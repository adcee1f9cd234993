//! Batching tokenised prompts: left padding to the longest row, the key mask, and where each
//! row's slots landed after padding.

use candle_core::{Device, Tensor};

use crate::error::Result;
use crate::prompt::{PromptTokens, SlotKind};

/// A left-padded batch of token sequences.
#[derive(Debug, Clone)]
pub struct TokenBatch {
    /// `[B, T]` u32.
    pub ids: Tensor,
    /// `[B, T]` u8: 1 real, 0 pad.
    pub mask: Tensor,
    /// `(kind, row, position, token-within-slot)` of every slot position, in row order.
    pub slots: Vec<(SlotKind, usize, usize, usize)>,
}

/// Left-pads `seqs` with `pad_id` so that every row ends at the last position (where the score
/// is read). Every row must have at least one token.
pub fn left_pad(seqs: &[&PromptTokens], pad_id: u32, device: &Device) -> Result<TokenBatch> {
    let len = seqs.iter().map(|s| s.ids.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(seqs.len() * len);
    let mut mask = Vec::with_capacity(seqs.len() * len);
    let mut slots = Vec::new();
    for (row, s) in seqs.iter().enumerate() {
        let pad = len - s.ids.len();
        ids.extend(std::iter::repeat_n(pad_id, pad));
        ids.extend_from_slice(&s.ids);
        mask.extend(std::iter::repeat_n(0u8, pad));
        mask.extend(std::iter::repeat_n(1u8, s.ids.len()));
        for span in &s.slots {
            for j in 0..span.len {
                slots.push((span.kind, row, pad + span.start + j, j));
            }
        }
    }
    let shape = (seqs.len(), len);
    Ok(TokenBatch {
        ids: Tensor::from_vec(ids, shape, device)?,
        mask: Tensor::from_vec(mask, shape, device)?,
        slots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::SlotSpan;

    #[test]
    fn pads_left_and_moves_slots() {
        let a = PromptTokens {
            ids: vec![1, 5, 0, 6],
            slots: vec![SlotSpan {
                kind: SlotKind::User,
                start: 2,
                len: 1,
            }],
        };
        let b = PromptTokens {
            ids: vec![1, 0, 0],
            slots: vec![SlotSpan {
                kind: SlotKind::Item,
                start: 1,
                len: 2,
            }],
        };
        let batch = left_pad(&[&a, &b], 9, &Device::Cpu).unwrap();
        assert_eq!(
            batch.ids.to_vec2::<u32>().unwrap(),
            vec![vec![1, 5, 0, 6], vec![9, 1, 0, 0]]
        );
        assert_eq!(
            batch.mask.to_vec2::<u8>().unwrap(),
            vec![vec![1, 1, 1, 1], vec![0, 1, 1, 1]]
        );
        assert_eq!(
            batch.slots,
            vec![
                (SlotKind::User, 0, 2, 0),
                (SlotKind::Item, 1, 2, 0),
                (SlotKind::Item, 1, 3, 1)
            ]
        );
    }
}
