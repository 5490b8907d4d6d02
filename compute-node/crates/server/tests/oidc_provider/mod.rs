//! A real OpenID Connect provider for the token tests: `node web/tests/oidc-provider.mjs`
//! (oauth2-mock-server) on a free loopback port, driven by JSON lines on its stdin, and
//! stopped by PID when dropped.
//!
//! A missing `node` or `web/node_modules/oauth2-mock-server` skips the test: `start` prints a
//! `skipped: ...` line and returns `None`, unless `MORE_REQUIRE_SERVICES=1` (set by CI), which
//! makes it panic. `cd web && npm ci` installs the package.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// What to do when a tool is missing: panic under CI, otherwise skip the test.
fn missing<T>(what: &str) -> Option<T> {
    let msg = format!("{what} not found (install Node.js, then `cd web && npm ci`)");
    if std::env::var("MORE_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("MORE_REQUIRE_SERVICES=1 but {msg}");
    }
    eprintln!("skipped: {msg}");
    None
}

/// The provider's stdin and stdout, one command and one answer at a time.
struct Pipes {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// A running `oidc-provider.mjs`.
pub struct OidcProvider {
    child: Child,
    pipes: Mutex<Pipes>,
    issuer: String,
    kid: String,
}

impl OidcProvider {
    /// Starts a provider; `None` (test skipped) when Node.js or the package is missing.
    pub fn start() -> Option<OidcProvider> {
        // The repository's web/ (this file is included by tests of more-server and more-node).
        let web = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|dir| dir.join("web"))
            .find(|web| web.join("tests/oidc-provider.mjs").is_file())
            .expect("web/tests/oidc-provider.mjs above the crate");
        if !web
            .join("node_modules/oauth2-mock-server/package.json")
            .is_file()
        {
            return missing("web/node_modules/oauth2-mock-server");
        }
        let spawned = Command::new("node")
            .arg(web.join("tests/oidc-provider.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match spawned {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return missing("`node`"),
            spawned => spawned.expect("spawn node web/tests/oidc-provider.mjs"),
        };
        let pipes = Pipes {
            stdin: child.stdin.take().expect("stdin"),
            stdout: BufReader::new(child.stdout.take().expect("stdout")),
        };
        let mut provider = OidcProvider {
            child,
            pipes: Mutex::new(pipes),
            issuer: String::new(),
            kid: String::new(),
        };
        let hello = provider.read_line();
        provider.issuer = hello["issuer"].as_str().expect("issuer").to_string();
        provider.kid = hello["kid"].as_str().expect("kid").to_string();
        Some(provider)
    }

    /// `http://127.0.0.1:{port}`, the `iss` of its tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The first signing key's id.
    pub fn first_kid(&self) -> &str {
        &self.kid
    }

    /// A token with `claims` over the defaults (`iss`, `iat`, `nbf`, `sub`), signed with the
    /// current key, expiring in `expires_in` seconds (negative: already expired).
    pub fn token(&self, claims: Value, expires_in: i64) -> String {
        let reply = self.call(json!({"cmd": "token", "claims": claims, "expires_in": expires_in}));
        reply["token"].as_str().expect("token").to_string()
    }

    /// A new signing key, published next to the old ones; returns its `kid`.
    pub fn rotate(&self) -> String {
        let reply = self.call(json!({"cmd": "rotate"}));
        reply["kid"].as_str().expect("kid").to_string()
    }

    /// A token signed by a key the provider never publishes (its `kid` is unknown).
    pub fn foreign_token(&self, claims: Value) -> String {
        let reply = self.call(json!({"cmd": "foreign_token", "claims": claims}));
        reply["token"].as_str().expect("token").to_string()
    }

    /// How many requests the provider has served on `path` (e.g. `/jwks`).
    pub fn requests(&self, path: &str) -> u64 {
        let reply = self.call(json!({"cmd": "requests", "path": path}));
        reply["count"].as_u64().expect("count")
    }

    /// Sends one command and reads its answer.
    fn call(&self, command: Value) -> Value {
        let mut pipes = self.pipes.lock().expect("provider pipes");
        writeln!(pipes.stdin, "{command}").expect("write to the provider");
        pipes.stdin.flush().expect("flush");
        let reply = read_json(&mut pipes.stdout);
        assert!(reply.get("error").is_none(), "provider: {reply}");
        reply
    }

    fn read_line(&mut self) -> Value {
        read_json(&mut self.pipes.get_mut().expect("provider pipes").stdout)
    }
}

/// One JSON line from the provider (panics when it exited: its stderr is in the test output).
fn read_json(stdout: &mut BufReader<ChildStdout>) -> Value {
    let mut line = String::new();
    let n = stdout.read_line(&mut line).expect("read from the provider");
    assert!(n > 0, "the OIDC provider exited (see its stderr above)");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("provider said {line:?}: {e}"))
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
