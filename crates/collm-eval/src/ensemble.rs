//! Several runs' scores of the same rows combined into one prediction: the rows all runs scored,
//! found by (user, item, label, warm), and a weighted mean of their probabilities (the paper's
//! "ensemble MF + CoLLM-MF" asks whether a CoLLM run adds anything to its own foundation).

use std::collections::{HashMap, VecDeque};

use crate::predictions::{Prediction, RowKey};
use crate::ScoredRow;

/// The rows every member scored, in the first member's order: `aligned[m][i]` is member `m`'s
/// prediction of row `i`. A row that occurs twice in a split (the same user rated the item twice)
/// is matched occurrence by occurrence.
pub fn common_rows(members: &[Vec<Prediction>]) -> Vec<Vec<Prediction>> {
    // For each later member, its predictions of each row in order of occurrence.
    let mut queues: Vec<HashMap<RowKey, VecDeque<Prediction>>> = members
        .iter()
        .skip(1)
        .map(|m| {
            let mut q: HashMap<RowKey, VecDeque<Prediction>> = HashMap::new();
            for p in m {
                q.entry(p.row()).or_default().push_back(*p);
            }
            q
        })
        .collect();
    let mut aligned: Vec<Vec<Prediction>> = vec![Vec::new(); members.len()];
    let Some(first) = members.first() else {
        return aligned;
    };
    'rows: for p in first {
        let k = p.row();
        if queues
            .iter()
            .any(|q| q.get(&k).is_none_or(|found| found.is_empty()))
        {
            continue 'rows;
        }
        aligned[0].push(*p);
        for (m, q) in queues.iter_mut().enumerate() {
            let found = q.get_mut(&k).and_then(|found| found.pop_front());
            aligned[m + 1].extend(found);
        }
    }
    aligned
}

/// The weighted mean of the members' probabilities, as a logit (so that logloss reads it as
/// every other score). `weights` are normalised; rows as in [`common_rows`].
pub fn mean_probability(aligned: &[Vec<Prediction>], weights: &[f64]) -> Vec<ScoredRow> {
    // Scaled by the largest first, so that huge finite weights cannot sum to infinity.
    let top = weights.iter().cloned().fold(0.0, f64::max);
    let weights: Vec<f64> = weights.iter().map(|w| w / top).collect();
    let total: f64 = weights.iter().sum();
    let rows = aligned.first().map_or(0, Vec::len);
    (0..rows)
        .map(|i| {
            let p: f64 = aligned
                .iter()
                .zip(&weights)
                .map(|(member, w)| w / total * sigmoid(member[i].logit as f64))
                .sum();
            // Clamped so a unanimous 0 or 1 stays a finite logit.
            let p = p.clamp(1e-7, 1.0 - 1e-7);
            ScoredRow {
                logit: (p / (1.0 - p)).ln() as f32,
                ..aligned[0][i].scored()
            }
        })
        .collect()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(uid: u32, iid: u32, label: u8, logit: f32) -> Prediction {
        Prediction {
            uid,
            iid,
            label,
            warm: true,
            logit,
        }
    }

    #[test]
    fn common_rows_are_the_rows_every_member_scored_in_the_first_members_order() {
        // Member 1 scored a subset in another order, and the repeated row (1, 7) once.
        let a = vec![
            p(1, 7, 1, 0.1),
            p(2, 3, 0, 0.2),
            p(1, 7, 1, 0.3),
            p(3, 4, 1, 0.4),
        ];
        let b = vec![p(3, 4, 1, 1.4), p(1, 7, 1, 1.1), p(9, 9, 0, 1.9)];
        let aligned = common_rows(&[a, b]);
        let logits = |m: &Vec<Prediction>| m.iter().map(|p| p.logit).collect::<Vec<_>>();
        assert_eq!(logits(&aligned[0]), [0.1, 0.4]);
        assert_eq!(logits(&aligned[1]), [1.1, 1.4]);
    }

    #[test]
    fn the_mean_is_of_probabilities_with_normalised_weights() {
        // logit 0 is p = 0.5, ln 3 is p = 0.75; weights 1 and 3 -> (0.5 + 3 * 0.75) / 4 = 0.6875.
        let aligned = vec![vec![p(1, 1, 1, 0.0)], vec![p(1, 1, 1, 3f32.ln())]];
        let rows = mean_probability(&aligned, &[1.0, 3.0]);
        let got = sigmoid(rows[0].logit as f64);
        assert!((got - 0.6875).abs() < 1e-6, "{got}");
        assert_eq!((rows[0].uid, rows[0].label), (1, 1));
        // Equal weights of a run with itself give the run back.
        let same = mean_probability(&[aligned[1].clone(), aligned[1].clone()], &[1.0, 1.0]);
        assert!((same[0].logit - 3f32.ln()).abs() < 1e-6);
        // Weights only count relative to each other, however large.
        let huge = mean_probability(&aligned, &[5e307, 1.5e308]);
        let got = sigmoid(huge[0].logit as f64);
        assert!((got - 0.6875).abs() < 1e-6, "{got}");
    }
}
