use candle_core::Device;
use collm_cf::{build, score_rows, train, CfKind, CfModelConfig, CfTrainConfig};
use collm_data::Dataset;
use collm_events::{CancelToken, Event};
fn main() -> anyhow::Result<()> {
    let ds = Dataset::load_dir(std::path::Path::new("/work/shared/data/ml-1m-collm"))?;
    let dev = Device::Cpu;
    let dim: usize = std::env::args().nth(1).unwrap().parse()?;
    let lr: f64 = std::env::args().nth(2).unwrap().parse()?;
    let std: f64 = std::env::args().nth(3).unwrap().parse()?;
    let mut model = build(&CfModelConfig { kind: CfKind::Mf, dim, layers: 2, init_std: Some(std) }, &ds, 2023, &dev)?;
    let cfg = CfTrainConfig { lr, weight_decay: 1e-4, batch_size: 2048, max_epochs: std::env::args().nth(4).unwrap().parse()?, patience: 100000, seed: 2023, select_on: "valid".into(), eval_splits: vec![] };
    let mut losses = Vec::new();
    let mut sink = |e: &Event| match e {
        Event::Step { loss, .. } => losses.push(*loss),
        Event::Eval { metrics, step, .. } => {
            let n = losses.len() as f64;
            if (step / 17) % 25 == 0 { println!("step {step}: mean loss {:.4} valid AUC {:?} warm {:?}", losses.iter().sum::<f64>() / n, metrics.all.auc, metrics.warm.auc); }
            losses.clear();
        }
        _ => {}
    };
    train(&mut *model, &ds, &cfg, std::path::Path::new("/tmp/diag"), None, &mut sink, &CancelToken::new())?;
    let tr = score_rows(&*model, &ds.train.rows, 4096)?;
    println!("train AUC (best weights) {:?}", collm_eval::evaluate(&tr).all.auc);
    Ok(())
}
