//! Run ids: short, readable, and sorting by creation time (`250601-143012`, then `-2`, `-3` for
//! runs created in the same second).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The id of one run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// The id for a run created at `ms`, the `n`-th (from 1) in that second.
    pub(crate) fn new(ms: u64, n: u32) -> Self {
        let stamp = crate::clock::id_stamp(ms);
        if n <= 1 {
            RunId(stamp)
        } else {
            RunId(format!("{stamp}-{n}"))
        }
    }

    /// Wraps user input. Ids only hold ASCII digits, letters and `-`; anything else cannot name
    /// a run (the store then answers not found).
    pub fn parse(text: &str) -> Option<Self> {
        let ok = !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        ok.then(|| RunId(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a whole run id (`YYMMDD-HHMMSS`, maybe `-N`), not a prefix of one.
    pub fn is_whole(&self) -> bool {
        let mut parts = self.0.split('-');
        let digits = |p: Option<&str>, n: usize| {
            p.is_some_and(|p| p.len() == n && p.bytes().all(|b| b.is_ascii_digit()))
        };
        let stamp = digits(parts.next(), 6) && digits(parts.next(), 6);
        let seq = parts
            .next()
            .is_none_or(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        stamp && seq && parts.next().is_none()
    }

    /// The key prefix of this run's points in the `steps` and `evals` trees.
    pub(crate) fn point_prefix(&self) -> Vec<u8> {
        let mut key = self.0.as_bytes().to_vec();
        key.push(b'/');
        key
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_sequence() {
        let a = RunId::new(1_735_689_599_000, 1);
        let b = RunId::new(1_735_689_599_000, 2);
        let c = RunId::new(1_735_689_600_000, 1);
        assert_eq!(a.as_str(), "241231-235959");
        assert_eq!(b.as_str(), "241231-235959-2");
        assert!(a < b && b < c);
        assert!(RunId::parse("a/b").is_none());
        assert!(RunId::parse("").is_none());
        let whole = |t: &str| RunId::parse(t).unwrap().is_whole();
        assert!(whole("241231-235959") && whole("241231-235959-2"));
        for prefix in ["241231", "241231-2359", "241231-235959-", "2412"] {
            assert!(!whole(prefix), "{prefix}");
        }
    }
}
