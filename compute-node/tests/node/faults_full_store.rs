//! A store on a 20 MiB tmpfs (issue #27, finding 12): a job of 60 epochs whose checkpoints
//! together need about twice that completes, because each superseded checkpoint is deleted as
//! soon as the job's row names the next one (they used to pile up until the GC grace and fill
//! the store at epoch ~27, failing the job), with the weights of a run on an unbounded store; an
//! upload that does not fit answers 507 naming the store, and one to the store remounted
//! read-only 503, not a 500.
//!
//! Needs `mount -t tmpfs` (root): skipped with a message otherwise, a failure under
//! `MORE_REQUIRE_SERVICES=1`.

use crate::faults_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::faults_common::{assert_like, finished, names_only, queue_job, reference, JobShape};
use crate::server_common::process::{NodeConfig, NodeProcess};
use more_core::tensor::{Compact, PlanarTensor};
use more_core::wire::{self, DecodeLimits};
use serde_json::json;

/// Checkpoints of about 0.5 MB (66 k parameters and their momentum as compact ciphertexts):
/// 60 of them would need about 32 MB.
const SHAPE: JobShape = JobShape {
    hidden: 6000,
    epochs: 60,
};
const TMPFS_MIB: u64 = 20;

/// A tmpfs mounted on a temporary directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_MIB}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                let msg = format!("mount -t tmpfs is not permitted here ({})", why.trim());
                if std::env::var("MORE_REQUIRE_SERVICES").as_deref() == Ok("1") {
                    panic!("MORE_REQUIRE_SERVICES=1 but {msg}");
                }
                eprintln!("skipped: {msg}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `mount -o remount,{mode}` (`ro` or `rw`).
    fn remount(&self, mode: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(self.dir.path())
            .status()
            .expect("mount");
        assert!(status.success(), "remount {mode}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Bytes of the files under `dir`, recursively.
fn used(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

/// A valid encrypted features tensor of more than `bytes` bytes (the test data repeated).
fn features_larger_than(bytes: usize) -> Vec<u8> {
    let (x, _) = faults_common::encrypted();
    let block: PlanarTensor<f32, Compact> = wire::decode(&x, &DecodeLimits::default())
        .expect("decode")
        .into_typed()
        .expect("compact");
    let mut copies = bytes / x.len() + 1;
    loop {
        let blocks = vec![block.clone(); copies];
        let all = PlanarTensor::concatenate(0, &blocks).expect("concatenate");
        let encoded = wire::encode(&all);
        if encoded.len() > bytes {
            return encoded;
        }
        copies = copies * bytes / encoded.len() + 1;
    }
}

#[test]
fn a_long_job_fits_a_small_store_and_a_full_store_answers_507() {
    let Some(tmpfs) = Tmpfs::mount() else {
        return;
    };
    let expected = reference(SHAPE);
    let data = tempfile::tempdir().expect("tempdir");
    let store = format!("file://{}", tmpfs.path().display());
    let node = NodeProcess::start(&NodeConfig::new(data.path()).arg(&["--store", &store]));
    let (model, job) = queue_job(&node, SHAPE);
    let done = finished(&node, &job, Duration::from_secs(180));
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["epoch"], SHAPE.epochs);
    let in_store = used(tmpfs.path());
    let checkpoint = done["checkpoint_sha256"].as_str().expect("checkpoint");
    let checkpoint = std::fs::metadata(tmpfs.path().join("blobs").join(checkpoint))
        .expect("the final checkpoint is kept")
        .len();
    eprintln!(
        "store after {} epochs: {in_store} bytes; a checkpoint: {checkpoint} bytes",
        SHAPE.epochs
    );
    assert!(
        checkpoint * SHAPE.epochs as u64 > TMPFS_MIB << 20,
        "the job's checkpoints must not fit the store together"
    );
    assert!(
        in_store < 4 * checkpoint,
        "superseded checkpoints left: {in_store} bytes"
    );
    assert_like(&node, &model, &expected);
    faults_common::trains_a_new_job(&node, Duration::from_secs(60));

    // An upload larger than the space left: 507 naming the store, no path.
    let (s, ds) = node.post_json(
        "/v1/datasets",
        &json!({"name": "big", "task": "classification", "num_classes": 2}),
    );
    assert_eq!(s, 201, "{ds}");
    let id = ds["id"].as_str().expect("id");
    let big = features_larger_than((TMPFS_MIB as usize + 4) << 20);
    let (status, body) = node.put_bytes(&format!("/v1/datasets/{id}/features"), &big);
    eprintln!("upload of {} bytes: {status} {body}", big.len());
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["error"], "insufficient_storage", "{body}");
    names_only(
        &body,
        "store",
        &[&tmpfs.path().display().to_string(), "/tmp"],
    );
    node.healthy();
    let (s, v) = node.get_json(&format!("/v1/datasets/{id}"));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "created", "{v}");

    // The same store read-only (EROFS): 503 naming the store.
    tmpfs.remount("ro");
    let (x, _) = faults_common::encrypted();
    let (status, body) = node.put_bytes(&format!("/v1/datasets/{id}/features"), &x);
    tmpfs.remount("rw");
    eprintln!("upload to a read-only store: {status} {body}");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "unavailable", "{body}");
    names_only(
        &body,
        "read-only",
        &[&tmpfs.path().display().to_string(), "/tmp"],
    );
    let (status, body) = node.put_bytes(&format!("/v1/datasets/{id}/features"), &x);
    assert_eq!(status, 200, "writable again: {body}");
}
