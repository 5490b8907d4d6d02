//! The node's files are its user's only (issue #27, finding 6): under the common umask 022 a
//! `more-node serve` makes its data dir `0700` and the SQLite database, its WAL and shared-memory
//! files and every blob `0600`; a data dir left open by an older node is tightened at start-up
//! (nothing outside it is touched, symbolic links are not followed); a TLS private key that every
//! local user may read is refused unless `--allow-readable-tls-key`.
//!
//! The node runs as a child process (its `main` sets the umask), started from this test process
//! with umask 022.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::server_common::process::{free_port, NodeConfig, NodeProcess};
use crate::server_common::upload_dataset;
use more_core::wire;
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The usual umask of a login shell or a service manager: files 0644, directories 0755.
fn umask_022() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
}

/// The permission bits of `path` itself (a symbolic link is not followed).
fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Every file and directory under `dir` that the node made (not the test's node logs), with its
/// mode.
fn node_files(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("node-") && name.ends_with(".log") {
            continue;
        }
        out.push((path.clone(), mode(&path)));
        if entry.file_type().expect("type").is_dir() {
            out.extend(node_files(&path));
        }
    }
    out
}

/// A small encrypted classification dataset: (features, targets) as wire bytes.
fn encrypted() -> (Vec<u8>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let key = SecretKey::from_seed(5);
    let x = Array2::from_shape_fn((8, 4), |(i, j)| (i as f32 - j as f32) / 8.0);
    let y = Array2::from_shape_fn((8, 2), |(i, j)| f32::from(u8::from(i % 2 == j)));
    let mut enc = |a: Array2<f32>| {
        wire::encode(
            &key.encrypt_compact(&a.into_dyn(), &ShadowDistribution::default(), &mut rng)
                .expect("encrypt"),
        )
    };
    (enc(x), enc(y))
}

fn assert_private(files: &[(PathBuf, u32)]) {
    let open: Vec<_> = files
        .iter()
        .filter(|(_, m)| m & 0o077 != 0)
        .map(|(p, m)| format!("{} {m:o}", p.display()))
        .collect();
    assert!(open.is_empty(), "open to other users: {open:#?}");
}

#[test]
fn a_new_data_dir_its_database_and_blobs_are_private_under_umask_022() {
    umask_022();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The harness makes the data dir (0755 under this umask) for the node's log: the node must
    // tighten a data dir that exists as well as make one.
    let node = NodeProcess::start(&NodeConfig::new(&data));
    assert_eq!(mode(&data), 0o700, "the data dir");
    assert_eq!(mode(&data.join("more.db")), 0o600, "more.db");
    for companion in ["more.db-wal", "more.db-shm"] {
        let path = data.join(companion);
        assert!(path.exists(), "{companion} (SQLite in WAL mode)");
        assert_eq!(mode(&path), 0o600, "{companion}");
    }
    let (x, y) = encrypted();
    upload_dataset(&node, "classification", Some(2), &x, &y);
    let files = node_files(&data);
    let blobs: Vec<_> = files
        .iter()
        .filter(|(p, _)| p.parent() == Some(&data.join("blobs")))
        .collect();
    assert_eq!(blobs.len(), 2, "features and targets: {files:#?}");
    assert!(blobs.iter().all(|(_, m)| *m == 0o600), "{blobs:?}");
    assert_eq!(mode(&data.join("blobs")), 0o700);
    assert_private(&files);
    node.terminate();
}

#[test]
fn an_open_data_dir_is_tightened_at_start_up_and_nothing_outside_it_is_touched() {
    umask_022();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // What an older node left under umask 022: the database, a blob, the directories.
    let first = NodeProcess::start(&NodeConfig::new(&data));
    let (x, y) = encrypted();
    upload_dataset(&first, "classification", Some(2), &x, &y);
    first.terminate();
    let outside = dir.path().join("outside.txt");
    fs::write(&outside, "not the node's").unwrap();
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&outside, data.join("blobs").join("a-link")).unwrap();
    for (path, _) in node_files(&data) {
        if !fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink()
        {
            let open = if path.is_dir() { 0o755 } else { 0o644 };
            fs::set_permissions(&path, fs::Permissions::from_mode(open)).unwrap();
        }
    }
    fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).unwrap();

    let node = NodeProcess::start(&NodeConfig::new(&data));
    assert_eq!(mode(&data), 0o700, "the data dir");
    let files: Vec<_> = node_files(&data)
        .into_iter()
        .filter(|(p, _)| !p.ends_with("a-link"))
        .collect();
    assert_private(&files);
    assert_eq!(
        mode(&outside),
        0o644,
        "a file outside the data dir is not changed"
    );
    assert!(
        node.log_text().contains("made them private to this user"),
        "the tightening is logged:\n{}",
        node.log_text()
    );
    // The node still reads what it tightened.
    let (s, list) = node.get_json("/v1/datasets");
    assert_eq!(s, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    node.terminate();
}

/// A self-signed certificate for 127.0.0.1 (openssl): (cert.pem, key.pem).
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl (Debian package openssl) is needed by this test");
    assert!(status.success());
    (cert, key)
}

/// `more-node serve` with HTTPS on a free port: (child, port).
fn serve_tls(data: &Path, cert: &Path, key: &Path, extra: &[&str]) -> (std::process::Child, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_more-node"))
        .arg("serve")
        .arg("--data-dir")
        .arg(data)
        .args(["--bind", &format!("127.0.0.1:{port}"), "--insecure-no-auth"])
        .arg("--web-dir")
        .arg(data.join("no-web"))
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn more-node");
    (child, port)
}

/// Whether `/v1/health` answers 200 over HTTPS on `port` (curl, the certificate not checked).
fn https_health(port: u16) -> bool {
    Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "2",
        ])
        .arg(format!("https://127.0.0.1:{port}/v1/health"))
        .output()
        .expect("curl (Debian package curl) is needed by this test")
        .stdout
        == b"200"
}

/// Waits (30 s at most) until `child` exits (`Err(stderr)`: it refused to start) or answers
/// `/v1/health` on `port` (`Ok`; then it is killed).
fn outcome(mut child: std::process::Child, port: u16) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut err)
                .expect("read stderr");
            return Err(err);
        }
        if https_health(port) {
            child.kill().ok();
            let _ = child.wait();
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().ok();
            panic!("the node neither started nor exited in 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_tls_key_every_local_user_may_read_is_refused() {
    umask_022();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();

    let data = dir.path().join("data");
    let (child, port) = serve_tls(&data, &cert, &key, &[]);
    let stderr = outcome(child, port).expect_err("the node started with a world-readable TLS key");
    assert!(
        stderr.contains("every local user may access this private key")
            && stderr.contains("chmod 600")
            && stderr.contains("--allow-readable-tls-key"),
        "{stderr}"
    );

    // The escape hatch: it starts (with a warning).
    let (child, port) = serve_tls(&data, &cert, &key, &["--allow-readable-tls-key"]);
    if let Err(stderr) = outcome(child, port) {
        panic!("--allow-readable-tls-key: {stderr}");
    }

    // A key readable by its owner only starts without the flag.
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let (child, port) = serve_tls(&data, &cert, &key, &[]);
    if let Err(stderr) = outcome(child, port) {
        panic!("a 0600 key: {stderr}");
    }
}
