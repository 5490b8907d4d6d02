//! The engine's one code path: plaintext, compact and matrix-form runs agree; gradients agree
//! with finite differences.

use more_core::nn::{
    LayerSpec, LossKind, Model, ModelSpec, NoObserver, OptimizerSpec, TrainConfig, Trainer,
};
use more_core::tensor::{Plain, PlanarTensor};
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn data(n: usize, shape: &[usize], classes: usize, seed: u64) -> (ArrayD<f64>, ArrayD<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut full = vec![n];
    full.extend_from_slice(shape);
    let x = ArrayD::from_shape_fn(IxDyn(&full), |_| rng.random_range(-1.0..1.0));
    let y = ArrayD::from_shape_fn(IxDyn(&[n, classes]), |_| 0.0);
    let mut y = y;
    for i in 0..n {
        let c = rng.random_range(0..classes);
        y[[i, c]] = 1.0;
    }
    (x, y)
}

fn small_cnn() -> ModelSpec {
    ModelSpec {
        input_shape: vec![1, 6, 6],
        layers: vec![
            LayerSpec::Conv2d {
                filters: 3,
                kernel: 3,
                stride: 1,
                padding: 1,
            },
            LayerSpec::Relu,
            LayerSpec::MaxPool2d { size: 2 },
            LayerSpec::Conv2d {
                filters: 2,
                kernel: 2,
                stride: 1,
                padding: 0,
            },
            LayerSpec::Tanh,
            LayerSpec::AvgPool2d { size: 2 },
            LayerSpec::Flatten,
            LayerSpec::Dense { units: 5 },
            LayerSpec::Sigmoid,
            LayerSpec::Dense { units: 3 },
        ],
    }
}

fn mlp() -> ModelSpec {
    let mut spec = polynomial_mlp();
    spec.layers.insert(4, LayerSpec::Dropout { rate: 0.25 });
    spec
}

fn polynomial_mlp() -> ModelSpec {
    ModelSpec {
        input_shape: vec![6],
        layers: vec![
            LayerSpec::Dense { units: 8 },
            LayerSpec::Square,
            LayerSpec::Dense { units: 7 },
            LayerSpec::Polynomial {
                coefficients: vec![0.1, 0.5, 0.25],
            },
            LayerSpec::Dense { units: 3 },
        ],
    }
}

/// Plain-model loss as a function of its parameters.
fn plain_loss(model: &Model<f64, Plain>, x: &ArrayD<f64>, y: &ArrayD<f64>, loss: LossKind) -> f64 {
    let out = model.forward(&PlanarTensor::plain(x.clone())).unwrap();
    let (l, _) = loss
        .loss_and_gradient(&out, &PlanarTensor::plain(y.clone()))
        .unwrap();
    l.values()[[0]]
}

/// One SGD step with learning rate h moves each parameter by −h·grad: compare the step against
/// central finite differences of the loss.
#[test]
fn gradients_match_finite_differences() {
    for (spec, loss) in [
        (small_cnn(), LossKind::CrossEntropy),
        (small_cnn(), LossKind::Mse),
        (polynomial_mlp(), LossKind::Mse),
    ] {
        let shape = spec.input_shape.clone();
        let (x, y) = data(4, &shape, 3, 7);
        let model = Model::new(&spec, Plain, 11).unwrap();
        let lr = 1.0;
        let cfg = TrainConfig::new(
            1,
            4,
            OptimizerSpec::Sgd {
                learning_rate: lr,
                momentum: 0.0,
            },
            loss,
            5,
        );
        let mut trainer = Trainer::new(model.clone(), cfg).unwrap();
        trainer
            .train_epoch(
                &PlanarTensor::plain(x.clone()),
                &PlanarTensor::plain(y.clone()),
                &mut NoObserver,
            )
            .unwrap();
        let after = trainer.model().parameters();
        for (k, (name, p)) in model.parameters().iter().enumerate() {
            let grad = (p.values() - after[k].1.values()) / lr;
            for idx in [0usize, p.len() / 2, p.len() - 1] {
                let h = 1e-6;
                let perturbed = |delta: f64| {
                    let named = model
                        .parameters()
                        .into_iter()
                        .map(|(n, t)| {
                            let mut v = t.values().clone();
                            if &n == name {
                                v.as_slice_mut().unwrap()[idx] += delta;
                            }
                            (n, PlanarTensor::plain(v))
                        })
                        .collect();
                    Model::from_parameters(&spec, Plain, named).unwrap()
                };
                let fd = (plain_loss(&perturbed(h), &x, &y, loss)
                    - plain_loss(&perturbed(-h), &x, &y, loss))
                    / (2.0 * h);
                let analytic = grad.as_slice().unwrap()[idx];
                assert!(
                    (fd - analytic).abs() < 1e-6 + 1e-4 * fd.abs(),
                    "{loss:?} {name}[{idx}]: finite difference {fd}, backprop {analytic}"
                );
            }
        }
    }
}

/// Trains the same model with the same seed in plaintext, compact and matrix form (f64) and
/// compares decrypted weights and losses.
///
/// Tolerances: with SGD, 1e-7: every operation is exact up to rounding (1e-16 relative, times
/// cond(S)² ≤ 25, times a few hundred operations per step), measured ≤ 1e-8. With Adam, 1e-4: Adam
/// divides each gradient by `√v̂ + 1e-8`, so where the plaintext gradient is exactly 0 (a unit whose
/// max-pooling route or ReLU is closed for the whole batch) the encrypted run's rounding-level
/// gradient (1e-17..1e-9) is normalised into a step of up to the learning rate times that ratio;
/// measured 7.9e-6.
#[test]
fn plaintext_compact_and_matrix_runs_agree() {
    for (spec, loss, opt, tolerance) in [
        (
            small_cnn(),
            LossKind::CrossEntropy,
            OptimizerSpec::Sgd {
                learning_rate: 0.05,
                momentum: 0.9,
            },
            1e-7,
        ),
        (
            small_cnn(),
            LossKind::CrossEntropy,
            OptimizerSpec::Adam {
                learning_rate: 0.01,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
            },
            1e-4,
        ),
        (
            mlp(),
            LossKind::Mse,
            OptimizerSpec::Sgd {
                learning_rate: 0.002,
                momentum: 0.5,
            },
            1e-7,
        ),
    ] {
        let (x, y) = data(12, &spec.input_shape.clone(), 3, 3);
        let cfg = TrainConfig::new(2, 5, opt, loss, 9);
        let key = SecretKey::from_seed(42);
        let shadow = ShadowDistribution::Gaussian { std: 0.1 };
        let mut rng = ChaCha8Rng::seed_from_u64(1);

        let mut plain = Trainer::new(Model::new(&spec, Plain, 1).unwrap(), cfg.clone()).unwrap();
        let plain_losses = plain
            .fit(
                &PlanarTensor::plain(x.clone()),
                &PlanarTensor::plain(y.clone()),
                &mut NoObserver,
            )
            .unwrap();

        let xc = key.encrypt_compact(&x, &shadow, &mut rng).unwrap();
        let yc = key.encrypt_compact(&y, &shadow, &mut rng).unwrap();
        let rep = xc.representation().clone();
        let mut compact = Trainer::new(Model::new(&spec, rep, 1).unwrap(), cfg.clone()).unwrap();
        let compact_losses = compact.fit(&xc, &yc, &mut NoObserver).unwrap();

        let xm = key.encrypt_matrix(&x, &shadow, &mut rng).unwrap();
        let ym = key.encrypt_matrix(&y, &shadow, &mut rng).unwrap();
        let mut matrix = Trainer::new(
            Model::new(&spec, more_core::tensor::MatrixForm, 1).unwrap(),
            cfg,
        )
        .unwrap();
        matrix.fit(&xm, &ym, &mut NoObserver).unwrap();

        let dc = key.decrypt_model(compact.model()).unwrap();
        let dm = key.decrypt_model(matrix.model()).unwrap();
        for ((name, p), ((_, c), (_, m))) in plain
            .model()
            .parameters()
            .iter()
            .zip(dc.parameters().iter().zip(dm.parameters()))
        {
            let dc_err = (p.values() - c.values())
                .mapv(f64::abs)
                .fold(0.0f64, |a, &b| a.max(b));
            let dm_err = (p.values() - m.values())
                .mapv(f64::abs)
                .fold(0.0f64, |a, &b| a.max(b));
            assert!(
                dc_err < tolerance,
                "{loss:?} {name}: compact differs by {dc_err}"
            );
            assert!(
                dm_err < tolerance,
                "{loss:?} {name}: matrix form differs by {dm_err}"
            );
        }
        for (p, c) in plain_losses.iter().zip(&compact_losses) {
            let (pl, cl) = (p.values()[[0]], key.decrypt(c).unwrap()[[0]]);
            assert!((pl - cl).abs() < tolerance, "loss {pl} vs decrypted {cl}");
        }
        // The trained model is encrypted: its planes are not the plaintext weights.
        let (_, w) = &compact.model().parameters()[0];
        assert!(
            w.planes()[1].iter().any(|v| v.abs() > 1e-6),
            "weights became ciphertexts"
        );
    }
}

#[test]
fn diverging_shadows_stop_training_with_a_clear_error() {
    let spec = mlp();
    let (x, y) = data(16, &[6], 3, 4);
    let key = SecretKey::from_seed(5);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    // Huge shadows: the shadow run explodes through the square activation.
    let shadow = ShadowDistribution::Gaussian { std: 1e3 };
    let xc = key.encrypt_compact(&x, &shadow, &mut rng).unwrap();
    let yc = key.encrypt_compact(&y, &shadow, &mut rng).unwrap();
    let cfg = TrainConfig::new(
        3,
        4,
        OptimizerSpec::Sgd {
            learning_rate: 0.1,
            momentum: 0.0,
        },
        LossKind::Mse,
        1,
    );
    let mut t = Trainer::new(
        Model::new(&spec, xc.representation().clone(), 1).unwrap(),
        cfg,
    )
    .unwrap();
    let err = t.fit(&xc, &yc, &mut NoObserver).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, more_core::nn::NnError::Diverged { .. }),
        "{msg}"
    );
    assert!(msg.contains("shadow"), "{msg}");
}

#[test]
fn presets_are_valid_and_json_round_trips() {
    for name in more_core::nn::PRESETS {
        let input: &[usize] = if name.contains("cnn") {
            &[1, 28, 28]
        } else {
            &[784]
        };
        let spec = ModelSpec::preset(name, input, 10).unwrap();
        assert_eq!(spec.output_shape().unwrap(), vec![10]);
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<ModelSpec>(&json).unwrap(), spec);
    }
    assert!(ModelSpec::preset("resnet", &[784], 10).is_err());
    let unknown = r#"{"input_shape":[4],"layers":[{"type":"attention","heads":2}]}"#;
    assert!(serde_json::from_str::<ModelSpec>(unknown).is_err());
}

#[test]
fn safetensors_export_reads_back() {
    let model: Model<f64, Plain> = Model::new(&mlp(), Plain, 3).unwrap();
    let bytes = model.to_safetensors();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let w = st.tensor("layers.0.weight").unwrap();
    assert_eq!(w.shape(), &[6, 8]);
    let first = f64::from_le_bytes(w.data()[..8].try_into().unwrap());
    assert_eq!(
        first,
        model.parameters()[0].1.values().as_slice().unwrap()[0]
    );
}

/// Images with blank (all-zero) regions, as in MNIST: ReLU and max-pooling meet exactly equal
/// values there in plaintext. The encrypted run (compact and matrix form, f64) must route those
/// ties the same way: decrypted weights equal to 1e-9 after 2 epochs.
#[test]
fn blank_image_regions_train_identically() {
    use LayerSpec::*;
    let spec = ModelSpec {
        input_shape: vec![1, 8, 8],
        layers: vec![
            Conv2d {
                filters: 3,
                kernel: 3,
                stride: 1,
                padding: 1,
            },
            Relu,
            MaxPool2d { size: 2 },
            Flatten,
            Dense { units: 3 },
        ],
    };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = ArrayD::from_shape_fn(IxDyn(&[16, 1, 8, 8]), |_| {
        if rng.random_bool(0.3) {
            rng.random_range(0.0..1.0f64)
        } else {
            0.0
        }
    });
    let mut y = ArrayD::zeros(IxDyn(&[16, 3]));
    for i in 0..16 {
        y[[i, rng.random_range(0..3)]] = 1.0;
    }
    let key = SecretKey::from_seed(42);
    let cfg = TrainConfig::new(
        2,
        8,
        OptimizerSpec::Sgd {
            learning_rate: 0.5,
            momentum: 0.5,
        },
        LossKind::CrossEntropy,
        9,
    );
    let mut plain = Trainer::new(Model::new(&spec, Plain, 1).unwrap(), cfg.clone()).unwrap();
    plain
        .fit(
            &PlanarTensor::plain(x.clone()),
            &PlanarTensor::plain(y.clone()),
            &mut NoObserver,
        )
        .unwrap();
    let xc = key
        .encrypt_compact(&x, &ShadowDistribution::default(), &mut rng)
        .unwrap();
    let yc = key
        .encrypt_compact(&y, &ShadowDistribution::Simplex, &mut rng)
        .unwrap();
    let mut compact = Trainer::new(
        Model::new(&spec, xc.representation().clone(), 1).unwrap(),
        cfg.clone(),
    )
    .unwrap();
    compact.fit(&xc, &yc, &mut NoObserver).unwrap();
    let (xm, ym) = (xc.to_matrix_form(), yc.to_matrix_form());
    let mut matrix = Trainer::new(
        Model::new(&spec, more_core::tensor::MatrixForm, 1).unwrap(),
        cfg,
    )
    .unwrap();
    matrix.fit(&xm, &ym, &mut NoObserver).unwrap();
    for decrypted in [
        key.decrypt_model(compact.model()).unwrap(),
        key.decrypt_model(matrix.model()).unwrap(),
    ] {
        for ((name, p), (_, e)) in plain
            .model()
            .parameters()
            .iter()
            .zip(decrypted.parameters())
        {
            let err = (p.values() - e.values())
                .mapv(f64::abs)
                .fold(0.0f64, |a, &b| a.max(b));
            assert!(err < 1e-9, "{name} differs by {err}");
        }
    }
}
