//! A model: a description, a representation, and its parameters.

use ndarray::{ArrayD, IxDyn};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::error::Context;
use super::layers::{Cache, Layer};
use super::limits::{self, SpecBudget};
use super::{ModelSpec, NnError};
use crate::tensor::{Plain, PlanarTensor, Representation};
use crate::Float;

/// Initial value of every bias. Not 0: with zero biases, a convolution over a blank (all-zero)
/// image region gives pre-activations of exactly 0, where plaintext ReLU and max-pooling meet exact
/// ties (`relu'(0) = ½`, split routing) that an encrypted run, whose zeros carry rounding noise,
/// cannot reproduce; a small positive bias (a common choice before ReLU) removes those ties.
pub const INITIAL_BIAS: f64 = 0.01;

/// Weight and bias of one layer.
pub type LayerParameters<F, R> = (PlanarTensor<F, R>, PlanarTensor<F, R>);

/// A network of the layers in its [`ModelSpec`], with parameters stored in representation `R`.
///
/// `Model<F, Plain>` is a plaintext model; `Model<F, Compact>` or `Model<F, MatrixForm>` holds
/// encrypted parameters (after the first update on encrypted data; before that they are `w·I`).
#[derive(Clone, Debug)]
pub struct Model<F, R> {
    spec: ModelSpec,
    rep: R,
    layers: Vec<Layer>,
    params: Vec<Option<LayerParameters<F, R>>>,
    budget: SpecBudget,
}

impl<F: Float, R: Representation<F>> Model<F, R> {
    /// A model with He-normal initial weights (`N(0, 2/fan_in)`, He et al., ICCV 2015) drawn from
    /// a ChaCha8 generator seeded with `seed`, and biases [`INITIAL_BIAS`], embedded as `w·I`: the
    /// same seed gives the same initial weights in every representation.
    ///
    /// # Errors
    /// [`NnError::InvalidSpec`] if the description is inconsistent or outside the bounds of
    /// [`crate::nn::limits`]; [`NnError::Tensor`] if a layer's geometry cannot be allocated.
    pub fn new(spec: &ModelSpec, rep: R, seed: u64) -> Result<Self, NnError> {
        let (shapes, budget) = limits::walk(spec)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut params = Vec::with_capacity(spec.layers.len());
        for (layer, input) in spec.layers.iter().zip(&shapes) {
            params.push(Layer::parameter_shapes(layer, input).map(|(ws, bs)| {
                let normal = Normal::new(0.0, (2.0 / ws[0] as f64).sqrt()).expect("positive std");
                let w = ArrayD::from_shape_fn(IxDyn(&ws), |_| F::of_f64(normal.sample(&mut rng)));
                (
                    PlanarTensor::embed(rep.clone(), w),
                    PlanarTensor::full(rep.clone(), &bs, F::of_f64(INITIAL_BIAS)),
                )
            }));
        }
        Self::assemble(spec.clone(), rep, params, &shapes, budget)
    }

    fn assemble(
        spec: ModelSpec,
        rep: R,
        params: Vec<Option<LayerParameters<F, R>>>,
        shapes: &[Vec<usize>],
        budget: SpecBudget,
    ) -> Result<Self, NnError> {
        let layers = (spec.layers.iter().zip(shapes).enumerate())
            .map(|(i, (l, s))| Layer::new(l, s).at(format!("layers.{i} ({})", l.kind())))
            .collect::<Result<_, _>>()?;
        Ok(Model {
            spec,
            rep,
            layers,
            params,
            budget,
        })
    }

    /// Rebuilds a model from named parameters (as listed by [`Model::parameters`]).
    ///
    /// # Errors
    /// [`NnError::InvalidSpec`] for a missing, extra or wrongly shaped parameter.
    pub fn from_parameters(
        spec: &ModelSpec,
        rep: R,
        named: Vec<(String, PlanarTensor<F, R>)>,
    ) -> Result<Self, NnError> {
        let (shapes, budget) = limits::walk(spec)?;
        let mut by_name: std::collections::HashMap<String, PlanarTensor<F, R>> =
            named.into_iter().collect();
        let mut params = Vec::with_capacity(spec.layers.len());
        for (i, (layer, input)) in spec.layers.iter().zip(&shapes).enumerate() {
            params.push(match Layer::parameter_shapes(layer, input) {
                None => None,
                Some((ws, bs)) => {
                    let mut take = |suffix: &str, shape: &[usize]| {
                        let name = format!("layers.{i}.{suffix}");
                        let t = by_name.remove(&name).ok_or_else(|| {
                            NnError::InvalidSpec(format!("parameter {name} is missing"))
                        })?;
                        if t.shape() != shape {
                            return Err(NnError::InvalidSpec(format!(
                                "parameter {name} has shape {:?}, expected {shape:?}",
                                t.shape()
                            )));
                        }
                        Ok(t)
                    };
                    Some((take("weight", &ws)?, take("bias", &bs)?))
                }
            });
        }
        if let Some(extra) = by_name.keys().next() {
            return Err(NnError::InvalidSpec(format!(
                "unexpected parameter {extra}"
            )));
        }
        Self::assemble(spec.clone(), rep, params, &shapes, budget)
    }

    /// The description.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// What the description costs: parameters and activation values per sample.
    pub fn budget(&self) -> &SpecBudget {
        &self.budget
    }

    /// Bytes of one activation value in this model's representation.
    pub(crate) fn bytes_per_value() -> usize {
        R::PLANES * std::mem::size_of::<F>()
    }

    /// The representation of the parameters.
    pub fn representation(&self) -> &R {
        &self.rep
    }

    /// Named parameters `layers.{i}.weight` (`(in, out)` or `(c·k·k, filters)`) and
    /// `layers.{i}.bias` (`(1, out)`), in layer order.
    pub fn parameters(&self) -> Vec<(String, &PlanarTensor<F, R>)> {
        let mut out = Vec::new();
        for (i, p) in self.params.iter().enumerate() {
            if let Some((w, b)) = p {
                out.push((format!("layers.{i}.weight"), w));
                out.push((format!("layers.{i}.bias"), b));
            }
        }
        out
    }

    /// Number of real parameters (logical values, not planes).
    pub fn parameter_count(&self) -> usize {
        self.parameters().iter().map(|(_, t)| t.len()).sum()
    }

    /// The same model with every parameter mapped by `f` (e.g. decryption, change of
    /// representation).
    ///
    /// # Errors
    /// The first error of `f`.
    pub fn map_parameters<R2: Representation<F>, E>(
        &self,
        rep: R2,
        mut f: impl FnMut(&PlanarTensor<F, R>) -> Result<PlanarTensor<F, R2>, E>,
    ) -> Result<Model<F, R2>, E> {
        let mut params = Vec::with_capacity(self.params.len());
        for p in &self.params {
            params.push(match p {
                Some((w, b)) => Some((f(w)?, f(b)?)),
                None => None,
            });
        }
        // The layers hold geometry only, the same in every representation.
        Ok(Model {
            spec: self.spec.clone(),
            rep,
            layers: self.layers.clone(),
            params,
            budget: self.budget,
        })
    }

    fn check_input(&self, x: &PlanarTensor<F, R>) -> Result<(), NnError> {
        if x.shape().len() != self.spec.input_shape.len() + 1
            || x.shape()[1..] != self.spec.input_shape[..]
            || x.shape()[0] == 0
        {
            return Err(NnError::Tensor {
                layer: "input".into(),
                source: crate::MoreError::ShapeMismatch {
                    op: "model input",
                    lhs: x.shape().to_vec(),
                    rhs: std::iter::once(0)
                        .chain(self.spec.input_shape.iter().copied())
                        .collect(),
                },
            });
        }
        if x.representation() != &self.rep {
            return Err(NnError::Tensor {
                layer: "input".into(),
                source: crate::MoreError::BasisMismatch { op: "model input" },
            });
        }
        Ok(())
    }

    fn layer_name(&self, i: usize) -> String {
        format!("layers.{i} ({})", self.spec.layers[i].kind())
    }

    /// Inference: outputs `(n, outputs...)` for inputs `(n, input_shape...)` (logits for
    /// classification). Dropout is off. The output is checked finite (one pass over it); when it
    /// is not, the pass is run again layer by layer to name the first layer whose output is NaN
    /// or infinite.
    ///
    /// # Errors
    /// [`NnError::Tensor`] naming the layer, for a wrong input shape or representation or a
    /// non-finite output ([`crate::MoreError::NonFinite`]); [`NnError::InvalidConfig`] for a
    /// batch whose activations exceed [`crate::nn::limits::ACTIVATION_BUDGET_BYTES`].
    pub fn forward(&self, x: &PlanarTensor<F, R>) -> Result<PlanarTensor<F, R>, NnError> {
        self.check_input(x)?;
        self.budget
            .check_batch(x.shape()[0], Self::bytes_per_value(), false)?;
        let h = self.infer(x, false)?;
        if h.max_abs().as_f64().is_finite() {
            return Ok(h);
        }
        self.infer(x, true)
    }

    /// The inference pass; with `check`, each layer's output is checked finite.
    fn infer(&self, x: &PlanarTensor<F, R>, check: bool) -> Result<PlanarTensor<F, R>, NnError> {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer
                .forward(h, self.params[i].as_ref(), false, &mut rng)
                .at(self.layer_name(i))?
                .0;
            if check && !h.max_abs().as_f64().is_finite() {
                return Err(NnError::Tensor {
                    layer: self.layer_name(i),
                    source: crate::MoreError::NonFinite {
                        what: "output (NaN or infinite; scale the inputs or the coefficients down)",
                    },
                });
            }
        }
        if check {
            // Finite after every layer: the first pass's output was the input's.
            return Err(NnError::Tensor {
                layer: "input".into(),
                source: crate::MoreError::NonFinite { what: "input" },
            });
        }
        Ok(h)
    }

    /// Training forward pass: the output and every layer's cache.
    pub(crate) fn forward_train(
        &self,
        x: PlanarTensor<F, R>,
        rng: &mut ChaCha8Rng,
    ) -> Result<(PlanarTensor<F, R>, Vec<Cache<F, R>>), NnError> {
        self.check_input(&x)?;
        let mut caches = Vec::with_capacity(self.layers.len());
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            let (y, cache) = layer
                .forward(h, self.params[i].as_ref(), true, rng)
                .at(self.layer_name(i))?;
            caches.push(cache);
            h = y;
        }
        Ok((h, caches))
    }

    /// Backward pass from `∂L/∂output`: the parameter gradients, per layer.
    pub(crate) fn backward(
        &self,
        caches: &[Cache<F, R>],
        d_output: PlanarTensor<F, R>,
    ) -> Result<Vec<Option<LayerParameters<F, R>>>, NnError> {
        let mut grads: Vec<Option<LayerParameters<F, R>>> = vec![None; self.layers.len()];
        let mut dy = d_output;
        for i in (0..self.layers.len()).rev() {
            // The first layer's input gradient would be the data's: nobody needs it.
            let (dx, g) = self.layers[i]
                .backward(&caches[i], self.params[i].as_ref(), &dy, i > 0)
                .at(self.layer_name(i))?;
            grads[i] = g;
            if let Some(dx) = dx {
                dy = dx;
            }
        }
        Ok(grads)
    }

    pub(crate) fn layer_parameters(&self) -> &[Option<LayerParameters<F, R>>] {
        &self.params
    }

    pub(crate) fn params_mut(&mut self) -> &mut [Option<LayerParameters<F, R>>] {
        &mut self.params
    }
}

impl<F: Float> Model<F, Plain> {
    /// The parameters as a safetensors file (`F32`/`F64`, names as in [`Model::parameters`]),
    /// with the model description as JSON in the `__metadata__` entry `"spec"`.
    pub fn to_safetensors(&self) -> Vec<u8> {
        let dtype = match F::DTYPE {
            crate::Dtype::F32 => safetensors::Dtype::F32,
            crate::Dtype::F64 => safetensors::Dtype::F64,
        };
        let buffers: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .parameters()
            .into_iter()
            .map(|(name, t)| {
                let bytes = t
                    .values()
                    .iter()
                    .flat_map(|v| match F::DTYPE {
                        crate::Dtype::F32 => (v.as_f64() as f32).to_le_bytes().to_vec(),
                        crate::Dtype::F64 => v.as_f64().to_le_bytes().to_vec(),
                    })
                    .collect();
                (name, t.shape().to_vec(), bytes)
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = buffers
            .iter()
            .map(|(name, shape, bytes)| {
                let view = safetensors::tensor::TensorView::new(dtype, shape.clone(), bytes)
                    .expect("length matches shape");
                (name.clone(), view)
            })
            .collect();
        let metadata = std::collections::HashMap::from([(
            "spec".to_string(),
            serde_json::to_string(&self.spec).expect("spec serializes"),
        )]);
        safetensors::serialize(views, &Some(metadata)).expect("in-memory serialization")
    }
}

#[cfg(test)]
mod tests {
    use ndarray::ArrayD;

    use super::Model;
    use crate::nn::{ModelSpec, NnError};
    use crate::tensor::{Plain, PlanarTensor};
    use crate::MoreError;

    /// Two polynomials inside the bounds overflow f32 together on inputs of 100: the predict is
    /// an error naming the second one, not NaN/∞ values; smaller inputs pass.
    #[test]
    fn a_non_finite_output_names_the_layer_that_made_it() {
        let x8 = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e6];
        let spec: ModelSpec = serde_json::from_value(serde_json::json!({
            "input_shape": [2],
            "layers": [{"type": "relu"}, {"type": "polynomial", "coefficients": x8},
                       {"type": "polynomial", "coefficients": x8}, {"type": "flatten"}]
        }))
        .unwrap();
        let model = Model::<f32, Plain>::new(&spec, Plain, 0).unwrap();
        let input = |v: f32| PlanarTensor::plain(ArrayD::from_elem(vec![3, 2], v));
        assert!(model.forward(&input(0.5)).is_ok());
        match model.forward(&input(100.0)) {
            Err(NnError::Tensor {
                layer,
                source: MoreError::NonFinite { .. },
            }) => assert_eq!(layer, "layers.2 (polynomial)"),
            other => panic!("{other:?}"),
        }
    }
}
