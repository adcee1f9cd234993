//! Several runs' scores of the same rows combined into one prediction: the rows all runs scored,
//! found by (user, item, label, warm), and a weighted mean of their probabilities (the paper's
//! "ensemble MF + CoLLM-MF" asks whether a CoLLM run adds anything to its own foundation).

use crate::logloss::softplus;
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
/// every other score). `weights` count relative to each other; rows as in [`common_rows`].
/// Worked in log space, `ln p - ln(1 - p)` of the mixture, so that confident members (an MF
/// logit of 30) keep their order and logloss: a probability rounded to 1 would tie them.
pub fn mean_probability(aligned: &[Vec<Prediction>], weights: &[f64]) -> Vec<ScoredRow> {
    let ln_weights: Vec<f64> = weights.iter().map(|w| w.ln()).collect();
    let rows = aligned.first().map_or(0, Vec::len);
    (0..rows)
        .map(|i| {
            let logits = || aligned.iter().map(|member| member[i].logit as f64);
            // ln σ(l) = -softplus(-l), ln(1 - σ(l)) = -softplus(l).
            let ln_yes = log_sum_exp(logits().zip(&ln_weights).map(|(l, w)| w - softplus(-l)));
            let ln_no = log_sum_exp(logits().zip(&ln_weights).map(|(l, w)| w - softplus(l)));
            ScoredRow {
                logit: (ln_yes - ln_no) as f32,
                ..aligned[0][i].scored()
            }
        })
        .collect()
}

/// `ln(1 + e^x)`, without overflow for large `x` or loss for very negative ones.
/// `ln Σ e^x` of finite or `-inf` terms (a zero weight), shifted by the largest.
fn log_sum_exp(terms: impl Iterator<Item = f64> + Clone) -> f64 {
    let top = terms.clone().fold(f64::NEG_INFINITY, f64::max);
    if top == f64::NEG_INFINITY {
        return top;
    }
    top + terms.map(|x| (x - top).exp()).sum::<f64>().ln()
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

    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    /// Confident members (|logit| past 16, where a probability in f64 rounds near 1) keep
    /// their logits, so their order and logloss: a run averaged with itself is itself.
    #[test]
    fn confident_scores_keep_their_order_and_a_run_with_itself_is_itself() {
        let run: Vec<Prediction> = [20.0, 17.0, -30.0, -25.0, 35.6, -35.6, 0.0]
            .iter()
            .enumerate()
            .map(|(i, &l)| p(1, i as u32, (i % 2) as u8, l))
            .collect();
        let same = mean_probability(&[run.clone(), run.clone()], &[1.0, 1.0]);
        for (got, want) in same.iter().zip(&run) {
            assert!(
                (got.logit - want.logit).abs() < 1e-4,
                "{} vs {}",
                got.logit,
                want.logit
            );
        }
        // A zero weight leaves the other member alone.
        let other: Vec<Prediction> = run.iter().map(|q| p(q.uid, q.iid, q.label, 0.0)).collect();
        let alone = mean_probability(&[run.clone(), other], &[1.0, 0.0]);
        assert!((alone[0].logit - 20.0).abs() < 1e-4, "{}", alone[0].logit);
        // Two confident members disagreeing: half of p = 1 and half of p = 0 is p = 1/2.
        let yes = vec![p(1, 1, 1, 40.0)];
        let no = vec![p(1, 1, 1, -40.0)];
        let even = mean_probability(&[yes, no], &[1.0, 1.0]);
        assert!(even[0].logit.abs() < 1e-6, "{}", even[0].logit);
    }
}
