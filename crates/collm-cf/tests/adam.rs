//! Adam with coupled L2 against a two-step example worked out by hand.

use candle_core::{Device, Tensor, Var};
use collm_cf::adam::Adam;

/// lr 0.1, wd 0.01, betas (0.9, 0.999), eps 1e-8; p0 = [1, -2, 3]; loss = c·p with
/// c = [0.5, 0.1, 0] (the third entry gets no data gradient, only the decay).
///
/// Step 1: g = c + wd·p0 = [0.51, 0.08, 0.03]; m = 0.1 g, v = 0.001 g²; after bias correction
/// m̂ = g, v̂ = g², so p1 = p0 - 0.1·g/(|g| + eps) = [0.9, -2.1, 2.9] (up to eps).
/// Step 2, first entry: g = 0.5 + 0.01·0.9 = 0.509; m = 0.9·0.051 + 0.1·0.509 = 0.0968;
/// v = 0.999·0.0002601 + 0.001·0.259081 = 0.0005189209; m̂ = 0.0968/0.19 = 0.509474;
/// √v̂ = √(0.0005189209/0.001999) = 0.509500; p2 = 0.9 - 0.1·0.509474/0.509500 = 0.8000052.
/// The other entries, the same way: -2.1999652 and 2.8001028.
#[test]
fn two_steps_match_the_hand_computation() {
    let dev = Device::Cpu;
    let p = Var::from_tensor(&Tensor::new(&[1f32, -2., 3.], &dev).unwrap()).unwrap();
    let c = Tensor::new(&[0.5f32, 0.1, 0.0], &dev).unwrap();
    let mut adam = Adam::new(vec![("p".to_string(), p.clone())], 0.1, 0.01).unwrap();
    let expected: [[f64; 3]; 2] = [[0.9, -2.1, 2.9], [0.800_005_2, -2.199_965_2, 2.800_102_8]];
    for want in expected {
        let loss = (p.as_tensor() * &c).unwrap().sum_all().unwrap();
        adam.step(&loss.backward().unwrap()).unwrap();
        let got = p.as_tensor().to_vec1::<f32>().unwrap();
        for (g, w) in got.iter().zip(want) {
            assert!(
                (f64::from(*g) - w).abs() < 2e-6,
                "got {got:?}, want {want:?}"
            );
        }
    }
    assert_eq!(adam.steps()["p"], 2);
}

#[test]
fn without_decay_a_parameter_with_zero_gradient_stays_put() {
    let dev = Device::Cpu;
    let p = Var::from_tensor(&Tensor::new(&[1f32, 3.], &dev).unwrap()).unwrap();
    let c = Tensor::new(&[0.5f32, 0.0], &dev).unwrap();
    let mut adam = Adam::new(vec![("p".to_string(), p.clone())], 0.1, 0.0).unwrap();
    let loss = (p.as_tensor() * &c).unwrap().sum_all().unwrap();
    adam.step(&loss.backward().unwrap()).unwrap();
    assert_eq!(p.as_tensor().to_vec1::<f32>().unwrap()[1], 3.0);
}
