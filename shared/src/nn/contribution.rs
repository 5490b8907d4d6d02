//! A mini-batch's loss and gradients (its contribution to an optimizer step), computed over
//! shards of at most [`SHARD_SAMPLES`] samples on the available threads and summed in shard
//! order. The shards depend only on the number of samples, so the sums, and the trained
//! weights, are the same bits on any number of threads, and in the browser, where the shards
//! run one after the other.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::error::Context;
use super::{LayerParameters, NnError, SampleSource, Trainer};
use crate::tensor::{parallel, PlanarTensor, Representation};
use crate::Float;

/// Most samples in one shard. Two shards of a batch of 64 keep both cores of a small node busy
/// with whole forward and backward passes, instead of meeting at every product (`perf` of the
/// compact MLP epoch: a fifth of the CPU time went to rayon's wake-ups and waits).
const SHARD_SAMPLES: usize = 32;

/// The loss and per-layer gradients of some samples of a batch, both normalised by the whole
/// batch, so that contributions of disjoint samples add up to the batch's.
pub(super) type Contribution<F, R> = (PlanarTensor<F, R>, Vec<Option<LayerParameters<F, R>>>);

impl<F: Float, R: Representation<F>> Trainer<F, R> {
    /// The contribution of the samples `samples` (indices into `x` and `y`) of a batch of
    /// `batch` samples: zeros for none; shard by shard ([`shards`]), on rayon's threads, unless
    /// there is one shard or the model has dropout (its masks are drawn in one sequence over the
    /// samples), which run on this thread.
    pub(super) fn contribution(
        &self,
        x: &PlanarTensor<F, R>,
        y: &PlanarTensor<F, R>,
        samples: &[usize],
        batch: usize,
        dropout_rng: &mut ChaCha8Rng,
    ) -> Result<Contribution<F, R>, NnError> {
        if samples.is_empty() {
            return Ok(self.zero_contribution());
        }
        let shards = shards(samples);
        if shards.len() == 1 || self.model.spec().has_dropout() {
            return self.shard_contribution(x, y, samples, batch, dropout_rng);
        }
        let parts = parallel::map(&shards, |shard| {
            // Without dropout the forward pass draws nothing from its generator.
            let mut unused = ChaCha8Rng::seed_from_u64(0);
            self.shard_contribution(x, y, shard, batch, &mut unused)
        });
        let mut parts = parts.into_iter();
        let first = parts.next().expect("at least one shard")?;
        parts.try_fold(first, |sum, part| add(sum, part?))
    }

    /// The contribution of the samples `samples` (indices into `source`) of a batch of `batch`
    /// samples: their rows gathered from the source in one call, then the source told the
    /// `upcoming` batches (it may read them while this one computes), then
    /// [`Trainer::contribution`] over the rows (the same shards of the same rows, so the same
    /// bits as over the whole data set in memory). Zeros for none, without a read.
    pub(super) fn batch_contribution(
        &self,
        source: &dyn SampleSource<F, R>,
        (samples, upcoming): (&[usize], &[&[usize]]),
        batch: usize,
        dropout_rng: &mut ChaCha8Rng,
    ) -> Result<Contribution<F, R>, NnError> {
        if samples.is_empty() {
            source.read_ahead(upcoming);
            return Ok(self.zero_contribution());
        }
        let (xb, yb) = source.gather(samples)?;
        source.read_ahead(upcoming);
        let rows: Vec<usize> = (0..samples.len()).collect();
        self.contribution(&xb, &yb, &rows, batch, dropout_rng)
    }

    /// The contribution of one shard: forward, loss, backward.
    fn shard_contribution(
        &self,
        x: &PlanarTensor<F, R>,
        y: &PlanarTensor<F, R>,
        shard: &[usize],
        batch: usize,
        dropout_rng: &mut ChaCha8Rng,
    ) -> Result<Contribution<F, R>, NnError> {
        let xb = x.select(0, shard).at("batch")?;
        let yb = y.select(0, shard).at("batch")?;
        let (out, caches) = self.model.forward_train(xb, dropout_rng)?;
        let (loss, d_out) = self
            .config
            .loss
            .shard_loss_and_gradient(&out, &yb, batch)
            .at("loss")?;
        Ok((loss, self.model.backward(&caches, d_out)?))
    }

    fn zero_contribution(&self) -> Contribution<F, R> {
        let rep = self.model.representation().clone();
        let zeros = |t: &PlanarTensor<F, R>| PlanarTensor::full(rep.clone(), t.shape(), F::zero());
        let grads = self
            .model
            .layer_parameters()
            .iter()
            .map(|p| p.as_ref().map(|(w, b)| (zeros(w), zeros(b))))
            .collect();
        (PlanarTensor::full(rep.clone(), &[1], F::zero()), grads)
    }
}

/// `samples` cut into the fewest shards of at most [`SHARD_SAMPLES`], of equal sizes give or
/// take one (50 samples: 25 and 25; 64: 32 and 32; 65: 22, 22 and 21).
fn shards(samples: &[usize]) -> Vec<&[usize]> {
    let count = samples.len().div_ceil(SHARD_SAMPLES).max(1);
    let (size, larger) = (samples.len() / count, samples.len() % count);
    let mut rest = samples;
    (0..count)
        .map(|i| {
            let (shard, tail) = rest.split_at(size + usize::from(i < larger));
            rest = tail;
            shard
        })
        .collect()
}

/// The sum of two contributions of the same model, tensor by tensor, in the first one's tensors.
fn add<F: Float, R: Representation<F>>(
    mut sum: Contribution<F, R>,
    mut part: Contribution<F, R>,
) -> Result<Contribution<F, R>, NnError> {
    let one = F::one();
    for (s, p) in tensors_mut(&mut sum)
        .into_iter()
        .zip(tensors_mut(&mut part))
    {
        s.scale_add_assign(one, one, p).at("contribution")?;
    }
    Ok(sum)
}

/// Every tensor of a contribution, in a fixed order: the loss, then each layer's weight and bias.
pub(super) fn tensors_mut<F, R>(c: &mut Contribution<F, R>) -> Vec<&mut PlanarTensor<F, R>> {
    let mut all = vec![&mut c.0];
    for (w, b) in c.1.iter_mut().flatten() {
        all.push(w);
        all.push(b);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(n: usize) -> Vec<usize> {
        let samples: Vec<usize> = (0..n).collect();
        let cut = shards(&samples);
        assert_eq!(cut.concat(), samples, "the shards of {n} cover it in order");
        cut.iter().map(|s| s.len()).collect()
    }

    #[test]
    fn shards_are_the_fewest_of_at_most_shard_samples_and_even() {
        assert_eq!(sizes(0), vec![0]);
        assert_eq!(sizes(1), vec![1]);
        assert_eq!(sizes(32), vec![32]);
        assert_eq!(sizes(33), vec![17, 16]);
        assert_eq!(sizes(50), vec![25, 25]);
        assert_eq!(sizes(64), vec![32, 32]);
        assert_eq!(sizes(65), vec![22, 22, 21]);
        assert_eq!(sizes(200), vec![29, 29, 29, 29, 28, 28, 28]);
    }
}
