//! What the engine benches time, the same way in each: one training epoch, inference in batches,
//! and the median of warm runs. Included by `engine_epoch` and `side_by_side` (`mod timing;`).

use std::time::Instant;

use more_core::nn::{LossKind, Model, ModelSpec, NoObserver, OptimizerSpec, TrainConfig, Trainer};
use more_core::tensor::{PlanarTensor, Representation};

/// Mini-batch size of every bench.
pub const BATCH: usize = 64;

/// Seconds of one training epoch of a fresh model (seed 1) on `x`, `y`: batch [`BATCH`], SGD
/// with learning rate 0.01 and no momentum, cross-entropy.
pub fn epoch_seconds<R: Representation<f32>>(
    spec: &ModelSpec,
    rep: R,
    x: &PlanarTensor<f32, R>,
    y: &PlanarTensor<f32, R>,
) -> f64 {
    let cfg = TrainConfig::new(
        1,
        BATCH,
        OptimizerSpec::Sgd {
            learning_rate: 0.01,
            momentum: 0.0,
        },
        LossKind::CrossEntropy,
        1,
    );
    let mut trainer = Trainer::new(Model::new(spec, rep, 1).unwrap(), cfg).unwrap();
    let start = Instant::now();
    trainer.train_epoch(x, y, &mut NoObserver).unwrap();
    start.elapsed().as_secs_f64()
}

/// Seconds of a fresh model's (seed 1) forward passes over the whole batches of `x` (a
/// trailing partial batch is left out).
pub fn inference_seconds<R: Representation<f32>>(
    spec: &ModelSpec,
    rep: R,
    x: &PlanarTensor<f32, R>,
) -> f64 {
    let model = Model::new(spec, rep, 1).unwrap();
    let start = Instant::now();
    for chunk in 0..x.shape()[0] / BATCH {
        let batch = x
            .slice_axis(0, chunk * BATCH, chunk * BATCH + BATCH)
            .unwrap();
        model.forward(&batch).unwrap();
    }
    start.elapsed().as_secs_f64()
}

/// `(median, min, max)` of `rounds` timed runs of `f`, after one untimed warm-up run.
pub fn median_of(rounds: usize, mut f: impl FnMut() -> f64) -> (f64, f64, f64) {
    f();
    let mut runs: Vec<f64> = (0..rounds.max(1)).map(|_| f()).collect();
    runs.sort_by(f64::total_cmp);
    (runs[runs.len() / 2], runs[0], runs[runs.len() - 1])
}

/// Threads the engine's kernels may use (rayon's default: the available cores).
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
