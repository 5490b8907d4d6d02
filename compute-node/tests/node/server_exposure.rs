//! How far the node is exposed: anonymous access (`--insecure-no-auth`) only on loopback, a
//! token for every data route otherwise, and `--tls-cert`/`--tls-key` serve HTTPS (checked with curl against a
//! certificate made by openssl for this test).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::server_common::process::free_port;

fn serve(data: &Path, bind: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_more-node"));
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data)
        .args(["--bind", bind, "--web-dir"])
        .arg(data.join("no-web"))
        .args(extra)
        .env("RUST_LOG", "warn");
    cmd
}

/// Runs a `serve` that must refuse to start; returns its stderr.
fn refused(mut cmd: Command) -> String {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().ok();
            panic!("the node started; it should have refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let Output { status, stderr, .. } = child.wait_with_output().expect("output");
    assert!(!status.success());
    String::from_utf8_lossy(&stderr).into_owned()
}

/// `curl` a URL; the status code, or 0 when no HTTP answer came.
fn curl(url: &str, extra: &[&str]) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
        ])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl (Debian package curl) is needed by this test");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn wait_for(url: &str, extra: &[&str]) {
    let start = Instant::now();
    while curl(url, extra) != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{url} never answered 200"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

#[test]
fn anonymous_access_is_for_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let bind = format!("0.0.0.0:{port}");
    let stderr = refused(serve(dir.path(), &bind, &["--insecure-no-auth"]));
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0") && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("more.db").exists(),
        "refused before opening the database"
    );
    // Without the flag a wildcard listener starts, and every data route needs a token.
    let _node = Killed(serve(dir.path(), &bind, &[]).spawn().expect("spawn"));
    let base = format!("http://127.0.0.1:{port}");
    wait_for(&format!("{base}/v1/health"), &[]);
    assert_eq!(curl(&format!("{base}/v1/datasets"), &[]), 401);
}

/// A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem).
fn certificate(dir: &Path, name: &str) -> (String, String) {
    let cert = dir.join(format!("{name}-cert.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl (Debian package openssl) is needed by this test");
    assert!(status.success());
    (cert.display().to_string(), key.display().to_string())
}

#[test]
fn https_with_a_certificate_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "node");
    let (_, other_key) = certificate(dir.path(), "other");
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mismatched = serve(
        dir.path(),
        &bind,
        &["--tls-cert", &cert, "--tls-key", &other_key],
    );
    let stderr = refused(mismatched);
    assert!(stderr.contains("do not fit together"), "{stderr}");

    let _node = Killed(
        serve(dir.path(), &bind, &["--tls-cert", &cert, "--tls-key", &key])
            .spawn()
            .expect("spawn"),
    );
    let https = format!("https://127.0.0.1:{port}/v1/health");
    wait_for(&https, &["--cacert", &cert]);
    // The certificate is checked: without trusting it curl refuses; plain HTTP gets no answer.
    assert_eq!(curl(&https, &[]), 0);
    assert_ne!(
        curl(&format!("http://127.0.0.1:{port}/v1/health"), &[]),
        200
    );
}
