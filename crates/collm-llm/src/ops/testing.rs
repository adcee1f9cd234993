//! Test helpers for the ops: seeded random tensors, closeness checks and finite differences.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A CPU f32 tensor with entries uniform in [-1, 1), fixed by `seed`.
pub fn rand_tensor(shape: &[usize], seed: u64) -> Result<Tensor> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
    Tensor::from_vec(data, shape, &Device::Cpu)
}

/// Like [`rand_tensor`], as a trainable variable.
pub fn rand_var(shape: &[usize], seed: u64) -> Result<Var> {
    Var::from_tensor(&rand_tensor(shape, seed)?)
}

/// Fails unless `|a - b| <= tol * (1 + |b|)` everywhere (shapes must match).
pub fn assert_close(a: &Tensor, b: &Tensor, tol: f64) -> Result<()> {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    let a = a.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    let b = b.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "element {i}: {x} vs {y} (tol {tol})"
        );
    }
    Ok(())
}

/// `sum(f(xs) * probe)` in f64, with a fixed random probe, so every output element matters.
fn probed_loss(y: &Tensor, probe: &Tensor) -> Result<Tensor> {
    y.to_dtype(DType::F64)?.mul(probe)?.sum_all()
}

/// Checks the gradients of `f` with respect to each input against central finite differences.
///
/// Inputs are random in [-1, 1) with the given shapes; the scalar is `sum(f(xs) * probe)`.
pub fn check_grads(
    shapes: &[&[usize]],
    seed: u64,
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
) -> Result<()> {
    const EPS: f64 = 1e-2;
    const TOL: f64 = 2e-3;
    let vars: Vec<Var> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| rand_var(s, seed + i as u64))
        .collect::<Result<_>>()?;
    let inputs: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let y = f(&inputs)?;
    let probe = rand_tensor(y.dims(), seed + 100)?.to_dtype(DType::F64)?;
    let grads = probed_loss(&y, &probe)?.backward()?;

    for (which, var) in vars.iter().enumerate() {
        let analytic = match grads.get(var) {
            Some(g) => g.flatten_all()?.to_vec1::<f32>()?,
            None => vec![0.0; var.elem_count()],
        };
        let base = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        for i in 0..base.len() {
            let loss_at = |delta: f64| -> Result<f64> {
                let mut moved = base.clone();
                moved[i] += delta as f32;
                let mut xs: Vec<Tensor> = inputs.iter().map(|t| t.detach()).collect();
                xs[which] = Tensor::from_vec(moved, var.dims(), &Device::Cpu)?;
                probed_loss(&f(&xs)?, &probe)?.to_scalar::<f64>()
            };
            let numeric = (loss_at(EPS)? - loss_at(-EPS)?) / (2.0 * EPS);
            let got = analytic[i] as f64;
            assert!(
                (got - numeric).abs() <= TOL * (1.0 + numeric.abs()),
                "input {which} element {i}: backward {got}, finite difference {numeric}"
            );
        }
    }
    Ok(())
}
