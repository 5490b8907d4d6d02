//! The layers: each a forward and a backward function over [`PlanarTensor`]s of any
//! representation, so plaintext and ciphertext runs share one code path.

mod activation;
mod conv2d;
mod dense;
mod pool;

use ndarray::ArrayD;
use rand::Rng;

pub(crate) use activation::Activation;
pub(crate) use conv2d::ConvGeometry;
pub(crate) use pool::MaxPoolCache;

use crate::nn::LayerSpec;
use crate::tensor::{PlanarTensor, Representation};
use crate::{Float, Result};

/// A parameterized layer's backward pass: `(dx, dW, db)`, `dx` only when asked for.
pub(crate) type Gradients<F, R> = (
    Option<PlanarTensor<F, R>>,
    PlanarTensor<F, R>,
    PlanarTensor<F, R>,
);

/// A layer with its static geometry (no parameters: those live in the model).
#[derive(Clone, Debug)]
pub(crate) enum Layer {
    Dense,
    Conv2d(ConvGeometry),
    AvgPool2d(usize),
    MaxPool2d(usize),
    Flatten,
    Dropout(f64),
    Activation(Activation),
}

/// What a layer keeps from its forward pass for its backward pass.
pub(crate) enum Cache<F, R> {
    Input(PlanarTensor<F, R>),
    /// The activation's input or its output, whichever its derivative is computed from.
    Activation(PlanarTensor<F, R>),
    Columns(PlanarTensor<F, R>),
    MaxPool(MaxPoolCache<F, R>),
    Shape(Vec<usize>),
    Mask(Option<ArrayD<F>>),
    None,
}

impl Layer {
    /// The layer for `spec` taking per-sample inputs of `input` shape.
    ///
    /// # Errors
    /// A convolution's geometry that cannot be built ([`ConvGeometry::new`]).
    pub fn new(spec: &LayerSpec, input: &[usize]) -> Result<Self> {
        Ok(match *spec {
            LayerSpec::Dense { .. } => Layer::Dense,
            LayerSpec::Conv2d {
                filters,
                kernel,
                stride,
                padding,
            } => Layer::Conv2d(ConvGeometry::new(input, filters, kernel, stride, padding)?),
            LayerSpec::AvgPool2d { size } => Layer::AvgPool2d(size),
            LayerSpec::MaxPool2d { size } => Layer::MaxPool2d(size),
            LayerSpec::Flatten => Layer::Flatten,
            LayerSpec::Dropout { rate } => Layer::Dropout(rate),
            LayerSpec::Relu => Layer::Activation(Activation::Relu),
            LayerSpec::Sigmoid => Layer::Activation(Activation::Sigmoid),
            LayerSpec::Tanh => Layer::Activation(Activation::Tanh),
            LayerSpec::Square => Layer::Activation(Activation::Square),
            LayerSpec::Polynomial { ref coefficients } => {
                Layer::Activation(Activation::Polynomial(coefficients.clone()))
            }
        })
    }

    /// Weight shape and bias shape, for layers with parameters.
    pub fn parameter_shapes(spec: &LayerSpec, input: &[usize]) -> Option<(Vec<usize>, Vec<usize>)> {
        match *spec {
            LayerSpec::Dense { units } => Some((vec![input[0], units], vec![1, units])),
            LayerSpec::Conv2d {
                filters, kernel, ..
            } => Some((vec![input[0] * kernel * kernel, filters], vec![1, filters])),
            _ => None,
        }
    }

    /// Forward pass, consuming the input. `params` is `(W, b)` for layers that have them;
    /// `train` keeps what the backward pass needs ([`Cache::None`] without it) and enables dropout
    /// with masks drawn from `rng`.
    pub fn forward<F: Float, R: Representation<F>>(
        &self,
        x: PlanarTensor<F, R>,
        params: Option<&(PlanarTensor<F, R>, PlanarTensor<F, R>)>,
        train: bool,
        rng: &mut impl Rng,
    ) -> Result<(PlanarTensor<F, R>, Cache<F, R>)> {
        let wb = || params.expect("layers with parameters get them");
        let kept = |cache: Cache<F, R>| if train { cache } else { Cache::None };
        Ok(match self {
            Layer::Dense => {
                let (w, b) = wb();
                (dense::forward(&x, w, b)?, kept(Cache::Input(x)))
            }
            Layer::Conv2d(g) => {
                let (w, b) = wb();
                let (y, cols) = g.forward(&x, w, b)?;
                (y, kept(Cache::Columns(cols)))
            }
            Layer::AvgPool2d(s) => (pool::avg_forward(&x, *s)?, Cache::None),
            Layer::MaxPool2d(s) => {
                let (y, cache) = pool::max_forward(&x, *s, train)?;
                (y, kept(Cache::MaxPool(cache)))
            }
            Layer::Flatten => {
                let (n, shape) = (x.shape()[0], x.shape().to_vec());
                let flat = [n, x.len() / n.max(1)];
                (x.into_reshaped(&flat)?, kept(Cache::Shape(shape)))
            }
            Layer::Dropout(rate) => {
                if !train || *rate == 0.0 {
                    (x, Cache::Mask(None))
                } else {
                    let keep = F::of_f64(1.0 / (1.0 - rate));
                    let mask = ArrayD::from_shape_fn(x.shape(), |_| {
                        if rng.random::<f64>() < *rate {
                            F::zero()
                        } else {
                            keep
                        }
                    });
                    (x.mul_plain(&mask)?, Cache::Mask(Some(mask)))
                }
            }
            Layer::Activation(a) => {
                let y = a.forward(&x)?;
                let cache = match (train, a.backward_reads_output()) {
                    (false, _) => Cache::None,
                    (true, true) => Cache::Activation(y.clone()),
                    (true, false) => Cache::Activation(x),
                };
                (y, cache)
            }
        })
    }

    /// Backward pass: `dx` (when `input_gradient`) and, for layers with parameters, `(dW, db)`.
    #[allow(clippy::type_complexity)]
    pub fn backward<F: Float, R: Representation<F>>(
        &self,
        cache: &Cache<F, R>,
        params: Option<&(PlanarTensor<F, R>, PlanarTensor<F, R>)>,
        dy: &PlanarTensor<F, R>,
        input_gradient: bool,
    ) -> Result<(
        Option<PlanarTensor<F, R>>,
        Option<(PlanarTensor<F, R>, PlanarTensor<F, R>)>,
    )> {
        if params.is_none() && !input_gradient {
            return Ok((None, None));
        }
        Ok(match (self, cache) {
            (Layer::Dense, Cache::Input(x)) => {
                let (w, _) = params.expect("dense has parameters");
                let (dx, dw, db) = dense::backward(x, w, dy, input_gradient)?;
                (dx, Some((dw, db)))
            }
            (Layer::Conv2d(g), Cache::Columns(cols)) => {
                let (w, _) = params.expect("conv2d has parameters");
                let (dx, dw, db) = g.backward(cols, w, dy, input_gradient)?;
                (dx, Some((dw, db)))
            }
            (Layer::AvgPool2d(s), _) => (Some(pool::avg_backward(dy, *s)?), None),
            (Layer::MaxPool2d(s), Cache::MaxPool(c)) => {
                (Some(pool::max_backward(dy, c, *s)?), None)
            }
            (Layer::Flatten, Cache::Shape(shape)) => (Some(dy.reshape(shape)?), None),
            (Layer::Dropout(_), Cache::Mask(mask)) => match mask {
                Some(m) => (Some(dy.mul_plain(m)?), None),
                None => (Some(dy.clone()), None),
            },
            (Layer::Activation(a), Cache::Activation(saved)) => {
                (Some(a.backward(saved, dy)?), None)
            }
            _ => unreachable!("each layer produces its own cache kind"),
        })
    }
}
