//! Bounds on model descriptions and on the memory of one pass, shared by every place a model is
//! made (the node, the CLI, the page): a description inside them cannot make the engine allocate
//! more than [`ACTIVATION_BUDGET_BYTES`] of activations per pass, loop for long in its geometry,
//! or overflow `usize` anywhere.
//!
//! Sizes are counted in *values per sample* (logical values; a ciphertext value takes
//! `planes × size_of::<F>()` bytes: 1 plane in plaintext, 2 compact, 4 matrix form). Every count
//! is computed in checked arithmetic.
//!
//! # Why these numbers
//! - [`MAX_LAYER_VALUES`] (2²⁴ ≈ 16.8 M values) per layer output or convolution columns: a
//!   4096×4096 grey image, or 64 channels of 512×512; the convolution's geometry is built in time
//!   linear in its columns, so one layer costs at most ~0.1 s to set up.
//! - [`MAX_SAMPLE_VALUES`] (2²⁶) for everything a training pass keeps per sample: 1 GiB per sample
//!   in f32 matrix form (16 bytes per value), 2 GiB in f64, so every accepted model runs a batch
//!   of at least 2 samples in the worst representation inside [`ACTIVATION_BUDGET_BYTES`].
//! - [`ACTIVATION_BUDGET_BYTES`] (4 GiB) per pass (a predict request's batch, a training batch):
//!   what a node with 8 GiB or more can hold next to its weights; a larger batch is refused with
//!   a message to split it.
//! - [`MAX_POLYNOMIAL_DEGREE`] 8 and [`MAX_POLYNOMIAL_COEFFICIENT`] 1e6: for inputs with
//!   `|x| ≤ 1e3`, `|p(x)| ≤ 9·1e6·1e24 ≈ 9e30`, inside f32 (3.4e38), so one polynomial layer on
//!   data in a sane range cannot overflow even in f32; stacks that still overflow are caught by the
//!   finite check on outputs ([`crate::nn::Model::forward`]).

use super::{LayerSpec, ModelSpec, NnError};

/// Most layers in a description.
pub const MAX_LAYERS: usize = 256;
/// Most axes of a sample (`[features]`, `[rows, columns]` or `[channels, height, width]`).
pub const MAX_INPUT_RANK: usize = 3;
/// Largest size of one input axis.
pub const MAX_INPUT_DIM: usize = 1 << 16;
/// Most values per sample of the input, of any layer's output and of a convolution's columns
/// (`channels·kernel²·out_h·out_w`).
pub const MAX_LAYER_VALUES: usize = 1 << 24;
/// Most values per sample a training pass keeps (every layer's input, output and columns).
pub const MAX_SAMPLE_VALUES: usize = 1 << 26;
/// Most real parameters (weights and biases) of a model.
pub const MAX_PARAMETERS: usize = 50_000_000;
/// Largest pooling window (a max-pool does `size² − 1` exact ciphertext maxima).
pub const MAX_POOL_WINDOW: usize = 32;
/// Largest degree of a `polynomial` layer (at most this many plus one coefficients).
pub const MAX_POLYNOMIAL_DEGREE: usize = 8;
/// Largest absolute value of a polynomial coefficient.
pub const MAX_POLYNOMIAL_COEFFICIENT: f64 = 1e6;
/// Most classes of a classification dataset (and outputs of a preset).
pub const MAX_CLASSES: usize = 1 << 20;
/// Largest learning rate: 1e9. Rates far past any that trains (0.001 to 1 on standardised data)
/// stay possible on purpose: they drive a job into the trainer's divergence check, which fails
/// it with a clear message (the CLI's and the Python client's tests do this with 1e9; 1000 did
/// not diverge their small tables within 20 epochs). A rate such as 1e308, whose first step
/// overflows every representation, is refused.
pub const MAX_LEARNING_RATE: f64 = 1e9;
/// Largest Adam `epsilon`.
pub const MAX_EPSILON: f64 = 1.0;
/// Most bytes of activations one pass (a batch of predictions, a training batch) may need.
pub const ACTIVATION_BUDGET_BYTES: u64 = 4 << 30;

/// What a description costs, per sample where it says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecBudget {
    /// Real parameters (weights and biases).
    pub parameters: usize,
    /// Values per sample alive at once in inference: the largest over the layers of its input,
    /// output and columns.
    pub inference_values: usize,
    /// Values per sample a training pass keeps: the sum over the layers of input, output and
    /// columns.
    pub training_values: usize,
}

impl SpecBudget {
    /// Checks that a pass over `samples` samples at `bytes_per_value` bytes per value
    /// (`planes × size_of::<F>()`) fits [`ACTIVATION_BUDGET_BYTES`].
    ///
    /// # Errors
    /// [`NnError::InvalidConfig`] saying how much the batch would need and how to fix it.
    pub fn check_batch(
        &self,
        samples: usize,
        bytes_per_value: usize,
        training: bool,
    ) -> Result<(), NnError> {
        let per_sample = if training {
            self.training_values
        } else {
            self.inference_values
        };
        let sample_bytes = (per_sample as u128).saturating_mul(bytes_per_value as u128);
        let bytes = (samples as u128).saturating_mul(sample_bytes);
        if bytes <= u128::from(ACTIVATION_BUDGET_BYTES) {
            return Ok(());
        }
        let most = u128::from(ACTIVATION_BUDGET_BYTES) / sample_bytes.max(1);
        Err(NnError::InvalidConfig(format!(
            "a {} batch of {samples} samples needs {} MiB of activations ({per_sample} values per \
             sample, {bytes_per_value} bytes each), over the budget of {} MiB; use at most {most} \
             samples per batch",
            if training { "training" } else { "prediction" },
            bytes >> 20,
            ACTIVATION_BUDGET_BYTES >> 20,
        )))
    }
}

/// Values of a shape, or `None` past `usize`.
pub(crate) fn values(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

fn too_large(what: impl std::fmt::Display, limit: usize) -> NnError {
    NnError::InvalidSpec(format!("{what}, more than the limit of {limit}"))
}

/// The input shape's rules: rank 1 to [`MAX_INPUT_RANK`], sizes 1 to [`MAX_INPUT_DIM`], at most
/// [`MAX_LAYER_VALUES`] values.
pub(crate) fn check_input(shape: &[usize]) -> Result<(), NnError> {
    if shape.is_empty() || shape.len() > MAX_INPUT_RANK || shape.contains(&0) {
        return Err(NnError::InvalidSpec(format!(
            "input_shape must have 1 to {MAX_INPUT_RANK} positive sizes, got {shape:?}"
        )));
    }
    if let Some(&d) = shape.iter().find(|&&d| d > MAX_INPUT_DIM) {
        return Err(too_large(
            format_args!("input_shape {shape:?} has a size of {d}"),
            MAX_INPUT_DIM,
        ));
    }
    match values(shape) {
        Some(n) if n <= MAX_LAYER_VALUES => Ok(()),
        _ => Err(too_large(
            format_args!(
                "input_shape {shape:?} has {} values per sample",
                shape.iter().map(|&d| d as u128).product::<u128>()
            ),
            MAX_LAYER_VALUES,
        )),
    }
}

/// A layer's parameter count and columns per sample (convolutions), from its input shape.
fn layer_cost(layer: &LayerSpec, input: &[usize], output: &[usize]) -> Option<(usize, usize)> {
    match *layer {
        LayerSpec::Dense { units } => {
            let params = input[0].checked_add(1)?.checked_mul(units)?;
            Some((params, 0))
        }
        LayerSpec::Conv2d {
            filters, kernel, ..
        } => {
            let patch = input[0].checked_mul(kernel)?.checked_mul(kernel)?;
            let params = patch.checked_add(1)?.checked_mul(filters)?;
            let columns = patch.checked_mul(output[1])?.checked_mul(output[2])?;
            Some((params, columns))
        }
        _ => Some((0, 0)),
    }
}

/// The per-layer input shapes followed by the output shape, and the budget; every rule of this
/// module checked.
pub(crate) fn walk(spec: &ModelSpec) -> Result<(Vec<Vec<usize>>, SpecBudget), NnError> {
    check_input(&spec.input_shape)?;
    if spec.layers.len() > MAX_LAYERS {
        return Err(too_large(
            format_args!("the model has {} layers", spec.layers.len()),
            MAX_LAYERS,
        ));
    }
    let input_values = values(&spec.input_shape).expect("checked above");
    let mut shapes = vec![spec.input_shape.clone()];
    let mut budget = SpecBudget {
        parameters: 0,
        inference_values: input_values,
        training_values: input_values,
    };
    for (i, layer) in spec.layers.iter().enumerate() {
        let at = |e: NnError| match e {
            NnError::InvalidSpec(m) => NnError::InvalidSpec(format!("layers.{i}: {m}")),
            other => other,
        };
        let input = shapes.last().expect("non-empty");
        let output = layer.output_shape(input).map_err(at)?;
        let out_values = values(&output)
            .filter(|&n| n <= MAX_LAYER_VALUES)
            .ok_or_else(|| {
                at(too_large(
                    format_args!("{}: output {output:?} per sample", layer.kind()),
                    MAX_LAYER_VALUES,
                ))
            })?;
        let (params, columns) =
            layer_cost(layer, input, &output).unwrap_or((usize::MAX, usize::MAX));
        if columns > MAX_LAYER_VALUES {
            return Err(at(too_large(
                format_args!("{}: {columns} column values per sample", layer.kind()),
                MAX_LAYER_VALUES,
            )));
        }
        budget.parameters = budget.parameters.saturating_add(params);
        if budget.parameters > MAX_PARAMETERS {
            return Err(at(too_large(
                format_args!(
                    "{}: the model reaches {} parameters",
                    layer.kind(),
                    budget.parameters
                ),
                MAX_PARAMETERS,
            )));
        }
        // Each term ≤ 2²⁴ and at most 256 layers: these sums cannot overflow.
        let in_values = values(input).expect("bounded by the previous layer");
        let alive = in_values + out_values + columns;
        budget.inference_values = budget.inference_values.max(alive);
        budget.training_values += out_values + columns + in_values;
        if budget.training_values > MAX_SAMPLE_VALUES {
            return Err(at(too_large(
                format_args!(
                    "{}: a training pass keeps {} values per sample",
                    layer.kind(),
                    budget.training_values
                ),
                MAX_SAMPLE_VALUES,
            )));
        }
        shapes.push(output);
    }
    Ok((shapes, budget))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(v: serde_json::Value) -> ModelSpec {
        serde_json::from_value(v).expect("a spec")
    }

    fn refused(v: serde_json::Value) -> String {
        match spec(v.clone()).shapes() {
            Err(NnError::InvalidSpec(m)) => m,
            other => panic!("{v} was not refused: {other:?}"),
        }
    }

    /// The specs of issue #27, each refused with a message naming the layer and the rule.
    #[test]
    fn the_issues_specs_are_refused_naming_the_layer_and_the_rule() {
        let m = refused(json!({"input_shape": [1, 1, 1], "layers": [
            {"type": "conv2d", "filters": 1, "kernel": 1, "padding": 1_000_000_000u64}]}));
        assert!(m.contains("layers.0") && m.contains("padding"), "{m}");
        let m = refused(json!({"input_shape": [1, 28, 28], "layers": [
            {"type": "conv2d", "filters": 1, "kernel": 3, "padding": 20_000}]}));
        assert!(
            m.contains("layers.0") && m.contains("smaller than the kernel"),
            "{m}"
        );
        // With the huge max-pool and flatten of the issue's poison job.
        let m = refused(json!({"input_shape": [1, 1, 1], "layers": [
            {"type": "conv2d", "filters": 1, "kernel": 1, "padding": 20_000},
            {"type": "max_pool2d", "size": 40_001}, {"type": "flatten"}]}));
        assert!(m.contains("layers.0"), "{m}");
        let m = refused(json!({"input_shape": [1, 100_000, 100_000], "layers": [
            {"type": "conv2d", "filters": 1, "kernel": 1}]}));
        assert!(m.contains("input_shape") && m.contains("limit"), "{m}");
        let m = refused(json!({"input_shape": [4], "layers": [
            {"type": "dense", "units": 4},
            {"type": "polynomial", "coefficients": vec![1e30; 50]}]}));
        assert!(m.contains("layers.1") && m.contains("polynomial"), "{m}");
        let m = refused(json!({"input_shape": [4], "layers": [
            {"type": "polynomial", "coefficients": [0.0, 1.0, 1e30]}]}));
        assert!(m.contains("layers.0") && m.contains("coefficient"), "{m}");
    }

    #[test]
    fn geometry_relations_and_sizes_are_bounded() {
        for (layers, needle) in [
            (
                json!([{"type": "conv2d", "filters": 1, "kernel": 3, "stride": 0}]),
                "stride",
            ),
            (
                json!([{"type": "conv2d", "filters": 1, "kernel": 3, "padding": 3}]),
                "padding",
            ),
            (
                json!([{"type": "conv2d", "filters": 1, "kernel": 40}]),
                "kernel",
            ),
            (json!([{"type": "max_pool2d", "size": 64}]), "window"),
            (json!([{"type": "avg_pool2d", "size": 0}]), "window"),
            // 2¹⁶ filters of 32x32: 2²⁶ output values per sample.
            (
                json!([{"type": "conv2d", "filters": 65_536, "kernel": 1}]),
                "output",
            ),
            // 16·49 columns per position of a 1024x1024 output: 2^29.6 values.
            (
                json!([{"type": "conv2d", "filters": 1, "kernel": 7, "padding": 3}]),
                "column",
            ),
            (
                json!([{"type": "flatten"}, {"type": "dense", "units": 1 << 20}]),
                "parameters",
            ),
        ] {
            let input = if needle == "column" {
                json!([16, 1024, 1024])
            } else {
                json!([1, 32, 32])
            };
            let m = refused(json!({"input_shape": input, "layers": layers}));
            assert!(m.contains("layers.") && m.contains(needle), "{needle}: {m}");
        }
        let relus: Vec<_> = (0..=MAX_LAYERS).map(|_| json!({"type": "relu"})).collect();
        let m = refused(json!({"input_shape": [4], "layers": relus}));
        assert!(m.contains("layers"), "{m}");
        // 4096x4096 kept 5 times per sample: past the training footprint.
        let m = refused(json!({"input_shape": [1, 4096, 4096], "layers": [
            {"type": "relu"}, {"type": "relu"}, {"type": "relu"}]}));
        assert!(m.contains("layers.") && m.contains("training pass"), "{m}");
        for shape in [
            json!([]),
            json!([1, 2, 3, 4]),
            json!([0, 4]),
            json!([1 << 17]),
        ] {
            let m = refused(json!({"input_shape": shape, "layers": []}));
            assert!(m.contains("input_shape"), "{m}");
        }
    }

    #[test]
    fn the_presets_and_sane_models_pass_with_their_costs() {
        for name in crate::nn::PRESETS {
            let s = ModelSpec::preset(name, &[1, 28, 28], 10).expect(name);
            let b = s.budget().expect(name);
            assert!(
                b.parameters > 0 && b.inference_values <= b.training_values,
                "{name}"
            );
        }
        let s = spec(json!({"input_shape": [3, 4, 4], "layers": [
            {"type": "conv2d", "filters": 2, "kernel": 3, "padding": 1}, {"type": "flatten"},
            {"type": "dense", "units": 5}]}));
        let b = s.budget().unwrap();
        // conv: 3·9·2 + 2; dense: (32 + 1)·5.
        assert_eq!(b.parameters, 56 + 165);
        // conv: in 48 + out 32 + columns 27·16; flatten 32 + 32; dense 32 + 5.
        assert_eq!(b.inference_values, 48 + 32 + 432);
        assert_eq!(b.training_values, 48 + (48 + 32 + 432) + 64 + 37);
    }

    /// The issue's learning rate of 1e308 and other out-of-range hyper-parameters.
    #[test]
    fn optimizer_hyper_parameters_are_bounded() {
        use crate::nn::OptimizerSpec;
        let sgd = |learning_rate, momentum| OptimizerSpec::Sgd {
            learning_rate,
            momentum,
        };
        let adam = |learning_rate, beta1, epsilon| OptimizerSpec::Adam {
            learning_rate,
            beta1,
            beta2: 0.999,
            epsilon,
        };
        for bad in [
            sgd(1e308, 0.0),
            sgd(f64::NAN, 0.0),
            sgd(0.0, 0.0),
            sgd(1.1e9, 0.0),
            sgd(0.1, 1.0),
            adam(1e-3, 0.9, 0.0),
            adam(1e-3, 0.9, 1e300),
            adam(1e-3, -0.1, 1e-8),
        ] {
            let m = bad.check().expect_err("refused");
            assert!(m.contains("learning_rate in (0, 1000000000]"), "{m}");
        }
        assert!(sgd(1e9, 0.9).check().is_ok());
        assert!(adam(1e-3, 0.0, 1e-8).check().is_ok());
    }

    /// A training batch whose kept activations pass the budget ends the epoch with an error
    /// before any layer runs: 255 ReLUs over 256x256 keep 511·2¹⁶ values per sample, 134 MB
    /// in f32; 32 samples fit in 4 GiB, 33 do not.
    #[test]
    fn a_training_batch_past_the_budget_is_an_error_not_an_allocation() {
        use crate::nn::{LossKind, Model, NoObserver, OptimizerSpec, TrainConfig, Trainer};
        use crate::tensor::{Plain, PlanarTensor};
        let relus: Vec<_> = (0..255).map(|_| json!({"type": "relu"})).collect();
        let s = spec(json!({"input_shape": [1, 256, 256], "layers": relus}));
        assert_eq!(s.budget().unwrap().training_values, 511 << 16);
        let sgd = OptimizerSpec::Sgd {
            learning_rate: 0.1,
            momentum: 0.0,
        };
        let config = TrainConfig::new(1, 64, sgd, LossKind::Mse, 0);
        let model = Model::<f32, Plain>::new(&s, Plain, 0).unwrap();
        let mut trainer = Trainer::new(model, config).unwrap();
        let x = PlanarTensor::plain(ndarray::ArrayD::zeros(vec![33, 1, 256, 256]));
        let y = PlanarTensor::plain(ndarray::ArrayD::zeros(vec![33, 1]));
        let e = trainer.train_epoch(&x, &y, &mut NoObserver).unwrap_err();
        assert!(
            matches!(&e, NnError::InvalidConfig(m) if m.contains("at most 32 samples")),
            "{e}"
        );
    }

    /// A prediction batch past the budget is refused before the columns are built: a 15x15
    /// convolution over 256x256 takes 14,876,672 values per sample (59.5 MB in f32), so 72
    /// samples fit in 4 GiB and 73 do not.
    #[test]
    fn a_prediction_batch_past_the_budget_is_an_error_not_an_allocation() {
        use crate::nn::Model;
        use crate::tensor::{Plain, PlanarTensor};
        let s = spec(json!({"input_shape": [1, 256, 256], "layers": [
            {"type": "conv2d", "filters": 1, "kernel": 15, "padding": 7}]}));
        let model = Model::<f32, Plain>::new(&s, Plain, 0).unwrap();
        assert_eq!(model.budget().inference_values, 14_876_672);
        let x = PlanarTensor::plain(ndarray::ArrayD::zeros(vec![73, 1, 256, 256]));
        let e = model.forward(&x).unwrap_err();
        assert!(
            matches!(&e, NnError::InvalidConfig(m) if m.contains("at most 72 samples")),
            "{e}"
        );
    }

    #[test]
    fn batches_past_the_activation_budget_are_refused() {
        let b = SpecBudget {
            parameters: 1,
            inference_values: 1 << 20,
            training_values: 1 << 22,
        };
        assert!(b.check_batch(256, 16, false).is_ok());
        let m = b.check_batch(257, 16, false).unwrap_err().to_string();
        assert!(m.contains("at most 256 samples"), "{m}");
        assert!(b.check_batch(64, 16, true).is_ok());
        assert!(b.check_batch(65, 16, true).is_err());
        assert!(b.check_batch(usize::MAX, usize::MAX, true).is_err());
    }
}
