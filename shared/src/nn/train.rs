//! The training loop: epochs, seeded shuffling, mini-batches, per-epoch encrypted loss, progress,
//! cancellation, shadow-channel health and checkpoints.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::error::Context;
use super::{LossKind, Model, NnError, OptimizerSpec};
use crate::tensor::{PlanarTensor, Representation};
use crate::Float;

/// Hyper-parameters of a training run.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per mini-batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// The optimizer.
    pub optimizer: OptimizerSpec,
    /// The loss.
    pub loss: LossKind,
    /// Seed of the shuffling and dropout masks (the same in plaintext and encrypted runs).
    pub seed: u64,
    /// Largest accepted absolute plane value of a parameter or loss before training stops with
    /// [`NnError::Diverged`] (default 1e6).
    #[serde(default = "default_divergence_limit")]
    pub divergence_limit: f64,
}

fn default_divergence_limit() -> f64 {
    1e6
}

impl TrainConfig {
    /// A configuration with the default divergence limit.
    pub fn new(
        epochs: usize,
        batch_size: usize,
        optimizer: OptimizerSpec,
        loss: LossKind,
        seed: u64,
    ) -> Self {
        TrainConfig {
            epochs,
            batch_size,
            optimizer,
            loss,
            seed,
            divergence_limit: default_divergence_limit(),
        }
    }

    fn check(&self) -> Result<(), NnError> {
        if self.epochs == 0 || self.batch_size == 0 {
            return Err(NnError::InvalidConfig(
                "epochs and batch_size must be > 0".into(),
            ));
        }
        if self.divergence_limit.is_nan() || self.divergence_limit <= 0.0 {
            return Err(NnError::InvalidConfig(
                "divergence_limit must be > 0".into(),
            ));
        }
        self.optimizer.check().map_err(NnError::InvalidConfig)
    }
}

/// Receives progress from the training loop. Every method has a default.
pub trait TrainObserver<F, R> {
    /// After each mini-batch: `done` of `total` batches of epoch `epoch` (0-based).
    fn on_batch(&mut self, _epoch: usize, _done: usize, _total: usize) {}
    /// After each epoch, with the mean batch loss as a tensor of shape `[1]` (encrypted on
    /// ciphertexts: only the key holder can read it).
    fn on_epoch(&mut self, _epoch: usize, _loss: &PlanarTensor<F, R>) {}
    /// Polled before each batch; `true` stops training with [`NnError::Cancelled`].
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
pub struct NoObserver;
impl<F, R> TrainObserver<F, R> for NoObserver {}

/// A model with its optimizer state and progress.
pub struct Trainer<F, R> {
    pub(super) model: Model<F, R>,
    pub(super) config: TrainConfig,
    /// Per parameter (in [`Model::parameters`] order), the optimizer's state tensors.
    state: Vec<Vec<PlanarTensor<F, R>>>,
    step: u64,
    epochs_done: usize,
}

/// Everything needed to resume training: named tensors (`model.layers.{i}.weight`, ...,
/// `optimizer.{j}.{slot}`) plus counters.
pub struct Checkpoint<F, R> {
    /// Completed epochs.
    pub epochs_done: usize,
    /// Optimizer steps taken.
    pub step: u64,
    /// Named tensors.
    pub tensors: Vec<(String, PlanarTensor<F, R>)>,
}

impl<F: Float, R: Representation<F>> Trainer<F, R> {
    /// A trainer at epoch 0 with zeroed optimizer state.
    ///
    /// # Errors
    /// [`NnError::InvalidConfig`] for out-of-range hyper-parameters.
    pub fn new(model: Model<F, R>, config: TrainConfig) -> Result<Self, NnError> {
        config.check()?;
        let slots = config.optimizer.slots();
        let rep = model.representation().clone();
        let state = model
            .parameters()
            .iter()
            .map(|(_, p)| {
                (0..slots)
                    .map(|_| PlanarTensor::full(rep.clone(), p.shape(), F::zero()))
                    .collect()
            })
            .collect();
        Ok(Trainer {
            model,
            config,
            state,
            step: 0,
            epochs_done: 0,
        })
    }

    /// The model being trained.
    pub fn model(&self) -> &Model<F, R> {
        &self.model
    }

    /// Consumes the trainer, returning the model.
    pub fn into_model(self) -> Model<F, R> {
        self.model
    }

    /// Completed epochs.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The state to save for resuming.
    pub fn checkpoint(&self) -> Checkpoint<F, R> {
        let mut tensors: Vec<(String, PlanarTensor<F, R>)> = self
            .model
            .parameters()
            .into_iter()
            .map(|(n, t)| (format!("model.{n}"), t.clone()))
            .collect();
        for (j, slots) in self.state.iter().enumerate() {
            for (k, t) in slots.iter().enumerate() {
                tensors.push((format!("optimizer.{j}.{k}"), t.clone()));
            }
        }
        Checkpoint {
            epochs_done: self.epochs_done,
            step: self.step,
            tensors,
        }
    }

    /// A trainer resumed from a checkpoint of the same description and configuration.
    ///
    /// # Errors
    /// [`NnError::InvalidSpec`] for missing or mis-shaped tensors; [`NnError::InvalidConfig`].
    pub fn restore(
        spec: &super::ModelSpec,
        rep: R,
        config: TrainConfig,
        checkpoint: Checkpoint<F, R>,
    ) -> Result<Self, NnError> {
        let mut model_tensors = Vec::new();
        let mut optimizer = std::collections::BTreeMap::new();
        for (name, t) in checkpoint.tensors {
            if let Some(n) = name.strip_prefix("model.") {
                model_tensors.push((n.to_string(), t));
            } else if let Some(rest) = name.strip_prefix("optimizer.") {
                let parse = |s: Option<&str>| s.and_then(|v| v.parse::<usize>().ok());
                let mut it = rest.split('.');
                match (parse(it.next()), parse(it.next())) {
                    (Some(j), Some(k)) => {
                        optimizer.insert((j, k), t);
                    }
                    _ => {
                        return Err(NnError::InvalidSpec(format!(
                            "bad checkpoint tensor {name}"
                        )))
                    }
                }
            } else {
                return Err(NnError::InvalidSpec(format!(
                    "bad checkpoint tensor {name}"
                )));
            }
        }
        let model = Model::from_parameters(spec, rep, model_tensors)?;
        let mut trainer = Trainer::new(model, config)?;
        let shapes: Vec<Vec<usize>> = trainer
            .model
            .parameters()
            .iter()
            .map(|(_, p)| p.shape().to_vec())
            .collect();
        for (j, slots) in trainer.state.iter_mut().enumerate() {
            for (k, slot) in slots.iter_mut().enumerate() {
                let t = optimizer.remove(&(j, k)).ok_or_else(|| {
                    NnError::InvalidSpec(format!("checkpoint lacks optimizer.{j}.{k}"))
                })?;
                if t.shape() != shapes[j] {
                    return Err(NnError::InvalidSpec(format!(
                        "optimizer.{j}.{k} has a wrong shape"
                    )));
                }
                *slot = t;
            }
        }
        trainer.step = checkpoint.step;
        trainer.epochs_done = checkpoint.epochs_done;
        Ok(trainer)
    }

    pub(super) fn check_health(&self, what: &str, t: &PlanarTensor<F, R>) -> Result<(), NnError> {
        let norm = t.max_abs().as_f64();
        if norm.is_finite() && norm <= self.config.divergence_limit {
            return Ok(());
        }
        let cause = if norm.is_finite() {
            format!(
                "exceeds the limit {:e}: the values or their shadows are diverging",
                self.config.divergence_limit
            )
        } else {
            "is NaN or infinite: the values or their shadows overflowed".to_string()
        };
        Err(NnError::Diverged {
            where_: what.to_string(),
            norm,
            cause,
            remedy: "re-encrypt with smaller or data-matched shadows (Gaussian std 0.1, or \
                     moment-matched), lower the learning rate, or standardize the inputs",
        })
    }

    /// One epoch over `(x, y)`: `x: (samples, input_shape...)`, `y: (samples, outputs)`. Returns
    /// the mean batch loss (shape `[1]`). The same as [`Trainer::train_epoch_from`] over the
    /// in-memory [`super::Tensors`].
    ///
    /// # Errors
    /// [`NnError::Cancelled`] if the observer asks; [`NnError::Diverged`] when a parameter or the
    /// loss leaves the divergence limit; [`NnError::Tensor`] for shape or basis mismatches.
    pub fn train_epoch(
        &mut self,
        x: &PlanarTensor<F, R>,
        y: &PlanarTensor<F, R>,
        observer: &mut dyn TrainObserver<F, R>,
    ) -> Result<PlanarTensor<F, R>, NnError> {
        self.train_epoch_from(&super::Tensors::new(x, y)?, observer)
    }

    /// The epoch about to run over `n` samples, its shuffled sample order (a permutation of
    /// `0..n` drawn from the seed and the epoch) and its dropout generator: the same for every
    /// rank of a data-parallel run as for a single process, and for every sample source.
    pub(super) fn epoch_plan(&self, n: usize) -> Result<(usize, Vec<usize>, ChaCha8Rng), NnError> {
        if n == 0 {
            return Err(NnError::InvalidConfig("the data set has no samples".into()));
        }
        let batch = self.config.batch_size.min(n);
        (self.model.budget()).check_batch(batch, Model::<F, R>::bytes_per_value(), true)?;
        let epoch = self.epochs_done;
        let epoch_seed = self.config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(epoch_seed));
        let dropout_rng = ChaCha8Rng::seed_from_u64(epoch_seed.wrapping_add(1));
        Ok((epoch, order, dropout_rng))
    }

    /// One optimizer step with the batch's gradients (per layer, as [`Model::backward`] returns
    /// them), then the parameters' health check.
    pub(super) fn apply_gradients(
        &mut self,
        grads: Vec<Option<super::LayerParameters<F, R>>>,
    ) -> Result<(), NnError> {
        self.step += 1;
        let mut j = 0;
        let (optimizer, step) = (self.config.optimizer.clone(), self.step);
        for (i, (p, g)) in self.model.params_mut().iter_mut().zip(grads).enumerate() {
            if let (Some((w, bias)), Some((gw, gb))) = (p.as_mut(), g) {
                optimizer
                    .update(step, w, &gw, &mut self.state[j])
                    .at(format!("optimizer, layers.{i}.weight"))?;
                optimizer
                    .update(step, bias, &gb, &mut self.state[j + 1])
                    .at(format!("optimizer, layers.{i}.bias"))?;
                j += 2;
            }
        }
        for (name, t) in self.model.parameters() {
            self.check_health(&name, t)?;
        }
        Ok(())
    }

    /// The epoch's mean batch loss; counts the epoch and tells the observer.
    pub(super) fn finish_epoch(
        &mut self,
        epoch: usize,
        total_loss: Option<PlanarTensor<F, R>>,
        batches: usize,
        observer: &mut dyn TrainObserver<F, R>,
    ) -> PlanarTensor<F, R> {
        let mean = total_loss
            .expect("at least one batch")
            .scale(F::one() / F::from_usize(batches).unwrap());
        self.epochs_done += 1;
        observer.on_epoch(epoch, &mean);
        mean
    }

    /// Runs the remaining epochs (`config.epochs − epochs_done`) over `(x, y)` in memory; returns
    /// their losses.
    ///
    /// # Errors
    /// As [`Trainer::train_epoch`].
    pub fn fit(
        &mut self,
        x: &PlanarTensor<F, R>,
        y: &PlanarTensor<F, R>,
        observer: &mut dyn TrainObserver<F, R>,
    ) -> Result<Vec<PlanarTensor<F, R>>, NnError> {
        let mut losses = Vec::new();
        while self.epochs_done < self.config.epochs {
            losses.push(self.train_epoch(x, y, observer)?);
        }
        Ok(losses)
    }
}

/// The running sum of an epoch's batch losses with one more.
pub(super) fn add_loss<F: Float, R: Representation<F>>(
    total: Option<PlanarTensor<F, R>>,
    loss: PlanarTensor<F, R>,
) -> Result<PlanarTensor<F, R>, NnError> {
    Ok(match total {
        None => loss,
        Some(acc) => acc.add(&loss).at("loss")?,
    })
}
