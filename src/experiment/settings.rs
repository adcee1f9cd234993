//! An experiment's settings as flat dotted keys (`training.lr`, `collm.stages.1.lr`): the run
//! table's key settings, the differing settings of `collm compare` and the TUI's compare view, and
//! the launch form's edits all read and write experiments this way.

use std::collections::BTreeMap;

use toml::{Table, Value};

use crate::experiment::FOUNDATION;

/// Settings shown in the run table, in this order, with their short labels: a pattern matches a
/// key equal to it or ending in `.pattern`.
const KEY_SETTINGS: &[(&str, &str)] = &[
    ("model.kind", ""),
    ("cf_model", ""),
    ("dim", "d"),
    ("lr", "lr="),
    ("batch_size", "bs="),
    ("max_epochs", "ep="),
    ("epochs", "ep="),
    ("max_steps", "steps="),
    // Shown only where set: the reference's horizon against the default budget is an ablation.
    ("cosine_steps", "cos="),
    ("train_rows", "rows="),
    ("max_rows", "rows="),
    // Last, so that runs alike but for their seed read alike up to it.
    ("seed", "seed="),
];

/// Leaf names the launch form offers besides every switch (boolean).
const FORM_KEYS: &[&str] = &[
    "lr",
    "batch_size",
    "max_epochs",
    "epochs",
    "max_steps",
    "patience",
    // Seed replicates, queued as `1, 2, 3`.
    "seed",
];

/// The settings of an experiment as `dotted.key -> value`, sorted by key. Arrays stay whole;
/// arrays of tables are indexed (`stages.0.lr`).
pub fn flatten(text: &str) -> Result<BTreeMap<String, Value>, String> {
    let table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| e.message().to_string())?;
    Ok(flatten_table(&table))
}

/// [`flatten`] of a table already read.
pub fn flatten_table(table: &Table) -> BTreeMap<String, Value> {
    flatten_table_counted(table).0
}

/// `collm.stages.00.lr` (or `+0`) as `collm.stages.0.lr`: one spelling per setting, so that
/// two spellings of one key are seen to be one (given twice, swept and set).
pub fn canonical_key(key: &str) -> String {
    key.trim()
        .split('.')
        .map(|part| match part.parse::<usize>() {
            Ok(index) => index.to_string(),
            Err(_) => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// [`flatten_table`], and the keys written twice (`"training.lr"` quoted beside `training.lr`
/// dotted, or `stages.00` beside `stages.0`: two TOML keys, one setting), of which the map
/// keeps only one. Keys are [`canonical_key`]s.
pub fn flatten_table_counted(table: &Table) -> (BTreeMap<String, Value>, Vec<String>) {
    let mut out = BTreeMap::new();
    let mut twice = Vec::new();
    flatten_into("", table, &mut out, &mut twice);
    (out, twice)
}

fn flatten_into(
    prefix: &str,
    table: &Table,
    out: &mut BTreeMap<String, Value>,
    twice: &mut Vec<String>,
) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Table(inner) => flatten_into(&path, inner, out, twice),
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_table) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Table(inner) = item {
                        flatten_into(&format!("{path}.{i}"), inner, out, twice);
                    }
                }
            }
            other => {
                let path = canonical_key(&path);
                if out.insert(path.clone(), other.clone()).is_some() {
                    twice.push(path);
                }
            }
        }
    }
}

/// A value as the UI shows it: strings bare, floats in their shortest exact form.
pub fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Float(f) => format_float(*f),
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(show).collect::<Vec<_>>().join(", ")
            )
        }
        other => other.to_string(),
    }
}

/// `0.001` as `1e-3`, `0.5` as `0.5`: learning rates stay readable in narrow columns.
pub fn format_float(f: f64) -> String {
    if f != 0.0 && (f.abs() < 1e-2 || f.abs() >= 1e6) {
        format!("{f:e}")
    } else {
        format!("{f}")
    }
}

fn leaf(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// Whether a run matches a run-list filter (the TUI's `/`, `collm runs FILTER`): every word of it
/// does. A `KEY=VALUE` word is a setting's value: a setting of the run (`flat`, its experiment
/// spelt out) whose key is `KEY` or ends in `.KEY` holds `VALUE` (`seed=1` finds `training.seed =
/// 1`; a number equal however typed: `lr=1e-2` finds `0.01`), or a `KEY=` word of the name or the
/// key settings' summary holds it whole (`bs=16`; `lr=0.01` in `lr=2e-3/0.01`; the word as shown,
/// `lr=2e-3/0.01`, too), so `seed=1` is not `seed=12`. Any other word is text, lowercased, within
/// the run's id, name, kind, status or summary. A sweep point's name (`mf lr=0.01 seed=1`) finds
/// its run.
pub fn run_matches(
    record: &collm_store::RunRecord,
    summary: &str,
    flat: &BTreeMap<String, Value>,
    filter: &str,
) -> bool {
    let text = format!(
        "{} {} {} {} {}",
        record.id, record.name, record.kind, record.status, summary
    )
    .to_lowercase();
    filter
        .split_whitespace()
        .all(|word| word_matches(&text, flat, word))
}

/// One word of a run filter (see [`run_matches`]) against a run's `text` and settings.
fn word_matches(text: &str, flat: &BTreeMap<String, Value>, word: &str) -> bool {
    let Some((key, value)) = word.split_once('=') else {
        return text.contains(&word.to_lowercase());
    };
    let key = canonical_key(&key.to_lowercase());
    // `lr=` (a value still being typed): any run with the setting.
    let any = value.is_empty();
    let wanted = super::overrides::parse_value(value);
    let in_settings = flat.iter().any(|(k, v)| {
        names_key(&k.to_lowercase(), &key)
            && (any || same_value(v, &wanted) || show(v).eq_ignore_ascii_case(&show(&wanted)))
    });
    let prefix = format!("{key}=");
    let shown = show(&wanted).to_lowercase();
    // A word copied whole from the summary (`lr=2e-3/0.01`) is that word.
    let whole = word.to_lowercase();
    let in_words = text.split_whitespace().any(|w| {
        w == whole
            || w.strip_prefix(&prefix)
                .is_some_and(|values| any || values.split('/').any(|v| v == shown))
    });
    in_settings || in_words
}

/// Whether dotted key `key` is `name` or ends in `.name` (`training.lr` names `lr`).
fn names_key(key: &str, name: &str) -> bool {
    key.strip_suffix(name)
        .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
}

/// Whether two values of a setting are one: numbers by value (`1` is `1.0`), the rest as
/// they are.
pub fn same_value(stored: &Value, wanted: &Value) -> bool {
    let number = |v: &Value| match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    };
    match (number(stored), number(wanted)) {
        (Some(a), Some(b)) => a == b,
        _ => stored == wanted,
    }
}

/// The run table's one-line summary of an experiment: `mf d256 lr=1e-3 bs=2048 ep=5000
/// seed=2023`. A CoLLM experiment reads as its ablation first, then each stage's knobs, then its
/// foundation's: `mf d256 · lora→mapping · lr=2e-3/0.01 bs=16 steps=64/96 rows=1024/768 seed=42
/// · cf lr=1e-3 bs=2048 ep=5000 seed=2023`
/// (one value where the stages agree; `/` between stage 1's and stage 2's where not).
pub fn key_summary(text: &str) -> String {
    let Ok(table) = text.parse::<Table>() else {
        return "(unreadable experiment)".into();
    };
    let flat = flatten_table(&table);
    let mut groups = if let Some(collm) = table.get("collm") {
        // The pipeline as the runner reads it decides whether the run trains its foundation.
        let cfg: Option<collm_pipeline::PipelineConfig> = collm.clone().try_into().ok();
        collm_groups(&flat, cfg.as_ref())
    } else {
        vec![key_parts(&flat, |_| true)]
    };
    // Switches that are on name the ablation.
    groups.push(
        flat.iter()
            .filter(|(_, value)| value.as_bool() == Some(true))
            .map(|(key, _)| format!("+{}", leaf(key)))
            .collect(),
    );
    groups
        .into_iter()
        .filter(|g| !g.is_empty())
        .map(|g| g.join(" "))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A CoLLM experiment's summary parts: what fills the slots, what each stage trains, the
/// stages' knobs and, when the run trains the foundation the CIE reads, the foundation's
/// (`cfg`: the `[collm]` section read, when it reads).
fn collm_groups(
    flat: &BTreeMap<String, Value>,
    cfg: Option<&collm_pipeline::PipelineConfig>,
) -> Vec<Vec<String>> {
    let stages = (0..)
        .take_while(|i| flat.keys().any(|k| k.starts_with(&stage_prefix(*i))))
        .count();
    let slots = flat.get("collm.slots.kind").map_or("cie".into(), show);
    if slots != "cie" {
        // `none` is TALLRec's and ICL's: prompts of text only. No foundation is read.
        let fill = match slots.as_str() {
            "none" => "text only".into(),
            other => other.replace('_', " "),
        };
        return vec![
            vec![fill],
            vec![stage_trains(flat, stages)],
            llm_parts(flat, stages),
        ];
    }
    let mut foundation = key_parts(flat, |k| k.starts_with("model."));
    for (key, default) in [("cf_init", "pretrained"), ("cf_input", "raw")] {
        match flat.get(&format!("collm.slots.{key}")).map(show) {
            Some(v) if v != default => foundation.push(format!("{key}={v}")),
            _ => {}
        }
    }
    // The foundation's training settings only where the run trains one: T2 draws its model
    // afresh, `cf_weights` names one trained elsewhere.
    let mut training = Vec::new();
    if cfg.is_none_or(crate::experiment::trains_foundation) {
        training = key_parts(flat, |k| k.starts_with("training."));
    }
    if !training.is_empty() {
        training.insert(0, FOUNDATION.into());
    }
    vec![
        foundation,
        vec![stage_trains(flat, stages)],
        llm_parts(flat, stages),
        training,
    ]
}

fn stage_prefix(i: usize) -> String {
    format!("collm.stages.{i}.")
}

/// The [`KEY_SETTINGS`] among the keys `keep` accepts, each value once.
fn key_parts(flat: &BTreeMap<String, Value>, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for (name, label) in KEY_SETTINGS {
        for (_, value) in flat.iter().filter(|(k, _)| keep(k) && names_key(k, name)) {
            let part = format!("{label}{}", show(value));
            if !parts.contains(&part) {
                parts.push(part);
            }
        }
    }
    parts
}

/// What each stage trains, stage after stage: `lora→mapping`, `lora→mapping+cf`; `zero-shot`
/// without stages.
fn stage_trains(flat: &BTreeMap<String, Value>, stages: usize) -> String {
    if stages == 0 {
        return "zero-shot".into();
    }
    (0..stages)
        .map(|i| match flat.get(&format!("{}train", stage_prefix(i))) {
            Some(Value::Array(parts)) => parts.iter().map(show).collect::<Vec<_>>().join("+"),
            Some(other) => show(other),
            None => "?".into(),
        })
        .collect::<Vec<_>>()
        .join("→")
}

/// The stages' knobs, then the seed of the LLM side (LoRA, mapping, row samples).
fn llm_parts(flat: &BTreeMap<String, Value>, stages: usize) -> Vec<String> {
    let mut parts = stage_parts(flat, stages);
    parts.extend(key_parts(flat, |k| k == "collm.seed"));
    parts
}

/// The stages' [`KEY_SETTINGS`]: one value where every stage that sets it agrees, else each
/// stage's in order, joined by `/` (`-` for a stage that leaves it to its default).
fn stage_parts(flat: &BTreeMap<String, Value>, stages: usize) -> Vec<String> {
    let mut parts = Vec::new();
    for (name, label) in KEY_SETTINGS {
        let values: Vec<Option<String>> = (0..stages)
            .map(|i| flat.get(&format!("{}{name}", stage_prefix(i))).map(show))
            .collect();
        let set: Vec<&String> = values.iter().flatten().collect();
        let Some(first) = set.first() else { continue };
        let value = if set.iter().all(|v| v == first) && set.len() == stages {
            first.to_string()
        } else {
            values
                .iter()
                .map(|v| v.as_deref().unwrap_or("-"))
                .collect::<Vec<_>>()
                .join("/")
        };
        let part = format!("{label}{value}");
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    parts
}

/// The keys whose values differ between stored experiments (a key missing from some counts as
/// differing), with each experiment's value; a setting added since one was stored counts as its
/// default there ([`spelled_flat`]).
pub fn diff(texts: &[&str]) -> Vec<(String, Vec<Option<String>>)> {
    let flats: Vec<BTreeMap<String, Value>> = texts.iter().map(|t| spelled_flat(t)).collect();
    diff_flat(&flats.iter().collect::<Vec<_>>())
}

/// A stored experiment flattened as today's parser spells it out
/// ([`Experiment::spelled_out`](crate::experiment::Experiment::spelled_out)); no keys when
/// unreadable.
pub fn spelled_flat(text: &str) -> BTreeMap<String, Value> {
    flatten(&crate::experiment::Experiment::spelled_out(text)).unwrap_or_default()
}

/// [`diff`] of experiments already flattened by [`spelled_flat`]: the keys whose values differ,
/// ordered as said below, each part in key order.
pub fn diff_flat(flats: &[&BTreeMap<String, Value>]) -> Vec<(String, Vec<Option<String>>)> {
    // Where a run took parts from (`[reuse]`) is no setting: a part is reused only when it
    // computed what this run would (a foundation brings its `[training]` along).
    let mut keys: Vec<&String> = flats
        .iter()
        .flat_map(|f| f.keys())
        .filter(|k| !k.starts_with("reuse."))
        .collect();
    keys.sort();
    keys.dedup();
    let mut differing: Vec<(String, Vec<Option<String>>)> = keys
        .into_iter()
        .filter_map(|key| {
            let values: Vec<Option<String>> = flats.iter().map(|f| f.get(key).map(show)).collect();
            let first = &values[0];
            values
                .iter()
                .any(|v| v != first)
                .then(|| (key.clone(), values))
        })
        .collect();
    // Settings every run has, with different values (the ablation's), first; then those only
    // some runs have whose values differ among them (two CoLLM runs' stage budgets beside an MF
    // run); last those only some runs have, alike wherever set (a CoLLM run's `collm.*` beside
    // an MF run), which would otherwise bury the rest.
    differing.sort_by_key(|(_, values)| {
        let present: Vec<&String> = values.iter().flatten().collect();
        let alike = present.windows(2).all(|w| w[0] == w[1]);
        (values.iter().any(Option::is_none), alike)
    });
    differing
}

/// One editable setting of the launch form.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub key: String,
    pub value: Value,
    /// Several values typed at once (`1e-2, 1e-3`): the launch queues one run per value (per
    /// combination, with other such fields); `value` is the first. Empty for one value.
    pub grid: Vec<Value>,
}

impl Field {
    pub fn new(key: impl Into<String>, value: Value) -> Field {
        Field {
            key: key.into(),
            value,
            grid: Vec::new(),
        }
    }

    pub fn is_switch(&self) -> bool {
        self.value.is_bool()
    }

    /// The value as the form shows it (a grid as `0.01, 1e-3`) and editing starts from.
    pub fn shown(&self) -> String {
        if self.grid.is_empty() {
            show(&self.value)
        } else {
            self.grid.iter().map(show).collect::<Vec<_>>().join(", ")
        }
    }

    /// Takes what [`parse_input`] read: one value, or several for a grid.
    pub fn set(&mut self, values: Vec<Value>) {
        if let Some(first) = values.first() {
            self.value = first.clone();
        }
        self.grid = if values.len() > 1 { values } else { Vec::new() };
    }
}

/// The fields the launch form offers for an experiment: its learning rates, batch sizes, epoch
/// and step budgets, row limits, and every switch; for a `collm` experiment also the runs its
/// foundation and stages may be taken from (`reuse.cf`, `reuse.stage1`, ...; empty: trained).
pub fn form_fields(text: &str) -> Result<Vec<Field>, String> {
    let flat = flatten(text)?;
    let mut fields: Vec<Field> = flat
        .iter()
        .filter(|(key, value)| {
            let name = leaf(key);
            !key.starts_with(REUSE)
                && (value.is_bool()
                    || (FORM_KEYS.contains(&name)
                        || name.contains("limit")
                        || name.ends_with("_rows"))
                        && (value.is_integer() || value.is_float()))
        })
        .map(|(key, value)| Field::new(key.clone(), value.clone()))
        .collect();
    if flat.get("kind").and_then(Value::as_str) == Some("collm") {
        let stages = (0..)
            .take_while(|i| {
                flat.keys()
                    .any(|k| k.starts_with(&format!("collm.stages.{i}.")))
            })
            .map(|i| match flat.get(&format!("collm.stages.{i}.name")) {
                Some(Value::String(name)) => name.clone(),
                _ => collm_pipeline::config::unnamed_stage(i),
            });
        // TALLRec, ICL and the soft prompt train no foundation: a `reuse.cf` would be refused.
        let foundation = collm_section(text).is_none_or(|cfg| super::trains_foundation(&cfg));
        let foundation = foundation.then(|| FOUNDATION.to_string());
        for part in foundation.into_iter().chain(stages) {
            let key = format!("{REUSE}{part}");
            let value = flat
                .get(&key)
                .cloned()
                .unwrap_or_else(|| Value::String(String::new()));
            fields.push(Field::new(key, value));
        }
    }
    Ok(fields)
}

/// The `[collm]` table of an experiment's text, when it reads as one.
fn collm_section(text: &str) -> Option<collm_pipeline::PipelineConfig> {
    let table: toml::Table = toml::from_str(text).ok()?;
    table.get("collm")?.clone().try_into().ok()
}

/// The prefix of the launch form's `[reuse]` fields.
const REUSE: &str = "reuse.";

/// Parses what the user typed for `field`, keeping the field's type (an integer where a float is
/// expected is accepted). A number field takes a comma-separated list too (`1e-2, 1e-3`): a
/// grid, one run per value.
pub fn parse_input(field: &Field, input: &str) -> Result<Vec<Value>, String> {
    let input = input.trim();
    let bad = |what: &str| format!("{}: `{input}` is not {what}", field.key);
    let number = |text: &str| -> Result<Value, String> {
        let text = text.trim();
        match &field.value {
            Value::Integer(_) => text.parse::<i64>().ok().map(Value::Integer),
            _ => text.parse::<f64>().ok().map(Value::Float),
        }
        .ok_or_else(|| {
            bad(if field.value.is_integer() {
                "an integer (or integers, comma-separated)"
            } else {
                "a number (or numbers, comma-separated)"
            })
        })
    };
    match &field.value {
        Value::Integer(_) | Value::Float(_) => {
            let mut values: Vec<Value> = Vec::new();
            for part in input.split(',') {
                let value = number(part)?;
                if values.contains(&value) {
                    return Err(format!("{}: `{}` is listed twice", field.key, part.trim()));
                }
                values.push(value);
            }
            Ok(values)
        }
        Value::Boolean(_) => input
            .parse::<bool>()
            .map(|b| vec![Value::Boolean(b)])
            .map_err(|_| bad("true or false")),
        Value::String(_) => Ok(vec![Value::String(input.to_string())]),
        _ => Err(format!(
            "{}: this kind of value cannot be edited here",
            field.key
        )),
    }
}

/// The experiments a launch of the form queues: `text` with the fields written in, one per
/// point of the grid that fields with several values span (the first varying slowest), each
/// named after `name` and its values (`quick lr=0.01 batch_size=64`), as `collm sweep` names
/// its points.
pub fn apply_grid(text: &str, fields: &[Field], name: &str) -> Result<Vec<String>, String> {
    let axes: Vec<crate::sweep::Axis> = fields
        .iter()
        .filter(|f| !f.grid.is_empty())
        .map(|f| crate::sweep::Axis {
            key: f.key.clone(),
            values: f.grid.clone(),
            replicate: false,
        })
        .collect();
    if axes.is_empty() {
        return Ok(vec![apply(text, fields)?]);
    }
    let keys: Vec<String> = flatten(&crate::experiment::Experiment::spelled_out(text))?
        .into_keys()
        .collect();
    crate::sweep::grid(name, &axes, &keys)
        .into_iter()
        .map(|point| {
            let mut fields = fields.to_vec();
            for o in &point.overrides {
                if let Some(f) = fields.iter_mut().find(|f| f.key == o.key) {
                    f.value = o.value.clone();
                }
            }
            let mut table = applied(text, &fields)?;
            table.insert("name".into(), Value::String(point.name));
            Ok(table.to_string())
        })
        .collect()
}

/// The experiment `text` with each field's value written at its key.
pub fn apply(text: &str, fields: &[Field]) -> Result<String, String> {
    toml::to_string(&applied(text, fields)?).map_err(|e| e.to_string())
}

/// [`apply`], as the table before it is written out.
fn applied(text: &str, fields: &[Field]) -> Result<Table, String> {
    let mut table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| e.message().to_string())?;
    for field in fields {
        match field.key.strip_prefix(REUSE) {
            Some(part) => set_reuse(&mut table, part, &field.value),
            None => set_path(&mut table, &field.key, field.value.clone(), Missing::Refuse)?,
        }
    }
    Ok(table)
}

/// Writes `[reuse] part = value`, or removes the key when the value is empty (the table too,
/// when nothing is left in it).
fn set_reuse(table: &mut Table, part: &str, value: &Value) {
    let run = value.as_str().unwrap_or_default().trim();
    let reuse = REUSE.trim_end_matches('.');
    if run.is_empty() {
        if let Some(Value::Table(t)) = table.get_mut(reuse) {
            t.remove(part);
            if t.is_empty() {
                table.remove(reuse);
            }
        }
        return;
    }
    if let Value::Table(t) = table
        .entry(reuse)
        .or_insert_with(|| Value::Table(Table::new()))
    {
        t.insert(part.to_string(), Value::String(run.to_string()));
    }
}

/// Whether writing a setting may add a key the text does not have yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Only keys already written can change (the launch form edits what it listed).
    Refuse,
    /// Absent keys and tables are added (`--set` may give a setting the file leaves at its
    /// default); whether the experiment knows the key is then the experiment parser's call.
    Add,
}

/// Writes `value` at the dotted `key` of `table` (an array of tables takes an index:
/// `collm.stages.1.lr`). A float setting given an integer stays a float.
pub fn set_path(
    table: &mut Table,
    key: &str,
    value: Value,
    missing: Missing,
) -> Result<(), String> {
    let absent = || format!("{key}: no such setting in the experiment");
    let parts: Vec<&str> = key.split('.').collect();
    let (last, path) = parts.split_last().ok_or_else(absent)?;
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("{key}: a key is dotted names, e.g. training.lr"));
    }
    let mut current = table;
    let mut i = 0;
    while i < path.len() {
        let part = path[i];
        if missing == Missing::Add && !current.contains_key(part) {
            current.insert(part.to_string(), Value::Table(Table::new()));
        }
        current = match current.get_mut(part).ok_or_else(absent)? {
            Value::Table(inner) => inner,
            // A list of values is set whole (the value of an element would be one of them,
            // and a typo there could not be told from a new element).
            Value::Array(items) if !items.iter().all(Value::is_table) => {
                let list = parts[..=i].join(".");
                return Err(format!(
                    "{key}: `{list}` is a list of values; set it whole, e.g. \
                     --set '{list}=[\"a\", \"b\"]'"
                ));
            }
            // An array of tables: the next part is the index.
            Value::Array(items) => {
                i += 1;
                let index = path.get(i).and_then(|p| p.parse::<usize>().ok());
                let len = items.len();
                match index.and_then(|at| items.get_mut(at)) {
                    Some(Value::Table(inner)) => inner,
                    // `collm.stages.1=...`: a valid index as the last part, so a whole table.
                    _ if i == path.len() && last.parse::<usize>().is_ok_and(|n| n < len) => {
                        return Err(format!(
                            "{key}: names a whole table of `{}`; set one of its keys, e.g. \
                             {key}.lr",
                            parts[..i].join(".")
                        ))
                    }
                    _ => {
                        return Err(format!(
                            "{key}: `{}` holds {len} {}; name one by its index, 0 to {}",
                            parts[..i].join("."),
                            if len == 1 { "table" } else { "tables" },
                            len.saturating_sub(1)
                        ))
                    }
                }
            }
            _ => return Err(format!("{key}: `{}` is not a table", parts[..=i].join("."))),
        };
        i += 1;
    }
    let value = match (current.get(*last), value) {
        (Some(Value::Float(_)), Value::Integer(n)) => Value::Float(n as f64),
        (_, value) => value,
    };
    match (current.get_mut(*last), missing) {
        (Some(slot), _) => *slot = value,
        (None, Missing::Add) => {
            current.insert(last.to_string(), value);
        }
        (None, Missing::Refuse) => return Err(absent()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_finds_a_value_however_it_is_typed_and_only_that_value() {
        let record = |name: &str| {
            let id = collm_store::RunId::parse("261206-010000").unwrap();
            collm_store::RunRecord::new(id, name, "collm", "", 0)
        };
        let text = "name = \"a\"\n[training]\nlr = 0.015\nseed = 12\n[collm]\nseed = 1\n\
                    prefix_cache = false\n[[collm.stages]]\nlr = 2e-3\n[[collm.stages]]\nlr = 0.01\n";
        let flat = flatten(text).unwrap();
        let summary = "mf d64 · lora→mapping · lr=2e-3/0.01 bs=16";
        let run = record("mf seed=12 run");
        let hit = |filter: &str| run_matches(&run, summary, &flat, filter);
        // Settings, by value however typed, under any key ending in the one typed.
        assert!(hit("lr=1e-2") && hit("lr=0.01") && hit("collm.stages.1.lr=1e-2"));
        assert!(hit("lr=2e-3") && hit("training.lr=0.015") && hit("lr=1.5e-2"));
        assert!(hit("seed=1") && hit("seed=12") && hit("prefix_cache=false"));
        assert!(hit("bs=16") && hit("BS=16") && hit("lr=") && hit("bs="));
        // A word as the summary shows it.
        assert!(hit("lr=2e-3/0.01") && !hit("lr=2e-3/0.02"));
        assert!(!hit("heads="));
        // Not a value that merely starts with the one typed.
        assert!(!hit("lr=0.0") && !hit("lr=1e-3") && !hit("training.seed=1"));
        assert!(!hit("seed=2") && !hit("bs=1") && !hit("training.lr=0.01"));
        // Text is text; every word must match (a sweep point's name finds its run).
        assert!(hit("lora") && hit("MF") && hit("261206") && !hit("sasrec"));
        assert!(hit("mf seed=12 run") && hit("mf lr=0.01 seed=1") && hit("lora→mapping bs=16"));
        assert!(!hit("mf lr=0.02") && !hit("sasrec seed=1"));
    }

    const A: &str = "name = \"a\"\n[cf]\nkind = \"mf\"\nlr = 0.001\nbatch_size = 1024\n\n[ablation]\nno_history = false\n\n[[stages]]\nlr = 0.5\n";

    /// Where a run took parts from is not a setting in which runs differ.
    #[test]
    fn where_parts_were_taken_from_is_no_difference() {
        let a = "name = \"a\"\n[training]\nlr = 1e-2\n[reuse]\ncf = \"261129-011202\"\n";
        let b = "name = \"a\"\n[training]\nlr = 1e-3\n";
        let flats: Vec<BTreeMap<String, Value>> =
            [a, b].iter().map(|t| flatten(t).unwrap()).collect();
        let keys: Vec<String> = diff_flat(&flats.iter().collect::<Vec<_>>())
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["training.lr"]);
    }

    #[test]
    fn flattens_tables_and_arrays_of_tables() {
        let flat = flatten(A).unwrap();
        assert_eq!(show(&flat["cf.lr"]), "1e-3");
        assert_eq!(show(&flat["stages.0.lr"]), "0.5");
        assert_eq!(key_summary(A), "lr=1e-3 lr=0.5 bs=1024");
        // The model's kind, not the experiment's.
        assert_eq!(
            key_summary("kind = \"cf\"\n[model]\nkind = \"mf\"\ndim = 32\n"),
            "mf d32"
        );
    }

    #[test]
    fn setting_an_array_of_tables_needs_an_index_and_a_key() {
        let mut table: Table = A.parse().unwrap();
        let set = |table: &mut Table, key: &str| {
            set_path(table, key, Value::Integer(3), Missing::Add).map_err(|e| e.to_string())
        };
        set(&mut table, "stages.0.lr").unwrap();
        assert_eq!(table["stages"][0]["lr"], Value::Float(3.0));
        let whole = set(&mut table, "stages.0").unwrap_err();
        assert!(whole.contains("names a whole table of `stages`"), "{whole}");
        let forgotten = set(&mut table, "stages.lr").unwrap_err();
        assert!(
            forgotten.contains("holds 1 table; name one by its index"),
            "{forgotten}"
        );
        let beyond = set(&mut table, "stages.4").unwrap_err();
        assert!(
            beyond.contains("holds 1 table; name one by its index"),
            "{beyond}"
        );
        let beyond = set(&mut table, "stages.4.lr").unwrap_err();
        assert!(
            beyond.contains("holds 1 table; name one by its index, 0 to 0"),
            "{beyond}"
        );
        // A list of plain values is set whole: its element was reported as a "table".
        let splits = Value::Array(vec![Value::String("valid".into())]);
        table.insert("splits".into(), splits);
        for key in ["splits.0", "splits.5"] {
            let plain = set(&mut table, key).unwrap_err();
            assert!(
                plain.contains("`splits` is a list of values; set it whole"),
                "{plain}"
            );
        }
    }

    #[test]
    fn diff_keeps_only_keys_that_differ() {
        let b = A
            .replace("lr = 0.001", "lr = 0.01")
            .replace("no_history = false", "no_history = true");
        let d = diff(&[A, &b]);
        let keys: Vec<&str> = d.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["ablation.no_history", "cf.lr"]);
        assert_eq!(
            d[1].1,
            vec![Some("1e-3".to_string()), Some("0.01".to_string())]
        );
        assert!(key_summary(&b).ends_with("+no_history"));
        // A key only some have comes after those all have, whatever its name; among those, one
        // whose values differ where set before one alike wherever set.
        let c = b.replace("[cf]", "[aaa]\nonly = 1\nsome = 1\n[cf]");
        let e = A.replace("[cf]", "[aaa]\nonly = 1\nsome = 2\n[cf]");
        let d = diff(&[A, &c, &e]);
        let keys: Vec<&str> = d.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["ablation.no_history", "cf.lr", "aaa.some", "aaa.only"]
        );
    }

    /// A CoLLM run's summary names its ablation (what fills the slots, what each stage trains)
    /// before any learning rate, and says whose learning rate each one is.
    #[test]
    fn a_collm_summary_reads_as_its_ablation_then_its_stages_then_its_foundation() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        let summary = |file: &str| key_summary(&std::fs::read_to_string(dir.join(file)).unwrap());
        assert_eq!(
            summary("collm-mf-ml1m.toml"),
            "mf d256 · lora→mapping · lr=2e-3/0.01 bs=16 steps=64/96 rows=1024/768 seed=42 \
             · cf lr=1e-3 bs=2048 ep=5000 seed=2023"
        );
        assert!(summary("collm-mf-t1-ml1m.toml").starts_with("mf d256 · lora→mapping+cf · "));
        // T2 trains no foundation before its stages: no foundation recipe shown.
        assert_eq!(
            summary("collm-mf-t2-ml1m.toml"),
            "mf d256 cf_init=scratch · lora→mapping+cf · lr=2e-3/0.01 bs=16 steps=64/96 \
             rows=1024/768 seed=42"
        );
        let given = std::fs::read_to_string(dir.join("collm-mf-ml1m.toml"))
            .unwrap()
            .replace(
                "[collm.slots]\n",
                "[collm.slots]\ncf_weights = \"mf.safetensors\"\n",
            );
        assert!(
            !key_summary(&given).contains("· cf lr="),
            "{}",
            key_summary(&given)
        );
        assert!(summary("collm-mf-t3-ml1m.toml").starts_with("mf d256 · lora+mapping · lr=2e-3 "));
        // Without the CIE the foundation plays no part, so its settings are not shown.
        assert_eq!(
            summary("tallrec-ml1m.toml"),
            "text only · lora · lr=2e-3 bs=16 steps=64 rows=1024 seed=42"
        );
        assert_eq!(summary("icl-ml1m.toml"), "text only · zero-shot · seed=42");
        assert!(summary("collm-idtokens-ml1m.toml").starts_with("id tokens · lora→mapping · "));
        // A stage that leaves a knob to its default shows `-` in its place.
        let one_rows = std::fs::read_to_string(dir.join("collm-mf-ml1m.toml"))
            .unwrap()
            .replacen("train_rows = 768\n", "", 1);
        assert!(
            key_summary(&one_rows).contains(" rows=1024/- "),
            "{}",
            key_summary(&one_rows)
        );
        // A cosine horizon is shown where a stage sets it: runs differing only in it were alike.
        let horizon = std::fs::read_to_string(dir.join("tallrec-ml1m.toml"))
            .unwrap()
            .replacen(
                "max_steps = 64\n",
                "max_steps = 64\ncosine_steps = 10000\n",
                1,
            );
        assert_eq!(
            key_summary(&horizon),
            "text only · lora · lr=2e-3 bs=16 steps=64 cos=10000 rows=1024 seed=42"
        );
        // A foundation-only experiment keeps the plain form.
        assert_eq!(
            summary("mf-ml1m.toml"),
            "mf d256 lr=1e-3 bs=2048 ep=5000 seed=2023"
        );
    }

    /// A run stored before a setting existed does not differ from one that spells its default.
    #[test]
    fn diff_reads_a_setting_added_since_as_its_default() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        let mut e =
            crate::experiment::Experiment::load(&dir.join("collm-sasrec-ml1m.toml")).unwrap();
        let spelled = e.to_toml();
        let old = spelled.replace("cf_input = \"raw\"\n", "");
        assert_ne!(old, spelled);
        assert!(diff(&[&old, &spelled]).is_empty());
        e.collm.as_mut().unwrap().slots.cf_input = collm_pipeline::CfInput::Unit;
        let unit = e.to_toml();
        let d = diff(&[&old, &unit]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].0, "collm.slots.cf_input");
        assert_eq!(d[0].1, [Some("raw".into()), Some("unit".into())]);
    }

    #[test]
    fn form_edits_round_trip_and_keep_types() {
        let mut fields = form_fields(A).unwrap();
        let keys: Vec<&str> = fields.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "ablation.no_history",
                "cf.batch_size",
                "cf.lr",
                "stages.0.lr"
            ]
        );
        assert!(parse_input(&fields[1], "12.5").is_err());
        let one = |f: &Field, typed: &str| parse_input(f, typed).unwrap().remove(0);
        fields[1].value = one(&fields[1], "256");
        fields[3].value = one(&fields[3], "2");
        fields[0].value = Value::Boolean(true);
        let edited = apply(A, &fields).unwrap();
        let flat = flatten(&edited).unwrap();
        assert_eq!(flat["cf.batch_size"], Value::Integer(256));
        assert_eq!(flat["stages.0.lr"], Value::Float(2.0));
        assert_eq!(flat["ablation.no_history"], Value::Boolean(true));
        let stray = Field::new("cf.nope", Value::Integer(1));
        assert!(apply(A, &[stray]).unwrap_err().contains("cf.nope"));
    }

    #[test]
    fn a_collm_form_offers_reuse_per_stage_and_writes_only_what_is_filled() {
        let text = "kind = \"collm\"\n[collm]\n[[collm.stages]]\nlr = 0.002\n[[collm.stages]]\nname = \"cie\"\nlr = 0.01\n";
        let mut fields = form_fields(text).unwrap();
        let reuse: Vec<&str> = fields
            .iter()
            .filter(|f| f.key.starts_with(REUSE))
            .map(|f| f.key.as_str())
            .collect();
        assert_eq!(reuse, ["reuse.cf", "reuse.stage1", "reuse.cie"]);
        assert!(
            apply(text, &fields).unwrap().find("reuse").is_none(),
            "empty: trained here"
        );
        let stage1 = fields.iter().position(|f| f.key == "reuse.stage1").unwrap();
        let typed = parse_input(&fields[stage1], " 261129-0112 ").unwrap();
        fields[stage1].set(typed);
        let edited = apply(text, &fields).unwrap();
        assert_eq!(
            flatten(&edited).unwrap()["reuse.stage1"],
            Value::String("261129-0112".into())
        );
        // Offered again with its value, and cleared by an empty one.
        let mut again = form_fields(&edited).unwrap();
        let at = again.iter().position(|f| f.key == "reuse.stage1").unwrap();
        assert_eq!(again[at].value, Value::String("261129-0112".into()));
        again[at].value = Value::String(String::new());
        assert!(apply(&edited, &again).unwrap().find("reuse").is_none());
        assert!(form_fields(A)
            .unwrap()
            .iter()
            .all(|f| !f.key.starts_with(REUSE)));
    }

    #[test]
    fn the_form_offers_no_foundation_to_reuse_where_none_is_trained() {
        let reuse_keys = |file: &str| -> Vec<String> {
            let path = format!("{}/experiments/{file}", env!("CARGO_MANIFEST_DIR"));
            form_fields(&std::fs::read_to_string(path).unwrap())
                .unwrap()
                .into_iter()
                .filter(|f| f.key.starts_with(REUSE))
                .map(|f| f.key)
                .collect()
        };
        assert_eq!(reuse_keys("tallrec-ml1m.toml"), ["reuse.stage1"]);
        assert!(reuse_keys("icl-ml1m.toml").is_empty());
        assert_eq!(
            reuse_keys("collm-mf-ml1m.toml"),
            ["reuse.cf", "reuse.stage1", "reuse.stage2"]
        );
    }

    #[test]
    fn comma_separated_numbers_make_a_grid_of_named_experiments() {
        let mut fields = form_fields(A).unwrap();
        let (bs, lr) = (1, 2);
        assert_eq!(fields[lr].key, "cf.lr");
        let typed = parse_input(&fields[lr], "1e-2, 1e-3").unwrap();
        fields[lr].set(typed);
        assert_eq!(fields[lr].shown(), "0.01, 1e-3");
        let typed = parse_input(&fields[bs], "64,128").unwrap();
        fields[bs].set(typed);
        assert!(parse_input(&fields[bs], "64, 64")
            .unwrap_err()
            .contains("twice"));
        assert!(parse_input(&fields[bs], "64, x")
            .unwrap_err()
            .contains("integers"));
        let texts = apply_grid(A, &fields, "a").unwrap();
        let got: Vec<(String, String, String)> = texts
            .iter()
            .map(|t| {
                let flat = flatten(t).unwrap();
                (
                    show(&flat["name"]),
                    show(&flat["cf.batch_size"]),
                    show(&flat["cf.lr"]),
                )
            })
            .collect();
        // `cf.lr`, not `lr`: the stage has a learning rate too, which a bare `lr=0.01` (as a
        // filter) would also match.
        let want = [
            ("a batch_size=64 cf.lr=0.01", "64", "0.01"),
            ("a batch_size=64 cf.lr=1e-3", "64", "1e-3"),
            ("a batch_size=128 cf.lr=0.01", "128", "0.01"),
            ("a batch_size=128 cf.lr=1e-3", "128", "1e-3"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
        assert_eq!(got, want);
        // One value again: one experiment, under the file's own name.
        let typed = parse_input(&fields[lr], "0.5").unwrap();
        fields[lr].set(typed);
        let typed = parse_input(&fields[bs], "32").unwrap();
        fields[bs].set(typed);
        assert!(fields[lr].grid.is_empty());
        let single = apply_grid(A, &fields, "a").unwrap();
        assert_eq!(single.len(), 1);
        assert_eq!(show(&flatten(&single[0]).unwrap()["name"]), "a");
    }
}
