//! Throwaway real services for the storage and multi-node tests: a PostgreSQL 15 cluster and a
//! SeaweedFS S3 server, each bound to 127.0.0.1 on free ports with its data in a temporary
//! directory, and stopped (by `pg_ctl stop` or by PID) when dropped.
//!
//! A missing binary skips the test: `start` prints a `skipped: ...` line and returns `None`,
//! unless `MORE_REQUIRE_SERVICES=1` (set by CI), which makes it panic. `.ci/services-setup`
//! installs both.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// What to do when a service's binary is missing: panic under CI, otherwise skip the test.
fn missing<T>(what: &str) -> Option<T> {
    let msg = format!("{what} not found (run .ci/services-setup)");
    if std::env::var("MORE_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("MORE_REQUIRE_SERVICES=1 but {msg}");
    }
    eprintln!("skipped: {msg}");
    None
}

/// `n` distinct free loopback ports (all bound at once, then released for the service).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("address").port())
        .collect()
}

/// Waits until `ready()` or panics with the service's log after `timeout`.
fn wait_until(what: &str, log: &Path, timeout: Duration, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > timeout {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            panic!("{what} did not become ready in {timeout:?}; log tail:\n{tail}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs a command to completion, panicking with its output on failure.
fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A PostgreSQL cluster of its own (trust authentication, user and database `postgres`).
pub struct Postgres {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    /// Commands run as the `postgres` user (initdb refuses root).
    as_postgres: bool,
}

impl Postgres {
    /// Creates and starts a cluster; `None` (test skipped) when PostgreSQL is not installed.
    pub fn start() -> Option<Postgres> {
        let Some(bin) = postgres_bindir() else {
            return missing("PostgreSQL server binaries (initdb, pg_ctl)");
        };
        let dir = tempfile::Builder::new()
            .prefix("more-postgres")
            .tempdir()
            .expect("tempdir");
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown").arg("postgres").arg(dir.path()));
        }
        let pg = Postgres {
            bin,
            dir,
            port: free_ports(1)[0],
            as_postgres,
        };
        pg.init_and_start();
        Some(pg)
    }

    fn init_and_start(&self) {
        let data = self.data();
        run(self
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-N",
                "--no-instructions",
                "-D",
            ])
            .arg(&data));
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-o", &options, "-w", "-t", "60", "start"]));
    }

    /// Stops the server (`pg_ctl stop -m fast`: clients are disconnected), keeping its data.
    pub fn stop(&self) {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"]));
    }

    /// Starts the server again after [`Postgres::stop`], on the same port and data.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-o", &options, "-w", "-t", "60", "start"]));
    }

    /// `postgres://postgres@127.0.0.1:{port}/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A PostgreSQL tool, run as `postgres` when this process is root.
    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.stdin(Stdio::null());
        cmd
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// `/usr/lib/postgresql/15/bin`, else `pg_config --bindir`, when it holds initdb and pg_ctl.
fn postgres_bindir() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    [
        Some(PathBuf::from("/usr/lib/postgresql/15/bin")),
        from_pg_config,
    ]
    .into_iter()
    .flatten()
    .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The S3 bucket every [`SeaweedS3`] creates.
pub const BUCKET: &str = "ciphertexts";
const ACCESS_KEY: &str = "more-test";
const SECRET_KEY: &str = "more-test-secret";

/// A SeaweedFS `weed mini` server (master, volume, filer and S3 in one process) with one bucket
/// and one access key.
pub struct SeaweedS3 {
    child: Child,
    dir: TempDir,
    weed: PathBuf,
    ports: Vec<u16>,
    s3_port: u16,
    filer_port: u16,
    agent: ureq::Agent,
}

impl SeaweedS3 {
    /// Starts a server and waits for its bucket; `None` (test skipped) when `weed` is missing.
    pub fn start() -> Option<SeaweedS3> {
        let Some(weed) = weed_binary() else {
            return missing(
                "SeaweedFS `weed` (MORE_WEED_BIN, target/services-venv/bin/weed or PATH)",
            );
        };
        let dir = tempfile::Builder::new()
            .prefix("more-seaweed")
            .tempdir()
            .expect("tempdir");
        let config = dir.path().join("s3.json");
        std::fs::write(&config, s3_config()).expect("write s3.json");
        std::fs::create_dir(dir.path().join("data")).expect("data dir");
        let ports = free_ports(10);
        let child = spawn_weed(&weed, dir.path(), &config, &ports);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let s3 = SeaweedS3 {
            child,
            dir,
            weed,
            ports: ports.clone(),
            s3_port: ports[6],
            filer_port: ports[4],
            agent,
        };
        let log = s3.dir.path().join("weed.log");
        wait_until("SeaweedFS", &log, Duration::from_secs(60), || s3.ready());
        Some(s3)
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s), keeping its data directory.
    pub fn stop(&mut self) {
        stop_child(&mut self.child);
    }

    /// Starts the server again after [`SeaweedS3::stop`], on the same ports and data.
    pub fn start_again(&mut self) {
        let config = self.dir.path().join("s3.json");
        self.child = spawn_weed(&self.weed, self.dir.path(), &config, &self.ports);
        let log = self.dir.path().join("weed.log");
        wait_until("SeaweedFS", &log, Duration::from_secs(60), || self.ready());
    }

    /// The store URL for `--store`: `s3://ciphertexts`.
    pub fn bucket_url(&self) -> String {
        format!("s3://{BUCKET}")
    }

    /// The S3 endpoint, `http://127.0.0.1:{port}`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// The `AWS_*` environment a node needs to reach the bucket.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Replaces an object's bytes behind S3's back (through the filer, which needs no key).
    pub fn overwrite_object(&self, key: &str, bytes: &[u8]) {
        let resp = self
            .agent
            .put(self.filer_url(key))
            .send(bytes)
            .expect("filer PUT");
        assert!(
            resp.status().is_success(),
            "filer PUT {key}: {}",
            resp.status()
        );
    }

    /// Removes an object behind S3's back.
    pub fn delete_object(&self, key: &str) {
        let resp = self
            .agent
            .delete(self.filer_url(key))
            .call()
            .expect("filer DELETE");
        assert!(
            resp.status().is_success(),
            "filer DELETE {key}: {}",
            resp.status()
        );
    }

    /// An object's bytes, read behind S3's back (through the filer); panics when absent.
    pub fn read_object(&self, key: &str) -> Vec<u8> {
        let mut resp = self
            .agent
            .get(self.filer_url(key))
            .call()
            .expect("filer GET");
        assert!(
            resp.status().is_success(),
            "filer GET {key}: {}",
            resp.status()
        );
        resp.body_mut().read_to_vec().expect("object")
    }

    /// Whether the object exists.
    pub fn has_object(&self, key: &str) -> bool {
        let resp = self
            .agent
            .head(self.filer_url(key))
            .call()
            .expect("filer HEAD");
        resp.status().is_success()
    }

    fn filer_url(&self, key: &str) -> String {
        format!(
            "http://127.0.0.1:{}/buckets/{BUCKET}/{key}",
            self.filer_port
        )
    }

    /// The S3 port answers and the filer holds the bucket.
    fn ready(&self) -> bool {
        let s3_up = std::net::TcpStream::connect(("127.0.0.1", self.s3_port)).is_ok();
        s3_up
            && self
                .agent
                .get(self.filer_url(""))
                .header("accept", "application/json")
                .call()
                .is_ok_and(|r| r.status() == 200)
    }
}

impl Drop for SeaweedS3 {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

/// SIGTERM to a child by its PID, SIGKILL after 10 s; reaped either way.
fn stop_child(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `MORE_WEED_BIN`, else `target/services-venv/bin/weed` of this workspace, else `weed` on PATH.
fn weed_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MORE_WEED_BIN") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/services-venv/bin/weed");
    if venv.is_file() {
        return Some(venv);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("weed"))
        .find(|p| p.is_file())
}

/// One identity with every S3 action on every bucket; anonymous requests are refused.
fn s3_config() -> String {
    serde_json::json!({"identities": [{
        "name": "more-test",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]})
    .to_string()
}

/// `weed mini` with every listener on one of `ports` (HTTP and gRPC of master, volume, filer,
/// S3 and admin), the admin UI, WebDAV, Iceberg and Lance off; output to `dir/weed.log`.
fn spawn_weed(weed: &Path, dir: &Path, config: &Path, ports: &[u16]) -> Child {
    let names = [
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port",
        "s3.port.grpc",
        "admin.port",
        "admin.port.grpc",
    ];
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("weed.log"))
        .expect("weed.log");
    Command::new(weed)
        .arg("mini")
        .arg(format!("-dir={}", dir.join("data").display()))
        .arg(format!("-s3.config={}", config.display()))
        .arg(format!("-bucket={BUCKET}"))
        .args([
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-admin.ui=false",
            "-webdav=false",
        ])
        .args([
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=64",
        ])
        .args(names.iter().zip(ports).map(|(n, p)| format!("-{n}={p}")))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn weed")
}
