//! Training the owner's float model in plaintext with our engine: x² activations, Adam, then a
//! second phase at a tenth of the learning rate.

use std::time::Instant;

use anyhow::Context as _;
use ndarray::{ArrayD, IxDyn};

use more_core::nn::{
    LayerSpec, LossKind, Model, ModelSpec, OptimizerSpec, TrainConfig, TrainObserver, Trainer,
};
use more_core::tensor::{Plain, PlanarTensor};

use super::progress;
use super::secure::{SecureArch, SecureArgs, SecureDataChoice};
use crate::data::Dataset;

/// Hyper-parameters of one run (defaults per data set and architecture, each overridable).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Hyper {
    /// Hidden units (MLP) or feature maps (CNN).
    pub width: usize,
    /// Epochs at the learning rate.
    pub epochs: usize,
    /// Further epochs at a tenth of it.
    pub fine_tune_epochs: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Mini-batch size.
    pub batch_size: usize,
}

impl Hyper {
    /// The defaults, with the command line's overrides.
    pub fn new(args: &SecureArgs) -> Self {
        let (width, epochs, fine, lr, batch) = match (args.data, args.arch) {
            (SecureDataChoice::Mnist, SecureArch::Mlp) => (64, 10, 3, 1e-3, 64),
            (SecureDataChoice::Mnist, SecureArch::Cnn) => (8, 8, 4, 1e-3, 64),
            (SecureDataChoice::Table, _) => (16, 60, 20, 3e-3, 16),
        };
        Hyper {
            width: args.width.unwrap_or(width),
            epochs: args.epochs.unwrap_or(epochs),
            fine_tune_epochs: args.fine_tune_epochs.unwrap_or(fine),
            learning_rate: args.learning_rate.unwrap_or(lr),
            batch_size: args.batch_size.unwrap_or(batch),
        }
    }
}

/// The architecture: MLP `dense(width) → x² → dense(classes)`; CNN (CryptoNets-style, one x²
/// for multiplicative depth 1) `conv width@5x5 stride 2, no padding → x² → flatten →
/// dense(classes)`.
///
/// # Errors
/// A shape the engine refuses.
pub fn spec(
    arch: SecureArch,
    input_shape: &[usize],
    width: usize,
    classes: usize,
) -> anyhow::Result<ModelSpec> {
    let layers = match arch {
        SecureArch::Mlp => vec![
            LayerSpec::Dense { units: width },
            LayerSpec::Square,
            LayerSpec::Dense { units: classes },
        ],
        SecureArch::Cnn => vec![
            LayerSpec::Conv2d {
                filters: width,
                kernel: 5,
                stride: 2,
                padding: 0,
            },
            LayerSpec::Square,
            LayerSpec::Flatten,
            LayerSpec::Dense { units: classes },
        ],
    };
    let input_shape = match arch {
        SecureArch::Mlp => vec![input_shape.iter().product()],
        SecureArch::Cnn => input_shape.to_vec(),
    };
    let spec = ModelSpec {
        input_shape,
        layers,
    };
    spec.output_shape().context("the secure architecture")?;
    Ok(spec)
}

/// A trained float model and its record.
pub struct Trained {
    /// The model.
    pub model: Model<f32, Plain>,
    /// Mean batch loss per epoch, both phases.
    pub losses: Vec<f64>,
    /// Wall time of training.
    pub seconds: f64,
}

struct Bar<'a>(&'a indicatif::ProgressBar);
impl<F, R> TrainObserver<F, R> for Bar<'_> {
    fn on_batch(&mut self, _: usize, _: usize, _: usize) {
        self.0.inc(1);
    }
}

fn tensor(
    values: Vec<f32>,
    samples: usize,
    shape: &[usize],
) -> anyhow::Result<PlanarTensor<f32, Plain>> {
    let mut dims = vec![samples];
    dims.extend_from_slice(shape);
    Ok(PlanarTensor::plain(ArrayD::from_shape_vec(
        IxDyn(&dims),
        values,
    )?))
}

/// Trains `spec` on `inputs` (the fake-quantized training samples, row-major) with cross-entropy.
///
/// # Errors
/// Engine errors (divergence, shapes).
pub fn train(
    spec: &ModelSpec,
    inputs: Vec<f32>,
    train: &Dataset,
    hyper: &Hyper,
    seed: u64,
    quiet: bool,
) -> anyhow::Result<Trained> {
    let n = train.len();
    let x = tensor(inputs, n, &spec.input_shape)?;
    let y = PlanarTensor::plain(train.target_matrix().into_dyn());
    let adam = |learning_rate| OptimizerSpec::Adam {
        learning_rate,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
    };
    let batches = n.div_ceil(hyper.batch_size) * (hyper.epochs + hyper.fine_tune_epochs);
    let bar = progress::bar(batches as u64, "train (plaintext)", quiet);
    let started = Instant::now();
    let mut model = Model::<f32, Plain>::new(spec, Plain, seed)?;
    let mut losses = Vec::new();
    let phases = [
        (hyper.epochs, hyper.learning_rate),
        (hyper.fine_tune_epochs, hyper.learning_rate / 10.0),
    ];
    for (phase, (epochs, lr)) in phases.into_iter().enumerate() {
        if epochs == 0 {
            continue;
        }
        let config = TrainConfig::new(
            epochs,
            hyper.batch_size,
            adam(lr),
            LossKind::CrossEntropy,
            seed + phase as u64,
        );
        let mut trainer = Trainer::new(model, config)?;
        for l in trainer.fit(&x, &y, &mut Bar(&bar))? {
            losses.push(l.values().iter().next().map_or(f64::NAN, |v| *v as f64));
        }
        model = trainer.into_model();
    }
    bar.finish_and_clear();
    Ok(Trained {
        model,
        losses,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The float model's predicted class per sample (`inputs`: fake-quantized, row-major).
///
/// # Errors
/// Engine errors.
pub fn predict(
    model: &Model<f32, Plain>,
    inputs: &[f32],
    samples: usize,
) -> anyhow::Result<Vec<usize>> {
    let shape = &model.spec().input_shape;
    let len: usize = shape.iter().product();
    let mut out = Vec::with_capacity(samples);
    for start in (0..samples).step_by(1000) {
        let end = (start + 1000).min(samples);
        let x = tensor(inputs[start * len..end * len].to_vec(), end - start, shape)?;
        let y = model.forward(&x)?;
        let k = y.len() / (end - start);
        let v: Vec<f32> = y.values().iter().copied().collect();
        out.extend(v.chunks(k).map(argmax));
    }
    Ok(out)
}

/// Index of the largest value (the first on ties).
pub fn argmax<T: PartialOrd + Copy>(row: &[T]) -> usize {
    (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b })
}
