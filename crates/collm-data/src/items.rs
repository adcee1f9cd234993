//! The item table: one title per item id, with index 0 as the padding item whose title is empty.

use std::collections::HashMap;
use std::path::Path;

use crate::error::DataError;
use crate::tsv::{read_tsv, too_sparse};

/// Titles indexed by item id. Id 0 is padding (empty title, not an item); ids may have gaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Items {
    titles: Vec<Option<String>>,
}

impl Default for Items {
    fn default() -> Self {
        Items {
            titles: vec![Some(String::new())],
        }
    }
}

impl Items {
    /// Items `1..=titles.len()`, in order.
    pub fn from_titles(titles: impl IntoIterator<Item = String>) -> Self {
        let mut items = Items::default();
        items.titles.extend(titles.into_iter().map(Some));
        items
    }

    /// The title of `iid`; `Some("")` for the padding id 0, `None` for an id that is not an item.
    pub fn title(&self, iid: u32) -> Option<&str> {
        self.titles.get(iid as usize)?.as_deref()
    }

    /// Whether `iid` is a real item (0, the padding id, is not).
    pub fn contains(&self, iid: u32) -> bool {
        iid != 0 && self.title(iid).is_some()
    }

    /// Size of an id-indexed table over these items: largest id + 1 (the padding slot included).
    pub fn len(&self) -> usize {
        self.titles.len()
    }

    /// True when there is no real item.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Number of real items (padding excluded).
    pub fn count(&self) -> usize {
        self.titles.iter().skip(1).filter(|t| t.is_some()).count()
    }

    /// Real items as `(iid, title)`, ascending id.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &str)> {
        self.titles
            .iter()
            .enumerate()
            .skip(1)
            .filter_map(|(i, t)| Some((i as u32, t.as_deref()?)))
    }

    fn insert(&mut self, iid: u32, title: String) -> Result<(), String> {
        let slot = iid as usize;
        if slot >= self.titles.len() {
            self.titles.resize(slot + 1, None);
        }
        if self.titles[slot].is_some() {
            return Err(format!("duplicate item id {iid}"));
        }
        self.titles[slot] = Some(title);
        Ok(())
    }
}

/// Reads an `items.tsv` (columns `iid`, `title`).
pub fn read_items(path: &Path) -> Result<Items, DataError> {
    // Read whole before the id-indexed table is built, so a sparse id is refused, not
    // allocated for.
    let mut rows: Vec<(u32, String, usize)> = Vec::new();
    let mut first_line: HashMap<u32, usize> = HashMap::new();
    read_tsv(path, &["iid", "title"], |row| {
        let iid = row.id(0)?;
        if let Some(first) = first_line.insert(iid, row.line) {
            return Err(row.error(
                0,
                format!("duplicate item id {iid} (first defined on line {first})"),
            ));
        }
        rows.push((iid, row.text(1).to_string(), row.line));
        Ok(())
    })?;
    if let Some((max, _, line)) = rows.iter().max_by_key(|r| r.0) {
        if let Some(message) = too_sparse(*max, rows.len()) {
            return Err(DataError::field(path, *line, "iid", message));
        }
    }
    let mut items = Items::default();
    for (iid, title, _) in rows {
        items
            .insert(iid, title)
            .expect("ids checked distinct above");
    }
    Ok(items)
}
