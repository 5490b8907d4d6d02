//! Where training reads its samples: a [`SampleSource`] gives the number of samples and the
//! rows at any indices as a batch `(features, targets)`, so that an epoch need not hold the data
//! set in memory. [`Tensors`] is the in-memory source (two tensors, as training took before); the
//! node's streaming source reads the rows of each batch from stored shards by range reads
//! (`more_store::samples`).
//!
//! Shuffling stays the index permutation of [`Trainer::train_epoch`] (drawn from the seed and
//! the epoch): a source only fetches the rows it is asked for, in that order, so every source
//! gives the same batches and the same trained bits, and a resumed or taken-over job continues
//! the same sequence.

use super::{NnError, TrainObserver, Trainer};
use crate::tensor::{PlanarTensor, Representation};
use crate::Float;

/// A batch: features `(rows, input_shape...)` and targets `(rows, outputs)`.
pub type Batch<F, R> = (PlanarTensor<F, R>, PlanarTensor<F, R>);

/// Samples that training (or prediction) reads batch by batch.
///
/// Implementations must give, for the same indices, the same rows whichever way they read them
/// (memory, range reads, read-ahead), so that training is the same bits over any source.
pub trait SampleSource<F, R>: Sync {
    /// Number of samples (rows of both tensors).
    fn samples(&self) -> usize;

    /// The rows at `indices` (each `< samples()`, in that order; not empty) as a batch.
    ///
    /// # Errors
    /// [`NnError::Source`] when the rows cannot be read; [`NnError::Tensor`] for an index out of
    /// range.
    fn gather(&self, indices: &[usize]) -> Result<Batch<F, R>, NnError>;

    /// A hint, given after each [`SampleSource::gather`]: the batches it will be asked for next,
    /// in order. A streaming source may start reading (some of) them; the default ignores it.
    fn read_ahead(&self, _upcoming: &[&[usize]]) {}
}

/// The in-memory source: features `(samples, input_shape...)` and targets `(samples, outputs)`.
pub struct Tensors<'a, F, R> {
    x: &'a PlanarTensor<F, R>,
    y: &'a PlanarTensor<F, R>,
}

impl<'a, F: Float, R: Representation<F>> Tensors<'a, F, R> {
    /// The source over two tensors of the same, non-zero number of samples.
    ///
    /// # Errors
    /// [`NnError::InvalidConfig`] when the sample counts differ or are zero.
    pub fn new(x: &'a PlanarTensor<F, R>, y: &'a PlanarTensor<F, R>) -> Result<Self, NnError> {
        let n = x.shape().first().copied().unwrap_or(0);
        if n == 0 || y.shape().first() != Some(&n) {
            return Err(NnError::InvalidConfig(format!(
                "features {:?} and targets {:?} must have the same, non-zero number of samples",
                x.shape(),
                y.shape()
            )));
        }
        Ok(Tensors { x, y })
    }
}

impl<F: Float, R: Representation<F>> SampleSource<F, R> for Tensors<'_, F, R> {
    fn samples(&self) -> usize {
        self.x.shape()[0]
    }

    fn gather(&self, indices: &[usize]) -> Result<Batch<F, R>, NnError> {
        use super::error::Context;
        Ok((
            self.x.select(0, indices).at("batch")?,
            self.y.select(0, indices).at("batch")?,
        ))
    }
}

impl<F: Float, R: Representation<F>> Trainer<F, R> {
    /// One epoch over the samples of `source`, in the order of [`Trainer::train_epoch`] (the
    /// same shuffled index permutation, the same batches), reading each batch's rows from the
    /// source and telling it the upcoming batches. Returns the mean batch loss (shape `[1]`);
    /// the trained parameters are the same bits as `train_epoch` on the same data in memory.
    ///
    /// # Errors
    /// As [`Trainer::train_epoch`]; [`NnError::Source`] when the source fails.
    pub fn train_epoch_from(
        &mut self,
        source: &dyn SampleSource<F, R>,
        observer: &mut dyn TrainObserver<F, R>,
    ) -> Result<PlanarTensor<F, R>, NnError> {
        let (epoch, order, mut dropout_rng) = self.epoch_plan(source.samples())?;
        let batches: Vec<&[usize]> = order.chunks(self.config.batch_size).collect();
        let mut total_loss: Option<PlanarTensor<F, R>> = None;
        for (b, idx) in batches.iter().enumerate() {
            if observer.is_cancelled() {
                return Err(NnError::Cancelled);
            }
            let this = (*idx, &batches[b + 1..]);
            let (loss, grads) =
                self.batch_contribution(source, this, idx.len(), &mut dropout_rng)?;
            self.check_health("loss", &loss)?;
            self.apply_gradients(grads)?;
            total_loss = Some(super::train::add_loss(total_loss, loss)?);
            observer.on_batch(epoch, b + 1, batches.len());
        }
        Ok(self.finish_epoch(epoch, total_loss, batches.len(), observer))
    }

    /// Runs the remaining epochs (`config.epochs − epochs_done`) over `source`; returns their
    /// losses.
    ///
    /// # Errors
    /// As [`Trainer::train_epoch_from`].
    pub fn fit_from(
        &mut self,
        source: &dyn SampleSource<F, R>,
        observer: &mut dyn TrainObserver<F, R>,
    ) -> Result<Vec<PlanarTensor<F, R>>, NnError> {
        let mut losses = Vec::new();
        while self.epochs_done() < self.config.epochs {
            losses.push(self.train_epoch_from(source, observer)?);
        }
        Ok(losses)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use ndarray::ArrayD;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::nn::{Local, LossKind, Model, ModelSpec, NoObserver, OptimizerSpec, TrainConfig};
    use crate::tensor::{Compact, CompactBasis};

    /// Compact "ciphertexts" of random planes (no key needed for bit comparisons).
    fn random(shape: &[usize], rep: &Compact, seed: u64) -> PlanarTensor<f32, Compact> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut plane = || ArrayD::from_shape_fn(shape.to_vec(), |_| rng.random_range(-0.5..0.5));
        PlanarTensor::from_planes(rep.clone(), vec![plane(), plane()]).unwrap()
    }

    /// The same rows cut into shards of `size` rows, gathered row by row from their shard, with
    /// the read-ahead hints recorded: another layout of the same data.
    struct Sharded {
        shards: Vec<Batch<f32, Compact>>,
        size: usize,
        hints: Mutex<Vec<usize>>,
    }

    impl Sharded {
        fn new(
            x: &PlanarTensor<f32, Compact>,
            y: &PlanarTensor<f32, Compact>,
            size: usize,
        ) -> Self {
            let n = x.shape()[0];
            let shards = (0..n)
                .step_by(size)
                .map(|s| {
                    let e = (s + size).min(n);
                    (
                        x.slice_axis(0, s, e).unwrap(),
                        y.slice_axis(0, s, e).unwrap(),
                    )
                })
                .collect();
            Sharded {
                shards,
                size,
                hints: Mutex::new(Vec::new()),
            }
        }
    }

    impl SampleSource<f32, Compact> for Sharded {
        fn samples(&self) -> usize {
            self.shards.iter().map(|(x, _)| x.shape()[0]).sum()
        }
        fn gather(&self, indices: &[usize]) -> Result<Batch<f32, Compact>, NnError> {
            let rows: Vec<Batch<f32, Compact>> = indices
                .iter()
                .map(|&i| {
                    let (x, y) = &self.shards[i / self.size];
                    let r = [i % self.size];
                    (x.select(0, &r).unwrap(), y.select(0, &r).unwrap())
                })
                .collect();
            let cat = |f: &dyn Fn(&Batch<f32, Compact>) -> &PlanarTensor<f32, Compact>| {
                let parts: Vec<PlanarTensor<f32, Compact>> = rows.iter().map(f).cloned().collect();
                PlanarTensor::concatenate(0, &parts).unwrap()
            };
            Ok((cat(&|b| &b.0), cat(&|b| &b.1)))
        }
        fn read_ahead(&self, upcoming: &[&[usize]]) {
            self.hints.lock().unwrap().push(upcoming.len());
        }
    }

    fn setup(
        seed: u64,
    ) -> (
        Trainer<f32, Compact>,
        PlanarTensor<f32, Compact>,
        PlanarTensor<f32, Compact>,
    ) {
        let rep = Compact {
            basis: CompactBasis::new([1.0, 0.5, 0.25, -1.0]).unwrap(),
        };
        let (x, y) = (
            random(&[150, 6], &rep, seed),
            random(&[150, 3], &rep, seed + 1),
        );
        let spec = ModelSpec::preset("table_mlp", &[6], 3).unwrap();
        let model = Model::new(&spec, rep, 7).unwrap();
        let optimizer = OptimizerSpec::Sgd {
            learning_rate: 0.05,
            momentum: 0.9,
        };
        let config = TrainConfig::new(2, 70, optimizer, LossKind::Mse, 11);
        (Trainer::new(model, config).unwrap(), x, y)
    }

    /// `train_epoch` as it was before sample sources: the whole tensors, each batch's shards
    /// selected from them.
    fn epoch_before_sources(
        t: &mut Trainer<f32, Compact>,
        x: &PlanarTensor<f32, Compact>,
        y: &PlanarTensor<f32, Compact>,
    ) -> PlanarTensor<f32, Compact> {
        let (epoch, order, mut rng) = t.epoch_plan(x.shape()[0]).unwrap();
        let batches: Vec<&[usize]> = order.chunks(t.config.batch_size).collect();
        let mut total = None;
        for idx in &batches {
            let (loss, grads) = t.contribution(x, y, idx, idx.len(), &mut rng).unwrap();
            t.apply_gradients(grads).unwrap();
            total = Some(super::super::train::add_loss(total, loss).unwrap());
        }
        t.finish_epoch(epoch, total, batches.len(), &mut NoObserver)
    }

    /// Every bit of the parameters and the losses.
    fn bits(t: &Trainer<f32, Compact>, losses: &[PlanarTensor<f32, Compact>]) -> Vec<u32> {
        let params = t.model().parameters();
        let tensors = params.iter().map(|(_, p)| *p).chain(losses.iter());
        tensors
            .flat_map(|p| {
                p.planes()
                    .iter()
                    .flat_map(|a| a.iter().map(|v| v.to_bits()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn training_over_a_sharded_source_is_bit_identical_to_the_tensors_in_memory() {
        let (mut before, x, y) = setup(3);
        let expected: Vec<_> = (0..2)
            .map(|_| epoch_before_sources(&mut before, &x, &y))
            .collect();
        let expected = bits(&before, &expected);

        let (mut trainer, _, _) = setup(3);
        let source = Sharded::new(&x, &y, 40);
        let losses = trainer.fit_from(&source, &mut NoObserver).unwrap();
        assert_eq!(bits(&trainer, &losses), expected, "streamed from shards");
        // Three batches of 70, 70 and 10 per epoch: hints of the 2, 1 and 0 batches after each.
        assert_eq!(*source.hints.lock().unwrap(), vec![2, 1, 0, 2, 1, 0]);

        let (mut in_memory, _, _) = setup(3);
        let losses = in_memory.fit(&x, &y, &mut NoObserver).unwrap();
        assert_eq!(
            bits(&in_memory, &losses),
            expected,
            "train_epoch over Tensors"
        );

        let (mut local, _, _) = setup(3);
        let losses: Vec<_> = (0..2)
            .map(|_| {
                local
                    .train_epoch_distributed_from(&source, &Local, &mut NoObserver)
                    .unwrap()
            })
            .collect();
        assert_eq!(bits(&local, &losses), expected, "one rank over the source");
    }

    #[test]
    fn tensors_of_different_sample_counts_are_refused() {
        let (_, x, y) = setup(5);
        let y = y.slice_axis(0, 0, 149).unwrap();
        assert!(matches!(
            Tensors::new(&x, &y),
            Err(NnError::InvalidConfig(_))
        ));
    }
}
