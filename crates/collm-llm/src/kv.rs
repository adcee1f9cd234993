//! Cached keys and values of a prompt prefix, so later calls over the same rows run only on the
//! tokens after it (the stage-2 cache and the generation cache).

use candle_core::Tensor;

use crate::mask::PrefixLayout;
use crate::{LlmError, Result};

/// Per-layer rotated keys and values `[B, P, kv_heads·head_dim]` of a prefix of `B` rows, with
/// the prefix's mask and positions. Holds no gradient graph: a prefix is a constant for the
/// calls that use it, which is exact only while the weights that produced it are frozen (LoRA
/// frozen and its dropout off, as in CoLLM's stage 2).
#[derive(Debug, Clone)]
pub struct KvPrefix {
    pub(crate) layers: Vec<(Tensor, Tensor)>,
    pub(crate) layout: PrefixLayout,
}

impl KvPrefix {
    pub(crate) fn new(layers: Vec<(Tensor, Tensor)>, layout: PrefixLayout) -> Self {
        Self { layers, layout }
    }

    /// Rows in the prefix.
    pub fn batch(&self) -> usize {
        self.layout.real.len()
    }

    /// Cached positions per row, pads included.
    pub fn len(&self) -> usize {
        self.layout.real.first().map_or(0, |r| r.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Real (unpadded) tokens per row: where the next call's positions continue.
    pub fn real_counts(&self) -> &[u32] {
        &self.layout.counts
    }

    /// A prefix whose row `i` is this prefix's row `rows[i]` (rows may repeat), e.g. to share
    /// one cached prompt head across a batch.
    pub fn select_rows(&self, rows: &[usize]) -> Result<KvPrefix> {
        if let Some(&bad) = rows.iter().find(|&&r| r >= self.batch()) {
            return Err(LlmError::Input(format!(
                "prefix row {bad} out of range (batch {})",
                self.batch()
            )));
        }
        let device = self.layers.first().map(|(k, _)| k.device().clone());
        let layers = match device {
            None => vec![],
            Some(device) => {
                let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
                let idx = Tensor::new(idx.as_slice(), &device)?;
                self.layers
                    .iter()
                    .map(|(k, v)| Ok((k.index_select(&idx, 0)?, v.index_select(&idx, 0)?)))
                    .collect::<Result<Vec<_>>>()?
            }
        };
        fn pick<T: Clone>(v: &[T], rows: &[usize]) -> Vec<T> {
            rows.iter().map(|&r| v[r].clone()).collect()
        }
        let layout = PrefixLayout {
            real: pick(&self.layout.real, rows),
            positions: pick(&self.layout.positions, rows),
            counts: rows.iter().map(|&r| self.layout.counts[r]).collect(),
        };
        Ok(KvPrefix { layers, layout })
    }
}
