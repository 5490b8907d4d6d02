//! Test harness: the real server on 127.0.0.1:0 in its own thread and tokio runtime, driven over
//! HTTP with a blocking client (ureq).
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use more_server::{Application, Settings};
use serde_json::Value;

pub mod process;

/// An HTTP client of one node's API.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub agent: ureq::Agent,
    /// Sent as `Authorization: Bearer {token}` when set.
    pub token: Option<String>,
}

impl Api {
    /// A client of `http://127.0.0.1:{port}` (errors are statuses, not `Err`; 120 s timeout).
    pub fn on_port(port: u16) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Api {
            base: format!("http://127.0.0.1:{port}"),
            agent,
            token: None,
        }
    }

    /// The same client, sending `token`.
    pub fn with_token(&self, token: &str) -> Self {
        Api {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    fn auth<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => request.header("authorization", format!("Bearer {t}")),
            None => request,
        }
    }
}

/// A running server (in this process).
pub struct TestServer {
    pub api: Api,
    handle: Option<actix_web::dev::ServerHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::ops::Deref for TestServer {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

/// Settings for a test: the given data dir, port 0, no signal handlers, requests without a token
/// taken as the local tenant (tests of access control turn `insecure_no_auth` off).
pub fn settings(data_dir: &Path) -> Settings {
    Settings {
        data_dir: data_dir.to_path_buf(),
        bind: "127.0.0.1:0".into(),
        web_dir: data_dir.join("no-web"),
        handle_signals: false,
        insecure_no_auth: true,
        ..Settings::default()
    }
}

/// Starts a server.
pub fn start(settings: Settings) -> TestServer {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let app = Application::build(settings).await.expect("build");
            tx.send((app.port(), app.handle())).expect("send");
            app.run_until_stopped().await.expect("run");
        });
    });
    let (port, handle) = rx.recv().expect("server started");
    TestServer {
        api: Api::on_port(port),
        handle: Some(handle),
        thread: Some(thread),
    }
}

fn read(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Vec<u8>) {
    let mut resp = resp.expect("request");
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 31)
        .read_to_vec()
        .expect("body");
    (status, body)
}

fn json_of(body: &[u8]) -> Value {
    if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
    }
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    pub fn get(&self, path: &str) -> (u16, Vec<u8>) {
        read(self.auth(self.agent.get(self.url(path))).call())
    }
    pub fn get_json(&self, path: &str) -> (u16, Value) {
        let (s, b) = self.get(path);
        (s, json_of(&b))
    }
    pub fn delete(&self, path: &str) -> (u16, Value) {
        let (s, b) = read(self.auth(self.agent.delete(self.url(path))).call());
        (s, json_of(&b))
    }
    pub fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let (s, b) = read(
            self.auth(self.agent.post(self.url(path)))
                .header("content-type", "application/json")
                .send(body.to_string()),
        );
        (s, json_of(&b))
    }
    pub fn post_empty(&self, path: &str) -> (u16, Value) {
        let (s, b) = read(self.auth(self.agent.post(self.url(path))).send_empty());
        (s, json_of(&b))
    }
    pub fn put_bytes(&self, path: &str, bytes: &[u8]) -> (u16, Value) {
        let (s, b) = read(
            self.auth(self.agent.put(self.url(path)))
                .header("content-type", "application/octet-stream")
                .send(bytes),
        );
        (s, json_of(&b))
    }
    pub fn post_bytes(&self, path: &str, bytes: &[u8]) -> (u16, Vec<u8>) {
        read(
            self.auth(self.agent.post(self.url(path)))
                .header("content-type", "application/octet-stream")
                .send(bytes),
        )
    }
    /// Asserts the server answers `/v1/health`.
    pub fn healthy(&self) {
        let (s, v) = self.get_json("/v1/health");
        assert_eq!(s, 200);
        assert_eq!(v["status"], "ok");
    }
    /// Polls a job until `done(job)` or the timeout.
    pub fn wait_job(&self, id: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let (s, job) = self.get_json(&format!("/v1/jobs/{id}"));
            assert_eq!(s, 200, "{job}");
            if done(&job) {
                return job;
            }
            assert!(
                start.elapsed() < timeout,
                "job did not finish in time: {job}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl TestServer {
    /// Stops the server gracefully and waits for its thread (running jobs become interrupted).
    pub fn stop(mut self) {
        self.shutdown();
    }
    fn shutdown(&mut self) {
        if let Some(h) = self.handle.take() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(h.stop(true));
        }
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Creates a dataset and uploads features and targets; returns its id.
pub fn upload_dataset(srv: &Api, task: &str, classes: Option<usize>, x: &[u8], y: &[u8]) -> String {
    let mut body = serde_json::json!({"name": "test", "task": task});
    if let Some(k) = classes {
        body["num_classes"] = k.into();
    }
    let (s, ds) = srv.post_json("/v1/datasets", &body);
    assert_eq!(s, 201, "{ds}");
    let id = ds["id"].as_str().expect("id").to_string();
    let (s, v) = srv.put_bytes(&format!("/v1/datasets/{id}/features"), x);
    assert_eq!(s, 200, "{v}");
    let (s, v) = srv.put_bytes(&format!("/v1/datasets/{id}/targets"), y);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "ready");
    id
}

/// The model's weights bundle (compact f32 ciphertexts), decrypted, by name.
pub fn decrypted_weights(
    api: &Api,
    key: &more_secret_key::SecretKey,
    model: &str,
) -> Vec<(String, ndarray::ArrayD<f32>)> {
    use more_core::tensor::Compact;
    use more_core::wire::{self, DecodeLimits};
    let (s, bytes) = api.get(&format!("/v1/models/{model}/weights"));
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&bytes));
    let bundle = wire::decode_bundle(&bytes, &DecodeLimits::default()).expect("bundle");
    let typed = |t: wire::AnyTensor| t.into_typed::<f32, Compact>().expect("compact f32");
    bundle
        .tensors
        .into_iter()
        .map(|(name, t)| (name, key.decrypt(&typed(t)).expect("decrypt")))
        .collect()
}

/// Runs an operator's command, `more-node ARGS --data-dir DATA`; panics unless it succeeds;
/// its standard output.
pub fn operator_command(data: &Path, args: &[&str]) -> String {
    let data = data.display().to_string();
    let (ok, out, err) = process::more_node(&[args, &["--data-dir", &data]].concat());
    assert!(ok, "{err}");
    out
}

/// The two-class data of the crash and fault tests, encrypted under `key` from `seed`:
/// `samples x features` values in [-1, 1) and one-hot targets (class 0 when the first three
/// features sum above 0), as wire bytes; the same bytes for the same arguments.
pub fn encrypted_two_class(
    key: &more_secret_key::SecretKey,
    seed: u64,
    samples: usize,
    features: usize,
) -> (Vec<u8>, Vec<u8>) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x = ndarray::Array2::from_shape_fn((samples, features), |_| rng.random_range(-1.0f32..1.0));
    let y = ndarray::Array2::from_shape_fn((samples, 2), |(i, j)| {
        let s: f32 = x.row(i).iter().take(3).sum();
        if (s > 0.0) == (j == 0) {
            1.0
        } else {
            0.0
        }
    });
    let shadow = more_secret_key::ShadowDistribution::default();
    let mut enc = |a: ndarray::Array2<f32>| {
        more_core::wire::encode(
            &key.encrypt_compact(&a.into_dyn(), &shadow, &mut rng)
                .expect("encrypt"),
        )
    };
    let x = enc(x);
    (x, enc(y))
}
