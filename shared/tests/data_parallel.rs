//! Data-parallel training in one process: ranks are threads that exchange gradients through a
//! shared buffer (a real `Collective`, summing in rank order as the MPI one does). A 1-rank run is
//! bit-identical to `Trainer::fit`; 2- and 4-rank runs agree with it to float rounding.

use std::sync::{Arc, Barrier, Mutex};

use more_core::nn::{
    Collective, CollectiveError, LossKind, Model, ModelSpec, NoObserver, OptimizerSpec,
    TrainConfig, Trainer,
};
use more_core::tensor::{Plain, PlanarTensor};
use ndarray::{Array2, ArrayD};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What the threads of one world share.
struct World {
    barrier: Barrier,
    slots: Mutex<Vec<Vec<f64>>>,
    bytes: Mutex<Vec<u8>>,
}

/// One thread's view of the world.
struct Threads {
    rank: usize,
    size: usize,
    world: Arc<World>,
}

impl Collective for Threads {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_reduce_sum(&self, data: &mut [f64]) -> Result<(), CollectiveError> {
        self.world.slots.lock().unwrap()[self.rank] = data.to_vec();
        self.world.barrier.wait();
        {
            let slots = self.world.slots.lock().unwrap();
            for (i, v) in data.iter_mut().enumerate() {
                *v = slots[0][i];
                for slot in &slots[1..] {
                    *v += slot[i];
                }
            }
        }
        self.world.barrier.wait();
        Ok(())
    }
    fn broadcast(&self, data: &mut Vec<u8>, root: usize) -> Result<(), CollectiveError> {
        if self.rank == root {
            *self.world.bytes.lock().unwrap() = data.clone();
        }
        self.world.barrier.wait();
        *data = self.world.bytes.lock().unwrap().clone();
        self.world.barrier.wait();
        Ok(())
    }
    fn barrier(&self) -> Result<(), CollectiveError> {
        self.world.barrier.wait();
        Ok(())
    }
}

fn data(n: usize) -> (PlanarTensor<f32, Plain>, PlanarTensor<f32, Plain>) {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = Array2::from_shape_fn((n, 20), |_| rng.random_range(-1.0f32..1.0));
    let y = Array2::from_shape_fn((n, 4), |(i, j)| if i % 4 == j { 1.0f32 } else { 0.0 });
    (
        PlanarTensor::plain(x.into_dyn()),
        PlanarTensor::plain(y.into_dyn()),
    )
}

fn trainer(epochs: usize) -> Trainer<f32, Plain> {
    // 13 samples per batch over 50 samples: uneven shards and a short last batch.
    trainer_with_batch(epochs, 13)
}

fn trainer_with_batch(epochs: usize, batch: usize) -> Trainer<f32, Plain> {
    let spec = ModelSpec::preset("mnist_mlp", &[20], 4).unwrap();
    let model = Model::new(&spec, Plain, 5).unwrap();
    let optimizer = OptimizerSpec::Sgd {
        learning_rate: 0.1,
        momentum: 0.9,
    };
    let config = TrainConfig::new(epochs, batch, optimizer, LossKind::CrossEntropy, 9);
    Trainer::new(model, config).unwrap()
}

fn weights(t: &Trainer<f32, Plain>) -> Vec<ArrayD<f32>> {
    t.model()
        .parameters()
        .iter()
        .map(|(_, p)| p.values().clone())
        .collect()
}

/// Every rank's weights after `epochs` epochs on `size` threads.
fn run_threads(size: usize, epochs: usize) -> Vec<Vec<ArrayD<f32>>> {
    run_threads_with_batch(size, epochs, 13)
}

/// As [`run_threads`] with `batch` samples per batch.
fn run_threads_with_batch(size: usize, epochs: usize, batch: usize) -> Vec<Vec<ArrayD<f32>>> {
    let (x, y) = data(50);
    let world = Arc::new(World {
        barrier: Barrier::new(size),
        slots: Mutex::new(vec![Vec::new(); size]),
        bytes: Mutex::new(Vec::new()),
    });
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..size)
            .map(|rank| {
                let comm = Threads {
                    rank,
                    size,
                    world: world.clone(),
                };
                let (x, y) = (&x, &y);
                s.spawn(move || {
                    let mut t = trainer_with_batch(epochs, batch);
                    t.fit_distributed(x, y, &comm, &mut NoObserver).unwrap();
                    weights(&t)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn max_abs_diff(a: &[ArrayD<f32>], b: &[ArrayD<f32>]) -> f32 {
    a.iter()
        .zip(b)
        .flat_map(|(p, q)| p.iter().zip(q.iter()).map(|(u, v)| (u - v).abs()))
        .fold(0.0, f32::max)
}

#[test]
fn one_rank_is_bit_identical_to_fit() {
    let (x, y) = data(50);
    let mut single = trainer(2);
    single.fit(&x, &y, &mut NoObserver).unwrap();
    let mut local = trainer(2);
    local
        .fit_distributed(&x, &y, &more_core::nn::Local, &mut NoObserver)
        .unwrap();
    assert_eq!(weights(&single), weights(&local));
    let threads = run_threads(1, 2);
    assert_eq!(weights(&single), threads[0]);
}

#[test]
fn two_and_four_ranks_match_the_single_process_run() {
    let (x, y) = data(50);
    let mut single = trainer(2);
    single.fit(&x, &y, &mut NoObserver).unwrap();
    let reference = weights(&single);
    for size in [2, 4] {
        let ranks = run_threads(size, 2);
        for (rank, w) in ranks.iter().enumerate() {
            // Every rank applies the same summed gradients: identical bits on every rank.
            assert_eq!(w, &ranks[0], "rank {rank} of {size} differs from rank 0");
        }
        let diff = max_abs_diff(&reference, &ranks[0]);
        eprintln!("{size} ranks: max |Δw| = {diff:e}");
        // Only the order of additions within a batch differs (a few f32 ulps of weights of size
        // ~0.1-1 per step, 8 steps): 1e-5 is far below any training effect.
        assert!(diff < 1e-5, "{size} ranks: max |Δw| = {diff:e}");
        // And it is a different run if the shards were dropped (guards against a vacuous pass).
        assert!(reference.iter().any(|p| p.iter().any(|v| v.abs() > 1e-3)));
    }
}

#[test]
fn a_batch_of_two_shards_matches_two_ranks_of_one_shard_each() {
    // Batch 50: `fit` computes two shards of 25 samples and sums them in one process; two ranks
    // compute one shard of 25 each and sum them through the collective.
    let (x, y) = data(50);
    let mut single = trainer_with_batch(3, 50);
    single.fit(&x, &y, &mut NoObserver).unwrap();
    let ranks = run_threads_with_batch(2, 3, 50);
    let diff = max_abs_diff(&weights(&single), &ranks[0]);
    // The same two partial sums added once, in f32 here and in f64 then rounded to f32 there:
    // at most an ulp per step.
    assert!(diff < 1e-5, "max |Δw| = {diff:e}");
}
