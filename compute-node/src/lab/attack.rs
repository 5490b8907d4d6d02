//! `more-node attack`: the attack suite of more-attacks on real data, both shadow distributions
//! (Gaussian N(0, 0.1²) and moment-matched to the data):
//! 1. every attack under one fresh key (`SecretKey::generate()`);
//! 2. the basis-eigenvalue attack under `--keys` seeded keys of each key generation;
//! 3. (MNIST, Fashion) every attack on each object a node stores for an encrypted training job.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use more_attacks::{
    attack_stored_objects, basis_markdown_table, basis_study, markdown_table,
    objects_markdown_table, run_all, AttackReport, BasisStudyRow, ObjectReport, StoredObject,
};
use more_core::nn::{LossKind, Model, ModelSpec, NoObserver, OptimizerSpec, TrainConfig, Trainer};
use more_core::tensor::{Compact, CompactCiphertext, PlanarTensor};
use more_secret_key::{KeyGeneration, SecretKey, ShadowDistribution};

use super::args::AttackArgs;
use super::{mnist, progress, report};
use crate::data::split::stratified_head;
use crate::data::Dataset;

/// Settings of the stored-objects training run (documented in the report).
const OBJECTS_BATCH: usize = 64;
const OBJECTS_LEARNING_RATE: f64 = 0.05;
const OBJECTS_MOMENTUM: f64 = 0.9;

/// All tensors flattened and concatenated into one compact tensor (one stored object kind).
fn concat_flat(tensors: &[&CompactCiphertext<f32>]) -> anyhow::Result<CompactCiphertext<f32>> {
    let parts = tensors
        .iter()
        .map(|t| t.reshape(&[t.len()]))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PlanarTensor::concatenate(0, &parts)?)
}

/// Trains `mnist_mlp` encrypted (compact f32, fresh key) on the first `samples` digits of `ds` and
/// attacks each stored object. Returns the reports and the run's settings.
fn stored_objects(
    ds: &Dataset,
    samples: usize,
    epochs: usize,
    seed: u64,
) -> anyhow::Result<(Vec<ObjectReport>, serde_json::Value)> {
    let ds = stratified_head(ds, samples);
    let key = SecretKey::generate()?;
    let job = train_encrypted(&ds, &key, epochs, seed)?;
    let reports = attack_stored_objects(&key, &job.objects(&ds, epochs)?, 0)?;
    let settings = serde_json::json!({
        "model": "mnist_mlp (784-128-64-10)",
        "samples": ds.len(),
        "epochs": epochs,
        "batch_size": OBJECTS_BATCH,
        "optimizer": format!("SGD, learning rate {OBJECTS_LEARNING_RATE}, momentum {OBJECTS_MOMENTUM}"),
        "representation": "compact, f32",
        "feature_shadow": "Gaussian N(0, 0.1²)",
        "target_shadow": "simplex (random probability vectors)",
        "key": "SecretKey::generate() (generation 2, OS randomness)",
        "key_generation": key.generation().number(),
        "train_seconds": job.train_seconds,
        "checkpoint_model_tensors": "identical to the trained weights (same ciphertexts)",
    });
    Ok((reports, settings))
}

/// What a node holds after an encrypted training job: its uploads and what training wrote.
struct EncryptedJob {
    features: CompactCiphertext<f32>,
    targets: CompactCiphertext<f32>,
    trainer: Trainer<f32, Compact>,
    losses: Vec<CompactCiphertext<f32>>,
    train_seconds: f64,
}

/// `ds` encrypted under `key` (features: Gaussian shadows, one-hot targets: simplex shadows) and
/// `mnist_mlp` trained on it for `epochs`.
fn train_encrypted(
    ds: &Dataset,
    key: &SecretKey,
    epochs: usize,
    seed: u64,
) -> anyhow::Result<EncryptedJob> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let x = ds.features.clone().into_dyn();
    let y = ds.target_matrix().into_dyn();
    let features = key.encrypt_compact(&x, &ShadowDistribution::Gaussian { std: 0.1 }, &mut rng)?;
    let targets = key.encrypt_compact(&y, &ShadowDistribution::Simplex, &mut rng)?;
    let spec = ModelSpec::preset("mnist_mlp", &[ds.features.ncols()], ds.outputs())?;
    let config = TrainConfig::new(
        epochs,
        OBJECTS_BATCH,
        OptimizerSpec::Sgd {
            learning_rate: OBJECTS_LEARNING_RATE,
            momentum: OBJECTS_MOMENTUM,
        },
        LossKind::CrossEntropy,
        seed,
    );
    let rep = Compact {
        basis: key.compact_basis(),
    };
    let mut trainer = Trainer::new(Model::new(&spec, rep, seed)?, config)?;
    let t = Instant::now();
    let losses = trainer
        .fit(&features, &targets, &mut NoObserver)
        .context("encrypted training")?;
    Ok(EncryptedJob {
        features,
        targets,
        trainer,
        losses,
        train_seconds: t.elapsed().as_secs_f64(),
    })
}

impl EncryptedJob {
    /// Each object the node stores, one kind per object (tensors of a kind concatenated).
    fn objects(&self, ds: &Dataset, epochs: usize) -> anyhow::Result<Vec<StoredObject<f32>>> {
        let features = ds.features.ncols();
        let checkpoint = self.trainer.checkpoint();
        let weights: Vec<&CompactCiphertext<f32>> = self
            .trainer
            .model()
            .parameters()
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        let optimizer: Vec<&CompactCiphertext<f32>> = checkpoint
            .tensors
            .iter()
            .filter(|(n, _)| n.starts_with("optimizer."))
            .map(|(_, t)| t)
            .collect();
        let loss_refs: Vec<&CompactCiphertext<f32>> = self.losses.iter().collect();
        let object = |name: String, ciphertext, features| StoredObject {
            name,
            ciphertext,
            features,
        };
        Ok(vec![
            object(
                format!("features ({} x {features} pixels)", ds.len()),
                self.features.clone(),
                features,
            ),
            object(
                format!(
                    "targets (one-hot {} x {}, simplex shadows)",
                    ds.len(),
                    ds.outputs()
                ),
                self.targets.clone(),
                ds.outputs(),
            ),
            object(
                format!("per-epoch losses ({epochs} scalars)"),
                concat_flat(&loss_refs)?,
                1,
            ),
            object(
                format!("trained weights ({} tensors)", weights.len()),
                concat_flat(&weights)?,
                1,
            ),
            object(
                format!(
                    "checkpoint optimizer state ({} momentum tensors)",
                    optimizer.len()
                ),
                concat_flat(&optimizer)?,
                1,
            ),
        ])
    }
}

fn numeric_csv(path: &Path, samples: usize) -> anyhow::Result<(Vec<f32>, usize, usize)> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .take(samples)
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {}", path.display()))?;
    if rows.is_empty() {
        anyhow::bail!("{}: no data rows", path.display());
    }
    let cols: Vec<usize> = (0..rows[0].len())
        .filter(|&j| {
            rows.iter().all(|r| {
                r.get(j)
                    .and_then(|c| c.trim().parse::<f32>().ok())
                    .is_some_and(f32::is_finite)
            })
        })
        .collect();
    if cols.is_empty() {
        anyhow::bail!("{}: no all-numeric column", path.display());
    }
    let data = rows
        .iter()
        .flat_map(|r| {
            cols.iter()
                .map(move |&j| r[j].trim().parse::<f32>().expect("checked"))
        })
        .collect();
    Ok((data, rows.len(), cols.len()))
}

/// The data the attacks run on: flat row-major `(samples, features)`.
struct AttackData {
    data: Vec<f32>,
    samples: usize,
    features: usize,
    /// The data set, in words.
    name: String,
}

/// What the attack suite found on one data set.
struct Findings {
    /// Every attack under the fresh key, per shadow distribution.
    reports: Vec<AttackReport>,
    /// The fresh key's generation.
    key_generation: u8,
    /// The basis study's rows and the samples it used.
    basis_rows: Vec<BasisStudyRow>,
    keys_n: usize,
    /// The stored objects' reports and the training run's settings.
    objects: Option<(Vec<ObjectReport>, serde_json::Value)>,
}

/// When and where the suite ran.
struct Stamp {
    wall: f64,
    machine: String,
    date: String,
}

/// `more-node attack`.
///
/// # Errors
/// Bad input, attack or file errors.
pub fn run(args: AttackArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if args.samples == 0 {
        anyhow::bail!("--samples must be > 0");
    }
    let (d, labelled) = load(&args)?;
    let key = SecretKey::generate()?;
    let flat: Vec<f64> = d.data.iter().map(|&v| v as f64).collect();
    let shadows = [
        ShadowDistribution::Gaussian { std: 0.1 },
        ShadowDistribution::matched_to(&flat, d.features)?,
    ];
    let shape = [d.samples, d.features];
    let reports =
        run_all(&d.data, &shape, &d.name, &key, &shadows, args.seed).context("attack suite")?;
    println!("{}", markdown_table(&reports));
    let (basis_rows, keys_n) = basis_rows(&args, &d)?;
    if !basis_rows.is_empty() {
        println!("{}", basis_markdown_table(&basis_rows));
    }
    let objects = objects(&args, labelled.as_ref())?;
    if let Some((r, _)) = &objects {
        println!("{}", objects_markdown_table(r));
    }
    let found = Findings {
        reports,
        key_generation: key.generation().number(),
        basis_rows,
        keys_n,
        objects,
    };
    let stamp = Stamp {
        wall: started.elapsed().as_secs_f64(),
        machine: report::machine(),
        date: report::now_utc(),
    };
    if let Some(p) = &args.json {
        let json = found.json(&args, &d, &stamp);
        report::write(p, &serde_json::to_string_pretty(&json)?)?;
    }
    let md = args
        .markdown
        .clone()
        .or_else(|| args.json.as_ref().map(|p| p.with_extension("md")));
    if let Some(p) = md {
        report::write(&p, &found.markdown(&args, &d, &stamp))?;
    }
    Ok(())
}

impl Findings {
    /// The JSON report (`--json`).
    fn json(&self, args: &AttackArgs, d: &AttackData, stamp: &Stamp) -> serde_json::Value {
        serde_json::json!({
            "data": d.name,
            "samples": d.samples,
            "features": d.features,
            "key_generation": self.key_generation,
            "reports": self.reports,
            "basis_study": {
                "keys_per_generation": args.keys,
                "samples": self.keys_n,
                "key_rng": format!("ChaCha20Rng::seed_from_u64({})", args.seed),
                "shadow_rng": format!("ChaCha20Rng::seed_from_u64({})", args.seed.wrapping_add(1)),
                "rows": self.basis_rows,
            },
            "stored_objects": self.objects.as_ref().map(|(r, s)| serde_json::json!({
                "training": s,
                "reports": r,
            })),
            "machine": stamp.machine,
            "date": stamp.date,
            "wall_seconds": stamp.wall,
        })
    }

    /// The Markdown report (`--markdown`, default next to the JSON).
    fn markdown(&self, args: &AttackArgs, d: &AttackData, stamp: &Stamp) -> String {
        let Stamp {
            wall,
            machine,
            date,
        } = stamp;
        let mut text = format!(
            "# Attack suite on {}\n\n* Date: {date}; machine: {machine}; wall time {wall:.1} s.\n* Fresh key (`SecretKey::generate()`, generation {}); victim encrypts in compact f32 form; attacker sees only ciphertexts (and, for the known-plaintext attack, one pair).\n\n{}",
            d.name,
            self.key_generation,
            markdown_table(&self.reports)
        );
        if !self.basis_rows.is_empty() {
            let table = basis_markdown_table(&self.basis_rows);
            text.push_str(&basis_section(args, self.keys_n, &table));
        }
        if let Some((reports, settings)) = &self.objects {
            let table = objects_markdown_table(reports);
            text.push_str(&objects_section(reports, settings, &table));
        }
        text
    }
}

/// The data named by `--data` (MNIST, Fashion-MNIST, generated patients or a CSV file's numeric
/// columns), at most `--samples` samples; for the image sets also the labelled training split
/// (the stored-objects run trains on it).
fn load(args: &AttackArgs) -> anyhow::Result<(AttackData, Option<Dataset>)> {
    Ok(match args.data.as_str() {
        "mnist" | "fashion" => {
            let (split, _) = mnist::load((args.data == "fashion").then_some("fashion"))?;
            let sub = stratified_head(&split.train, args.samples);
            let n = sub.len();
            let d = AttackData {
                data: sub.features.iter().copied().collect::<Vec<f32>>(),
                samples: n,
                features: sub.features.ncols(),
                name: format!("{} ({n} digits/images)", args.data),
            };
            (d, Some(split.train))
        }
        "wbc" => (patients(args)?, None),
        file => {
            let (data, n, f) = numeric_csv(Path::new(file), args.samples)?;
            let name = format!("{file} ({n} rows, {f} numeric columns)");
            let d = AttackData {
                data,
                samples: n,
                features: f,
                name,
            };
            (d, None)
        }
    })
}

/// `--samples` generated patients: each one's model parameters then its outputs.
fn patients(args: &AttackArgs) -> anyhow::Result<AttackData> {
    let bar = progress::bar(args.samples as u64, "simulate patients", args.quiet);
    let inc = |_: usize| bar.inc(1);
    let ds = more_hemodynamics::generate_dataset(args.samples, args.seed, Some(&inc))?;
    bar.finish_and_clear();
    let mut data = Vec::new();
    for r in &ds.records {
        data.extend(
            r.parameters
                .to_values()
                .iter()
                .chain(r.outputs.to_values().iter())
                .map(|&v| v as f32),
        );
    }
    let n = ds.records.len();
    Ok(AttackData {
        features: data.len() / n,
        data,
        samples: n,
        name: format!("wbc ({n} generated patients, inputs and outputs)"),
    })
}

/// The basis-eigenvalue attack over `--keys` seeded keys of each generation on the first
/// `--keys-samples` samples; the rows and the samples used.
fn basis_rows(args: &AttackArgs, d: &AttackData) -> anyhow::Result<(Vec<BasisStudyRow>, usize)> {
    let keys_n = args.keys_samples.min(d.samples);
    let mut rows: Vec<BasisStudyRow> = Vec::new();
    if args.keys == 0 || keys_n == 0 {
        return Ok((rows, keys_n));
    }
    let sub = &d.data[..keys_n * d.features];
    let sub64: Vec<f64> = sub.iter().map(|&v| v as f64).collect();
    let sub_shadows = [
        ShadowDistribution::Gaussian { std: 0.1 },
        ShadowDistribution::matched_to(&sub64, d.features)?,
    ];
    let sub_name = format!("{} (first {keys_n} samples)", args.data);
    for generation in [KeyGeneration::V1SignedBasis, KeyGeneration::V2Symmetric] {
        if !args.quiet {
            eprintln!(
                "basis study: {} keys of generation {} on {keys_n} samples",
                args.keys,
                generation.number()
            );
        }
        let shape = [keys_n, d.features];
        rows.extend(
            basis_study(
                sub,
                &shape,
                &sub_name,
                &sub_shadows,
                generation,
                args.keys,
                args.seed,
            )
            .context("basis study")?,
        );
    }
    Ok((rows, keys_n))
}

/// Every attack on each object a node stores for an encrypted training job (image sets only,
/// unless `--objects-samples` or `--objects-epochs` is 0).
fn objects(
    args: &AttackArgs,
    labelled: Option<&Dataset>,
) -> anyhow::Result<Option<(Vec<ObjectReport>, serde_json::Value)>> {
    let Some(ds) = labelled else { return Ok(None) };
    if args.objects_samples == 0 || args.objects_epochs == 0 {
        return Ok(None);
    }
    if !args.quiet {
        eprintln!(
            "stored objects: encrypted mnist_mlp, {} samples, {} epoch(s)",
            args.objects_samples, args.objects_epochs
        );
    }
    let objects = stored_objects(ds, args.objects_samples, args.objects_epochs, args.seed)
        .context("stored objects")?;
    Ok(Some(objects))
}

/// The Markdown section of the basis study.
fn basis_section(args: &AttackArgs, keys_n: usize, basis_table: &str) -> String {
    format!(
        "\n## Basis-eigenvalue attack over {} keys per generation\n\nKeys from `ChaCha20Rng::seed_from_u64({})` (generation 1: `SecretKey::generate_legacy_for_attack_demo`, generation 2: `SecretKey::generate_with`), shadows from `ChaCha20Rng::seed_from_u64({})`; first {keys_n} samples. An undefined rule (positive: both eigenvalues of one sign; plausibility: equal scores) counts as a failure. The last row per block is the matrix-form ciphertext-only attack on the same ciphertexts.\n\n{basis_table}",
        args.keys,
        args.seed,
        args.seed.wrapping_add(1)
    )
}

/// The Markdown section of the stored objects: the training run's settings, then the table.
fn objects_section(
    reports: &[ObjectReport],
    settings: &serde_json::Value,
    objects_table: &str,
) -> String {
    let items: String = settings
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => format!("* {k}: {s}\n"),
                    v => format!("* {k}: {v}\n"),
                })
                .collect()
        })
        .unwrap_or_default();
    let larger_right = reports.first().is_some_and(|r| r.basis_larger >= 0.99);
    format!(
        "\n## What an attacker recovers from each stored object\n\nEncrypted training run (the node's view of one job):\n\n{items}\nFractions of each object's values within the tolerance of the key holder's decryption; per-object priors from the true values (attacker's best case). All objects share the key's basis, so the basis rules succeed or fail for all of them together: for this key the larger-eigenvalue rule was {} (a coin flip per generation-2 key, see the basis study above).\n\n{objects_table}",
        if larger_right { "right" } else { "wrong" }
    )
}
