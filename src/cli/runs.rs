//! `collm runs [FILTER]`: the runs of the store, oldest first, as an aligned table (id, name, kind,
//! status, headline AUC and the rows it is over, duration, created, key settings), with `--json` an
//! array of objects, or with `--ids` their ids alone (for other commands' arguments).

use std::process::ExitCode;

use collm_store::{format_utc, Headline, RunList, RunSummary, Store};
use serde::Serialize;

use super::report::{align, duration};
use super::Context;
use crate::experiment::settings;
use crate::experiment::Experiment;
use crate::text::metric;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only runs that match every word, as the TUI's `/` filter: text within the id, name, kind,
    /// status or key settings (case-insensitive), or `KEY=VALUE`, a setting's value whole (any
    /// key ending in KEY; `seed=1`, `lr=1e-3`). E.g. `failed`, `collm-mf-ml1m seed=1`.
    pub filter: Option<String>,
    /// Print a JSON array on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print only the ids, one per line: `collm delete $(collm runs cancelled --ids)`.
    #[arg(long, conflicts_with = "json")]
    pub ids: bool,
}

/// One element of `collm runs --json`.
#[derive(Debug, Serialize)]
struct RunLine<'a> {
    run_id: &'a str,
    /// The run's name (its experiment's, with a sweep point's values), as in `show --json`.
    experiment: &'a str,
    kind: &'a str,
    status: String,
    created: String,
    duration_s: Option<f64>,
    /// The split the headline AUC is from (`valid` when the run has one).
    auc_split: Option<&'a str>,
    /// The stage that recorded it: `final` (the best weights' result), or while the run trains
    /// (or after it stopped) the stage it is in.
    auc_stage: Option<&'a str>,
    /// The final all-rows AUC of the best weights, or the current stage's best so far.
    auc: Option<f64>,
    /// The rows that AUC is over (runs' AUCs on one split may be over different rows).
    auc_rows: Option<usize>,
    error: Option<&'a str>,
    /// Its key settings in one line, as the TUI's Settings column: the ablation, the stages'
    /// knobs and seed, the foundation's recipe and seed.
    settings: &'a str,
}

impl<'a> RunLine<'a> {
    fn new(r: &'a RunSummary, settings: &'a str) -> Self {
        RunLine {
            run_id: r.id.as_str(),
            experiment: &r.name,
            kind: &r.kind,
            status: r.status.to_string(),
            created: format_utc(r.created_ms),
            duration_s: r.duration_s,
            auc_split: r.headline_auc.as_ref().map(|h| h.split.as_str()),
            auc_stage: r.headline_auc.as_ref().map(|h| h.stage.as_str()),
            auc: r.headline_auc.as_ref().map(|h| h.auc),
            auc_rows: r.headline_auc.as_ref().map(|h| h.rows),
            error: r.error.as_deref(),
            settings,
        }
    }
}

pub fn execute(args: Args, ctx: &Context) -> anyhow::Result<ExitCode> {
    // The default store not made yet is a store without runs; a named one that is not
    // there is a mistyped path, and neither is created by listing it.
    let list = if Store::exists(&ctx.store_dir) || ctx.store_named {
        Store::open_existing(&ctx.store_dir)?.records()?
    } else {
        RunList::default()
    };
    for err in &list.unreadable {
        eprintln!("warning: {err}");
    }
    let shown: Vec<(RunSummary, String)> = list
        .runs
        .iter()
        .map(|r| (r, settings::key_summary(&r.experiment)))
        .filter(|(r, key_settings)| {
            args.filter.as_ref().is_none_or(|f| {
                let parsed = Experiment::of_run(r).ok();
                let flat = Experiment::settings_of(r, parsed.as_ref());
                settings::run_matches(r, key_settings, &flat, f)
            })
        })
        .map(|(r, key_settings)| (r.summary(), key_settings))
        .collect();
    let lines: Vec<RunLine> = shown.iter().map(|(r, s)| RunLine::new(r, s)).collect();
    if args.ids {
        for line in &lines {
            println!("{}", line.run_id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&lines)?);
        return Ok(ExitCode::SUCCESS);
    }
    if lines.is_empty() {
        match &args.filter {
            Some(filter) => println!("no run of {} matches `{filter}`", ctx.store_dir.display()),
            None => println!("no runs in {}", ctx.store_dir.display()),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![[
        "id", "name", "kind", "status", "auc", "rows", "duration", "created", "settings",
    ]
    .map(String::from)
    .to_vec()];
    for (l, (summary, _)) in lines.iter().zip(&shown) {
        let auc = headline_text(summary.headline_auc.as_ref());
        rows.push(vec![
            l.run_id.to_string(),
            l.experiment.to_string(),
            l.kind.to_string(),
            l.status.clone(),
            auc,
            l.auc_rows.map_or("-".to_string(), |n| n.to_string()),
            duration(l.duration_s),
            l.created.clone(),
            l.settings.to_string(),
        ]);
    }
    print!("{}", align(&rows));
    Ok(ExitCode::SUCCESS)
}

/// `0.6632` (a result on valid), `0.6632 (valid_small)`, or a number from training, named by
/// its stage so a CoLLM run's foundation is not read as the run: `0.6774 (cf so far)`.
fn headline_text(headline: Option<&Headline>) -> String {
    let Some(h) = headline else {
        return "-".to_string();
    };
    let mut notes: Vec<String> = Vec::new();
    if !h.is_final() {
        notes.push(format!("{} so far", h.stage));
    }
    if h.split != "valid" {
        notes.push(h.split.clone());
    }
    if notes.is_empty() {
        metric(Some(h.auc))
    } else {
        format!("{} ({})", metric(Some(h.auc)), notes.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use collm_store::FINAL_STAGE;

    #[test]
    fn a_number_from_training_names_its_stage() {
        let text = |split: &str, stage: &str| {
            headline_text(Some(&Headline {
                stage: stage.into(),
                split: split.into(),
                auc: 0.66321,
                rows: 64,
            }))
        };
        assert_eq!(text("valid", FINAL_STAGE), "0.6632");
        assert_eq!(text("valid_small", FINAL_STAGE), "0.6632 (valid_small)");
        assert_eq!(text("valid", "cf"), "0.6632 (cf so far)");
        assert_eq!(
            text("valid_small", "stage2"),
            "0.6632 (stage2 so far, valid_small)"
        );
        assert_eq!(headline_text(None), "-");
    }
}
