//! `collm export <run> --format csv|json`: a run's data on stdout. CSV: one row per evaluation
//! and row group (`run,stage,step,split,group,auc,uauc,logloss,rows,users_counted`); JSON: the
//! full record with every step and evaluation.

use std::fmt::Write as _;
use std::process::ExitCode;

use collm_store::{EvalPoint, Store};

use super::Context;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run (its id, or a prefix that names one run).
    pub run: String,
    /// `csv`: a row per evaluation and group of rows; `json`: the record, its settings, every
    /// step and every evaluation.
    #[arg(long, value_enum)]
    pub format: Format,
}

pub fn execute(args: Args, ctx: &Context) -> anyhow::Result<ExitCode> {
    let store = Store::open_existing(&ctx.store_dir)?;
    let id = store.resolve(&args.run)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&store.full_run(&id)?)?),
        Format::Csv => print!("{}", evals_csv(id.as_str(), &store.evals(&id)?)),
    }
    Ok(ExitCode::SUCCESS)
}

pub const CSV_HEADER: &str = "run,stage,step,split,group,auc,uauc,logloss,rows,users_counted";

fn evals_csv(run: &str, evals: &[EvalPoint]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for e in evals {
        for (group, m) in [
            ("all", &e.metrics.all),
            ("warm", &e.metrics.warm),
            ("cold", &e.metrics.cold),
        ] {
            let _ = writeln!(
                out,
                "{},{},{},{},{group},{},{},{},{},{}",
                field(run),
                field(&e.stage),
                e.step,
                field(&e.split),
                opt(m.auc),
                opt(m.uauc),
                opt(m.logloss),
                m.rows,
                m.users_counted
            );
        }
    }
    out
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use collm_eval::{Breakdown, Metrics};

    #[test]
    fn one_row_per_evaluation_and_group() {
        let m = Metrics {
            auc: Some(0.7),
            uauc: None,
            logloss: Some(0.5),
            rows: 10,
            users_counted: 3,
        };
        let e = EvalPoint {
            stage: "cf".into(),
            step: 17,
            split: "va,lid".into(),
            metrics: Breakdown {
                all: m.clone(),
                warm: m.clone(),
                cold: m,
            },
            at_ms: 0,
        };
        let csv = evals_csv("r1", &[e]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines[1], "r1,cf,17,\"va,lid\",all,0.7,,0.5,10,3");
        assert!(lines[3].contains(",cold,"));
    }
}
