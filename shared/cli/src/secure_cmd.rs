//! `more-client secure ...`: secure mode's models, grants and encrypted prediction.

use std::path::{Path, PathBuf};

use more_data_owner::data::{self, Part};
use more_data_owner::rest::{id_of, routes, Node, PublishSecureModel, SetGrants};
use more_data_owner::secure::{self, Prediction, Progress, SecureModel};
use more_data_owner::{CliError, DataError, Result};
use serde_json::Value;

use crate::{bar, SecureCommand, SecurePredictArgs};

pub(crate) fn run(c: SecureCommand) -> Result<()> {
    match c {
        SecureCommand::Models { node, json } => {
            let list = node.connect()?.secure_models()?;
            if json {
                println!("{list:#}");
            } else {
                print_models(&list);
            }
            Ok(())
        }
        SecureCommand::Publish {
            node,
            model,
            name,
            grants,
            samples_per_day,
        } => {
            let body = PublishSecureModel {
                name,
                model: secure::read_model_file(&model)?,
                grants,
                samples_per_day,
            };
            let v = node.connect()?.secure_publish(&body)?;
            println!("id {}", id_of(&v)?);
            println!("bound_bits {}", v["bound_bits"]);
            println!(
                "parameter_set {}",
                v["parameter_set"].as_str().unwrap_or("")
            );
            println!("grants {}", names(&v["grants"]));
            println!("samples_per_day {}", v["samples_per_day"]);
            Ok(())
        }
        SecureCommand::Grant {
            node,
            model_id,
            grants,
            samples_per_day,
        } => {
            let body = SetGrants {
                grants,
                samples_per_day,
            };
            let v = node.connect()?.secure_set_grants(&model_id, &body)?;
            println!("grants {}", names(&v["grants"]));
            println!("samples_per_day {}", v["samples_per_day"]);
            Ok(())
        }
        SecureCommand::Delete { node, model_id } => {
            node.connect()?.delete(&routes::SECURE_DELETE, &model_id)?;
            eprintln!("deleted secure model {model_id}");
            Ok(())
        }
        SecureCommand::Predict(a) => predict(a),
    }
}

fn names(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn print_models(list: &Value) {
    println!("id\tname\towner\tinput_shape\toutputs\tbound_bits\tgrants");
    for m in list.as_array().into_iter().flatten() {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            m["id"].as_str().unwrap_or(""),
            m["name"].as_str().unwrap_or(""),
            m["owner_tenant"].as_str().unwrap_or(""),
            m["input_shape"],
            m["outputs"],
            m["bound_bits"],
            names(&m["grants"])
        );
    }
}

/// Float samples (`samples × input_len`) and, where known, their labels.
struct Samples {
    x: Vec<f32>,
    labels: Option<Vec<usize>>,
    what: String,
}

fn mnist_dir(given: Option<&Path>) -> PathBuf {
    if let Some(d) = given {
        return d.to_path_buf();
    }
    let here = PathBuf::from(data::BUNDLED_MNIST_DIR);
    if here.exists() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(data::BUNDLED_MNIST_DIR)
}

fn read_idx(path: &Path) -> Result<data::Idx> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::Io(format!("cannot read {}: {e}", path.display())))?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    Ok(data::parse_idx(&bytes, &name)?)
}

fn idx_samples(images: &Path, labels: &Path) -> Result<Samples> {
    let im = read_idx(images)?;
    let lb = read_idx(labels)?;
    if im.dims.len() != 3 || lb.dims.len() != 1 || im.dims[0] != lb.dims[0] {
        return Err(DataError(format!(
            "{} ({:?}) and {} ({:?}) are not an image file and its label file",
            images.display(),
            im.dims,
            labels.display(),
            lb.dims
        ))
        .into());
    }
    Ok(Samples {
        x: im
            .data
            .iter()
            .map(|&v| (f64::from(v) / 255.0) as f32)
            .collect(),
        labels: Some(lb.data.iter().map(|&l| usize::from(l)).collect()),
        what: images.display().to_string(),
    })
}

fn part_samples(p: Part) -> Samples {
    Samples {
        x: p.x,
        labels: p.labels,
        what: p.name,
    }
}

/// A CSV's rows: every column but `target` is an input value; the target names a class (one
/// of `classes`) or is a class index.
fn csv_samples(path: &Path, target: Option<&str>, classes: &[String]) -> Result<Samples> {
    let table = data::parse_csv(&data::read_text_file(path)?)?;
    let t =
        match target {
            Some(name) => {
                Some(table.header.iter().position(|h| h == name).ok_or_else(|| {
                    DataError(format!("{} has no column {name:?}", path.display()))
                })?)
            }
            None => None,
        };
    let mut x = Vec::new();
    let mut labels = Vec::new();
    for (i, row) in table.rows.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            if Some(j) == t {
                continue;
            }
            let value = data::number(v).ok_or_else(|| {
                DataError(format!(
                    "{} row {}: column {:?} is not a number ({v:?})",
                    path.display(),
                    i + 2,
                    table.header[j]
                ))
            })?;
            x.push(value as f32);
        }
        if let Some(t) = t {
            let v = row[t].trim();
            let class = classes
                .iter()
                .position(|c| c == v)
                .or_else(|| v.parse::<usize>().ok())
                .ok_or_else(|| {
                    DataError(format!(
                        "{} row {}: label {v:?} is none of the model's classes {classes:?}",
                        path.display(),
                        i + 2
                    ))
                })?;
            labels.push(class);
        }
    }
    Ok(Samples {
        x,
        labels: t.map(|_| labels),
        what: path.display().to_string(),
    })
}

fn load_samples(a: &SecurePredictArgs, model: &SecureModel) -> Result<Samples> {
    let mut s = if let (Some(images), Some(labels)) = (&a.images, &a.labels) {
        idx_samples(images, labels)?
    } else if a.mnist_sample {
        part_samples(data::load_bundled_mnist_test(&mnist_dir(
            a.mnist_dir.as_deref(),
        ))?)
    } else if let Some(csv) = &a.csv {
        csv_samples(csv, a.target.as_deref(), &model.model.class_names)?
    } else {
        return Err(DataError("give --images and --labels, --mnist-sample or --csv".into()).into());
    };
    let n = model.model.input_len();
    if n == 0 || s.x.is_empty() || !s.x.len().is_multiple_of(n) {
        return Err(DataError(format!(
            "{}: {} values are not whole samples of the model's input shape {:?}",
            s.what,
            s.x.len(),
            model.model.input_shape
        ))
        .into());
    }
    if let Some(max) = a.max_samples {
        let rows = (s.x.len() / n).min(max.max(1));
        s.x.truncate(rows * n);
        if let Some(l) = &mut s.labels {
            l.truncate(rows);
        }
    }
    Ok(s)
}

fn predict(a: SecurePredictArgs) -> Result<()> {
    let node: Node = a.node.connect()?;
    let model = secure::fetch_model(&node, &a.model_id)?;
    let samples = load_samples(&a, &model)?;
    let q = secure::quantize(&model.model, &samples.x)?;
    let rows = q.len() / model.model.input_len();
    let pb = bar(
        rows as u64,
        "secure predict {bar:40} {pos}/{len} samples {msg}",
    );
    pb.set_message("making a key, uploading the evaluation key");
    let p = secure::predict(&node, &model, &q, &mut |step| match step {
        Progress::KeyUploaded { bytes } => pb.set_message(format!(
            "evaluation key sent ({:.2} MB)",
            bytes as f64 / 1e6
        )),
        Progress::Encrypting {
            batch,
            batches,
            done,
            ciphertexts,
        } => pb.set_message(format!(
            "encrypting batch {}/{batches}: {done}/{ciphertexts} ciphertexts",
            batch + 1
        )),
        Progress::Sending { sent, total } => pb.set_message(format!(
            "sending {:.0}/{:.0} MB, then the node evaluates",
            sent as f64 / 1e6,
            total as f64 / 1e6
        )),
        Progress::Decrypted { done, .. } => pb.set_position(done as u64),
    })?;
    pb.finish_and_clear();
    write_predictions(&p, &model, a.out.as_deref())?;
    report(&p, &samples, a.out.is_some());
    Ok(())
}

fn write_predictions(p: &Prediction, model: &SecureModel, out: Option<&Path>) -> Result<()> {
    let sink: Box<dyn std::io::Write> = match out {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .map_err(|e| CliError::Io(format!("cannot write {}: {e}", path.display())))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let io = |e: &dyn std::fmt::Display| CliError::Io(format!("writing the predictions: {e}"));
    let mut w = csv::Writer::from_writer(sink);
    let k = p.outputs;
    let mut header = vec!["class".to_string()];
    header.extend((0..k).map(|j| format!("output_{j}")));
    header.extend((0..k).map(|j| format!("logit_{j}")));
    w.write_record(&header).map_err(|e| io(&e))?;
    let names = &model.model.class_names;
    let scale = model.model.output_scale;
    for (row, best) in p.values.chunks(k.max(1)).zip(p.argmax()) {
        let mut rec = vec![names.get(best).cloned().unwrap_or_else(|| best.to_string())];
        rec.extend(row.iter().map(i64::to_string));
        rec.extend(row.iter().map(|&v| (v as f64 * scale).to_string()));
        w.write_record(&rec).map_err(|e| io(&e))?;
    }
    w.flush().map_err(|e| io(&e))?;
    if let Some(path) = out {
        eprintln!("wrote {} predictions to {}", p.samples, path.display());
    }
    Ok(())
}

/// `name value` lines: on stdout when the predictions went to a file, else on stderr.
fn report(p: &Prediction, samples: &Samples, to_stdout: bool) {
    let mut lines = vec![
        format!("samples {}", p.samples),
        format!("noise_budget_bits {}", p.noise_budget_bits),
        format!("evaluation_key_bytes {}", p.evaluation_key_bytes),
        format!(
            "upload_bytes_per_sample {:.0}",
            p.upload_bytes as f64 / p.samples as f64
        ),
        format!(
            "download_bytes_per_sample {:.0}",
            p.download_bytes as f64 / p.samples as f64
        ),
        format!("encrypt_seconds {:.3}", p.encrypt_seconds),
        format!("node_seconds {:.3}", p.node_seconds),
        format!("decrypt_seconds {:.3}", p.decrypt_seconds),
    ];
    if let Some(labels) = &samples.labels {
        let right = p
            .argmax()
            .iter()
            .zip(labels)
            .filter(|(a, b)| a == b)
            .count();
        lines.insert(
            1,
            format!("accuracy {:.4}", right as f64 / p.samples as f64),
        );
        lines.insert(2, format!("correct {right}/{}", p.samples));
    }
    for l in lines {
        if to_stdout {
            println!("{l}");
        } else {
            eprintln!("{l}");
        }
    }
}
