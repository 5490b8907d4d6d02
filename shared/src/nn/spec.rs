//! Model descriptions as data (serde JSON), and the presets.

use serde::{Deserialize, Serialize};

use super::limits::{
    self, SpecBudget, MAX_CLASSES, MAX_POLYNOMIAL_COEFFICIENT, MAX_POLYNOMIAL_DEGREE,
    MAX_POOL_WINDOW,
};
use super::NnError;

/// One layer of a model description. JSON: `{"type": "dense", "units": 128}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    /// Fully connected: `(n, in) → (n, units)`, `y = x·W + b`.
    Dense {
        /// Output features.
        units: usize,
    },
    /// 2-D convolution over `(n, channels, height, width)` (im2col + GEMM).
    Conv2d {
        /// Output channels.
        filters: usize,
        /// Square kernel size.
        kernel: usize,
        /// Stride (default 1).
        #[serde(default = "one")]
        stride: usize,
        /// Zero padding on each side (default 0).
        #[serde(default)]
        padding: usize,
    },
    /// Average pooling with a square window of `size`, stride `size`.
    AvgPool2d {
        /// Window size; must divide height and width.
        size: usize,
    },
    /// Max pooling (exact, through `max(a,b) = (a+b+|a−b|)/2`), window `size`, stride `size`.
    MaxPool2d {
        /// Window size; must divide height and width.
        size: usize,
    },
    /// `(n, ...) → (n, product)`.
    Flatten,
    /// Inverted dropout with a plaintext mask during training; identity at inference.
    Dropout {
        /// Drop probability in `[0, 1)`.
        rate: f64,
    },
    /// `max(x, 0)`, exact on ciphertexts.
    Relu,
    /// Logistic function, exact on ciphertexts.
    Sigmoid,
    /// Hyperbolic tangent, exact on ciphertexts.
    Tanh,
    /// `x²` (CryptoNets' activation).
    Square,
    /// `Σ_k c_k·x^k` (low-degree polynomial activations used by HE networks).
    Polynomial {
        /// Coefficients `c_0, c_1, ...`.
        coefficients: Vec<f64>,
    },
}

fn one() -> usize {
    1
}

impl LayerSpec {
    /// Short name for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Dense { .. } => "dense",
            LayerSpec::Conv2d { .. } => "conv2d",
            LayerSpec::AvgPool2d { .. } => "avg_pool2d",
            LayerSpec::MaxPool2d { .. } => "max_pool2d",
            LayerSpec::Flatten => "flatten",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::Relu => "relu",
            LayerSpec::Sigmoid => "sigmoid",
            LayerSpec::Tanh => "tanh",
            LayerSpec::Square => "square",
            LayerSpec::Polynomial { .. } => "polynomial",
        }
    }

    /// The output shape (per sample, no batch axis) for an input shape.
    ///
    /// # Errors
    /// [`NnError::InvalidSpec`] when the layer cannot take that input.
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, NnError> {
        let bad = |why: String| NnError::InvalidSpec(format!("{}: {why}", self.kind()));
        match *self {
            LayerSpec::Dense { units } => {
                if input.len() != 1 || units == 0 {
                    return Err(bad(format!(
                        "needs a flat input and units > 0, got {input:?}"
                    )));
                }
                Ok(vec![units])
            }
            LayerSpec::Conv2d {
                filters,
                kernel,
                stride,
                padding,
            } => conv2d_output(input, [filters, kernel, stride, padding]).map_err(bad),
            LayerSpec::AvgPool2d { size } | LayerSpec::MaxPool2d { size } => {
                pool_output(input, size).map_err(bad)
            }
            LayerSpec::Flatten => input
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d))
                .map(|n| vec![n])
                .ok_or_else(|| bad(format!("{input:?} has more values than a usize counts"))),
            LayerSpec::Dropout { rate } => {
                if !(0.0..1.0).contains(&rate) {
                    return Err(bad(format!("rate {rate} not in [0, 1)")));
                }
                Ok(input.to_vec())
            }
            LayerSpec::Polynomial { ref coefficients } => {
                check_polynomial(coefficients).map_err(bad)?;
                Ok(input.to_vec())
            }
            LayerSpec::Relu | LayerSpec::Sigmoid | LayerSpec::Tanh | LayerSpec::Square => {
                Ok(input.to_vec())
            }
        }
    }
}

/// The output shape of a 2-D convolution `[filters, kernel, stride, padding]` on `input`
/// `(channels, height, width)`, or why it cannot take it.
fn conv2d_output(input: &[usize], conv: [usize; 4]) -> Result<Vec<usize>, String> {
    let [filters, kernel, stride, padding] = conv;
    let [_, h, w] = *input else {
        return Err(format!("needs (channels, height, width), got {input:?}"));
    };
    if filters == 0 || kernel == 0 || stride == 0 {
        return Err("filters, kernel and stride must be > 0".into());
    }
    if padding >= kernel {
        return Err(format!(
            "padding {padding} must be smaller than the kernel {kernel}"
        ));
    }
    // padding < kernel ≤ padded input: 2·padding + h cannot overflow when the input is bounded,
    // but a direct caller may pass anything.
    let padded = |n: usize| {
        padding
            .checked_mul(2)
            .and_then(|p| n.checked_add(p))
            .ok_or_else(|| format!("padding {padding} is too large"))
    };
    let (ph, pw) = (padded(h)?, padded(w)?);
    if ph < kernel || pw < kernel {
        return Err(format!(
            "kernel {kernel} larger than padded input {input:?}"
        ));
    }
    Ok(vec![
        filters,
        (ph - kernel) / stride + 1,
        (pw - kernel) / stride + 1,
    ])
}

/// The output shape of a pooling window `size` on `input` `(channels, height, width)`, or why it
/// cannot take it.
fn pool_output(input: &[usize], size: usize) -> Result<Vec<usize>, String> {
    let [c, h, w] = *input else {
        return Err(format!("needs (channels, height, width), got {input:?}"));
    };
    if size == 0 || size > MAX_POOL_WINDOW {
        return Err(format!("window {size} must be 1 to {MAX_POOL_WINDOW}"));
    }
    if h % size != 0 || w % size != 0 {
        return Err(format!("window {size} must divide {h}x{w}"));
    }
    Ok(vec![c, h / size, w / size])
}

/// Why a polynomial activation's coefficients are refused (too many, not finite or too large).
fn check_polynomial(coefficients: &[f64]) -> Result<(), String> {
    if coefficients.is_empty() || coefficients.len() > MAX_POLYNOMIAL_DEGREE + 1 {
        return Err(format!(
            "needs 1 to {} coefficients (degree at most {MAX_POLYNOMIAL_DEGREE}), got {}",
            MAX_POLYNOMIAL_DEGREE + 1,
            coefficients.len()
        ));
    }
    if let Some((k, c)) = (coefficients.iter().enumerate())
        .find(|(_, c)| !c.is_finite() || c.abs() > MAX_POLYNOMIAL_COEFFICIENT)
    {
        return Err(format!(
            "coefficient {k} is {c:e}; each must be finite with |c| ≤ {MAX_POLYNOMIAL_COEFFICIENT:e}"
        ));
    }
    Ok(())
}

/// A model: the per-sample input shape and the layers. JSON:
/// `{"input_shape": [784], "layers": [{"type": "dense", "units": 128}, {"type": "relu"}, ...]}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Shape of one sample: `[features]` or `[channels, height, width]`.
    pub input_shape: Vec<usize>,
    /// The layers, in order.
    pub layers: Vec<LayerSpec>,
}

/// Names of the built-in architectures.
pub const PRESETS: [&str; 5] = [
    "mnist_mlp",
    "mnist_cnn",
    "regression_mlp",
    "image_cnn",
    "table_mlp",
];

impl ModelSpec {
    /// Whether a layer drops activations at random in training (a dropout rate above 0).
    pub fn has_dropout(&self) -> bool {
        self.layers
            .iter()
            .any(|l| matches!(l, LayerSpec::Dropout { rate } if *rate > 0.0))
    }

    /// A built-in architecture for inputs of `input_shape` and `outputs` outputs:
    /// - `mnist_mlp`: flatten → dense 128 → relu → dense 64 → relu → dense `outputs`;
    /// - `mnist_cnn`: conv 8@5x5 (stride 2, pad 2) → relu → conv 16@3x3 (pad 1) → relu → max-pool 2 →
    ///   flatten → dense 64 → relu → dense `outputs` (needs `[c, h, w]` with `h, w` divisible by 4);
    /// - `regression_mlp`: dense 64 → tanh → dense 32 → tanh → dense `outputs`;
    /// - `image_cnn`: conv 8@3x3 (pad 1) → relu → avg-pool 2 → conv 16@3x3 (pad 1) → relu →
    ///   max-pool 2 → flatten → dense 32 → relu → dense `outputs`;
    /// - `table_mlp`: flatten → dense 32 → tanh → dense `outputs` (the model the page, the CLI and
    ///   Python pick for a table classification).
    ///
    /// # Errors
    /// [`NnError::InvalidSpec`] for an unknown name or an input the preset cannot take.
    pub fn preset(name: &str, input_shape: &[usize], outputs: usize) -> Result<Self, NnError> {
        use LayerSpec::*;
        if outputs == 0 || outputs > MAX_CLASSES {
            return Err(NnError::InvalidSpec(format!(
                "outputs must be 1 to {MAX_CLASSES}, got {outputs}"
            )));
        }
        let image = match *input_shape {
            [c, h, w] => Some((c, h, w)),
            [n] if (n as f64).sqrt().fract() == 0.0 => {
                let s = (n as f64).sqrt() as usize;
                Some((1, s, s))
            }
            _ => None,
        };
        let conv = |k, f, s, p| Conv2d {
            filters: f,
            kernel: k,
            stride: s,
            padding: p,
        };
        let (input_shape, layers) = match name {
            "mnist_mlp" => (
                input_shape.to_vec(),
                vec![
                    Flatten,
                    Dense { units: 128 },
                    Relu,
                    Dense { units: 64 },
                    Relu,
                    Dense { units: outputs },
                ],
            ),
            "regression_mlp" => (
                input_shape.to_vec(),
                vec![
                    Flatten,
                    Dense { units: 64 },
                    Tanh,
                    Dense { units: 32 },
                    Tanh,
                    Dense { units: outputs },
                ],
            ),
            "table_mlp" => (
                input_shape.to_vec(),
                vec![Flatten, Dense { units: 32 }, Tanh, Dense { units: outputs }],
            ),
            "mnist_cnn" | "image_cnn" => {
                let (c, h, w) = image.ok_or_else(|| {
                    NnError::InvalidSpec(format!(
                        "{name} needs an image input, got {input_shape:?}"
                    ))
                })?;
                let layers = if name == "mnist_cnn" {
                    vec![
                        conv(5, 8, 2, 2),
                        Relu,
                        conv(3, 16, 1, 1),
                        Relu,
                        MaxPool2d { size: 2 },
                        Flatten,
                        Dense { units: 64 },
                        Relu,
                        Dense { units: outputs },
                    ]
                } else {
                    vec![
                        conv(3, 8, 1, 1),
                        Relu,
                        AvgPool2d { size: 2 },
                        conv(3, 16, 1, 1),
                        Relu,
                        MaxPool2d { size: 2 },
                        Flatten,
                        Dense { units: 32 },
                        Relu,
                        Dense { units: outputs },
                    ]
                };
                (vec![c, h, w], layers)
            }
            other => {
                return Err(NnError::InvalidSpec(format!(
                    "unknown preset {other:?}; known: {}",
                    PRESETS.join(", ")
                )))
            }
        };
        let spec = ModelSpec {
            input_shape,
            layers,
        };
        spec.output_shape()?;
        Ok(spec)
    }

    /// Per-layer input shapes followed by the model's output shape (per sample), with every
    /// bound of [`crate::nn::limits`] checked (sizes, geometry, parameters, activations).
    ///
    /// # Errors
    /// [`NnError::InvalidSpec`] naming the first layer (`layers.{i}`) that breaks a rule, and the
    /// rule.
    pub fn shapes(&self) -> Result<Vec<Vec<usize>>, NnError> {
        Ok(limits::walk(self)?.0)
    }

    /// What the description costs: parameters and activation values per sample.
    ///
    /// # Errors
    /// As [`ModelSpec::shapes`].
    pub fn budget(&self) -> Result<SpecBudget, NnError> {
        Ok(limits::walk(self)?.1)
    }

    /// The output shape per sample.
    ///
    /// # Errors
    /// As [`ModelSpec::shapes`].
    pub fn output_shape(&self) -> Result<Vec<usize>, NnError> {
        Ok(self.shapes()?.pop().expect("non-empty"))
    }
}
