//! Filling a template for one sample and tokenising it so that every ID slot sits at known
//! token positions.
//!
//! Text, exactly as the reference builds it (spec §1.4):
//! - history = the last `min(#positives, max_history)` liked titles, oldest first, each in double
//!   quotes, joined by `", "`; an empty history becomes the bare word `empty_history` (the
//!   reference's misspelt `unkow` by default, configurable);
//! - the target title is trimmed and quoted.
//!
//! Tokens:
//! - the reference's textual `<s>` becomes the model's BOS id, prepended as a token;
//! - the text between ID slots is tokenised segment by segment (the history and target titles are
//!   spliced into the text first, so only the ID slots split it). Each segment keeps its own
//!   spaces, which is what the reference's tokenizer does around its special `<unk>` token:
//!   `feature <UserID>` gives `Ġfeature`, `Ġ`, slot (as measured in the reference run);
//! - each slot is `proj_token_num` consecutive positions whose embeddings are replaced by the
//!   collaborative vectors. The reference joins several `<unk>` with `.`; we use plain
//!   consecutive positions, and with the default `proj_token_num = 1` the two are the same.
//!
//! So slot positions are known from construction; nothing scans for an unknown-token id.

use crate::error::Result;
use crate::template::{Part, Placeholder, Template};

/// The reference's text for a user without liked items (sic).
pub const REFERENCE_EMPTY_HISTORY: &str = "unkow";

/// The reference's number of liked titles a prompt lists (the most recent ones).
pub const REFERENCE_MAX_HISTORY: usize = 10;

/// What the user and item slots hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotKind {
    User,
    Item,
}

/// Text settings of the prompts.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptText {
    /// Shown instead of the title list when the user has no liked item yet.
    pub empty_history: String,
    /// At most this many titles, the most recent ones.
    pub max_history: usize,
}

impl Default for PromptText {
    fn default() -> Self {
        PromptText {
            empty_history: REFERENCE_EMPTY_HISTORY.to_string(),
            max_history: REFERENCE_MAX_HISTORY,
        }
    }
}

/// The history text: the last `max_history` titles (given oldest first), quoted and joined.
pub fn history_text(titles: &[&str], settings: &PromptText) -> String {
    let start = titles.len().saturating_sub(settings.max_history);
    let shown: Vec<String> = titles[start..]
        .iter()
        .filter(|t| !t.is_empty())
        .map(|t| format!("\"{t}\""))
        .collect();
    if shown.is_empty() {
        settings.empty_history.clone()
    } else {
        shown.join(", ")
    }
}

/// The target title as the prompt shows it.
pub fn target_text(title: &str) -> String {
    format!("\"{}\"", title.trim())
}

/// A filled template: text segments and ID slots in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    Slot(SlotKind),
}

/// One sample's prompt before tokenisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilledPrompt {
    pub segments: Vec<Segment>,
}

/// Fills `template` with a history (titles oldest first) and a target title.
pub fn fill(
    template: &Template,
    history_titles: &[&str],
    target_title: &str,
    settings: &PromptText,
) -> FilledPrompt {
    let mut segments: Vec<Segment> = Vec::new();
    let push_text = |segments: &mut Vec<Segment>, s: &str| match segments.last_mut() {
        Some(Segment::Text(t)) => t.push_str(s),
        _ => segments.push(Segment::Text(s.to_string())),
    };
    for part in &template.parts {
        match part {
            Part::Text(t) => push_text(&mut segments, t),
            Part::Hole(Placeholder::ItemTitleList) => {
                push_text(&mut segments, &history_text(history_titles, settings))
            }
            Part::Hole(Placeholder::TargetItemTitle) => {
                push_text(&mut segments, &target_text(target_title))
            }
            Part::Hole(Placeholder::UserId) => segments.push(Segment::Slot(SlotKind::User)),
            Part::Hole(Placeholder::TargetItemId) => segments.push(Segment::Slot(SlotKind::Item)),
        }
    }
    FilledPrompt { segments }
}

impl FilledPrompt {
    /// The prompt as text, each slot shown as its template tag (`<UserID>`, `<TargetItemID>`).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.push_str(t),
                Segment::Slot(SlotKind::User) => out.push_str(Placeholder::UserId.tag()),
                Segment::Slot(SlotKind::Item) => out.push_str(Placeholder::TargetItemId.tag()),
            }
        }
        out
    }
}

/// Where one slot sits in a token sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotSpan {
    pub kind: SlotKind,
    /// First position of the slot.
    pub start: usize,
    /// `proj_token_num` positions.
    pub len: usize,
}

/// A tokenised prompt: ids (slot positions hold `slot_id`, whose embedding is always replaced)
/// and where the slots are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptTokens {
    pub ids: Vec<u32>,
    pub slots: Vec<SlotSpan>,
}

impl PromptTokens {
    /// The number of tokens before the first slot (the whole prompt when it has none): the part
    /// that no trainable parameter influences once LoRA is frozen.
    pub fn prefix_len(&self) -> usize {
        self.slots
            .iter()
            .map(|s| s.start)
            .min()
            .unwrap_or(self.ids.len())
    }

    /// The tokens from `at` on, with slot positions shifted to match.
    pub fn suffix_from(&self, at: usize) -> PromptTokens {
        PromptTokens {
            ids: self.ids[at..].to_vec(),
            slots: self
                .slots
                .iter()
                .filter(|s| s.start >= at)
                .map(|s| SlotSpan {
                    start: s.start - at,
                    ..*s
                })
                .collect(),
        }
    }
}

/// Tokenises a filled prompt: BOS, then each text segment encoded on its own (no special tokens
/// added), each slot as `proj_token_num` positions holding `slot_id`.
pub fn tokenize(
    prompt: &FilledPrompt,
    bos_id: u32,
    slot_id: u32,
    proj_token_num: usize,
    mut encode: impl FnMut(&str) -> Result<Vec<u32>>,
) -> Result<PromptTokens> {
    let mut ids = vec![bos_id];
    let mut slots = Vec::new();
    for segment in &prompt.segments {
        match segment {
            Segment::Text(t) => ids.extend(encode(t)?),
            Segment::Slot(kind) => {
                slots.push(SlotSpan {
                    kind: *kind,
                    start: ids.len(),
                    len: proj_token_num,
                });
                ids.extend(std::iter::repeat_n(slot_id, proj_token_num));
            }
        }
    }
    Ok(PromptTokens { ids, slots })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Domain, PromptKind};

    #[test]
    fn history_keeps_the_last_ten_oldest_first() {
        let titles: Vec<String> = (1..=12).map(|i| format!("T{i}")).collect();
        let refs: Vec<&str> = titles.iter().map(|s| s.as_str()).collect();
        let h = history_text(&refs, &PromptText::default());
        assert_eq!(
            h,
            "\"T3\", \"T4\", \"T5\", \"T6\", \"T7\", \"T8\", \"T9\", \"T10\", \"T11\", \"T12\""
        );
        assert_eq!(
            history_text(&["A (1999)"], &PromptText::default()),
            "\"A (1999)\""
        );
    }

    #[test]
    fn empty_history_is_the_configured_word() {
        assert_eq!(history_text(&[], &PromptText::default()), "unkow");
        let s = PromptText {
            empty_history: "nothing yet".into(),
            ..Default::default()
        };
        assert_eq!(history_text(&[], &s), "nothing yet");
    }

    #[test]
    fn target_is_trimmed_and_quoted() {
        assert_eq!(target_text(" Big Daddy (1999) "), "\"Big Daddy (1999)\"");
    }

    #[test]
    fn fill_merges_text_and_keeps_slots() {
        let t = Template::builtin(PromptKind::Hybrid, Domain::Movie);
        let p = fill(
            &t,
            &["A (1990)", "B (1991)"],
            "C (1992)",
            &PromptText::default(),
        );
        assert_eq!(p.segments.len(), 5);
        assert!(matches!(p.segments[1], Segment::Slot(SlotKind::User)));
        assert!(matches!(p.segments[3], Segment::Slot(SlotKind::Item)));
        let Segment::Text(first) = &p.segments[0] else {
            panic!()
        };
        assert!(first.ends_with("encoded in the feature "), "{first}");
        assert!(first.contains(": \"A (1990)\", \"B (1991)\". Additionally"));
    }

    #[test]
    fn tokenize_places_slots_where_it_put_them() {
        let t = Template::parse("t", "ab <UserID> cd <TargetItemID>!").unwrap();
        let p = fill(&t, &[], "x", &PromptText::default());
        // A fake tokenizer: one token per byte.
        let enc = |s: &str| Ok(s.bytes().map(|b| b as u32 + 1000).collect());
        let toks = tokenize(&p, 1, 0, 2, enc).unwrap();
        // BOS, "ab " (3), user slot (2), " cd " (4), item slot (2), "!" (1)
        assert_eq!(toks.ids.len(), 1 + 3 + 2 + 4 + 2 + 1);
        assert_eq!(
            toks.slots[0],
            SlotSpan {
                kind: SlotKind::User,
                start: 4,
                len: 2
            }
        );
        assert_eq!(
            toks.slots[1],
            SlotSpan {
                kind: SlotKind::Item,
                start: 10,
                len: 2
            }
        );
        assert_eq!(&toks.ids[4..6], &[0, 0]);
        assert_eq!(toks.prefix_len(), 4);
        let suffix = toks.suffix_from(4);
        assert_eq!(suffix.slots[0].start, 0);
        assert_eq!(suffix.slots[1].start, 6);
        assert_eq!(suffix.ids.len(), toks.ids.len() - 4);
    }
}
