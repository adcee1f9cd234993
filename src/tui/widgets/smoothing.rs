//! Curve preparation: a debiased exponential moving average for noisy losses, and reduction of
//! long series to what a chart of a given width can show.

/// TensorBoard-style smoothing: an exponential moving average whose start is debiased, so the
/// first points are not dragged towards zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ema {
    weight: f64,
    biased: f64,
    count: i32,
}

impl Ema {
    /// `weight` in [0, 1): 0 follows the raw values, 0.9 averages over about ten points.
    pub fn new(weight: f64) -> Self {
        Ema {
            weight: weight.clamp(0.0, 0.999),
            biased: 0.0,
            count: 0,
        }
    }

    /// Takes the next value and returns the smoothed one. Non-finite values are skipped.
    pub fn push(&mut self, value: f64) -> f64 {
        if value.is_finite() {
            self.count += 1;
            self.biased = self.weight * self.biased + (1.0 - self.weight) * value;
        }
        if self.count == 0 {
            return value;
        }
        self.biased / (1.0 - self.weight.powi(self.count))
    }
}

/// At most `max_points` points of `points` (sorted by x): the mean of each of `max_points` equal
/// runs of consecutive points, so a chart stays cheap to draw however long training runs.
pub fn downsample(points: &[(f64, f64)], max_points: usize) -> Vec<(f64, f64)> {
    if points.len() <= max_points || max_points == 0 {
        return points.to_vec();
    }
    let per = points.len().div_ceil(max_points);
    points
        .chunks(per)
        .map(|chunk| {
            let n = chunk.len() as f64;
            let (sx, sy) = chunk
                .iter()
                .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
            (sx / n, sy / n)
        })
        .collect()
}

/// The y range covering every finite value of the series, padded by 5% so curves do not run
/// along the border; `None` when there is nothing to show.
pub fn y_bounds<'a>(series: impl IntoIterator<Item = &'a [(f64, f64)]>) -> Option<[f64; 2]> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for s in series {
        for &(_, y) in s {
            if y.is_finite() {
                lo = lo.min(y);
                hi = hi.max(y);
            }
        }
    }
    if lo > hi {
        return None;
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1e-3) * 0.05
    };
    // Losses, AUCs and learning rates are never negative: no axis label below 0 for them.
    let floor = if lo >= 0.0 { 0.0 } else { f64::NEG_INFINITY };
    Some([(lo - pad).max(floor), hi + pad])
}

/// The x range of the series (from 0 when all x are positive, as steps are).
pub fn x_bounds<'a>(series: impl IntoIterator<Item = &'a [(f64, f64)]>) -> Option<[f64; 2]> {
    let mut hi = f64::NEG_INFINITY;
    let mut lo = f64::INFINITY;
    for s in series {
        for &(x, _) in s {
            lo = lo.min(x);
            hi = hi.max(x);
        }
    }
    if lo > hi {
        return None;
    }
    let lo = lo.min(0.0);
    Some([lo, if hi > lo { hi } else { lo + 1.0 }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_is_debiased_and_smooths() {
        let mut e = Ema::new(0.9);
        assert!(
            (e.push(2.0) - 2.0).abs() < 1e-12,
            "the first point is the value itself"
        );
        let second = e.push(0.0);
        assert!(second > 0.0 && second < 2.0);
        assert_eq!(e.push(f64::NAN), second, "non-finite values are skipped");
    }

    #[test]
    fn downsample_averages_runs_of_points() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, i as f64)).collect();
        assert_eq!(downsample(&pts, 20).len(), 10);
        let d = downsample(&pts, 5);
        assert_eq!(
            d,
            vec![(0.5, 0.5), (2.5, 2.5), (4.5, 4.5), (6.5, 6.5), (8.5, 8.5)]
        );
    }

    #[test]
    fn bounds_pad_and_handle_flat_and_empty_series() {
        let flat = [(1.0, 0.5), (2.0, 0.5)];
        let [lo, hi] = y_bounds([&flat[..]]).unwrap();
        assert!(lo < 0.5 && hi > 0.5);
        assert_eq!(x_bounds([&flat[..]]), Some([0.0, 2.0]));
        assert_eq!(y_bounds([&[][..]]), None);
    }

    #[test]
    fn a_series_that_is_never_negative_gets_no_axis_below_zero() {
        // A warmup from 0 to 9e-3: padding once drew the axis from -0.0004.
        let lr = [(0.0, 0.0), (4.0, 9e-3), (8.0, 1e-4)];
        let [lo, hi] = y_bounds([&lr[..]]).unwrap();
        assert_eq!(lo, 0.0);
        assert!(hi > 9e-3);
        let [lo, _] = y_bounds([&[(0.0, -1.0), (1.0, 1.0)][..]]).unwrap();
        assert!(lo < -1.0, "a negative series keeps its padding: {lo}");
    }
}
