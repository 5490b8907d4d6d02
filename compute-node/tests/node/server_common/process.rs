//! The `more-node` binary as a child process: a node that can be killed with SIGKILL (a crash) or
//! stopped with SIGTERM, restarted on the same storage, and run several at once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Api;

/// Runs `more-node ARGS` to completion (`RUST_LOG=warn`): (success, stdout, stderr).
pub fn more_node(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_more-node"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run more-node");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `more-node` binary `serve` runs: `MORE_BENCH_NODE_BIN` when set (a release build, for the
/// ignored benchmarks), else this build's.
pub fn node_binary() -> std::ffi::OsString {
    std::env::var_os("MORE_BENCH_NODE_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_more-node").into())
}

/// A free loopback port (bound, then released for the child to bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// How to start a node.
#[derive(Clone, Debug, Default)]
pub struct NodeConfig {
    /// `--data-dir` (the default store and SQLite database live here).
    pub data_dir: PathBuf,
    /// Further `serve` arguments (`--db`, `--store`, `--max-jobs`, ...).
    pub args: Vec<String>,
    /// Extra environment (`MORE_FAULT_POINT`, `AWS_*`).
    pub env: Vec<(String, String)>,
    /// Requests need a token (else `--insecure-no-auth`: without one they act as the local
    /// tenant's admin).
    pub authenticated: bool,
}

impl NodeConfig {
    /// A node on `data_dir` with default settings.
    pub fn new(data_dir: &Path) -> Self {
        NodeConfig {
            data_dir: data_dir.to_path_buf(),
            ..Default::default()
        }
    }
    /// Adds `serve` arguments.
    pub fn arg(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }
    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// A running `more-node serve` process; killed (SIGKILL) when dropped. Its stdout and stderr go
/// to `DATA_DIR/node-{port}.log`.
pub struct NodeProcess {
    pub api: Api,
    child: Child,
    log: PathBuf,
}

impl std::ops::Deref for NodeProcess {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl NodeProcess {
    /// Starts a node on a free port and waits until `/v1/health` answers (panics after 60 s).
    pub fn start(config: &NodeConfig) -> Self {
        let node = Self::spawn(config);
        node.wait_healthy();
        node
    }

    /// Starts a node without waiting for it.
    pub fn spawn(config: &NodeConfig) -> Self {
        let port = free_port();
        let mut cmd = Command::new(node_binary());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&config.data_dir)
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--web-dir")
            .arg(config.data_dir.join("no-web"))
            .args(if config.authenticated {
                None
            } else {
                Some("--insecure-no-auth")
            })
            .args(&config.args)
            .env("RUST_LOG", "info,actix_server=warn,sqlx=warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        std::fs::create_dir_all(&config.data_dir).expect("data dir");
        let log = config.data_dir.join(format!("node-{port}.log"));
        let file = std::fs::File::create(&log).expect("node log file");
        cmd.stdout(file.try_clone().expect("log file")).stderr(file);
        for (k, v) in &config.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn more-node");
        NodeProcess {
            api: Api::on_port(port),
            child,
            log,
        }
    }

    /// Waits until the node answers `/v1/health`.
    pub fn wait_healthy(&self) {
        let start = Instant::now();
        loop {
            if let Ok(r) = self.agent.get(self.url("/v1/health")).call() {
                if r.status().as_u16() == 200 {
                    return;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "node did not become healthy"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the node logged so far, without terminal colour codes.
    pub fn log_text(&self) -> String {
        let raw = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                // Skip an escape sequence up to its final letter.
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    /// The epochs this node logged as done for `job`, in order.
    pub fn epochs_done(&self, job: &str) -> Vec<usize> {
        self.log_text()
            .lines()
            .filter(|l| l.contains("epoch done") && l.contains(job))
            .filter_map(|l| {
                l.split("epoch=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .collect()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the node with SIGKILL (no cleanup, like a crash) and reaps it.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the node with SIGTERM (graceful) and waits up to 60 s for it to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "node did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the node to exit on its own (e.g. at a fault point); panics after `timeout`.
    pub fn wait_exit(mut self, timeout: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(start.elapsed() < timeout, "node did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
