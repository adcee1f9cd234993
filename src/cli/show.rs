//! `collm show <run>`: one run in full for people (state, stages, best evaluations, results,
//! artifacts, log, the experiment as run), or with `--json` the object of [`super::report`].

use std::process::ExitCode;

use collm_store::{format_utc, RunRecord, RunStatus, Store};

use super::report::{align, duration, RunReport};
use super::Context;
use crate::text::metric;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run (its id, or a prefix that names one run).
    pub run: String,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn execute(args: Args, ctx: &Context) -> anyhow::Result<ExitCode> {
    let store = Store::open_existing(&ctx.store_dir)?;
    let id = store.resolve(&args.run)?;
    let record = store.run(&id)?;
    let report = RunReport::of_run(&record);
    if args.json {
        println!("{}", report.to_json());
    } else {
        let kept = crate::runner::predictions::kept_files(&store.run_dir(&id));
        let gone = store.folder_gone(&record);
        print!("{}", describe(&record, &report, &kept, gone.as_deref()));
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(
    r: &RunRecord,
    report: &RunReport,
    kept: &[std::path::PathBuf],
    gone: Option<&std::path::Path>,
) -> String {
    let mut out = String::new();
    let mut facts = vec![
        vec!["run".to_string(), r.id.to_string()],
        vec!["experiment".to_string(), format!("{} ({})", r.name, r.kind)],
        vec!["status".to_string(), r.status.to_string()],
        vec!["created".to_string(), format_utc(r.created_ms)],
        vec!["duration".to_string(), duration(r.duration_s())],
        vec![
            "steps".to_string(),
            format!("{} ({} evaluations)", r.steps, r.evals),
        ],
    ];
    if let Some(error) = &r.error {
        facts.push(vec!["error".to_string(), error.clone()]);
    }
    // What to do next, as `run` says it when a run is cancelled (an interrupted run has no
    // process left to say it).
    let resumable = matches!(
        r.status,
        RunStatus::Interrupted | RunStatus::Cancelled | RunStatus::Failed
    );
    if resumable && gone.is_none() {
        facts.push(vec![
            "resume".to_string(),
            format!(
                "`collm resume {}` continues it from its last checkpoint",
                r.id
            ),
        ]);
    }
    for stage in &r.stages {
        let steps = stage
            .total_steps
            .map(|n| format!(", budget {n} steps"))
            .unwrap_or_default();
        let end = stage
            .finished_ms
            .map(|t| format!(" .. {}", format_utc(t)))
            .unwrap_or_default();
        facts.push(vec![
            "stage".to_string(),
            format!(
                "{} from {}{end}{steps}",
                stage.name,
                format_utc(stage.started_ms)
            ),
        ]);
    }
    for best in r
        .best
        .iter()
        .filter(|e| e.stage != collm_store::FINAL_STAGE)
    {
        facts.push(vec![
            "best".to_string(),
            // The rows too: a foundation selected on all of `valid` and scored on the final
            // evaluation's sample shows two `valid` AUCs that are of different rows.
            format!(
                "{} {} ({} rows): auc {} at step {}",
                best.stage,
                best.split,
                best.metrics.all.rows,
                metric(best.metrics.all.auc),
                best.step
            ),
        ]);
    }
    if let Some(dir) = gone {
        facts.push(vec![
            "folder".to_string(),
            format!(
                "{} is gone (moved or deleted outside collm): the files below are not there",
                dir.display()
            ),
        ]);
    }
    for a in &r.artifacts {
        let kind = if a.best { "best" } else { "resume" };
        facts.push(vec![
            "artifact".to_string(),
            format!("{} ({kind}, {} step {})", a.path, a.stage, a.step),
        ]);
    }
    for path in kept {
        facts.push(vec![
            "scores".to_string(),
            format!("{} (per row, for collm compare)", path.display()),
        ]);
    }
    out.push_str(&align(&facts));
    if !report.splits.is_empty() {
        out.push_str("\nresults (best weights):\n");
        out.push_str(&report.table());
    }
    if !r.log.is_empty() {
        out.push_str("\nlog:\n");
        for line in &r.log {
            out.push_str(&format!("  {}  {}\n", format_utc(line.at_ms), line.message));
        }
    }
    out.push_str("\nexperiment as run:\n");
    for line in r.experiment.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out
}
