//! The score a prompt gets and its loss: the raw "Yes" logit (the reference), or the
//! "Yes" minus "No" logit difference; BCE on it, computed stably.
//!
//! The reference scores `s = logit(Yes)` at the last prompt position and trains
//! `BCE(sigmoid(s), label)` (spec §3.4). The base model's Yes logit is far from 0 (about 16 for
//! SmolLM2), so the first losses are huge; `yes_minus_no` removes the shared offset and is offered
//! as a switch.

use candle_core::Tensor;

use crate::error::Result;

/// Which logit combination is the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    /// The reference: the raw logit of the Yes token.
    #[default]
    Yes,
    /// logit(Yes) - logit(No).
    YesMinusNo,
}

impl ScoreKind {
    /// How many vocabulary rows the score reads (Yes, then No when needed).
    pub fn rows(self) -> usize {
        match self {
            ScoreKind::Yes => 1,
            ScoreKind::YesMinusNo => 2,
        }
    }

    /// `[B, rows]` logits of (Yes[, No]) to the `[B]` score.
    pub fn combine(self, logits: &Tensor) -> Result<Tensor> {
        let yes = logits.narrow(1, 0, 1)?.squeeze(1)?;
        Ok(match self {
            ScoreKind::Yes => yes,
            ScoreKind::YesMinusNo => (yes - logits.narrow(1, 1, 1)?.squeeze(1)?)?,
        })
    }
}

/// Mean binary cross-entropy of `sigmoid(scores)` against `labels` (0/1, any float dtype):
/// the collaborative models' own, which neither overflows nor loses the gradient for large |s|
/// (candle's own version takes the log of a sigmoid).
pub fn bce_with_logits(scores: &Tensor, labels: &Tensor) -> Result<Tensor> {
    Ok(collm_cf::loss::bce_with_logits(scores, labels)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn naive(s: f64, y: f64) -> f64 {
        let p = 1.0 / (1.0 + (-s).exp());
        -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
    }

    #[test]
    fn bce_matches_the_definition_and_stays_finite() {
        let d = Device::Cpu;
        let s = Tensor::new(&[-3.0f32, 0.0, 2.5, 7.0], &d).unwrap();
        let y = Tensor::new(&[0u8, 1, 1, 0], &d).unwrap();
        let got = bce_with_logits(&s, &y).unwrap().to_scalar::<f32>().unwrap() as f64;
        let want = (naive(-3.0, 0.0) + naive(0.0, 1.0) + naive(2.5, 1.0) + naive(7.0, 0.0)) / 4.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");

        let big = Var::new(&[200.0f32, -200.0], &d).unwrap();
        let y = Tensor::new(&[0.0f32, 1.0], &d).unwrap();
        let loss = bce_with_logits(big.as_tensor(), &y).unwrap();
        assert!((loss.to_scalar::<f32>().unwrap() - 200.0).abs() < 1e-3);
        let g = loss.backward().unwrap();
        let g = g.get(&big).unwrap().to_vec1::<f32>().unwrap();
        // d/ds mean BCE = (sigmoid(s) - y)/B = (1 - 0)/2 and (0 - 1)/2.
        assert!(
            (g[0] - 0.5).abs() < 1e-6 && (g[1] + 0.5).abs() < 1e-6,
            "{g:?}"
        );
    }

    #[test]
    fn score_kinds_combine_rows() {
        let d = Device::Cpu;
        let logits = Tensor::new(&[[5.0f32, 3.0], [1.0, 4.0]], &d).unwrap();
        let yes = ScoreKind::Yes
            .combine(&logits.narrow(1, 0, 1).unwrap())
            .unwrap();
        assert_eq!(yes.to_vec1::<f32>().unwrap(), vec![5.0, 1.0]);
        let diff = ScoreKind::YesMinusNo.combine(&logits).unwrap();
        assert_eq!(diff.to_vec1::<f32>().unwrap(), vec![2.0, -3.0]);
    }
}
