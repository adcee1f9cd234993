//! `collm runs`: every run of the store, oldest first, as an aligned table (id, name, kind,
//! status, headline AUC, duration, created) or, with `--json`, an array of objects.

use std::process::ExitCode;

use collm_store::{format_utc, RunSummary, Store};
use serde::Serialize;

use super::report::{align, duration, number};
use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a JSON array on stdout.
    #[arg(long)]
    pub json: bool,
}

/// One element of `collm runs --json`.
#[derive(Debug, Serialize)]
struct RunLine<'a> {
    run_id: &'a str,
    experiment: &'a str,
    kind: &'a str,
    status: String,
    created: String,
    duration_s: Option<f64>,
    /// The split the headline AUC is from (`valid` when the run has one).
    auc_split: Option<&'a str>,
    /// The final all-rows AUC of the best weights, or while training the best seen so far.
    auc: Option<f64>,
    error: Option<&'a str>,
}

impl<'a> From<&'a RunSummary> for RunLine<'a> {
    fn from(r: &'a RunSummary) -> Self {
        RunLine {
            run_id: r.id.as_str(),
            experiment: &r.name,
            kind: &r.kind,
            status: r.status.to_string(),
            created: format_utc(r.created_ms),
            duration_s: r.duration_s,
            auc_split: r.headline_auc.as_ref().map(|(s, _)| s.as_str()),
            auc: r.headline_auc.as_ref().map(|(_, a)| *a),
            error: r.error.as_deref(),
        }
    }
}

pub fn execute(args: Args, ctx: &Context) -> anyhow::Result<ExitCode> {
    let store = Store::open(&ctx.store_dir)?;
    let list = store.runs()?;
    for err in &list.unreadable {
        eprintln!("warning: {err}");
    }
    let lines: Vec<RunLine> = list.runs.iter().map(RunLine::from).collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&lines)?);
        return Ok(ExitCode::SUCCESS);
    }
    if lines.is_empty() {
        println!("no runs in {}", store.dir().display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![
        ["id", "name", "kind", "status", "auc", "duration", "created"]
            .map(String::from)
            .to_vec(),
    ];
    for l in &lines {
        let auc = match (l.auc, l.auc_split) {
            (Some(a), Some("valid")) => number(Some(a)),
            (Some(a), Some(split)) => format!("{} ({split})", number(Some(a))),
            _ => "-".to_string(),
        };
        rows.push(vec![
            l.run_id.to_string(),
            l.experiment.to_string(),
            l.kind.to_string(),
            l.status.clone(),
            auc,
            duration(l.duration_s),
            l.created.clone(),
        ]);
    }
    print!("{}", align(&rows));
    Ok(ExitCode::SUCCESS)
}
