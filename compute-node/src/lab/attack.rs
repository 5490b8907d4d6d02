//! `more-node attack`: the attack suite of more-core on real data, both shadow distributions
//! (Gaussian N(0, 0.1²) and moment-matched to the data), fresh key.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;

use more_attacks::{markdown_table, run_all};
use more_client::{SecretKey, ShadowDistribution};

use super::args::AttackArgs;
use super::{mnist, progress, report};
use crate::data::split::stratified_head;

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
    let (data, n, features, name) = match args.data.as_str() {
        "mnist" | "fashion" => {
            let (split, _) = mnist::load((args.data == "fashion").then_some("fashion"))?;
            let sub = stratified_head(&split.train, args.samples);
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
    let wall = started.elapsed().as_secs_f64();
    let machine = report::machine();
    let date = report::now_utc();
    if let Some(p) = &args.json {
        let json = serde_json::json!({
            "data": name,
            "samples": n,
            "features": features,
            "reports": reports,
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
        report::write(
            &p,
            &format!(
                "# Attack suite on {name}\n\n* Date: {date}; machine: {machine}; wall time {wall:.1} s.\n* Fresh key (`SecretKey::generate()`); victim encrypts in compact f32 form; attacker sees only ciphertexts (and, for the known-plaintext attack, one pair).\n\n{table}"
            ),
        )?;
    }
    Ok(())
}
