//! Quantization against the float model it came from (fast: small models, a second each).

use more_core::nn::{LayerSpec, LossKind, Model, ModelSpec, OptimizerSpec, TrainConfig, Trainer};
use more_core::tensor::{Plain, PlanarTensor};
use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::params::plaintext_modulus;

fn argmax<T: PartialOrd + Copy>(row: &[T]) -> usize {
    (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b })
}

fn float_outputs(model: &Model<f32, Plain>, x: &[f32], shape: &[usize]) -> Vec<f32> {
    let t = PlanarTensor::plain(ArrayD::from_shape_vec(IxDyn(shape), x.to_vec()).unwrap());
    model
        .forward(&t)
        .unwrap()
        .values()
        .iter()
        .copied()
        .collect()
}

fn train(
    spec: &ModelSpec,
    x: &[f32],
    shape: &[usize],
    labels: &[usize],
    k: usize,
    epochs: usize,
) -> Model<f32, Plain> {
    let n = labels.len();
    let mut y = ArrayD::<f32>::zeros(IxDyn(&[n, k]));
    for (i, &l) in labels.iter().enumerate() {
        y[[i, l]] = 1.0;
    }
    let xt = PlanarTensor::plain(ArrayD::from_shape_vec(IxDyn(shape), x.to_vec()).unwrap());
    let adam = OptimizerSpec::Adam {
        learning_rate: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
    };
    let config = TrainConfig::new(epochs, 32, adam, LossKind::CrossEntropy, 3);
    let mut trainer = Trainer::new(Model::new(spec, Plain, 1).unwrap(), config).unwrap();
    trainer
        .fit(&xt, &PlanarTensor::plain(y), &mut more_core::nn::NoObserver)
        .unwrap();
    trainer.into_model()
}

/// A table of 12 raw features in different units (mean 100·j, spread 1 + j), 3 classes whose
/// means differ in a few features.
fn table(n: usize, seed: u64) -> (Vec<f32>, Vec<usize>, Standardization) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut x, mut labels) = (Vec::new(), Vec::new());
    for s in 0..n {
        let c = s % 3;
        for j in 0..12 {
            let shift = if j % 3 == c { 1.5 } else { 0.0 };
            let z: f32 = rng.random::<f32>() * 2.0 - 1.0 + shift;
            x.push(100.0 * j as f32 + (1.0 + j as f32) * z);
        }
        labels.push(c);
    }
    let mean: Vec<f32> = (0..12)
        .map(|j| (0..n).map(|s| x[s * 12 + j]).sum::<f32>() / n as f32)
        .collect();
    let std = (0..12)
        .map(|j| {
            ((0..n)
                .map(|s| (x[s * 12 + j] - mean[j]).powi(2))
                .sum::<f32>()
                / n as f32)
                .sqrt()
        })
        .collect();
    (x, labels, Standardization { mean, std })
}

fn standardized(x: &[f32], s: &Standardization) -> Vec<f32> {
    x.iter()
        .enumerate()
        .map(|(k, v)| (v - s.mean[k % 12]) / s.std[k % 12])
        .collect()
}

/// A table model trained on standardized, input-quantized features: the integer model reads the
/// RAW features (standardization folded into its quantizer and first layer) and its argmax agrees
/// with the float model's on at least 97 % of the samples; its bound fits t.
#[test]
fn a_table_mlp_agrees_with_its_float_model_and_fits() {
    let (x, labels, st) = table(600, 1);
    let z = standardized(&x, &st);
    let input = calibrated_standardized(&st, &z, 6, 0.999).unwrap();
    let zq = fake_quantize(&input, Some(&st), 12, &x).unwrap();
    let spec = ModelSpec {
        input_shape: vec![12],
        layers: vec![
            LayerSpec::Dense { units: 8 },
            LayerSpec::Square,
            LayerSpec::Dense { units: 3 },
        ],
    };
    let model = train(&spec, &zq, &[600, 12], &labels, 3, 15);
    let float = float_outputs(&model, &zq, &[600, 12]);
    let (q, bounds) =
        quantize_to_fit(&model, &input, Some(&st), 8, vec![], plaintext_modulus()).unwrap();
    assert_eq!(q.weight_bits, 8);
    assert_eq!(bounds.len(), 3);
    let ints: Vec<i64> = x
        .chunks(12)
        .flat_map(|s| q.model.quantize_input(s).unwrap())
        .collect();
    let out = q.model.forward_plaintext(&ints, 600).unwrap();
    let agree = (0..600)
        .filter(|&s| argmax(&out[s * 3..s * 3 + 3]) == argmax(&float[s * 3..s * 3 + 3]))
        .count();
    let correct = (0..600)
        .filter(|&s| argmax(&out[s * 3..s * 3 + 3]) == labels[s])
        .count();
    assert!(agree >= 582, "{agree} of 600 argmaxes agree");
    assert!(
        correct >= 540,
        "{correct} of 600 correct: the model learned the table"
    );
}

/// Hand-set weights that 3-bit quantization represents exactly (multiples of half the largest
/// weight step), through a padded, strided 2-channel convolution, c·x² and a dense layer: the
/// integers times `output_scale` equal the float model's outputs. This pins the weight layout
/// (more-core's `(c·k·k, filters)` kernel → `[out][in][kh][kw]`) and the flatten order.
#[test]
fn exactly_representable_weights_give_the_float_outputs() {
    let spec = ModelSpec {
        input_shape: vec![2, 5, 5],
        layers: vec![
            LayerSpec::Conv2d {
                filters: 3,
                kernel: 3,
                stride: 2,
                padding: 1,
            },
            LayerSpec::Polynomial {
                coefficients: vec![0.0, 0.0, 0.5],
            },
            LayerSpec::Flatten,
            LayerSpec::Dense { units: 4 },
        ],
    };
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    // 3 bits: qmax 3; largest |w| = 1.5 makes the step 0.5.
    let mut steps = |n: usize| -> Vec<f32> {
        let mut v: Vec<f32> = (0..n)
            .map(|_| rng.random_range(-3i32..=3) as f32 * 0.5)
            .collect();
        v[0] = 1.5;
        v
    };
    let (w1, w2) = (steps(18 * 3), steps(27 * 4));
    // Biases at the accumulated scales: conv 0.5·(1/15); after c·x² and dense 0.5 · 0.5·(0.5/15)².
    let b1: Vec<f32> = [3.0f32, -7.0, 11.0]
        .iter()
        .map(|k| k * 0.5 / 15.0)
        .collect();
    let s2 = 0.5 * 0.5 * (0.5f64 / 15.0).powi(2);
    let b2: Vec<f32> = [5.0f64, -2.0, 0.0, 9.0]
        .iter()
        .map(|k| (k * s2) as f32)
        .collect();
    let t = |shape: &[usize], v: Vec<f32>| {
        PlanarTensor::plain(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
    };
    let named = vec![
        ("layers.0.weight".to_string(), t(&[18, 3], w1)),
        ("layers.0.bias".to_string(), t(&[1, 3], b1)),
        ("layers.3.weight".to_string(), t(&[27, 4], w2)),
        ("layers.3.bias".to_string(), t(&[1, 4], b2)),
    ];
    let model = Model::<f32, Plain>::from_parameters(&spec, Plain, named).unwrap();
    let input = unit_interval(15).unwrap();
    let raw: Vec<f32> = (0..7 * 50).map(|_| rng.random::<f32>()).collect();
    let xq = fake_quantize(&input, None, 50, &raw).unwrap();
    let float = float_outputs(&model, &xq, &[7, 2, 5, 5]);
    let q = quantize(&model, &input, None, 3, vec![]).unwrap();
    // The input's 1/15 joins the first layer's weights.
    assert!(
        (q.weight_scales[0] - 0.5 / 15.0).abs() < 1e-8,
        "{:?}",
        q.weight_scales
    );
    assert!(
        (q.weight_scales[1] - 0.5).abs() < 1e-12,
        "{:?}",
        q.weight_scales
    );
    let ints: Vec<i64> = raw
        .chunks(50)
        .flat_map(|s| q.model.quantize_input(s).unwrap())
        .collect();
    let out = q.model.forward_plaintext(&ints, 7).unwrap();
    let largest = float.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(largest > 0.1);
    for (i, (&o, &f)) in out.iter().zip(&float).enumerate() {
        let back = o as f64 * q.model.output_scale;
        assert!(
            (back - f as f64).abs() <= 1e-4 * largest as f64,
            "output {i}: {back} vs {f}"
        );
    }
}

/// A CryptoNets-style CNN on 8x8 images (bars, horizontal or vertical, in noise): quantized with
/// 6-bit weights it agrees with the float model on nearly every image, and the bound fits.
#[test]
fn a_small_cnn_agrees_with_its_float_model() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let n = 400;
    let (mut x, mut labels) = (Vec::new(), Vec::new());
    for s in 0..n {
        let (c, at) = (s % 2, rng.random_range(1..7usize));
        for r in 0..8 {
            for col in 0..8 {
                let on = if c == 0 { r == at } else { col == at };
                x.push(if on { 0.9 } else { rng.random::<f32>() * 0.3 });
            }
        }
        labels.push(c);
    }
    let input = unit_interval(15).unwrap();
    let xq = fake_quantize(&input, None, 64, &x).unwrap();
    let spec = ModelSpec {
        input_shape: vec![1, 8, 8],
        layers: vec![
            LayerSpec::Conv2d {
                filters: 3,
                kernel: 3,
                stride: 2,
                padding: 1,
            },
            LayerSpec::Square,
            LayerSpec::Flatten,
            LayerSpec::Dense { units: 2 },
        ],
    };
    let model = train(&spec, &xq, &[n, 1, 8, 8], &labels, 2, 10);
    let float = float_outputs(&model, &xq, &[n, 1, 8, 8]);
    let (q, bounds) = quantize_to_fit(
        &model,
        &input,
        None,
        6,
        vec!["row".into(), "column".into()],
        plaintext_modulus(),
    )
    .unwrap();
    assert!(bounds
        .iter()
        .all(|b| b.magnitude() < plaintext_modulus() as u128 / 2));
    let ints: Vec<i64> = x
        .chunks(64)
        .flat_map(|s| q.model.quantize_input(s).unwrap())
        .collect();
    let out = q.model.forward_plaintext(&ints, n).unwrap();
    let agree = (0..n)
        .filter(|&s| argmax(&out[s * 2..s * 2 + 2]) == argmax(&float[s * 2..s * 2 + 2]))
        .count();
    let correct = (0..n)
        .filter(|&s| argmax(&float[s * 2..s * 2 + 2]) == labels[s])
        .count();
    assert!(
        correct >= 380,
        "{correct} of {n}: the float model learned the bars"
    );
    assert!(agree >= 390, "{agree} of {n} argmaxes agree");
}

/// The fit search narrows the weights until the bound fits, and refuses when nothing does.
#[test]
fn the_fit_search_narrows_weights_or_refuses() {
    let (x, labels, st) = table(120, 2);
    let z = standardized(&x, &st);
    let input = calibrated_standardized(&st, &z, 6, 0.999).unwrap();
    let zq = fake_quantize(&input, Some(&st), 12, &x).unwrap();
    let spec = ModelSpec {
        input_shape: vec![12],
        layers: vec![
            LayerSpec::Dense { units: 4 },
            LayerSpec::Square,
            LayerSpec::Dense { units: 3 },
        ],
    };
    let model = train(&spec, &zq, &[120, 12], &labels, 3, 2);
    let wide = quantize(&model, &input, Some(&st), 8, vec![]).unwrap();
    let wide_bits = wide
        .model
        .worst_case_bounds()
        .iter()
        .map(|b| b.bits())
        .max()
        .unwrap();
    // A modulus just too small for 8-bit weights: the search takes fewer bits, which fit.
    let t = 1u64 << wide_bits;
    let (q, bounds) = quantize_to_fit(&model, &input, Some(&st), 8, vec![], t).unwrap();
    assert!(q.weight_bits < 8, "{}", q.weight_bits);
    assert!(bounds.iter().all(|b| b.magnitude() <= (t as u128 - 1) / 2));
    match quantize_to_fit(&model, &input, Some(&st), 8, vec![], 1 << 8) {
        Err(SecureError::MayOverflow { .. }) => {}
        other => panic!("{other:?}"),
    }
}

/// Layers without an exact integer form are refused by name.
#[test]
fn relu_and_pooling_are_refused() {
    for layer in [
        LayerSpec::Relu,
        LayerSpec::Polynomial {
            coefficients: vec![0.1, 0.0, 1.0],
        },
    ] {
        let spec = ModelSpec {
            input_shape: vec![4],
            layers: vec![
                LayerSpec::Dense { units: 3 },
                layer,
                LayerSpec::Dense { units: 2 },
            ],
        };
        let model = Model::<f32, Plain>::new(&spec, Plain, 0).unwrap();
        match quantize(&model, &unit_interval(15).unwrap(), None, 6, vec![]) {
            Err(SecureError::Invalid(m)) => assert!(m.contains("layers.1"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
