//! The node as a platform team watches it (issue #31), each against real software on loopback:
//!
//! - Debian's `prometheus` scrapes `/metrics` with the scrape token: `up == 1`, and the job
//!   counters rise after a job;
//! - `/metrics` refuses a scrape without (or with a wrong) token, `--metrics-bind` serves it on
//!   its own listener only, and no label carries an id (routes are templates);
//! - `/v1/ready` goes 503 within 5 s of stopping PostgreSQL, and of stopping SeaweedFS, naming
//!   the one that failed, and back to 200 when it returns, while `/v1/health` stays 200;
//! - an OTLP/HTTP receiver (actix-web, the protobuf bodies decoded with `opentelemetry-proto`)
//!   gets one trace for an upload, whose database and store spans carry the request id, and one
//!   for a training run (`job`), whose spans carry the job id.
//!
//! A missing `prometheus`, PostgreSQL or SeaweedFS skips its test, unless
//! `MORE_REQUIRE_SERVICES=1` (CI).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::faults_common::{encrypted, finished, queue_job, try_get_json, JobShape};
use crate::server_common::process::{free_port, NodeConfig, NodeProcess};
use crate::server_common::{self, Api};
use crate::services;
use serde_json::Value;

const TOKEN: &str = "scrape-0123456789abcdef";
const SMALL_JOB: JobShape = JobShape {
    hidden: 4,
    epochs: 2,
};

/// Waits up to `timeout` for `f` to give `Some`.
fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET path` with optional bearer token: (status, body text).
fn get_text(api: &Api, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = api.agent.get(api.url(path));
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let mut response = request.call().expect("answer");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

// ---------------------------------------------------------------------------------------------
// Prometheus

/// A Debian `prometheus` server on loopback scraping one target every second; killed by PID on
/// drop.
struct Prometheus {
    child: Child,
    api: Api,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts it scraping `127.0.0.1:{target}/metrics` with `token`; `None` when not installed.
    fn start(target: u16, token: &str) -> Option<Prometheus> {
        let Some(bin) = which("prometheus") else {
            assert!(
                std::env::var("MORE_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "MORE_REQUIRE_SERVICES=1 but prometheus is not installed (.ci/setup-tests)"
            );
            eprintln!("skipped: prometheus not installed (apt-get install prometheus)");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  \
                 - job_name: more-node\n    authorization:\n      credentials: {token}\n    \
                 static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
            ),
        )
        .expect("config");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        Some(Prometheus {
            child,
            api: Api::on_port(port),
            _dir: dir,
        })
    }

    /// The value of an instant query's first sample (`None`: no series, or not up yet).
    fn value(&self, query: &str) -> Option<f64> {
        let response = self
            .api
            .agent
            .get(self.api.url("/api/v1/query"))
            .query("query", query)
            .call()
            .ok()?;
        let text = response.into_body().read_to_string().ok()?;
        let body: Value = serde_json::from_str(&text).ok()?;
        body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

#[test]
fn prometheus_scrapes_the_node_and_sees_the_job_counters_rise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = NodeProcess::start(&NodeConfig::new(dir.path()).arg(&["--metrics-token", TOKEN]));
    let port: u16 = node.base.rsplit(':').next().unwrap().parse().unwrap();
    let Some(prometheus) = Prometheus::start(port, TOKEN) else {
        return;
    };
    let started = Instant::now();
    wait_for("up == 1", Duration::from_secs(30), || {
        (prometheus.value("up{job=\"more-node\"}") == Some(1.0)).then_some(())
    });
    eprintln!("prometheus: up == 1 after {:?}", started.elapsed());
    let completed = "sum(more_jobs_finished_total{state=\"completed\"})";
    let before = prometheus.value(completed).unwrap_or(0.0);

    let (_, job) = queue_job(&node, SMALL_JOB);
    let done = finished(&node, &job, Duration::from_secs(60));
    assert_eq!(done["state"], "completed", "{done}");

    let after = wait_for(
        "the completed-jobs counter rises",
        Duration::from_secs(30),
        || prometheus.value(completed).filter(|v| *v >= before + 1.0),
    );
    eprintln!("more_jobs_finished_total{{state=\"completed\"}}: {before} -> {after}");
    let epochs = wait_for("epochs counted", Duration::from_secs(10), || {
        prometheus
            .value("sum(more_epochs_total)")
            .filter(|v| *v >= 2.0)
    });
    // Jobs by state, read from the database at each scrape (the queue's depth).
    wait_for("jobs by state", Duration::from_secs(10), || {
        let completed = prometheus.value("more_jobs{state=\"completed\"}")?;
        let queued = prometheus.value("more_jobs{state=\"queued\"}")?;
        (completed == 1.0 && queued == 0.0).then_some(())
    });
    let started_jobs = prometheus
        .value("sum(more_jobs_started_total)")
        .unwrap_or(0.0);
    assert!(
        started_jobs >= 1.0,
        "more_jobs_started_total = {started_jobs}"
    );
    let bytes = prometheus
        .value("sum(more_upload_bytes_total)")
        .unwrap_or(0.0);
    assert!(bytes > 0.0, "more_upload_bytes_total = {bytes}");
    let jobs_route = "sum(more_http_requests_total{route=\"/v1/jobs/{id}\",status=\"200\"})";
    assert!(
        prometheus.value(jobs_route).unwrap_or(0.0) >= 1.0,
        "{jobs_route}"
    );
    eprintln!("epochs {epochs}, jobs started {started_jobs}, bytes uploaded {bytes}");
}

// ---------------------------------------------------------------------------------------------
// Access rule and labels

#[test]
fn metrics_need_the_token_and_carry_no_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = NodeProcess::start(&NodeConfig::new(dir.path()).arg(&["--metrics-token", TOKEN]));
    let (x, y) = encrypted();
    let ds = server_common::upload_dataset(&node, "classification", Some(2), &x, &y);
    let (s, _) = node.get_json(&format!("/v1/datasets/{ds}"));
    assert_eq!(s, 200);

    let (s, body) = get_text(&node, "/metrics", None);
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("\"unauthorized\""), "{body}");
    let (s, _) = get_text(&node, "/metrics", Some("scrape-0123456789abcdeX"));
    assert_eq!(s, 401, "a wrong token of the same length");
    let (s, _) = get_text(&node, "/metrics", Some("scrape"));
    assert_eq!(s, 401, "a prefix of the token");

    let (s, text) = get_text(&node, "/metrics", Some(TOKEN));
    assert_eq!(s, 200, "{text}");
    assert!(
        text.contains("route=\"/v1/datasets/{id}\""),
        "requests by route template:\n{text}"
    );
    assert!(text.contains("more_jobs{state=\"queued\"}"), "{text}");
    assert!(text.contains("more_audit_rows"), "{text}");
    assert!(text.contains("more_predict_permits 4"), "{text}");
    assert!(!text.contains(&ds), "a dataset id in the metrics:\n{text}");
    assert!(!text.contains("tenant"), "a tenant in the metrics:\n{text}");
    for line in text.lines().filter(|l| l.contains("route=\"")) {
        let route = line
            .split("route=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(
            route == "static"
                || route == "unmatched"
                || route.starts_with("/v1")
                || route == "/metrics",
            "{line}"
        );
        let literal = |seg: &str| {
            seg.chars()
                .all(|c| c.is_ascii_lowercase() || c == '-' || c == '.' || c == '_')
        };
        assert!(
            route
                .split('/')
                .all(|seg| seg == "v1" || seg == "{id}" || literal(seg)),
            "a route label that is not a template: {line}"
        );
    }
}

#[test]
fn metrics_bind_serves_metrics_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let node = NodeProcess::start(&NodeConfig::new(dir.path()).arg(&["--metrics-bind", &bind]));
    let (s, _) = get_text(&node, "/metrics", None);
    assert_eq!(s, 404, "the API's listener does not serve /metrics then");
    let metrics = Api::on_port(port);
    let (s, text) = wait_for("the metrics listener", Duration::from_secs(10), || {
        metrics
            .agent
            .get(metrics.url("/metrics"))
            .call()
            .ok()
            .map(|mut r| {
                (
                    r.status().as_u16(),
                    r.body_mut().read_to_string().unwrap_or_default(),
                )
            })
    });
    assert_eq!(s, 200, "{text}");
    assert!(text.contains("more_http_requests_total"), "{text}");
    let (s, _) = get_text(&metrics, "/v1/datasets", None);
    assert_eq!(s, 404, "the metrics listener serves nothing else");
}

// ---------------------------------------------------------------------------------------------
// Readiness

/// Polls `/v1/ready` until its status is `want`; returns the time it took and the body.
fn ready_becomes(node: &Api, want: u16, timeout: Duration) -> (Duration, Value) {
    let start = Instant::now();
    let body = wait_for(&format!("/v1/ready {want}"), timeout, || {
        try_get_json(node, "/v1/ready").and_then(|(s, b)| (s == want).then_some(b))
    });
    (start.elapsed(), body)
}

fn health_is_200(node: &Api) {
    let (s, body) = try_get_json(node, "/v1/health").expect("health answers");
    assert_eq!(s, 200, "liveness stays 200: {body}");
}

#[test]
fn ready_follows_postgres_and_seaweedfs() {
    let Some(pg) = services::Postgres::start() else {
        return;
    };
    let Some(mut s3) = services::SeaweedS3::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config =
        NodeConfig::new(dir.path()).arg(&["--db", &pg.url(), "--store", &s3.bucket_url()]);
    config.env.extend(s3.env());
    let node = NodeProcess::start(&config);
    let (_, body) = ready_becomes(&node, 200, Duration::from_secs(10));
    assert_eq!(body["status"], "ready", "{body}");

    pg.stop();
    let (took, body) = ready_becomes(&node, 503, Duration::from_secs(5));
    eprintln!("PostgreSQL stopped: 503 after {took:?}: {body}");
    assert_eq!(body["error"], "unavailable", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("database"), "{body}");
    assert!(!message.contains("store"), "{body}");
    assert!(
        !message.contains("127.0.0.1") && !message.contains("postgres"),
        "{body}"
    );
    health_is_200(&node);
    pg.start_again();
    let (took, _) = ready_becomes(&node, 200, Duration::from_secs(30));
    eprintln!("PostgreSQL back: 200 after {took:?}");

    s3.stop();
    let (took, body) = ready_becomes(&node, 503, Duration::from_secs(5));
    eprintln!("SeaweedFS stopped: 503 after {took:?}: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("store"), "{body}");
    assert!(!message.contains("database"), "{body}");
    health_is_200(&node);
    s3.start_again();
    let (took, _) = ready_becomes(&node, 200, Duration::from_secs(30));
    eprintln!("SeaweedFS back: 200 after {took:?}");
}

// ---------------------------------------------------------------------------------------------
// Traces

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

/// A received span, flattened: trace id, span id, parent id, name, string attributes.
#[derive(Clone, Debug)]
struct Received {
    trace: Vec<u8>,
    parent: Vec<u8>,
    name: String,
    attributes: Vec<(String, String)>,
}

impl Received {
    fn of(span: &Span) -> Self {
        let attributes = span
            .attributes
            .iter()
            .filter_map(|kv| {
                let value = match kv.value.as_ref()?.value.as_ref()? {
                    AnyValue::StringValue(s) => s.clone(),
                    AnyValue::IntValue(i) => i.to_string(),
                    _ => return None,
                };
                Some((kv.key.clone(), value))
            })
            .collect();
        Received {
            trace: span.trace_id.clone(),
            parent: span.parent_span_id.clone(),
            name: span.name.clone(),
            attributes,
        }
    }
    fn is_root(&self) -> bool {
        self.parent.iter().all(|b| *b == 0)
    }
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// An OTLP/HTTP trace receiver on loopback: `POST /v1/traces` with a protobuf
/// `ExportTraceServiceRequest`, answered as the protocol says.
struct Receiver {
    port: u16,
    spans: Arc<Mutex<Vec<Received>>>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start() -> Receiver {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = spans.clone();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = actix_web::HttpServer::new(move || {
                    actix_web::App::new()
                        .app_data(actix_web::web::Data::new(sink.clone()))
                        .route("/v1/traces", actix_web::web::post().to(export))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run();
                tx.send(server.handle()).expect("handle");
                server.await.expect("receiver");
            });
        });
        Receiver {
            port,
            spans,
            handle: rx.recv().expect("receiver started"),
            thread: Some(thread),
        }
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        block_on(self.handle.stop(false));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs a future to completion on a throwaway runtime (the receiver's stop).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

async fn export(
    body: actix_web::web::Bytes,
    sink: actix_web::web::Data<Arc<Mutex<Vec<Received>>>>,
) -> actix_web::HttpResponse {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return actix_web::HttpResponse::BadRequest().finish();
    };
    let mut spans = sink.lock().unwrap();
    for resource in &request.resource_spans {
        for scope in &resource.scope_spans {
            spans.extend(scope.spans.iter().map(Received::of));
        }
    }
    actix_web::HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .body(ExportTraceServiceResponse::default().encode_to_vec())
}

#[test]
fn an_upload_and_a_job_are_one_trace_each_with_database_and_store_spans() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let endpoint = format!("http://127.0.0.1:{}", receiver.port);
    let node = NodeProcess::start(
        &NodeConfig::new(dir.path())
            .arg(&["--otlp-endpoint", &endpoint])
            .env("OTEL_BSP_SCHEDULE_DELAY", "200"),
    );
    let (s, ds) = node.post_json(
        "/v1/datasets",
        &serde_json::json!({"name": "t", "task": "classification", "num_classes": 2}),
    );
    assert_eq!(s, 201, "{ds}");
    let id = ds["id"].as_str().expect("id").to_string();
    let (x, _) = encrypted();
    let response = node
        .agent
        .put(node.url(&format!("/v1/datasets/{id}/features")))
        .header("content-type", "application/octet-stream")
        .send(&x[..])
        .expect("upload");
    assert_eq!(response.status().as_u16(), 200);
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_string();

    let route = "/v1/datasets/{id}/features";
    let root = wait_for("the upload's request span", Duration::from_secs(15), || {
        receiver
            .spans()
            .into_iter()
            .find(|s| s.is_root() && s.attribute("request_id") == Some(request_id.as_str()))
    });
    assert_eq!(root.name, format!("PUT {route}"), "{root:?}");
    assert_eq!(root.attribute("http.route"), Some(route), "{root:?}");
    assert_eq!(root.attribute("http.response.status_code"), Some("200"));
    // The children end before the root, so they were exported with it or before.
    let spans = receiver.spans();
    let tagged: Vec<&Received> = spans
        .iter()
        .filter(|s| s.attribute("request_id") == Some(request_id.as_str()))
        .collect();
    assert!(
        tagged.iter().all(|s| s.trace == root.trace),
        "one trace per request: {tagged:#?}"
    );
    let in_trace: Vec<&Received> = spans.iter().filter(|s| s.trace == root.trace).collect();
    assert_eq!(
        in_trace.len(),
        tagged.len(),
        "every span of the trace carries the id"
    );
    let names: Vec<&str> = in_trace.iter().map(|s| s.name.as_str()).collect();
    eprintln!("the upload's trace: {names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("db.")),
        "a database span: {names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("store.")),
        "a store span: {names:?}"
    );
    assert_eq!(
        in_trace.iter().filter(|s| s.is_root()).count(),
        1,
        "one root: {names:?}"
    );

    // A training run is one trace too: a `job` root whose database and store spans carry the
    // job's id.
    let (_, job) = queue_job(&node, SMALL_JOB);
    let done = finished(&node, &job, Duration::from_secs(60));
    assert_eq!(done["state"], "completed", "{done}");
    let root = wait_for("the job's span", Duration::from_secs(15), || {
        receiver
            .spans()
            .into_iter()
            .find(|s| s.is_root() && s.name == "job" && s.attribute("job_id") == Some(job.as_str()))
    });
    let spans = receiver.spans();
    let in_trace: Vec<&Received> = spans.iter().filter(|s| s.trace == root.trace).collect();
    let names: Vec<&str> = in_trace.iter().map(|s| s.name.as_str()).collect();
    eprintln!("the job's trace: {names:?}");
    assert!(
        in_trace
            .iter()
            .all(|s| s.attribute("job_id") == Some(job.as_str())),
        "every span of the job's trace carries its id: {names:?}"
    );
    for name in [
        "db.claim_job",
        "db.save_running_job",
        "db.finish_job",
        "store.put",
    ] {
        assert!(
            names.contains(&name),
            "{name} in the job's trace: {names:?}"
        );
    }
}
