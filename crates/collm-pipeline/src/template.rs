//! Prompt templates: editable text files with `<ItemTitleList>`, `<TargetItemTitle>`, `<UserID>`
//! and `<TargetItemID>` placeholders, parsed once into text and holes.
//!
//! Files are read verbatim: no escape processing. The reference templates end with
//! ` \n#Answer:` where `\n` is a literal backslash followed by `n` (spec §2.1), and that is kept
//! byte for byte, because the tuned model learns on exactly those tokens.
//!
//! A file holds one template on its first line. The reference ships four identical lines per file
//! and samples among them (spec §2.2, a no-op); extra lines are accepted when they repeat the
//! first one and rejected otherwise, so a file never silently means something else than it says.
//! Other `<...>` text (for example `<s>`) is plain text. A template for a new run must also pass
//! [`Template::check_placeholders`]: no misspelt placeholder, and the target item named.

use std::path::Path;

use crate::error::{PipelineError, Result};

/// A hole in a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placeholder {
    /// The quoted, comma-joined history titles.
    ItemTitleList,
    /// The quoted target title.
    TargetItemTitle,
    /// The user's collaborative slot.
    UserId,
    /// The target item's collaborative slot.
    TargetItemId,
}

impl Placeholder {
    pub const ALL: [Placeholder; 4] = [
        Placeholder::ItemTitleList,
        Placeholder::TargetItemTitle,
        Placeholder::UserId,
        Placeholder::TargetItemId,
    ];

    /// The placeholder as written in a template file.
    pub fn tag(self) -> &'static str {
        match self {
            Placeholder::ItemTitleList => "<ItemTitleList>",
            Placeholder::TargetItemTitle => "<TargetItemTitle>",
            Placeholder::UserId => "<UserID>",
            Placeholder::TargetItemId => "<TargetItemID>",
        }
    }

    /// Whether the hole is an ID slot filled by embeddings rather than text.
    pub fn is_slot(self) -> bool {
        matches!(self, Placeholder::UserId | Placeholder::TargetItemId)
    }
}

/// Reference placeholders that this implementation does not fill; a template using them is an
/// error rather than a prompt with a stray tag in it.
const UNSUPPORTED: [&str; 2] = ["<ItemIDList>", "<DCNFeature>"];

/// The first `<Word>` in `text` that reads as a misspelt placeholder, with the placeholder it
/// resembles: a capitalised run of letters and digits in angle brackets within 1 edit of a
/// placeholder (case aside), or for words of 6 letters or more, within 3 or naming an item, user
/// or title. `<s>`, `<EOS>`, `<Items>`, `<|im_start|>` or `<Movie>` are text.
fn misspelt_placeholder(text: &str) -> Option<(&str, Placeholder)> {
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        if let Some(close) = after.find('>') {
            let word = &after[..close];
            let capitalised = word.starts_with(|c: char| c.is_ascii_uppercase());
            if capitalised && word.chars().all(|c| c.is_ascii_alphanumeric()) {
                let tag = &rest[open..open + close + 2];
                let (meant, edits) = nearest_placeholder(tag);
                let lower = word.to_lowercase();
                // Short words are near many things: `<Used>` or `<Items>` may be meant.
                let long = word.len() >= 6;
                let names = long && ["item", "user", "title"].iter().any(|w| lower.contains(w));
                if edits <= if long { 3 } else { 1 } || names {
                    return Some((tag, meant));
                }
            }
        }
        rest = after;
    }
    None
}

/// The placeholder spelt most like `tag`, case aside, and how many single-character edits away.
fn nearest_placeholder(tag: &str) -> (Placeholder, usize) {
    let distance = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut previous = row[0];
            row[0] = i + 1;
            for (j, &cb) in b.iter().enumerate() {
                let substitution = previous + usize::from(ca != cb);
                previous = row[j + 1];
                row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
            }
        }
        row[b.len()]
    };
    Placeholder::ALL
        .into_iter()
        .map(|p| (p, distance(&tag.to_lowercase(), &p.tag().to_lowercase())))
        .min_by_key(|&(_, edits)| edits)
        .expect("there are placeholders")
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Hole(Placeholder),
}

/// Which of the two prompts a template is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptKind {
    /// Titles only (stage 1, TALLRec).
    Text,
    /// Titles plus the user and item ID slots (stage 2, CoLLM).
    Hybrid,
}

/// The wording of the shipped templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    #[default]
    Movie,
    Book,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Where it came from (a path or `builtin:<name>`), for messages.
    pub source_name: String,
    pub parts: Vec<Part>,
}

impl Template {
    /// The template shipped in `assets/prompts/` for this prompt kind and domain.
    pub fn builtin(kind: PromptKind, domain: Domain) -> Template {
        let (name, text) = match (kind, domain) {
            (PromptKind::Text, Domain::Movie) => (
                "tallrec_movie",
                include_str!("../../../assets/prompts/tallrec_movie.txt"),
            ),
            (PromptKind::Hybrid, Domain::Movie) => (
                "collm_movie",
                include_str!("../../../assets/prompts/collm_movie.txt"),
            ),
            (PromptKind::Text, Domain::Book) => (
                "tallrec_book",
                include_str!("../../../assets/prompts/tallrec_book.txt"),
            ),
            (PromptKind::Hybrid, Domain::Book) => (
                "collm_book",
                include_str!("../../../assets/prompts/collm_book.txt"),
            ),
        };
        Template::parse(&format!("builtin:{name}"), text)
            .expect("the shipped templates are valid (checked by tests)")
    }

    /// Reads a template file.
    pub fn load(path: &Path) -> Result<Template> {
        let text = std::fs::read_to_string(path).map_err(|e| PipelineError::io(path, e))?;
        // A byte-order mark (Windows editors write one) is not prompt text: the LLM would read
        // it as three unknown tokens before the question.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        Template::parse(&path.display().to_string(), text)
    }

    /// Parses template text (see the module docs for the line rules).
    pub fn parse(source_name: &str, text: &str) -> Result<Template> {
        let err = |line: usize, message: String| PipelineError::Template {
            source_name: source_name.to_string(),
            line,
            message,
        };
        let mut lines = text.lines();
        let first = lines.next().unwrap_or("");
        if first.trim().is_empty() {
            return Err(err(
                1,
                "the first line is empty; it must hold the template".into(),
            ));
        }
        for (i, line) in lines.enumerate() {
            if !line.trim().is_empty() && line != first {
                return Err(err(
                    i + 2,
                    "differs from line 1; a template file holds one template (extra lines may \
                     only repeat it)"
                        .into(),
                ));
            }
        }
        for tag in UNSUPPORTED {
            if first.contains(tag) {
                return Err(err(1, format!("placeholder {tag} is not supported")));
            }
        }
        let mut parts = Vec::new();
        let mut text_run = String::new();
        let mut rest = first;
        'scan: while !rest.is_empty() {
            for p in Placeholder::ALL {
                if let Some(after) = rest.strip_prefix(p.tag()) {
                    if !text_run.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text_run)));
                    }
                    if parts.contains(&Part::Hole(p)) {
                        return Err(err(1, format!("placeholder {} appears twice", p.tag())));
                    }
                    parts.push(Part::Hole(p));
                    rest = after;
                    continue 'scan;
                }
            }
            let c = rest.chars().next().expect("rest is not empty");
            text_run.push(c);
            rest = &rest[c.len_utf8()..];
        }
        if !text_run.is_empty() {
            parts.push(Part::Text(text_run));
        }
        Ok(Template {
            source_name: source_name.to_string(),
            parts,
        })
    }

    /// The rules for a template a new run is to use (stored runs' templates are read as they
    /// were): no misspelt placeholder (`<TargetItemTitel>`, named with the one it resembles),
    /// and the target item named, by title or ID slot, or a user's prompts would not differ
    /// from item to item.
    pub fn check_placeholders(&self) -> Result<()> {
        let err = |message: String| PipelineError::Template {
            source_name: self.source_name.clone(),
            line: 1,
            message,
        };
        for part in &self.parts {
            if let Part::Text(text) = part {
                if let Some((tag, meant)) = misspelt_placeholder(text) {
                    return Err(err(format!(
                        "unknown placeholder {tag} (did you mean {}?); the placeholders are {}",
                        meant.tag(),
                        Placeholder::ALL.map(Placeholder::tag).join(", ")
                    )));
                }
            }
        }
        if !self.has(Placeholder::TargetItemTitle) && !self.has(Placeholder::TargetItemId) {
            return Err(err(
                "names no target item: a template needs <TargetItemTitle> and/or \
                 <TargetItemID>, or every item of a user gets the same prompt"
                    .into(),
            ));
        }
        Ok(())
    }

    pub fn has(&self, p: Placeholder) -> bool {
        self.parts.contains(&Part::Hole(p))
    }

    /// Whether any ID slot is present.
    pub fn has_slots(&self) -> bool {
        Placeholder::ALL.iter().any(|p| p.is_slot() && self.has(*p))
    }

    /// Checks that the template suits its prompt kind: a text prompt has no ID slots, a hybrid
    /// prompt has at least one.
    pub fn check_kind(&self, kind: PromptKind) -> Result<()> {
        let message = match (kind, self.has_slots()) {
            (PromptKind::Text, true) => {
                "a text-only template must not contain <UserID> or <TargetItemID>"
            }
            (PromptKind::Hybrid, false) => "a hybrid template needs <UserID> and/or <TargetItemID>",
            _ => return Ok(()),
        };
        Err(PipelineError::Template {
            source_name: self.source_name.clone(),
            line: 1,
            message: message.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_suit_their_kind() {
        for domain in [Domain::Movie, Domain::Book] {
            for kind in [PromptKind::Text, PromptKind::Hybrid] {
                let t = Template::builtin(kind, domain);
                t.check_kind(kind).unwrap();
                assert!(t.has(Placeholder::ItemTitleList) && t.has(Placeholder::TargetItemTitle));
            }
        }
        let hybrid = Template::builtin(PromptKind::Hybrid, Domain::Movie);
        assert!(hybrid.has(Placeholder::UserId) && hybrid.has(Placeholder::TargetItemId));
    }

    #[test]
    fn the_shipped_soft_prompt_template_is_a_hybrid_one() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/prompts/softprompt_movie.txt"
        );
        let t = Template::load(Path::new(path)).unwrap();
        t.check_kind(PromptKind::Hybrid).unwrap();
        for p in Placeholder::ALL {
            assert!(t.has(p), "{}", p.tag());
        }
    }

    #[test]
    fn a_file_with_a_byte_order_mark_reads_as_one_without() {
        let dir = tempfile::tempdir().unwrap();
        let text = "#Question: <ItemTitleList> and <TargetItemTitle>?";
        let (plain, marked) = (dir.path().join("plain.txt"), dir.path().join("bom.txt"));
        std::fs::write(&plain, text).unwrap();
        std::fs::write(&marked, format!("\u{feff}{text}")).unwrap();
        let parts = |p: &Path| Template::load(p).unwrap().parts;
        assert_eq!(parts(&marked), parts(&plain));
    }

    #[test]
    fn literal_backslash_n_is_kept() {
        let t = Template::builtin(PromptKind::Text, Domain::Movie);
        let Some(Part::Text(last)) = t.parts.last() else {
            panic!("ends with text")
        };
        assert!(last.ends_with(" \\n#Answer:"), "{last:?}");
        assert!(!last.contains('\n'));
    }

    #[test]
    fn repeated_lines_are_fine_but_different_lines_are_not() {
        let ok = Template::parse("t", "a <UserID> b\na <UserID> b\n\n").unwrap();
        assert_eq!(
            ok.parts,
            vec![
                Part::Text("a ".into()),
                Part::Hole(Placeholder::UserId),
                Part::Text(" b".into())
            ]
        );
        let e = Template::parse("t.txt", "a <UserID>\nb\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.txt:2:"), "{e}");
    }

    #[test]
    fn rejects_empty_duplicate_and_unsupported() {
        assert!(Template::parse("t", "\n")
            .unwrap_err()
            .to_string()
            .contains("t:1"));
        assert!(Template::parse("t", "<UserID><UserID>")
            .unwrap_err()
            .to_string()
            .contains("twice"));
        let e = Template::parse("t", "x <ItemIDList>")
            .unwrap_err()
            .to_string();
        assert!(e.contains("<ItemIDList>"), "{e}");
    }

    #[test]
    fn other_angle_brackets_are_text() {
        let t = Template::parse("t", "<s>#Q <TargetItemTitle>").unwrap();
        assert_eq!(t.parts[0], Part::Text("<s>#Q ".into()));
        assert!(t.check_kind(PromptKind::Hybrid).is_err());
        let chat = Template::parse("t", "<|im_start|>user <a> <TargetItemTitle>").unwrap();
        assert_eq!(chat.parts[0], Part::Text("<|im_start|>user <a> ".into()));
    }

    #[test]
    fn a_misspelt_placeholder_is_named_with_the_one_it_resembles() {
        let check = |text: &str| {
            Template::parse("t.txt", text)
                .and_then(|t| t.check_placeholders())
                .err()
                .map(|e| e.to_string())
        };
        let e = check("<ItemTitleList> then <TargetItemTitel>?").unwrap();
        assert!(e.starts_with("t.txt:1:"), "{e}");
        assert!(
            e.contains("unknown placeholder <TargetItemTitel> (did you mean <TargetItemTitle>?)"),
            "{e}"
        );
        let e = check("<UserId> <TargetItemTitle>").unwrap();
        assert!(e.contains("<UserId> (did you mean <UserID>?)"), "{e}");
        assert!(check("<ItemTitles> <TargetItemTitle>").is_some());
        // Markup and other words in brackets are text.
        let fine = "<s><EOS> <SEP> <Movie> <Items> <Used> <userid> <|im_start|> <TargetItemTitle>";
        assert_eq!(check(fine), None, "{fine}");
        for shipped in [PromptKind::Text, PromptKind::Hybrid] {
            for domain in [Domain::Movie, Domain::Book] {
                Template::builtin(shipped, domain)
                    .check_placeholders()
                    .unwrap();
            }
        }
    }

    #[test]
    fn a_template_must_name_the_target_item() {
        let t = Template::parse("t.txt", "Hello {Nope} world <ItemTitleList>").unwrap();
        let e = t.check_placeholders().unwrap_err().to_string();
        assert!(
            e.starts_with("t.txt:1:") && e.contains("names no target item"),
            "{e}"
        );
        for fine in [
            "<UserID> likes <TargetItemID>?",
            "Will they like <TargetItemTitle>?",
        ] {
            Template::parse("t", fine)
                .unwrap()
                .check_placeholders()
                .unwrap();
        }
    }
}
