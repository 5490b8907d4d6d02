//! The REST service (contract: `compute-node/API.md`, served as OpenAPI at `/v1/openapi.json`).
//! Never imports the secret key type: the node only ever sees ciphertexts and public bases.
//!
//! - [`startup`]: the [`startup::Application`] (bind, run, graceful stop);
//! - [`settings`]: what the service is configured with; [`state`]: the handlers' shared state;
//! - [`tls`]: HTTPS with rustls;
//! - [`routes`]: the handlers;
//! - [`records`], [`db`], [`blobs`], [`gc`], [`queue`], [`weights`], [`weights_cache`]: the
//!   storage layer, crate `more-store` (re-exported; its errors are mapped to statuses in
//!   [`error`]);
//! - [`jobs`]: the training runner (claims, progress, cancel, takeover of dead nodes' jobs),
//!   crate `more-runner` (re-exported);
//! - [`file_modes`]: the data dir private to the node's user (umask 077, `0700`/`0600`);
//! - [`request_id`]: an id for every request, in its errors and log lines;
//! - [`auth`]: who is calling (API keys, OIDC tokens), with which role, for which tenant;
//! - [`audit`]: the tamper-evident (hash-chained) log of who did what, when, from where;
//! - [`secure`]: the secure mode's models, grants and evaluation keys (BFV, issue #30);
//! - [`admin`]: the operator's commands (tenants, API keys, audit export);
//! - [`guard`]: which hosts and origins may call the API (DNS rebinding, cross-site requests);
//! - [`security_headers`]: CSP, `nosniff`, no framing, no referrer, on every answer;
//! - [`head`]: `HEAD` answered like `GET` without a body;
//! - [`error`]: the JSON error type.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod error;
pub mod file_modes;
pub mod guard;
pub mod head;
pub mod metrics;
pub mod request_id;
pub mod routes;
pub mod secure;
pub mod security_headers;
pub mod settings;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tls;

// The storage layer, re-exported under its old paths (`crate::db::Db`, `more_server::blobs`).
pub use more_store::{blobs, db, fault, gc, queue, records, weights, weights_cache};
// The job runner, crate `more-runner`, under its old path (`crate::jobs::Jobs`).
pub use more_runner as jobs;
pub use more_store::{StoreError, StoreResult};

use std::path::PathBuf;

pub use startup::{Application, Settings};

/// Threads of the node runtime's blocking pool beside one per training job (tokio's default is
/// 512 in all). The jobs' streamed range reads, blob writes and GC are short blocking tasks that
/// wait for nothing else, so they queue when these are busy; a training job holds its thread
/// for the whole run and waits for reads, hence the `--max-jobs` added on top (no deadlock).
/// Without the bound a streamed epoch started ~110 threads, each keeping its allocator heap:
/// 151 instead of 209 MiB peak RSS for a debug node streaming 768 MiB (issue #32).
const BLOCKING_THREADS_BESIDE_JOBS: usize = 24;

/// `more-node serve` options.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Directory of the single-machine defaults: blobs in `DIR/blobs`, the SQLite database in
    /// `DIR/more.db`.
    #[arg(long, env = "MORE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Object store for ciphertext blobs: `file:///absolute/dir` or `s3://bucket` (credentials,
    /// region and endpoint from the standard `AWS_*` variables). Default: `file://DATA_DIR`.
    #[arg(long, env = "MORE_STORE")]
    pub store: Option<String>,
    /// Metadata database: `sqlite://file?mode=rwc` or `postgres://user@host:port/db`.
    /// Default: `sqlite://DATA_DIR/more.db?mode=rwc`. Several nodes need PostgreSQL.
    #[arg(long, env = "MORE_DB")]
    pub db: Option<String>,
    /// This node's name in job records (default: random per process; must differ per node).
    #[arg(long, env = "MORE_NODE_NAME")]
    pub node_name: Option<String>,
    /// Training jobs run at once on this node (0: an API-only node that never trains).
    #[arg(long, default_value_t = 1)]
    pub max_jobs: usize,
    /// Seconds without a heartbeat after which another node takes a running job over.
    #[arg(long, default_value_t = 30)]
    pub job_lease_seconds: u64,
    /// Seconds a job retries one database or store operation through an outage (backoff 0.5 s
    /// doubling to 10 s) before it is left `interrupted`, resumable from its last checkpoint.
    #[arg(long, default_value_t = 120)]
    pub job_retry_seconds: u64,
    /// A job's dataset of more stored MiB than this is streamed from its shards by range reads
    /// instead of loaded into memory (the trained bits are the same).
    #[arg(long, default_value_t = 256)]
    pub stream_above_mib: u64,
    /// MiB of decoded batches a streamed job reads ahead of training (its data's memory bound,
    /// with the batch being trained).
    #[arg(long, default_value_t = 64)]
    pub stream_read_ahead_mib: u64,
    /// Predict requests computed at once (more wait in line).
    #[arg(long, default_value_t = 4)]
    pub max_concurrent_predicts: usize,
    /// Seconds between garbage collections of unreferenced blobs.
    #[arg(long, default_value_t = 300)]
    pub gc_interval_seconds: u64,
    /// Minimum age in seconds of an unreferenced blob before it is removed.
    #[arg(long, default_value_t = 900)]
    pub gc_grace_seconds: u64,
    /// Address to listen on.
    #[arg(long, env = "MORE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// A host name the API answers for besides loopback names (repeatable; e.g. the name clients
    /// use behind a load balancer). Other `Host` headers get 403 (DNS rebinding).
    #[arg(long = "allowed-host")]
    pub allowed_hosts: Vec<String>,
    /// Take requests without a token as the tenant `local` with the admin role (a local demo;
    /// loopback addresses only). Without it every request needs an API key or an OIDC token.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Accept OIDC access tokens (JWT) from this issuer (discovery at
    /// `ISSUER/.well-known/openid-configuration`, keys from its JWKS, re-read on rotation).
    #[arg(long, env = "MORE_OIDC_ISSUER", requires = "oidc_audience")]
    pub oidc_issuer: Option<String>,
    /// The `aud` a token must carry to be accepted by this node.
    #[arg(long, env = "MORE_OIDC_AUDIENCE", requires = "oidc_issuer")]
    pub oidc_audience: Option<String>,
    /// The token claim naming the caller's tenant (a tenant made with `more-node tenant create`).
    #[arg(long, default_value = "tenant")]
    pub oidc_tenant_claim: String,
    /// The token claim naming the caller's role: viewer, trainer or admin.
    #[arg(long, default_value = "role")]
    pub oidc_role_claim: String,
    /// The public client id the web page signs in with (authorization code flow with PKCE).
    #[arg(long, env = "MORE_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// An origin (`https://portal.hospital.example`) whose pages may call the API (CORS;
    /// repeatable). Default: same origin only.
    #[arg(long = "cors-origin")]
    pub cors_origins: Vec<String>,
    /// A reverse proxy (address or CIDR block, repeatable) whose `X-Forwarded-For` names the
    /// client in the audit log; from any other peer the header is ignored.
    #[arg(long = "trusted-proxy", value_parser = audit::peer::parse_trusted)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Refusals without a valid token (401, Host/Origin 403) from one address within this many
    /// seconds are one audit row after the first, with a count (0: one row each).
    #[arg(long, default_value_t = 60)]
    pub audit_refusal_window_seconds: u64,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Start even when every local user may read --tls-key (a warning instead of a refusal;
    /// e.g. a Kubernetes secret volume left at its default mode 0644 in a one-user container).
    #[arg(long, requires = "tls_key")]
    pub allow_readable_tls_key: bool,
    /// Launch jobs that ask for more than one rank as MPI jobs of at most this many ranks (0:
    /// refuse them). Every node that trains must be able to launch them.
    #[arg(long, env = "MORE_MPI_MAX_RANKS", default_value_t = 0)]
    pub mpi_max_ranks: usize,
    /// The MPI launcher and its options, split at spaces; the node adds `-n RANKS`, the program
    /// and the job's arguments (e.g. `mpirun --hostfile /etc/more/hosts`, or `srun --mpi=pmix`
    /// inside a Slurm allocation).
    #[arg(long, env = "MORE_MPI_LAUNCHER", default_value = "mpirun")]
    pub mpi_launcher: String,
    /// The program every rank runs and its first arguments, split at spaces (default: this
    /// executable's `train-distributed`, which must be built with `--features mpi`). It must
    /// exist at the same path on every host of the launch.
    #[arg(long, env = "MORE_MPI_PROGRAM")]
    pub mpi_program: Option<String>,
    /// Directory of the web page (served at `/`, with `pkg/` for the wasm client).
    #[arg(long, default_value = "web")]
    pub web_dir: PathBuf,
    /// Largest accepted upload (a dataset tensor or a predict batch), in MiB.
    #[arg(long, default_value_t = 512)]
    pub max_upload_mb: usize,
    /// Memory for decoded trained weights kept between predict requests, in MiB (0: none).
    #[arg(long, default_value_t = 256)]
    pub model_cache_mb: usize,
    /// Secure models whose evaluators (pre-encoded weights) are kept between predicts.
    #[arg(long, default_value_t = 8)]
    pub secure_model_cache: usize,
    /// Hours after which an uploaded evaluation key is deleted (the client uploads a new one).
    #[arg(long, default_value_t = 168)]
    pub evaluation_key_ttl_hours: u64,
    /// Samples a granted tenant may score per rolling 24 hours with a secure model whose owner
    /// set no limit (`samples_per_day`); 0: unlimited. The owner's tenant is never limited.
    #[arg(long, default_value_t = 0)]
    pub secure_samples_per_day: u64,
    /// Memory for request bodies at once, in MiB, node-wide: predict bodies count whole, dataset
    /// uploads (streamed to the store) at most 24 MiB each. A body that does not fit waits up to
    /// --body-budget-wait-seconds, then gets 503 with Retry-After. At least --max-upload-mb.
    #[arg(long, default_value_t = 1024)]
    pub max_body_bytes_in_flight_mb: usize,
    /// Seconds a body waits for room in --max-body-bytes-in-flight-mb before its 503.
    #[arg(long, default_value_t = 10)]
    pub body_budget_wait_seconds: u64,
    /// Seconds without a byte of a request body before the request gets 408.
    #[arg(long, default_value_t = 30)]
    pub body_idle_timeout_seconds: u64,
    /// Seconds a whole request body may take before the request gets 408.
    #[arg(long, default_value_t = 600)]
    pub body_timeout_seconds: u64,
    /// Serve `GET /metrics` (Prometheus) to scrapes that send this bearer token (compared in
    /// constant time). Without --metrics-bind, /metrics is served on the API's listener only
    /// when this is set.
    #[arg(long, env = "MORE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Serve `GET /metrics` on this second address only (e.g. `127.0.0.1:9464`), nothing else
    /// there; with --metrics-token the scrape needs the token there too.
    #[arg(long, env = "MORE_METRICS_BIND")]
    pub metrics_bind: Option<String>,
    /// Export traces by OTLP/HTTP (protobuf) to this base URL (spans to `URL/v1/traces`), e.g.
    /// `http://127.0.0.1:4318`. Default: off, or the standard `OTEL_EXPORTER_OTLP_ENDPOINT`.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}

/// Runs the service until SIGINT/SIGTERM (graceful: running jobs are saved as `interrupted`).
///
/// # Errors
/// When the store or database cannot be opened or the address bound.
pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Before the runtime's threads: the umask is process-wide.
    file_modes::restrict_umask();
    // Before the runtime: the OTLP exporter's HTTP client is a blocking one.
    let telemetry = telemetry::init(args.otlp_endpoint.as_deref())?;
    let settings = Settings {
        data_dir: args.data_dir,
        allowed_hosts: args.allowed_hosts,
        insecure_no_auth: args.insecure_no_auth,
        oidc: args
            .oidc_issuer
            .zip(args.oidc_audience)
            .map(|(issuer, audience)| auth::oidc::OidcSettings {
                issuer,
                audience,
                tenant_claim: args.oidc_tenant_claim,
                role_claim: args.oidc_role_claim,
                client_id: args.oidc_client_id,
            }),
        cors_origins: args.cors_origins,
        trusted_proxies: args.trusted_proxies,
        audit_refusal_window: std::time::Duration::from_secs(args.audit_refusal_window_seconds),
        tls: args
            .tls_cert
            .zip(args.tls_key)
            .map(|(cert, key)| startup::TlsFiles {
                cert,
                key,
                allow_readable_key: args.allow_readable_tls_key,
            }),
        store_url: args.store,
        db_url: args.db,
        node_name: args.node_name,
        max_jobs: args.max_jobs,
        job_lease: std::time::Duration::from_secs(args.job_lease_seconds.max(1)),
        job_retry_budget: std::time::Duration::from_secs(args.job_retry_seconds),
        job_data: more_runner::DataSettings {
            in_memory_max_bytes: args.stream_above_mib.saturating_mul(1 << 20),
            read_ahead_bytes: args.stream_read_ahead_mib.saturating_mul(1 << 20),
        },
        max_concurrent_predicts: args.max_concurrent_predicts,
        gc_interval: std::time::Duration::from_secs(args.gc_interval_seconds),
        gc_grace: std::time::Duration::from_secs(args.gc_grace_seconds),
        bind: args.bind,
        web_dir: args.web_dir,
        max_upload_bytes: args.max_upload_mb.saturating_mul(1 << 20),
        model_cache_bytes: args.model_cache_mb.saturating_mul(1 << 20),
        secure_model_cache: args.secure_model_cache,
        evaluation_key_ttl: std::time::Duration::from_secs(
            args.evaluation_key_ttl_hours.max(1).saturating_mul(3600),
        ),
        secure_samples_per_day: args.secure_samples_per_day,
        max_body_bytes_in_flight: args.max_body_bytes_in_flight_mb.saturating_mul(1 << 20),
        body_budget_wait: std::time::Duration::from_secs(args.body_budget_wait_seconds),
        body_idle_timeout: std::time::Duration::from_secs(args.body_idle_timeout_seconds.max(1)),
        body_timeout: std::time::Duration::from_secs(args.body_timeout_seconds.max(1)),
        metrics: metrics::MetricsSettings {
            token: args.metrics_token,
            bind: args.metrics_bind,
        },
        mpi: jobs::MpiLaunch::from_options(
            args.mpi_max_ranks,
            &args.mpi_launcher,
            args.mpi_program.as_deref(),
        )?,
        ..Settings::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(args.max_jobs + BLOCKING_THREADS_BESIDE_JOBS)
        .build()?;
    let served = runtime.block_on(async move {
        let app = Application::build(settings).await?;
        tracing::info!(address = %app.address(), "compute node listening");
        app.run_until_stopped().await?;
        Ok(())
    });
    drop(runtime);
    telemetry.shutdown();
    served
}
