//! Turning parsed raw ratings into the CoLLM splits, as the reference preprocessing does: month
//! window, labels, cross-split histories of earlier positives, id remapping, warm flags and the
//! seeded valid_small sample.

use std::collections::{HashMap, HashSet};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::raw::{RawData, RawRating};
use super::{ImportOptions, MonthRange};
use crate::calendar::{date_label, month_label, month_slot};
use crate::items::Items;
use crate::Interaction;

/// Which split a kept rating goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Train,
    Valid,
    Test,
}

/// The month slots of each split; `end` is the last kept slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub train_start: i64,
    pub valid_start: i64,
    pub test_start: i64,
    pub end: i64,
    pub data_end: i64,
}

impl Window {
    /// The window ending `drop_last_months` before the last month that has ratings.
    fn new(last_slot: i64, options: &ImportOptions) -> Window {
        let end = last_slot - i64::from(options.drop_last_months);
        let test_start = end - i64::from(options.test_months) + 1;
        let valid_start = test_start - i64::from(options.valid_months);
        let train_start = valid_start - i64::from(options.train_months);
        Window {
            train_start,
            valid_start,
            test_start,
            end,
            data_end: last_slot,
        }
    }

    fn part(&self, slot: i64) -> Option<Part> {
        match slot {
            s if s < self.train_start || s > self.end => None,
            s if s < self.valid_start => Some(Part::Train),
            s if s < self.test_start => Some(Part::Valid),
            _ => Some(Part::Test),
        }
    }

    /// The months `first..=last`, or `None` when that span is empty.
    pub fn range(first: i64, last: i64) -> Option<MonthRange> {
        (first <= last).then(|| MonthRange {
            first: month_label(first),
            last: month_label(last),
        })
    }
}

/// The rows of the three splits plus what the summary reports about them.
pub(crate) struct Built {
    pub items: Items,
    pub train: Vec<Interaction>,
    pub valid: Vec<Interaction>,
    pub test: Vec<Interaction>,
    pub window: Window,
    pub ratings_without_movie: usize,
    pub ratings_outside_window: usize,
    pub users: usize,
    pub first_kept_date: Option<String>,
    pub last_kept_date: Option<String>,
}

pub(crate) fn build(raw: &RawData, options: &ImportOptions) -> Option<Built> {
    let joined: Vec<&RawRating> = raw
        .ratings
        .iter()
        .filter(|r| raw.titles.contains_key(&r.movie))
        .collect();
    let last_slot = joined.iter().map(|r| month_slot(r.timestamp)).max()?;
    let window = Window::new(last_slot, options);
    let mut kept: Vec<(&RawRating, Part)> = joined
        .iter()
        .filter_map(|&r| Some((r, window.part(month_slot(r.timestamp))?)))
        .collect();
    // Stable: rows of one user with equal timestamps keep their file order.
    kept.sort_by_key(|(r, _)| (r.user, r.timestamp));

    let mut user_ids: Vec<u64> = kept.iter().map(|(r, _)| r.user).collect();
    user_ids.dedup(); // sorted by user already
    let user_map: HashMap<u64, u32> = user_ids.iter().zip(1u32..).map(|(&u, n)| (u, n)).collect();
    let mut item_map: HashMap<u64, u32> = HashMap::new();
    let mut titles: Vec<String> = Vec::new();
    for (r, _) in &kept {
        item_map.entry(r.movie).or_insert_with(|| {
            titles.push(raw.titles[&r.movie].clone());
            titles.len() as u32
        });
    }

    let (mut train, mut valid, mut test) = (Vec::new(), Vec::new(), Vec::new());
    let mut history: Vec<u32> = Vec::new();
    let mut current_user = None;
    for (r, part) in &kept {
        if current_user != Some(r.user) {
            current_user = Some(r.user);
            history.clear();
        }
        let label = u8::from(r.rating >= options.threshold);
        let row = Interaction {
            uid: user_map[&r.user],
            iid: item_map[&r.movie],
            label,
            timestamp: r.timestamp,
            warm: true,
            his: history.clone(),
        };
        if label == 1 {
            history.push(row.iid);
        }
        match part {
            Part::Train => train.push(row),
            Part::Valid => valid.push(row),
            Part::Test => test.push(row),
        }
    }
    let train_users: HashSet<u32> = train.iter().map(|r| r.uid).collect();
    let train_items: HashSet<u32> = train.iter().map(|r| r.iid).collect();
    for row in valid.iter_mut().chain(test.iter_mut()) {
        row.warm = train_users.contains(&row.uid) && train_items.contains(&row.iid);
    }
    Some(Built {
        items: Items::from_titles(titles),
        train,
        valid,
        test,
        window,
        ratings_without_movie: raw.ratings.len() - joined.len(),
        ratings_outside_window: joined.len() - kept.len(),
        users: user_ids.len(),
        first_kept_date: kept.iter().map(|(r, _)| r.timestamp).min().map(date_label),
        last_kept_date: kept.iter().map(|(r, _)| r.timestamp).max().map(date_label),
    })
}

/// A seeded sample of `fraction` of `rows` (rounded half to even, like pandas' `frac`), in the
/// rows' own order.
///
/// This is not pandas' `DataFrame.sample(random_state=...)`: the generator is ChaCha8 and the
/// selection is `rand::seq::index::sample`, so the rows differ from the reference's valid_small
/// even with the same seed; only the size and the idea match.
pub(crate) fn sample_rows(rows: &[Interaction], fraction: f64, seed: u64) -> Vec<Interaction> {
    let count = ((rows.len() as f64) * fraction).round_ties_even() as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut picked =
        rand::seq::index::sample(&mut rng, rows.len(), count.min(rows.len())).into_vec();
    picked.sort_unstable();
    picked.into_iter().map(|i| rows[i].clone()).collect()
}
