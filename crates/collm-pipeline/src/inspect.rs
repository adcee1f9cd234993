//! One prompt as the model sees it: its text, its tokens, where each ID slot sits and what fills
//! it (the collaborative vector's norm and the mapped embedding's norm), and the model's answer.

use collm_cf::batch_for;
use collm_data::Interaction;
use serde::Serialize;

use crate::config::CfInput;
use crate::error::Result;
use crate::model::{CollmModel, SlotSource};
use crate::prompt::SlotKind;
use crate::template::PromptKind;

/// One token of the prompt.
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    pub position: usize,
    pub id: u32,
    /// The token's text, or the slot's tag for slot positions.
    pub text: String,
    pub slot: Option<SlotKind>,
}

/// One ID slot and what fills it.
#[derive(Debug, Clone, Serialize)]
pub struct SlotView {
    pub kind: SlotKind,
    /// The user or item id.
    pub id: u32,
    pub start: usize,
    pub len: usize,
    /// What produced the vector, e.g. `mf user vector` or `ID-token row`.
    pub source: String,
    /// L2 norm of the collaborative vector (of the ID-token row for ID tokens).
    pub vector_norm: f32,
    /// L2 norm of the embedding written into the slot (all its positions).
    pub embedding_norm: f32,
}

/// The whole view.
#[derive(Debug, Clone, Serialize)]
pub struct PromptView {
    pub uid: u32,
    pub iid: u32,
    pub prompt: PromptKind,
    pub text: String,
    pub tokens: Vec<TokenView>,
    pub slots: Vec<SlotView>,
    pub yes_logit: f32,
    pub no_logit: f32,
    /// The trained score (Yes, or Yes - No) and its sigmoid.
    pub score: f32,
    pub p_yes: f32,
    /// The row's label when it comes from a split.
    pub label: Option<u8>,
}

fn norm(t: &candle_core::Tensor) -> Result<f32> {
    Ok(t.to_dtype(candle_core::DType::F32)?
        .sqr()?
        .sum_all()?
        .sqrt()?
        .to_scalar::<f32>()?)
}

/// Builds the view of `row` under `kind` (LoRA dropout must be off, as after loading).
pub fn inspect(
    model: &CollmModel,
    row: &Interaction,
    kind: PromptKind,
    label: Option<u8>,
) -> Result<PromptView> {
    let filled = model.fill(row, kind)?;
    let enc = model.encode(row, kind)?;
    let mut tokens: Vec<TokenView> = enc
        .tokens
        .ids
        .iter()
        .enumerate()
        .map(|(position, &id)| TokenView {
            position,
            id,
            text: model
                .tokenizer
                .decode(&[id])
                .unwrap_or_else(|_| format!("<{id}>")),
            slot: None,
        })
        .collect();
    let mut slots = Vec::new();
    for span in &enc.tokens.slots {
        let tag = match span.kind {
            SlotKind::User => "<UserID>",
            SlotKind::Item => "<TargetItemID>",
        };
        for t in &mut tokens[span.start..span.start + span.len] {
            t.text = tag.to_string();
            t.slot = Some(span.kind);
        }
        let id = if span.kind == SlotKind::User {
            row.uid
        } else {
            row.iid
        };
        let (source, vector_norm) = match &model.slots {
            SlotSource::Cie { cf, cie } => {
                let batch = batch_for(std::slice::from_ref(row), cf.history_len(), model.device())?;
                let v = match span.kind {
                    SlotKind::User => cf.user_vectors(&batch)?,
                    SlotKind::Item => cf.item_vectors(&batch)?,
                };
                let who = if span.kind == SlotKind::User {
                    "user"
                } else {
                    "item"
                };
                // The norm shown is the foundation's, before any normalisation the CIE applies.
                let read = match cie.input() {
                    CfInput::Raw => "",
                    CfInput::Unit => ", read at unit length",
                };
                (
                    format!("{} {who} vector{read}", cf.kind().name()),
                    norm(&v)?,
                )
            }
            SlotSource::IdTokens(t) if t.is_shared() => {
                ("soft prompt (the same for everyone)".to_string(), f32::NAN)
            }
            SlotSource::IdTokens(_) => ("ID-token row".to_string(), f32::NAN),
            SlotSource::None => ("nothing".to_string(), f32::NAN),
        };
        let embedding = model.slot_vectors(&[row], span.kind)?;
        let embedding_norm = norm(&embedding)?;
        let vector_norm = if vector_norm.is_nan() {
            embedding_norm
        } else {
            vector_norm
        };
        slots.push(SlotView {
            kind: span.kind,
            id,
            start: span.start,
            len: span.len,
            source,
            vector_norm,
            embedding_norm,
        });
    }
    let answer = model.answers(&[&enc])?[0];
    Ok(PromptView {
        uid: row.uid,
        iid: row.iid,
        prompt: kind,
        text: filled.text(),
        tokens,
        slots,
        yes_logit: answer.yes,
        no_logit: answer.no,
        score: answer.score,
        p_yes: 1.0 / (1.0 + (-answer.score).exp()),
        label,
    })
}
