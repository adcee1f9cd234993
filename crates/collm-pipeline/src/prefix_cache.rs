//! The stage-2 prefix cache: keys and values of the prompt tokens before the first ID slot,
//! computed once per batch of rows and reused across steps, passes and evaluations.
//!
//! Why it is exact: with LoRA frozen and its dropout off, nothing before the first slot depends
//! on a trainable parameter, and the decoder is causal, so those tokens' keys and values are the
//! same at every step. Only the rest of the prompt then runs with gradient (and the backward pass
//! skips the prefix entirely). Batches have a fixed composition for the whole stage (see
//! `stage`), so one entry serves one batch; its rows are left-padded to the batch's longest
//! prefix. Entries are kept within a byte budget; a batch beyond it computes its prefix afresh
//! each time (still without gradient, so still cheaper than the uncached path). A cache belongs
//! to one stage: it is dropped when the stage ends, before anything that changes LoRA.

use std::collections::HashMap;

use collm_llm::KvPrefix;

use crate::error::Result;

/// Which rows an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheKey {
    /// A training batch by its index in the stage's fixed batch list.
    Train(usize),
    /// An evaluation batch by its index.
    Eval(usize),
}

/// Cached prefixes within a byte budget.
#[derive(Debug, Default)]
pub struct PrefixCache {
    entries: HashMap<CacheKey, KvPrefix>,
    bytes: usize,
    budget: usize,
    bytes_per_position: usize,
    hits: u64,
    misses: u64,
}

impl PrefixCache {
    /// `bytes_per_position`: keys and values of one token of one row over all layers.
    pub fn new(budget_bytes: usize, bytes_per_position: usize) -> PrefixCache {
        PrefixCache {
            budget: budget_bytes,
            bytes_per_position,
            ..Default::default()
        }
    }

    /// The prefix for `key`, computed by `compute` when not cached (and kept when it fits).
    pub fn get_or_compute(
        &mut self,
        key: CacheKey,
        compute: impl FnOnce() -> Result<KvPrefix>,
    ) -> Result<KvPrefix> {
        if let Some(p) = self.entries.get(&key) {
            self.hits += 1;
            return Ok(p.clone());
        }
        self.misses += 1;
        let p = compute()?;
        let size = p.batch() * p.len() * self.bytes_per_position;
        if self.bytes + size <= self.budget {
            self.bytes += size;
            self.entries.insert(key, p.clone());
        }
        Ok(p)
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// (hits, misses) so far.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }
}
