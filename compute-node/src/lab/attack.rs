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
    objects_markdown_table, run_all, BasisStudyRow, ObjectReport, StoredObject,
};
use more_secret_key::{KeyGeneration, SecretKey, ShadowDistribution};
use more_core::nn::{LossKind, Model, ModelSpec, NoObserver, OptimizerSpec, TrainConfig, Trainer};
use more_core::tensor::{Compact, CompactCiphertext, PlanarTensor};

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
    let features = ds.features.ncols();
    let key = SecretKey::generate()?;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let x = ds.features.clone().into_dyn();
    let y = ds.target_matrix().into_dyn();
    let ex = key.encrypt_compact(&x, &ShadowDistribution::Gaussian { std: 0.1 }, &mut rng)?;
    let ey = key.encrypt_compact(&y, &ShadowDistribution::Simplex, &mut rng)?;
    let spec = ModelSpec::preset("mnist_mlp", &[features], ds.outputs())?;
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
        .fit(&ex, &ey, &mut NoObserver)
        .context("encrypted training")?;
    let train_seconds = t.elapsed().as_secs_f64();
    let checkpoint = trainer.checkpoint();
    let weights: Vec<&CompactCiphertext<f32>> = trainer
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
    let loss_refs: Vec<&CompactCiphertext<f32>> = losses.iter().collect();
    let objects = vec![
        StoredObject {
            name: format!("features ({} x {features} pixels)", ds.len()),
            ciphertext: ex.clone(),
            features,
        },
        StoredObject {
            name: format!(
                "targets (one-hot {} x {}, simplex shadows)",
                ds.len(),
                ds.outputs()
            ),
            ciphertext: ey.clone(),
            features: ds.outputs(),
        },
        StoredObject {
            name: format!("per-epoch losses ({epochs} scalars)"),
            ciphertext: concat_flat(&loss_refs)?,
            features: 1,
        },
        StoredObject {
            name: format!("trained weights ({} tensors)", weights.len()),
            ciphertext: concat_flat(&weights)?,
            features: 1,
        },
        StoredObject {
            name: format!(
                "checkpoint optimizer state ({} momentum tensors)",
                optimizer.len()
            ),
            ciphertext: concat_flat(&optimizer)?,
            features: 1,
        },
    ];
    let reports = attack_stored_objects(&key, &objects, 0)?;
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
        "train_seconds": train_seconds,
        "checkpoint_model_tensors": "identical to the trained weights (same ciphertexts)",
    });
    Ok((reports, settings))
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

/// `more-node attack`.
///
/// # Errors
/// Bad input, attack or file errors.
pub fn run(args: AttackArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if args.samples == 0 {
        anyhow::bail!("--samples must be > 0");
    }
    let mut labelled: Option<Dataset> = None;
    let (data, n, features, name) = match args.data.as_str() {
        "mnist" | "fashion" => {
            let (split, _) = mnist::load((args.data == "fashion").then_some("fashion"))?;
            let sub = stratified_head(&split.train, args.samples);
            labelled = Some(split.train);
            let n = sub.len();
            (
                sub.features.iter().copied().collect::<Vec<f32>>(),
                n,
                sub.features.ncols(),
                format!("{} ({n} digits/images)", args.data),
            )
        }
        "wbc" => {
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
            let f = data.len() / n;
            (
                data,
                n,
                f,
                format!("wbc ({n} generated patients, inputs and outputs)"),
            )
        }
        file => {
            let (data, n, f) = numeric_csv(Path::new(file), args.samples)?;
            (
                data,
                n,
                f,
                format!("{file} ({n} rows, {f} numeric columns)"),
            )
        }
    };
    let key = SecretKey::generate()?;
    let flat: Vec<f64> = data.iter().map(|&v| v as f64).collect();
    let shadows = [
        ShadowDistribution::Gaussian { std: 0.1 },
        ShadowDistribution::matched_to(&flat, features)?,
    ];
    let reports =
        run_all(&data, &[n, features], &name, &key, &shadows, args.seed).context("attack suite")?;
    let table = markdown_table(&reports);
    println!("{table}");

    // The basis-eigenvalue attack over many seeded keys of each generation.
    let keys_n = args.keys_samples.min(n);
    let mut basis_rows: Vec<BasisStudyRow> = Vec::new();
    if args.keys > 0 && keys_n > 0 {
        let sub = &data[..keys_n * features];
        let sub64: Vec<f64> = sub.iter().map(|&v| v as f64).collect();
        let sub_shadows = [
            ShadowDistribution::Gaussian { std: 0.1 },
            ShadowDistribution::matched_to(&sub64, features)?,
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
            basis_rows.extend(
                basis_study(
                    sub,
                    &[keys_n, features],
                    &sub_name,
                    &sub_shadows,
                    generation,
                    args.keys,
                    args.seed,
                )
                .context("basis study")?,
            );
        }
    }
    let basis_table = basis_markdown_table(&basis_rows);
    if !basis_rows.is_empty() {
        println!("{basis_table}");
    }

    // Every attack on each object a node stores for an encrypted training job.
    let objects = match &labelled {
        Some(ds) if args.objects_samples > 0 && args.objects_epochs > 0 => {
            if !args.quiet {
                eprintln!(
                    "stored objects: encrypted mnist_mlp, {} samples, {} epoch(s)",
                    args.objects_samples, args.objects_epochs
                );
            }
            Some(
                stored_objects(ds, args.objects_samples, args.objects_epochs, args.seed)
                    .context("stored objects")?,
            )
        }
        _ => None,
    };
    let objects_table = objects
        .as_ref()
        .map(|(r, _)| objects_markdown_table(r))
        .unwrap_or_default();
    if objects.is_some() {
        println!("{objects_table}");
    }

    let wall = started.elapsed().as_secs_f64();
    let machine = report::machine();
    let date = report::now_utc();
    if let Some(p) = &args.json {
        let json = serde_json::json!({
            "data": name,
            "samples": n,
            "features": features,
            "key_generation": key.generation().number(),
            "reports": reports,
            "basis_study": {
                "keys_per_generation": args.keys,
                "samples": keys_n,
                "key_rng": format!("ChaCha20Rng::seed_from_u64({})", args.seed),
                "shadow_rng": format!("ChaCha20Rng::seed_from_u64({})", args.seed.wrapping_add(1)),
                "rows": basis_rows,
            },
            "stored_objects": objects.as_ref().map(|(r, s)| serde_json::json!({
                "training": s,
                "reports": r,
            })),
            "machine": machine,
            "date": date,
            "wall_seconds": wall,
        });
        report::write(p, &serde_json::to_string_pretty(&json)?)?;
    }
    let md = args
        .markdown
        .clone()
        .or_else(|| args.json.as_ref().map(|p| p.with_extension("md")));
    if let Some(p) = md {
        let mut text = format!(
            "# Attack suite on {name}\n\n* Date: {date}; machine: {machine}; wall time {wall:.1} s.\n* Fresh key (`SecretKey::generate()`, generation {}); victim encrypts in compact f32 form; attacker sees only ciphertexts (and, for the known-plaintext attack, one pair).\n\n{table}",
            key.generation().number()
        );
        if !basis_rows.is_empty() {
            text.push_str(&format!(
                "\n## Basis-eigenvalue attack over {} keys per generation\n\nKeys from `ChaCha20Rng::seed_from_u64({})` (generation 1: `SecretKey::generate_legacy_for_attack_demo`, generation 2: `SecretKey::generate_with`), shadows from `ChaCha20Rng::seed_from_u64({})`; first {keys_n} samples. An undefined rule (positive: both eigenvalues of one sign; plausibility: equal scores) counts as a failure. The last row per block is the matrix-form ciphertext-only attack on the same ciphertexts.\n\n{basis_table}",
                args.keys,
                args.seed,
                args.seed.wrapping_add(1)
            ));
        }
        if let Some((reports, settings)) = &objects {
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
            text.push_str(&format!(
                "\n## What an attacker recovers from each stored object\n\nEncrypted training run (the node's view of one job):\n\n{items}\nFractions of each object's values within the tolerance of the key holder's decryption; per-object priors from the true values (attacker's best case). All objects share the key's basis, so the basis rules succeed or fail for all of them together: for this key the larger-eigenvalue rule was {} (a coin flip per generation-2 key, see the basis study above).\n\n{objects_table}",
                if larger_right { "right" } else { "wrong" }
            ));
        }
        report::write(&p, &text)?;
    }
    Ok(())
}
