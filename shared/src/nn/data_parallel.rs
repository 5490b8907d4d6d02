//! Data-parallel training: every rank holds the same model, reads (from a [`SampleSource`]) and
//! computes the gradients of only its contiguous shard of each mini-batch, the ranks sum them with
//! [`Collective::all_reduce_sum`], and every rank applies the same optimizer step. The batches,
//! their order and the optimizer are those of [`Trainer::train_epoch`], so the run computes the
//! single-process run's updates; only the order of the float additions inside a batch differs.

use thiserror::Error;

use super::collective::{shard_range, Collective, CollectiveError};
use super::contribution::{tensors_mut, Contribution};
use super::{NnError, SampleSource, TrainObserver, Trainer};
use crate::tensor::{PlanarTensor, Representation};
use crate::Float;

/// Why a data-parallel epoch failed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DataParallelError {
    /// The engine failed as in a single-process run (the same error on every rank).
    #[error(transparent)]
    Nn(#[from] NnError),
    /// Exchanging gradients between the ranks failed.
    #[error(transparent)]
    Collective(#[from] CollectiveError),
}

impl<F: Float, R: Representation<F>> Trainer<F, R> {
    /// One epoch of a data-parallel run: as [`Trainer::train_epoch`], with each batch's gradients
    /// computed by the ranks of `comm` on their shards ([`shard_range`]) and summed across ranks
    /// in `f64`, rank by rank. With [`super::Local`] it computes what `train_epoch` computes.
    /// Every rank returns the same mean batch loss.
    ///
    /// # Errors
    /// As [`Trainer::train_epoch`]; [`NnError::InvalidConfig`] for dropout with more than one
    /// rank (its masks are drawn per batch in one sequence); [`DataParallelError::Collective`].
    pub fn train_epoch_distributed(
        &mut self,
        x: &PlanarTensor<F, R>,
        y: &PlanarTensor<F, R>,
        comm: &dyn Collective,
        observer: &mut dyn TrainObserver<F, R>,
    ) -> Result<PlanarTensor<F, R>, DataParallelError> {
        let source = super::Tensors::new(x, y)?;
        self.train_epoch_distributed_from(&source, comm, observer)
    }

    /// [`Trainer::train_epoch_distributed`] over a [`SampleSource`]: each rank gathers only its
    /// shard of each batch's indices ([`shard_range`]) from the source, and tells it only its
    /// shards of the upcoming batches, so a rank reads its part of the data set, not the whole.
    ///
    /// # Errors
    /// As [`Trainer::train_epoch_distributed`]; [`NnError::Source`] when the source fails.
    pub fn train_epoch_distributed_from(
        &mut self,
        source: &dyn SampleSource<F, R>,
        comm: &dyn Collective,
        observer: &mut dyn TrainObserver<F, R>,
    ) -> Result<PlanarTensor<F, R>, DataParallelError> {
        self.check_shardable(comm)?;
        let (epoch, order, mut dropout_rng) = self.epoch_plan(source.samples())?;
        let batches: Vec<&[usize]> = order.chunks(self.config.batch_size).collect();
        let mine: Vec<&[usize]> = batches
            .iter()
            .map(|idx| &idx[shard_range(idx.len(), comm.rank(), comm.size())])
            .collect();
        let mut total_loss: Option<PlanarTensor<F, R>> = None;
        for (b, idx) in batches.iter().enumerate() {
            if observer.is_cancelled() {
                return Err(NnError::Cancelled.into());
            }
            let this = (mine[b], &mine[b + 1..]);
            let part = self.batch_contribution(source, this, idx.len(), &mut dropout_rng)?;
            let (loss, grads) = all_reduce(comm, part)?;
            self.check_health("loss", &loss)?;
            self.apply_gradients(grads)?;
            total_loss = Some(super::train::add_loss(total_loss, loss)?);
            observer.on_batch(epoch, b + 1, batches.len());
        }
        Ok(self.finish_epoch(epoch, total_loss, batches.len(), observer))
    }

    /// Runs the remaining epochs data-parallel; returns their losses.
    ///
    /// # Errors
    /// As [`Trainer::train_epoch_distributed`].
    pub fn fit_distributed(
        &mut self,
        x: &PlanarTensor<F, R>,
        y: &PlanarTensor<F, R>,
        comm: &dyn Collective,
        observer: &mut dyn TrainObserver<F, R>,
    ) -> Result<Vec<PlanarTensor<F, R>>, DataParallelError> {
        let mut losses = Vec::new();
        while self.epochs_done() < self.config.epochs {
            losses.push(self.train_epoch_distributed(x, y, comm, observer)?);
        }
        Ok(losses)
    }

    fn check_shardable(&self, comm: &dyn Collective) -> Result<(), NnError> {
        if self.model.spec().has_dropout() && comm.size() > 1 {
            return Err(NnError::InvalidConfig(
                "data-parallel training of a model with dropout is not supported: the masks \
                 are drawn in one sequence over the whole batch"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// The sum over ranks of every rank's contribution: the planes are summed as one `f64` buffer.
fn all_reduce<F: Float, R: Representation<F>>(
    comm: &dyn Collective,
    mut c: Contribution<F, R>,
) -> Result<Contribution<F, R>, CollectiveError> {
    if comm.size() == 1 {
        return Ok(c);
    }
    let mut buffer: Vec<f64> = Vec::new();
    for t in tensors_mut(&mut c) {
        for plane in t.planes() {
            buffer.extend(plane.iter().map(|v| v.as_f64()));
        }
    }
    comm.all_reduce_sum(&mut buffer)?;
    let mut values = buffer.into_iter();
    for t in tensors_mut(&mut c) {
        for plane in t.planes.iter_mut() {
            plane
                .iter_mut()
                .for_each(|v| *v = F::of_f64(values.next().expect("the buffer holds every plane")));
        }
    }
    Ok(c)
}
