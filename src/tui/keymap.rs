//! The keymap: the single table of every key binding, from which both key handling and the help
//! screen are generated, so the two can never disagree.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The views, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    Runs,
    Run,
    Metrics,
    Compare,
    Prompt,
    Launch,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Runs,
        View::Run,
        View::Metrics,
        View::Compare,
        View::Prompt,
        View::Launch,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Runs => "Runs",
            View::Run => "Run",
            View::Metrics => "Metrics",
            View::Compare => "Compare",
            View::Prompt => "Prompt",
            View::Launch => "Launch",
        }
    }

    pub fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }

    /// The view `delta` tabs away, wrapping around.
    pub fn cycle(self, delta: isize) -> View {
        let n = View::ALL.len() as isize;
        View::ALL[(self.index() as isize + delta).rem_euclid(n) as usize]
    }
}

/// Where a binding applies: everywhere, or in one view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    In(View),
}

impl Scope {
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::In(view) => view.title(),
        }
    }
}

/// What a key asks for; `update` gives each its meaning in the current view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    NextView,
    PrevView,
    GoTo(View),
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    Filter,
    Mark,
    ClearMarks,
    SortNext,
    SortReverse,
    CancelRun,
    ResumeRun,
    DeleteRun,
    PrevStage,
    NextStage,
    NextSplit,
    SetBaseline,
    ToggleParts,
    ToggleSeeds,
    NextCurve,
    RowsUp,
    RowsDown,
    PromptUp,
    PromptDown,
    Search,
    Launch,
    Refresh,
}

/// One key: a code and the modifiers that must be held (Shift is folded into the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn k(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: false,
    }
}
const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}
const fn code(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

impl Key {
    /// Whether a terminal key event is this key.
    pub fn matches(self, event: &KeyEvent) -> bool {
        let held_ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        if held_ctrl != self.ctrl {
            return false;
        }
        match (self.code, event.code) {
            // Letters arrive lower-case with Ctrl held on some terminals, upper-case on others.
            (KeyCode::Char(a), KeyCode::Char(b)) if self.ctrl => a.eq_ignore_ascii_case(&b),
            (a, b) => a == b,
        }
    }

    /// How the help screen writes the key.
    pub fn label(self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "Shift-Tab".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("Ctrl-{base}")
        } else {
            base
        }
    }
}

/// One line of the keymap.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub scope: Scope,
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
}

const fn bind(scope: Scope, keys: &'static [Key], action: Action, help: &'static str) -> Binding {
    Binding {
        scope,
        keys,
        action,
        help,
    }
}

use Action as A;
use Scope::Global as G;
const RUNS: Scope = Scope::In(View::Runs);
const RUN: Scope = Scope::In(View::Run);
const METRICS: Scope = Scope::In(View::Metrics);
const COMPARE: Scope = Scope::In(View::Compare);
const PROMPT: Scope = Scope::In(View::Prompt);
const LAUNCH: Scope = Scope::In(View::Launch);

/// Every binding. View bindings are looked up before global ones, so a view may reuse a key.
pub const BINDINGS: &[Binding] = &[
    bind(
        G,
        &[k('?'), code(KeyCode::F(1))],
        A::Help,
        "show or hide this help",
    ),
    bind(
        G,
        &[k('q'), ctrl('c')],
        A::Quit,
        "quit (asks first while a run is active)",
    ),
    bind(G, &[code(KeyCode::Tab)], A::NextView, "next view"),
    bind(G, &[code(KeyCode::BackTab)], A::PrevView, "previous view"),
    bind(G, &[k('1')], A::GoTo(View::Runs), "Runs view"),
    bind(G, &[k('2')], A::GoTo(View::Run), "Run view"),
    bind(G, &[k('3')], A::GoTo(View::Metrics), "Metrics view"),
    bind(G, &[k('4')], A::GoTo(View::Compare), "Compare view"),
    bind(G, &[k('5')], A::GoTo(View::Prompt), "Prompt inspector"),
    bind(G, &[k('6')], A::GoTo(View::Launch), "Launch view"),
    bind(G, &[code(KeyCode::Up), k('k')], A::Up, "move up"),
    bind(G, &[code(KeyCode::Down), k('j')], A::Down, "move down"),
    bind(G, &[code(KeyCode::Left), k('h')], A::Left, "move left"),
    bind(G, &[code(KeyCode::Right), k('l')], A::Right, "move right"),
    bind(G, &[code(KeyCode::PageUp), ctrl('u')], A::PageUp, "page up"),
    bind(
        G,
        &[code(KeyCode::PageDown), ctrl('d')],
        A::PageDown,
        "page down",
    ),
    bind(G, &[code(KeyCode::Home), k('g')], A::Top, "first"),
    bind(G, &[code(KeyCode::End), k('G')], A::Bottom, "last"),
    bind(
        G,
        &[code(KeyCode::Esc)],
        A::Back,
        "close help, cancel input, clear the filter",
    ),
    bind(G, &[ctrl('r')], A::Refresh, "reload runs from the store"),
    bind(
        RUNS,
        &[code(KeyCode::Enter)],
        A::Open,
        "open the selected run",
    ),
    bind(
        RUNS,
        &[k('/')],
        A::Filter,
        "filter runs (name, id, status, settings)",
    ),
    bind(
        RUNS,
        &[k(' ')],
        A::Mark,
        "mark or unmark the run, then go to the next (for Metrics and Compare)",
    ),
    bind(RUNS, &[k('x')], A::ClearMarks, "clear all marks"),
    bind(
        RUNS,
        &[k('s'), k('>'), code(KeyCode::Right), k('l')],
        A::SortNext,
        "sort by the next column",
    ),
    bind(
        RUNS,
        &[code(KeyCode::Left), k('h')],
        A::Left,
        "sort by the previous column",
    ),
    bind(
        RUNS,
        &[k('S'), k('<')],
        A::SortReverse,
        "reverse the sort order",
    ),
    bind(
        RUNS,
        &[k('c')],
        A::CancelRun,
        "cancel the selected run (running or queued)",
    ),
    bind(
        RUNS,
        &[k('R')],
        A::ResumeRun,
        "resume the selected interrupted, cancelled or failed run",
    ),
    bind(
        RUNS,
        &[k('D')],
        A::DeleteRun,
        "delete the selected run from the store (asks first)",
    ),
    bind(
        RUN,
        &[k('['), k('h'), code(KeyCode::Left)],
        A::PrevStage,
        "previous stage",
    ),
    bind(
        RUN,
        &[k(']'), k('l'), code(KeyCode::Right)],
        A::NextStage,
        "next stage",
    ),
    bind(RUN, &[k('c')], A::CancelRun, "cancel this run"),
    bind(
        RUN,
        &[k('R')],
        A::ResumeRun,
        "resume this run if it was interrupted, cancelled or failed",
    ),
    bind(
        METRICS,
        &[code(KeyCode::Left), k('h')],
        A::Left,
        "highlight the column to the left (the table scrolls when not all fit)",
    ),
    bind(
        METRICS,
        &[code(KeyCode::Right), k('l')],
        A::Right,
        "highlight the column to the right",
    ),
    bind(
        METRICS,
        &[code(KeyCode::Up), k('k')],
        A::Up,
        "scroll the metric rows up, where the terminal is too short for them",
    ),
    bind(
        METRICS,
        &[code(KeyCode::Down), k('j')],
        A::Down,
        "scroll the metric rows down",
    ),
    bind(
        METRICS,
        &[code(KeyCode::PageUp)],
        A::PageUp,
        "scroll the differences from the baseline up, where they do not fit",
    ),
    bind(
        METRICS,
        &[code(KeyCode::PageDown)],
        A::PageDown,
        "scroll the differences down",
    ),
    bind(METRICS, &[k('p')], A::NextSplit, "next split"),
    bind(
        METRICS,
        &[k('b')],
        A::SetBaseline,
        "make the highlighted run the baseline",
    ),
    bind(
        METRICS,
        &[k('o')],
        A::ToggleParts,
        "also show each CoLLM run's own parts: its foundation and earlier stages (TALLRec)",
    ),
    bind(
        METRICS,
        &[k('s')],
        A::ToggleSeeds,
        "one column per setting over seeds: its runs' mean, paired seed by seed",
    ),
    bind(
        COMPARE,
        &[code(KeyCode::Up), k('k')],
        A::Up,
        "previous differing setting (the table scrolls)",
    ),
    bind(
        COMPARE,
        &[code(KeyCode::Down), k('j')],
        A::Down,
        "next differing setting",
    ),
    bind(
        COMPARE,
        &[code(KeyCode::Left), k('h')],
        A::Left,
        "runs further left, when not all fit across",
    ),
    bind(
        COMPARE,
        &[code(KeyCode::Right), k('l')],
        A::Right,
        "runs further right",
    ),
    bind(
        COMPARE,
        &[k('m')],
        A::NextCurve,
        "next curve (loss, lr, AUC, UAUC)",
    ),
    bind(COMPARE, &[k('[')], A::PrevStage, "previous stage"),
    bind(COMPARE, &[k(']')], A::NextStage, "next stage"),
    bind(PROMPT, &[k('/')], A::Search, "search a user by id"),
    bind(PROMPT, &[k('p')], A::NextSplit, "next split"),
    bind(PROMPT, &[k('{')], A::PromptUp, "scroll the prompt up"),
    bind(PROMPT, &[k('}')], A::PromptDown, "scroll the prompt down"),
    bind(PROMPT, &[k('[')], A::RowsUp, "scroll the user's rows up"),
    bind(
        PROMPT,
        &[k(']')],
        A::RowsDown,
        "scroll the user's rows down",
    ),
    bind(
        PROMPT,
        &[k('s')],
        A::SortNext,
        "rows in the split's order, or by P(Yes) highest first",
    ),
    bind(
        PROMPT,
        &[code(KeyCode::Enter)],
        A::Open,
        "inspect the highlighted user",
    ),
    bind(
        LAUNCH,
        &[code(KeyCode::Enter), k(' ')],
        A::Open,
        "edit the field, flip the switch",
    ),
    bind(
        LAUNCH,
        &[k('L')],
        A::Launch,
        "launch the experiment as edited (runs queue)",
    ),
];

/// The action of `event` in `view`: the view's bindings first, then the global ones.
pub fn action_for(view: View, event: &KeyEvent) -> Option<Action> {
    bound_in(Scope::In(view), event).or_else(|| bound_in(Scope::Global, event))
}

/// The action `event` is bound to by the global keys alone: what it does over a view's own
/// keys, in the help overlay (where the Metrics view's ↑↓ would scroll its rows).
pub fn global_action_for(event: &KeyEvent) -> Option<Action> {
    bound_in(Scope::Global, event)
}

fn bound_in(scope: Scope, event: &KeyEvent) -> Option<Action> {
    BINDINGS
        .iter()
        .filter(|b| b.scope == scope)
        .find(|b| b.keys.iter().any(|key| key.matches(event)))
        .map(|b| b.action)
}

/// The help screen's sections: a scope, then its bindings as (keys, description).
pub fn help_sections() -> Vec<(Scope, Vec<(String, &'static str)>)> {
    let mut scopes = vec![Scope::Global];
    scopes.extend(View::ALL.iter().map(|v| Scope::In(*v)));
    scopes
        .into_iter()
        .map(|scope| {
            let rows = BINDINGS
                .iter()
                .filter(|b| b.scope == scope)
                .map(|b| {
                    let keys: Vec<String> = b.keys.iter().map(|key| key.label()).collect();
                    (keys.join(" / "), b.help)
                })
                .collect();
            (scope, rows)
        })
        .filter(|(_, rows): &(Scope, Vec<_>)| !rows.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn view_bindings_win_over_global_ones() {
        let h = press(KeyCode::Char('h'), KeyModifiers::NONE);
        assert_eq!(action_for(View::Runs, &h), Some(Action::Left));
        assert_eq!(action_for(View::Run, &h), Some(Action::PrevStage));
        let q = press(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(action_for(View::Launch, &q), Some(Action::Quit));
        let ctrl_c = press(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(View::Runs, &ctrl_c), Some(Action::Quit));
        let c = press(KeyCode::Char('c'), KeyModifiers::NONE);
        assert_eq!(action_for(View::Runs, &c), Some(Action::CancelRun));
        let upper_s = press(KeyCode::Char('S'), KeyModifiers::SHIFT);
        assert_eq!(action_for(View::Runs, &upper_s), Some(Action::SortReverse));
    }

    #[test]
    fn no_key_is_bound_twice_in_one_scope() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                if a.scope != b.scope {
                    continue;
                }
                for key in a.keys {
                    assert!(
                        !b.keys.contains(key),
                        "{} bound twice in {:?}",
                        key.label(),
                        a.scope
                    );
                }
            }
        }
    }

    #[test]
    fn help_lists_every_binding() {
        let listed: usize = help_sections().iter().map(|(_, rows)| rows.len()).sum();
        assert_eq!(listed, BINDINGS.len());
    }
}
