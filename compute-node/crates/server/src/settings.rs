//! What the service is configured with ([`Settings`], from `more-node serve`'s options), and
//! the URLs of its store and database in effect. A leaf: it names the types of the settings and
//! nothing that serves requests.

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::oidc::OidcSettings;
use crate::jobs::MpiLaunch;

/// Everything the service is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The data directory: the default home of the blob store (`blobs/`) and the SQLite
    /// database (`more.db`).
    pub data_dir: PathBuf,
    /// Object store URL (`file:///dir` or `s3://bucket`); default `file://{data_dir}`.
    pub store_url: Option<String>,
    /// Database URL (`sqlite://file?mode=rwc` or `postgres://…`); default
    /// `sqlite://{data_dir}/more.db?mode=rwc`.
    pub db_url: Option<String>,
    /// This node's name in job rows (default: a random one per process).
    pub node_name: Option<String>,
    /// Training jobs run at once on this node (0: never trains, an API-only node).
    pub max_jobs: usize,
    /// A running job whose node has not renewed its heartbeat for this long moves to another
    /// node.
    pub job_lease: Duration,
    /// How often an idle node looks for jobs queued on other nodes.
    pub job_poll: Duration,
    /// Predict requests computed at once (more wait).
    pub max_concurrent_predicts: usize,
    /// How often unreferenced blobs are collected.
    pub gc_interval: Duration,
    /// How old an unreferenced blob must be before it is collected.
    pub gc_grace: Duration,
    /// Listen address (`127.0.0.1:0` picks a free port).
    pub bind: String,
    /// Host names (besides loopback ones) the API answers for; empty: loopback names only when
    /// bound to a loopback address, any otherwise (`crate::guard`).
    pub allowed_hosts: Vec<String>,
    /// The web page's directory, served at `/`.
    pub web_dir: PathBuf,
    /// Largest accepted upload body (dataset tensors, predict batches), bytes.
    pub max_upload_bytes: usize,
    /// Bytes of request bodies held in memory at once, node-wide (predict bodies whole, uploads
    /// their streaming window): a body that does not fit waits `body_budget_wait`, then gets 503.
    /// At least `max_upload_bytes`.
    pub max_body_bytes_in_flight: usize,
    /// How long a body waits for room in `max_body_bytes_in_flight` before its 503.
    pub body_budget_wait: Duration,
    /// A body with no byte arriving for this long gets 408.
    pub body_idle_timeout: Duration,
    /// A body not received completely within this long gets 408.
    pub body_timeout: Duration,
    /// A request whose head (request line and headers) is not complete within this long gets
    /// 408 from actix (`client_request_timeout`).
    pub request_head_timeout: Duration,
    /// Largest accepted predict batch (samples).
    pub max_predict_batch: usize,
    /// Peers (addresses, CIDR blocks) whose `X-Forwarded-For` names the client in the audit log
    /// (`--trusted-proxy`); empty: the TCP peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Refusals of unidentified callers from one peer within this long are one audit row after
    /// the first (zero: each is written).
    pub audit_refusal_window: Duration,
    /// Memory for decoded trained weights kept between predict requests, bytes (0: none).
    pub model_cache_bytes: usize,
    /// Secure models whose evaluators are kept between predicts (at least one).
    pub secure_model_cache: usize,
    /// How long an uploaded evaluation key lives (deleted by the garbage collector's sweep).
    pub evaluation_key_ttl: Duration,
    /// Samples a granted tenant may score per rolling 24 hours with a secure model that has no
    /// limit of its own (0: unlimited; `crate::secure::quota`).
    pub secure_samples_per_day: u64,
    /// Largest accepted JSON body, bytes.
    pub max_json_bytes: usize,
    /// Actix worker threads (default: 2).
    pub workers: usize,
    /// Whether actix installs SIGINT/SIGTERM handlers (off in tests that run several servers).
    pub handle_signals: bool,
    /// Takes requests without a token as the tenant `local` with the admin role (a local demo;
    /// loopback only, see [`check_exposure`](crate::startup::check_exposure)).
    pub insecure_no_auth: bool,
    /// Accept OIDC access tokens from this issuer; `None`: API keys only.
    pub oidc: Option<OidcSettings>,
    /// Origins (`scheme://host[:port]`) whose pages may call the API from the browser (CORS);
    /// empty: same origin only.
    pub cors_origins: Vec<String>,
    /// Serve HTTPS with this PEM certificate chain and PEM private key (rustls); `None`: HTTP.
    pub tls: Option<TlsFiles>,
    /// How jobs of more than one rank are launched (`None`: this node runs one-rank jobs only).
    pub mpi: Option<MpiLaunch>,
    /// How long a job retries one database or store operation through an outage before it is
    /// left `interrupted` (resumable).
    pub job_retry_budget: Duration,
    /// How jobs read their data: in memory up to a size, else streamed from the shards with
    /// bounded read-ahead.
    pub job_data: more_runner::DataSettings,
    /// Who may scrape `/metrics`, and where (`crate::metrics`).
    pub metrics: crate::metrics::MetricsSettings,
}

/// The PEM files of `--tls-cert` and `--tls-key`.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Start even when every local user may read the key (`--allow-readable-tls-key`; see
    /// [`crate::tls::check_key_mode`]).
    pub allow_readable_key: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("data"),
            store_url: None,
            db_url: None,
            node_name: None,
            max_jobs: 1,
            job_lease: Duration::from_secs(30),
            job_poll: Duration::from_secs(1),
            max_concurrent_predicts: 4,
            gc_interval: Duration::from_secs(300),
            gc_grace: Duration::from_secs(900),
            bind: "127.0.0.1:8080".into(),
            allowed_hosts: Vec::new(),
            web_dir: PathBuf::from("web"),
            max_upload_bytes: 512 << 20,
            max_body_bytes_in_flight: 1 << 30,
            body_budget_wait: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(600),
            request_head_timeout: Duration::from_secs(5),
            max_predict_batch: 4096,
            trusted_proxies: Vec::new(),
            audit_refusal_window: Duration::from_secs(60),
            model_cache_bytes: 256 << 20,
            secure_model_cache: crate::secure::cache::DEFAULT_ENTRIES,
            evaluation_key_ttl: Duration::from_secs(7 * 24 * 3600),
            secure_samples_per_day: 0,
            max_json_bytes: 256 << 10,
            workers: 2,
            handle_signals: true,
            insecure_no_auth: false,
            oidc: None,
            cors_origins: Vec::new(),
            tls: None,
            mpi: None,
            job_retry_budget: crate::jobs::DEFAULT_RETRY_BUDGET,
            job_data: more_runner::DataSettings::default(),
            metrics: crate::metrics::MetricsSettings::default(),
        }
    }
}

impl Settings {
    /// The object store URL in effect.
    pub fn store_url(&self) -> anyhow::Result<String> {
        match &self.store_url {
            Some(url) => Ok(url.clone()),
            None => Ok(format!("file://{}", absolute(&self.data_dir)?.display())),
        }
    }

    /// The database URL in effect.
    pub fn db_url(&self) -> anyhow::Result<String> {
        match &self.db_url {
            Some(url) => Ok(url.clone()),
            None => Ok(format!(
                "sqlite://{}?mode=rwc",
                absolute(&self.data_dir)?.join("more.db").display()
            )),
        }
    }
}

fn absolute(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    Ok(std::fs::canonicalize(dir)?)
}
