//! Settings and the application: bind, run, stop.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use utoipa_actix_web::AppExt as _;

use super::audit;
use super::auth::oidc::{OidcSettings, OidcVerifier};
use super::auth::Authenticator;
use super::blobs::BlobStore;
use super::db::Db;
use super::file_modes;
use super::gc;
use super::head;
use super::jobs::{JobSettings, Jobs, MpiLaunch};
use super::queue::Queue;
use super::request_id;
use super::routes;
use super::routes::body::BodyBudget;
use super::secure::cache::EvaluatorCache;
use super::security_headers;
use super::tls;
use super::weights_cache::WeightsCache;

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
    /// loopback only, see [`check_exposure`]).
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
}

/// The PEM files of `--tls-cert` and `--tls-key`.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Start even when every local user may read the key (`--allow-readable-tls-key`; see
    /// [`tls::check_key_mode`]).
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

/// Refuses to take anonymous requests from beyond this machine: with `insecure_no_auth`
/// (requests without a token act as the local admin) the listener must be on a loopback address.
///
/// # Errors
/// When `address` is not loopback and `insecure_no_auth` is set.
pub fn check_exposure(address: SocketAddr, insecure_no_auth: bool) -> anyhow::Result<()> {
    if address.ip().is_loopback() || !insecure_no_auth {
        return Ok(());
    }
    anyhow::bail!(
        "refusing to listen on {address} with --insecure-no-auth: anyone who reaches this address \
         could read, train on and delete every dataset without a token. Drop --insecure-no-auth \
         (clients then sign in with an API key from `more-node apikey create` or an OIDC token), \
         or listen on a loopback address (127.0.0.1)"
    )
}

/// Refuses a body budget smaller than the upload limit (such an upload could never be read).
///
/// # Errors
/// When `max_body_bytes_in_flight < max_upload_bytes`.
pub fn check_body_budget(settings: &Settings) -> anyhow::Result<()> {
    if settings.max_body_bytes_in_flight < settings.max_upload_bytes {
        anyhow::bail!(
            "--max-body-bytes-in-flight-mb ({} MiB) must be at least --max-upload-mb ({} MiB)",
            settings.max_body_bytes_in_flight >> 20,
            settings.max_upload_bytes >> 20
        );
    }
    Ok(())
}

fn absolute(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    Ok(std::fs::canonicalize(dir)?)
}

/// Shared state of the handlers.
pub struct AppState {
    /// The metadata database.
    pub db: Db,
    /// The blobs.
    pub blobs: BlobStore,
    /// The job runner.
    pub jobs: Arc<Jobs>,
    /// The settings.
    pub settings: Settings,
    /// Decoded trained weights for predict.
    pub weights: WeightsCache,
    /// Bounds predict requests computed at once.
    pub predicts: Arc<Semaphore>,
    /// Bounds the bytes of request bodies in memory.
    pub bodies: BodyBudget,
    /// Turns bearer tokens into callers.
    pub auth: Authenticator,
    /// Writes the audit log.
    pub audit: audit::Auditor,
    /// Evaluators of recently used secure models.
    pub evaluators: EvaluatorCache,
}

/// A bound, not yet running service.
pub struct Application {
    address: SocketAddr,
    server: Server,
    jobs: Arc<Jobs>,
    gc: JoinHandle<()>,
    audit: audit::Auditor,
    audit_task: JoinHandle<()>,
}

impl Application {
    /// Opens the object store and the database (applying migrations), starts the job runner
    /// and the garbage collector, and binds the listener. Must be called inside a tokio runtime
    /// (training runs on its blocking pool).
    ///
    /// # Errors
    /// When the store or database cannot be opened or the address bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        check_body_budget(&settings)?;
        let listener = TcpListener::bind(&settings.bind)?;
        let address = listener.local_addr()?;
        check_exposure(address, settings.insecure_no_auth)?;
        let tls_config = settings.tls.as_ref().map(tls::server_config).transpose()?;
        // After the refusals above, before anything is created in the data dir.
        file_modes::secure_data_dir(&settings)?;
        let blobs = BlobStore::open(&settings.store_url()?)?;
        let db = Db::connect(&settings.db_url()?).await?;
        let oidc = match &settings.oidc {
            Some(oidc) => Some(Arc::new(OidcVerifier::discover(oidc.clone()).await?)),
            None => None,
        };
        let queue = Queue::connect(&settings.db_url()?).await?;
        let node = settings
            .node_name
            .clone()
            .unwrap_or_else(|| format!("node-{:08x}", rand::random::<u32>()));
        audit::prepare(&db, &node).await?;
        let auditor = audit::Auditor::new(
            db.clone(),
            &node,
            settings.trusted_proxies.clone(),
            settings.audit_refusal_window,
        );
        let audit_task = auditor.spawn_maintenance(audit::HEAD_LOG_INTERVAL);
        let request_ids = web::Data::new(request_id::Prefix::new(&node));
        let jobs = Jobs::new(
            db.clone(),
            blobs.clone(),
            queue,
            JobSettings {
                node,
                max_jobs: settings.max_jobs,
                lease: settings.job_lease,
                poll: settings.job_poll,
                mpi: settings.mpi.clone(),
                retry_budget: settings.job_retry_budget,
            },
        );
        jobs.start();
        let gc = tokio::spawn(gc::run_periodically(
            db.clone(),
            blobs.clone(),
            settings.gc_interval,
            settings.gc_grace,
            settings.evaluation_key_ttl,
        ));
        tracing::info!(store = %blobs.url(), node = %jobs.node(), max_jobs = settings.max_jobs, "storage and jobs ready");
        let auth = Authenticator::new(db.clone(), oidc, settings.insecure_no_auth);
        let state = web::Data::new(AppState {
            db,
            blobs,
            jobs: jobs.clone(),
            settings: settings.clone(),
            weights: WeightsCache::new(settings.model_cache_bytes),
            predicts: Arc::new(Semaphore::new(settings.max_concurrent_predicts.max(1))),
            bodies: BodyBudget::new(settings.max_body_bytes_in_flight, settings.body_budget_wait),
            auth,
            audit: auditor.clone(),
            evaluators: EvaluatorCache::new(settings.secure_model_cache),
        });
        let document = web::Data::new(routes::openapi::Document::new(&routes::document(
            &settings,
        ))?);
        let mut server = HttpServer::new(move || {
            App::new()
                .into_utoipa_app()
                .app_data(state.clone())
                .app_data(request_ids.clone())
                .app_data(document.clone())
                .configure(|cfg| routes::configure(cfg, &state.settings))
                .map(|app| app.service(routes::static_files(&state.settings)))
                .into_app()
                // Innermost: before routing, after the access log saw the method.
                .wrap(actix_web::middleware::from_fn(head::as_get))
                .wrap(security_headers::default_headers(
                    state.auth.oidc().and_then(|v| v.token_endpoint()),
                ))
                // The last `wrap` is the outermost: the access log sees the id's header.
                .wrap(actix_web::middleware::from_fn(request_id::assign))
                .wrap(
                    actix_web::middleware::Logger::new("%r %s %b %Dms request_id=%{x-request-id}o")
                        .log_target("more_node::http"),
                )
        })
        .workers(settings.workers.max(1))
        // A head not complete in time gets 408; after an answer to a request whose body was not
        // read (413, 408, 503), what still arrives is discarded for 1 s, then the connection
        // closes (crate::routes::body).
        .client_request_timeout(settings.request_head_timeout)
        .client_disconnect_timeout(Duration::from_secs(1))
        .shutdown_timeout(10);
        server = match tls_config {
            Some(config) => server.listen_rustls_0_23(listener, config)?,
            None => server.listen(listener)?,
        };
        if !settings.handle_signals {
            server = server.disable_signals();
        }
        Ok(Application {
            address,
            server: server.run(),
            jobs,
            gc,
            audit: auditor,
            audit_task,
        })
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// A handle to stop the server (`handle.stop(true)` is graceful).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (signal or [`ServerHandle::stop`]); then stops running jobs at their
    /// next mini-batch, saved as `interrupted`, and waits for them.
    ///
    /// # Errors
    /// The server's I/O error.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        tracing::info!("server stopped; interrupting running jobs");
        self.jobs.shutdown().await;
        self.gc.abort();
        self.audit_task.abort();
        self.audit.shutdown().await;
        result
    }
}
