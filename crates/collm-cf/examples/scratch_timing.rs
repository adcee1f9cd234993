use std::time::Instant;
use candle_core::{Device, Tensor};
use collm_cf::{adam::Adam, batch_for, build, labels_for, loss::bce_with_logits, CfKind, CfModelConfig};
use collm_data::Dataset;
fn main() -> anyhow::Result<()> {
    let ds = Dataset::load_dir(std::path::Path::new("/work/shared/data/ml-1m-collm"))?;
    let dev = Device::Cpu;
    let model = build(&CfModelConfig { kind: CfKind::Mf, dim: 256, layers: 2, init_std: None }, &ds, 1, &dev)?;
    let rows = &ds.train.rows[..2048];
    let batch = batch_for(rows, 0, &dev)?;
    let labels = labels_for(rows, &dev)?;
    let mut adam = Adam::new(model.named_vars(), 1e-3, 1e-4)?;
    for _ in 0..30 {
        let t = Instant::now();
        let logits = model.logits(&batch)?;
        let loss = bce_with_logits(&logits, &labels)?;
        let t1 = t.elapsed();
        let grads = loss.backward()?;
        let t2 = t.elapsed();
        adam.step(&grads)?;
        let t3 = t.elapsed();
        let _ = loss.to_scalar::<f32>()?;
        let p = model.named_vars()[1].1.as_tensor().clone();
        let t4 = Instant::now();
        let q = (p.affine(2.0, 0.0)? + &p)?;
        let t5 = t4.elapsed();
        let z = Tensor::zeros_like(&q)?;
        let t6 = t4.elapsed();
        println!("fwd {t1:?} bwd {:?} adam {:?}  one affine+add on item table {t5:?} zeros {:?} {}", t2 - t1, t3 - t2, t6 - t5, z.dims()[0]);
    }
    Ok(())
}
