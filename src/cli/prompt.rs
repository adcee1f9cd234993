//! `collm prompt <experiment.toml|run> --user UID [--item IID] [--json]`: the prompt as the model
//! sees it: its text, its tokens, where each ID slot sits and what fills it, and the model's
//! P(Yes) with the true label. With a run, the run's final weights (`RUN:stage1`: that stage's
//! best weights and its prompt, TALLRec's text prompt in a two-stage run); with an experiment
//! file, the weights as initialised (an untrained model: the CF model drawn at random when the
//! experiment would train its foundation).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use collm_data::{Dataset, Interaction};
use collm_pipeline::inspect::{inspect, PromptView};
use collm_pipeline::CfInit;
use collm_store::Store;

use super::Context;
use crate::compare::Target;
use crate::experiment::{Experiment, ExperimentKind, Placement};
use crate::runner::collm::{build_model, load_finished};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// An experiment file (`kind = "collm"`), or a run (its id or a prefix naming one run), or
    /// `RUN:STAGE` for one stage's best weights.
    pub target: String,
    /// The user id.
    #[arg(long)]
    pub user: u32,
    /// The target item id (default: the user's first row in valid, valid_small, test or train).
    #[arg(long)]
    pub item: Option<u32>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub placement: Placement,
}

/// The row to show: an existing (user, item) row of the data, first found in valid,
/// valid_small, test, then train; else the user's latest history with the given item (no label).
fn pick_row(
    dataset: &Dataset,
    user: u32,
    item: Option<u32>,
) -> anyhow::Result<(Interaction, Option<u8>, String)> {
    let order = ["valid", "valid_small", "test", "train"];
    for name in order {
        let Some(split) = dataset.split(name) else {
            continue;
        };
        if let Some(r) = split
            .rows
            .iter()
            .find(|r| r.uid == user && item.is_none_or(|i| r.iid == i))
        {
            return Ok((r.clone(), Some(r.label), name.to_string()));
        }
    }
    let Some(item) = item else {
        bail!("user {user} has no row in {}", dataset.dir.display())
    };
    if !dataset.items.contains(item) {
        bail!(
            "item {item} is not in {}",
            dataset.dir.join("items.tsv").display()
        );
    }
    let latest = dataset
        .splits()
        .iter()
        .flat_map(|s| s.rows.iter())
        .filter(|r| r.uid == user)
        .max_by_key(|r| r.timestamp)
        .with_context(|| format!("user {user} has no row in {}", dataset.dir.display()))?;
    let mut his = latest.his.clone();
    if latest.label == 1 {
        his.push(latest.iid);
    }
    let warm = dataset.train_users().contains(&user) && dataset.train_items().contains(&item);
    let row = Interaction {
        uid: user,
        iid: item,
        label: 0,
        timestamp: latest.timestamp,
        warm,
        his,
    };
    Ok((
        row,
        None,
        "constructed from the user's latest history".to_string(),
    ))
}

pub fn execute(args: Args, ctx: &Context) -> anyhow::Result<ExitCode> {
    let data_dir = crate::paths::data_dir();
    let (mut experiment, run_dir, what) = if Path::new(&args.target).is_file() {
        (
            Experiment::load(Path::new(&args.target))?,
            None,
            format!("{} (untrained)", args.target),
        )
    } else {
        // Neither a file nor, below, a run: a path-like name was meant as a file.
        if Path::new(&args.target).is_dir() {
            bail!("{}: a folder, not an experiment file", args.target);
        }
        if args.target.ends_with(".toml") || args.target.contains('/') {
            bail!("{}: no such experiment file (nor a run id)", args.target);
        }
        let store = Store::open_existing(&ctx.store_dir)?;
        let (target, record) = Target::resolve(&store, &args.target)?;
        let id = &record.id;
        let exp = Experiment::of_run(&record)?;
        if exp.kind != ExperimentKind::Collm {
            bail!(
                "run {id} ({}) is a `kind = \"{}\"` run: it has no LLM and reads no prompt; \
                 `collm prompt` needs a CoLLM run or experiment file",
                record.name,
                exp.kind.as_str()
            );
        }
        if !collm_pipeline::pipeline::final_dir(&store.run_dir(id)).exists() {
            bail!("run {id} is {} and has no final weights yet", record.status);
        }
        if target.part.as_deref() == Some(crate::experiment::FOUNDATION) {
            bail!("{target} is the collaborative model alone: it reads no prompt");
        }
        (
            exp,
            Some((store.run_dir(id), target.part.clone())),
            format!("run {target} ({})", record.name),
        )
    };
    experiment.place(args.placement);
    if experiment.kind != ExperimentKind::Collm {
        bail!("{what}: `collm prompt` needs a `kind = \"collm\"` experiment");
    }
    let dataset = experiment.load_dataset(&data_dir)?;
    crate::runner::collm::pull_backbone(&experiment, &mut |msg| eprintln!("{msg}"))?;
    let mut cfg = experiment.collm.clone().context("no [collm] section")?;
    let (model, prompt) = match &run_dir {
        Some((dir, stage)) => load_finished(&experiment, dir, &dataset, stage.as_deref())?,
        None => {
            if cfg.slots.cf_weights.is_none() {
                cfg.slots.cf_init = CfInit::Scratch;
            }
            (
                build_model(&experiment, &cfg, &dataset)?,
                cfg.final_prompt(),
            )
        }
    };
    let (row, label, source) = pick_row(&dataset, args.user, args.item)?;
    let view = inspect(&model, &row, prompt, label)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print_view(&view, &what, &source);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_view(v: &PromptView, what: &str, source: &str) {
    println!("{what}: user {}, item {} ({source})", v.uid, v.iid);
    println!("\nprompt ({:?}):\n{}\n", v.prompt, v.text);
    println!("tokens ({}):", v.tokens.len());
    let line: Vec<String> = v
        .tokens
        .iter()
        .map(|t| format!("{}:{:?}", t.position, t.text))
        .collect();
    println!("{}\n", line.join(" "));
    for s in &v.slots {
        println!(
            "slot {:?} (id {}) at positions {}..{}: {}, norm {:.4} -> slot embedding norm {:.4}",
            s.kind,
            s.id,
            s.start,
            s.start + s.len,
            s.source,
            s.vector_norm,
            s.embedding_norm
        );
    }
    let label = v
        .label
        .map_or("none (constructed row)".to_string(), |l| l.to_string());
    println!(
        "\nP(Yes) = {:.4} (score {:.4}; Yes logit {:.4}, No logit {:.4}); true label: {label}",
        v.p_yes, v.score, v.yes_logit, v.no_logit
    );
}
