//! `upload`: the training part encrypted and appended shard by shard
//! (`more_data_owner::rest::shards`), with a progress bar per shard and resume. The dataset id is
//! kept in a small resume file next to the input (`<input>.more-upload.json`) from the moment the
//! dataset exists until the last shard is confirmed; a later `upload` of the same input to the
//! same node continues from the shards the node confirmed (`--resume ID` names the dataset
//! explicitly). The file holds ids and sizes only, no data.

use std::path::{Path, PathBuf};

use indicatif::HumanBytes;
use more_data_owner::crypto;
use more_data_owner::data::Part;
use more_data_owner::rest::flows;
use more_data_owner::rest::shards::{self, ShardOptions, ShardPlan, Start, TrainingRows};
use more_data_owner::rest::Node;
use more_data_owner::{CliError, Result};
use serde::{Deserialize, Serialize};

use crate::{bar, load_key, read_data, write_test_csv, ShadowArg, UploadArgs};

/// What the resume file says: which dataset on which node, and the upload's shape.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct ResumeFile {
    node: String,
    dataset: String,
    rows: usize,
    shard_bytes: u64,
}

/// The resume file of this upload's input: next to the CSV, the first IDX file, the image folder
/// or the labels file (DICOMweb).
fn resume_path(a: &UploadArgs) -> Option<PathBuf> {
    let input = a
        .data
        .csv
        .as_ref()
        .or(a.data.idx.first())
        .or(a.data.images.as_ref())
        .or(a.data.labels.as_ref())?;
    let mut name = input.as_os_str().to_owned();
    name.push(".more-upload.json");
    Some(PathBuf::from(name))
}

/// Where this upload starts: `--resume`, a matching resume file, or a new dataset.
fn start_of(a: &UploadArgs, node: &Node, part: &Part, file: Option<&Path>) -> Start {
    if let Some(id) = &a.resume {
        return Start::Resume(id.clone());
    }
    let saved = file
        .and_then(|f| std::fs::read(f).ok())
        .and_then(|b| serde_json::from_slice::<ResumeFile>(&b).ok());
    match saved {
        Some(s)
            if s.node == node.url() && s.rows == part.rows() && s.shard_bytes == a.shard_bytes =>
        {
            eprintln!(
                "resuming the upload of dataset {} (delete {} to start over)",
                s.dataset,
                show(file)
            );
            Start::Resume(s.dataset)
        }
        _ => {
            let name = a.name.clone().unwrap_or_else(|| part.name.clone());
            Start::Create(flows::dataset_meta(&name, part.task, part.target_dim))
        }
    }
}

fn show(file: Option<&Path>) -> String {
    file.map_or_else(String::new, |f| f.display().to_string())
}

/// `upload`: reads, encrypts and appends the training part shard by shard; prints the id.
pub(crate) fn upload(a: UploadArgs) -> Result<()> {
    let split = read_data(&a)?;
    let train = &split.train;
    let key = load_key(&a.key)?;
    let node = a.node.connect()?;
    node.health()?;
    eprintln!(
        "{}: {} training and {} test samples, features {:?}, {} ({} target values per sample)",
        train.name,
        train.rows(),
        split.test.rows(),
        train.feature_shape,
        train.task.as_str(),
        train.target_dim
    );
    let file = resume_path(&a);
    let start = start_of(&a, &node, train, file.as_deref());
    let options = ShardOptions {
        shard_bytes: a.shard_bytes,
        feature_shadow: crypto::feature_shadow(train, matches!(a.shadow, ShadowArg::Matched)),
    };
    let plan = ShardPlan::new(train.rows(), train.width(), train.target_dim, a.shard_bytes);
    let pb = bar(
        plan.shards() as u64,
        "shards {bar:40} {pos}/{len} {msg} {elapsed}",
    );
    let mut keep = |id: &str| {
        keep_resume_file(file.as_deref(), &node, id, train.rows(), &a);
        Ok(())
    };
    let done = shards::upload_sharded(
        &node,
        &key,
        &TrainingRows::of(train),
        start,
        &options,
        &mut keep,
        &mut |p| {
            pb.set_position(p.index as u64 + 1);
            pb.set_message(format!("{} sent", HumanBytes(p.sent)));
            Ok(())
        },
    )?;
    pb.finish_and_clear();
    if let Some(f) = &file {
        let _ = std::fs::remove_file(f);
    }
    if let Some(path) = &a.test_out {
        write_test_csv(&split.test, path)?;
        eprintln!("wrote the test part to {}", path.display());
    }
    eprintln!(
        "uploaded encrypted dataset {} to {}: {} shards, {} sent now ({} bytes), {} confirmed before",
        done.dataset_id,
        node.url(),
        done.shards,
        done.sent,
        done.bytes,
        done.skipped
    );
    println!("{}", done.dataset_id);
    Ok(())
}

/// Writes the resume file once the dataset id is known and says how to resume.
fn keep_resume_file(file: Option<&Path>, node: &Node, id: &str, rows: usize, a: &UploadArgs) {
    eprintln!("dataset {id}: an interrupted upload resumes with --resume {id}");
    let Some(f) = file else { return };
    let saved = ResumeFile {
        node: node.url().to_string(),
        dataset: id.to_string(),
        rows,
        shard_bytes: a.shard_bytes,
    };
    let text = serde_json::to_vec_pretty(&saved).unwrap_or_default();
    if let Err(e) = std::fs::write(f, text) {
        let e = CliError::Io(format!("cannot write the resume file {}: {e}", f.display()));
        eprintln!("warning: {e}");
    }
}
