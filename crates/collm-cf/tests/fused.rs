//! The hand-written CPU ops: value and gradient against the same expression in candle ops
//! (f64, the path other devices take) and against central finite differences.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use collm_cf::dice::Dice;
use collm_cf::fused::{
    add_row_bias, causal_attention, causal_softmax, layer_norm, linear, relu_scale_by, scale_by,
};
use common::{flat_f64, var_of};

/// Deterministic values in about [-1.5, 1.5].
fn values(n: usize, salt: usize) -> Vec<f64> {
    (0..n)
        .map(|k| (((k * 7919 + salt * 104_729) % 1000) as f64 / 1000.0 - 0.5) * 3.0)
        .collect()
}

type Op<'a> = &'a dyn Fn(&[Tensor]) -> Tensor;

/// Runs `op` on f32 inputs (the fused CPU path) and on f64 inputs (candle ops), then compares
/// outputs, the gradients of `sum(out · weights)`, and finite differences of the f64 path.
fn check(name: &str, shapes: &[&[usize]], op: Op) {
    let dev = Device::Cpu;
    let inputs: Vec<Vec<f64>> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| values(s.iter().product(), i + 1))
        .collect();
    let run = |dtype: DType, data: &[Vec<f64>]| {
        let vars: Vec<Var> = data
            .iter()
            .zip(shapes)
            .map(|(v, s)| var_of(v, s, dtype))
            .collect();
        let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let out = op(&tensors);
        let w = Tensor::from_vec(values(out.elem_count(), 99), out.shape(), &dev)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let objective = (&out * &w).unwrap().sum_all().unwrap();
        let grads = objective.backward().unwrap();
        let gs: Vec<Vec<f64>> = vars
            .iter()
            .map(|v| {
                grads
                    .get(v.as_tensor())
                    .map(flat_f64)
                    .unwrap_or_else(|| vec![0.0; v.elem_count()])
            })
            .collect();
        (
            flat_f64(&out),
            objective
                .to_dtype(DType::F64)
                .unwrap()
                .to_scalar::<f64>()
                .unwrap(),
            gs,
        )
    };
    let (fast_out, _, fast_grads) = run(DType::F32, &inputs);
    let (slow_out, _, slow_grads) = run(DType::F64, &inputs);
    for (a, b) in fast_out.iter().zip(&slow_out) {
        assert!(
            (a - b).abs() < 1e-4 * (1.0 + b.abs()),
            "{name}: output {a} vs {b}"
        );
    }
    for (i, (fast, slow)) in fast_grads.iter().zip(&slow_grads).enumerate() {
        let scale = slow.iter().fold(1.0f64, |m, x| m.max(x.abs()));
        for (a, b) in fast.iter().zip(slow) {
            assert!(
                (a - b).abs() < 1e-4 * scale,
                "{name}: input {i} gradient {a} vs {b}"
            );
        }
        assert!(
            slow.iter().any(|&g| g != 0.0),
            "{name}: input {i} got no gradient"
        );
        // Finite differences on a few entries of the f64 path.
        for k in (0..slow.len()).step_by((slow.len() / 5).max(1)) {
            let h = 1e-6;
            let mut plus = inputs.clone();
            plus[i][k] += h;
            let mut minus = inputs.clone();
            minus[i][k] -= h;
            let numeric = (run(DType::F64, &plus).1 - run(DType::F64, &minus).1) / (2.0 * h);
            assert!(
                (numeric - slow[k]).abs() < 1e-5 * scale,
                "{name}: input {i}[{k}] analytic {} vs numeric {numeric}",
                slow[k]
            );
        }
    }
}

/// A fixed dropout-like mask: zeros and 1 / 0.8 scales.
fn mask(n: usize) -> Vec<f32> {
    (0..n)
        .map(|k| if k % 5 == 2 { 0.0 } else { 1.25 })
        .collect()
}

#[test]
fn row_bias_and_linear() {
    check("row-bias [d]", &[&[6, 4], &[4]], &|t| {
        add_row_bias(&t[0], &t[1]).unwrap()
    });
    check("row-bias [T, d]", &[&[3, 2, 4], &[2, 4]], &|t| {
        add_row_bias(&t[0], &t[1]).unwrap()
    });
    // SASRec's layout: positions [T, d] on the [B·T, d] rows.
    check("row-bias rows", &[&[6, 4], &[2, 4]], &|t| {
        add_row_bias(&t[0], &t[1]).unwrap()
    });
    check("linear", &[&[7, 5], &[3, 5], &[3]], &|t| {
        linear(&t[0], &t[1], &t[2]).unwrap()
    });
}

#[test]
fn layer_norm_matches_its_definition() {
    check("layer-norm", &[&[5, 6], &[6], &[6]], &|t| {
        layer_norm(&t[0], &t[1], &t[2], 1e-8).unwrap()
    });
    // A constant row (a padded position) normalises to the bias, with finite gradients.
    let dev = Device::Cpu;
    let x = Var::from_tensor(&Tensor::zeros((2, 4), DType::F32, &dev).unwrap()).unwrap();
    let (w, b) = (
        Tensor::new(&[1f32, 2., 3., 4.], &dev).unwrap(),
        Tensor::new(&[0.5f32, -0.5, 0., 1.], &dev).unwrap(),
    );
    let y = layer_norm(x.as_tensor(), &w, &b, 1e-8).unwrap();
    assert_eq!(y.to_vec2::<f32>().unwrap()[1], vec![0.5, -0.5, 0., 1.]);
    let g = y.sum_all().unwrap().backward().unwrap();
    let gx = g
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!(gx.iter().all(|v| v.is_finite()));
}

#[test]
fn causal_softmax_and_attention() {
    for (tq, t) in [(4, 4), (1, 4), (2, 5)] {
        check(&format!("causal-softmax {tq}x{t}"), &[&[3, tq, t]], &|x| {
            causal_softmax(&x[0], 0.7).unwrap()
        });
    }
    let dev = Device::Cpu;
    // Query q sees keys 0..=q + T - Tq only: a future key gets weight 0.
    let s = causal_softmax(&Tensor::zeros((1, 3, 3), DType::F32, &dev).unwrap(), 1.0).unwrap();
    let rows = s.squeeze(0).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(rows[0], vec![1.0, 0.0, 0.0]);
    assert_eq!(rows[1], vec![0.5, 0.5, 0.0]);
    for (heads, tq, t, dropout) in [
        (1, 4, 4, false),
        (2, 4, 4, true),
        (2, 1, 5, true),
        (1, 2, 3, true),
    ] {
        let (b, d) = (2, 4);
        check(
            &format!("attention h{heads} {tq}x{t} dropout {dropout}"),
            &[&[b, tq, d], &[b, t, d], &[b, t, d]],
            &|x| {
                let m = dropout.then(|| mask(b * heads * tq * t));
                causal_attention(&x[0], &x[1], &x[2], heads, m).unwrap()
            },
        );
    }
}

#[test]
fn mask_scaling_with_and_without_relu() {
    check("scale-by", &[&[3, 5]], &|x| {
        scale_by(&x[0], mask(15)).unwrap()
    });
    check("relu-scale-by", &[&[3, 5]], &|x| {
        relu_scale_by(&x[0], mask(15)).unwrap()
    });
}

fn dice(features: usize, column_alpha: bool, dtype: DType) -> Dice {
    let var = |v: Vec<f64>, shape: &[usize]| var_of(&v, shape, dtype);
    let alpha_shape: Vec<usize> = if column_alpha {
        vec![features, 1]
    } else {
        vec![features]
    };
    Dice::from_vars(
        var(values(features, 11), &alpha_shape),
        var(
            values(features, 12).iter().map(|v| 1.0 + v / 3.0).collect(),
            &[features],
        ),
        var(values(features, 13), &[features]),
        var(vec![0.0; features], &[features]),
        var(vec![1.0; features], &[features]),
    )
}

#[test]
fn dice_standardises_by_batch_in_training_and_by_running_statistics_in_eval() {
    let dev = Device::Cpu;
    let x = Tensor::from_vec(values(6 * 3, 5), (6, 3), &dev).unwrap();
    let d = dice(3, false, DType::F64);
    let out = d.forward(&x, true).unwrap().to_vec2::<f64>().unwrap();
    // Against the definition, column by column.
    let xs = x.to_vec2::<f64>().unwrap();
    let (alpha, w, b) = (values(3, 11), values(3, 12), values(3, 13));
    for j in 0..3 {
        let col: Vec<f64> = xs.iter().map(|r| r[j]).collect();
        let mean = col.iter().sum::<f64>() / 6.0;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 6.0;
        for (r, &v) in col.iter().enumerate() {
            let bn = (v - mean) / (var + 1e-8).sqrt() * (1.0 + w[j] / 3.0) + b[j];
            let p = 1.0 / (1.0 + (-bn).exp());
            let want = p * v + (1.0 - p) * alpha[j] * v;
            assert!((out[r][j] - want).abs() < 1e-12, "{} vs {want}", out[r][j]);
        }
        // Running statistics moved by momentum 0.1; the variance is the unbiased one.
        let (rm, rv) = d.running_stats();
        let (rm, rv) = (rm.to_vec1::<f64>().unwrap(), rv.to_vec1::<f64>().unwrap());
        assert!((rm[j] - 0.1 * mean).abs() < 1e-12);
        assert!((rv[j] - (0.9 + 0.1 * var * 6.0 / 5.0)).abs() < 1e-12);
    }
    // Eval mode reads the running statistics and leaves them alone.
    let before = d.running_stats();
    let eval = d.forward(&x, false).unwrap().to_vec2::<f64>().unwrap();
    assert_ne!(eval, out);
    assert_eq!(
        d.running_stats().0.to_vec1::<f64>().unwrap(),
        before.0.to_vec1::<f64>().unwrap()
    );
    // Its gradient (through the batch statistics) against finite differences.
    check("dice train", &[&[6, 3]], &|t| {
        let d = dice(3, true, t[0].dtype());
        d.forward(&t[0], true).unwrap()
    });
}
