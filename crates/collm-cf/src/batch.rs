//! Turning interaction rows into the id tensors a collaborative model reads.

use candle_core::{Device, Tensor};
use collm_data::Interaction;

use crate::ModelBase;

/// The ids of one batch of rows, on the model's device.
#[derive(Debug, Clone)]
pub struct CfBatch {
    /// `[B]` u32 user ids.
    pub uids: Tensor,
    /// `[B]` u32 target item ids.
    pub iids: Tensor,
    /// `[B, L]` u32: each row's last `L` history items, oldest first, left-padded with 0.
    /// Present only for models that read history (`CfModel::history_len() > 0`).
    pub his: Option<Tensor>,
}

impl CfBatch {
    pub fn len(&self) -> usize {
        self.uids.dims1().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `[B, L]`: the history ids, for a model that reads exactly `L = history_len` of them; an
    /// error naming the model if the batch has none or another length.
    pub(crate) fn history(&self, model: &ModelBase) -> candle_core::Result<&Tensor> {
        let (name, len) = (model.kind.name(), model.history_len);
        let his = self.his.as_ref().ok_or_else(|| {
            candle_core::Error::Msg(format!(
                "{name}: the batch has no history (build it with history_len())"
            ))
        })?;
        let got = his.dim(1)?;
        if got != len {
            candle_core::bail!("{name}: history of {got} items, the model reads exactly {len}");
        }
        Ok(his)
    }

    /// The rows of this batch picked by `idx` (`[n]` u32), e.g. a shuffled slice of a split.
    pub fn select(&self, idx: &Tensor) -> candle_core::Result<CfBatch> {
        Ok(CfBatch {
            uids: self.uids.index_select(idx, 0)?,
            iids: self.iids.index_select(idx, 0)?,
            his: self
                .his
                .as_ref()
                .map(|h| h.index_select(idx, 0))
                .transpose()?,
        })
    }
}

/// Builds the batch of `rows`; `history_len` is the model's `history_len()` (0: no `his`).
pub fn batch_for(
    rows: &[Interaction],
    history_len: usize,
    device: &Device,
) -> candle_core::Result<CfBatch> {
    let uids: Vec<u32> = rows.iter().map(|r| r.uid).collect();
    let iids: Vec<u32> = rows.iter().map(|r| r.iid).collect();
    let n = rows.len();
    let his = if history_len == 0 {
        None
    } else {
        let mut ids = vec![0u32; n * history_len];
        for (r, out) in rows.iter().zip(ids.chunks_exact_mut(history_len)) {
            let take = r.his.len().min(history_len);
            out[history_len - take..].copy_from_slice(&r.his[r.his.len() - take..]);
        }
        Some(Tensor::from_vec(ids, (n, history_len), device)?)
    };
    Ok(CfBatch {
        uids: Tensor::from_vec(uids, n, device)?,
        iids: Tensor::from_vec(iids, n, device)?,
        his,
    })
}

/// The 0/1 labels of `rows` as an f32 `[B]` tensor.
pub fn labels_for(rows: &[Interaction], device: &Device) -> candle_core::Result<Tensor> {
    let labels: Vec<f32> = rows.iter().map(|r| f32::from(r.label)).collect();
    Tensor::from_vec(labels, rows.len(), device)
}
