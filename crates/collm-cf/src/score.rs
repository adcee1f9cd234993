//! Scoring rows with a model in batches, into the `ScoredRow`s the metrics read.

use candle_core::Device;
use collm_data::Interaction;
use collm_eval::ScoredRow;

use crate::model::IdSpace;
use crate::{batch_for, CfBatch, CfError, CfModel};

/// Rows cut into batches once, so repeated evaluation (every epoch) only runs the model.
pub(crate) struct PreparedRows<'a> {
    pub rows: &'a [Interaction],
    pub batches: Vec<CfBatch>,
}

impl<'a> PreparedRows<'a> {
    pub fn new(
        rows: &'a [Interaction],
        batch_size: usize,
        history_len: usize,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let batches = rows
            .chunks(batch_size.max(1))
            .map(|chunk| batch_for(chunk, history_len, device))
            .collect::<candle_core::Result<_>>()?;
        Ok(PreparedRows { rows, batches })
    }

    /// The model's logit for every row, in row order. Uses the model's current train/eval mode.
    pub fn score(&self, model: &dyn CfModel) -> candle_core::Result<Vec<ScoredRow>> {
        let mut logits = Vec::with_capacity(self.rows.len());
        for batch in &self.batches {
            logits.extend(model.logits(batch)?.to_vec1::<f32>()?);
        }
        Ok(self
            .rows
            .iter()
            .zip(logits)
            .map(|(r, logit)| ScoredRow {
                uid: r.uid,
                label: r.label,
                logit,
                warm: r.warm,
            })
            .collect())
    }
}

/// Scores `rows` in batches of `batch_size`, in the model's current mode (the trainer leaves it
/// in eval mode).
pub fn score_rows(
    model: &dyn CfModel,
    rows: &[Interaction],
    batch_size: usize,
) -> Result<Vec<ScoredRow>, CfError> {
    check_ids(rows, model.id_space(), "rows to score")?;
    let prepared = PreparedRows::new(rows, batch_size, model.history_len(), model.device())?;
    Ok(prepared.score(model)?)
}

/// Every user, target and history id must fit the model's tables, and none may be the
/// padding id 0 (rows using it would train the padding row).
pub(crate) fn check_ids(rows: &[Interaction], ids: IdSpace, what: &str) -> Result<(), CfError> {
    let Some(misfit) = ids.first_misfit(rows) else {
        return Ok(());
    };
    let r = &rows[misfit.row];
    let item = if misfit.field == "uid" {
        r.iid
    } else {
        misfit.id
    };
    Err(CfError::Data(format!(
        "{what}, row {}: user {} / item {item} is padding (0) or outside the model's tables \
         ({} users, {} items)",
        misfit.row + 1,
        r.uid,
        ids.user_num,
        ids.item_num
    )))
}
