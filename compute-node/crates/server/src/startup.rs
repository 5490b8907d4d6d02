//! The application: bind, run, stop. Its settings are in `crate::settings`, the handlers' state
//! in `crate::state`.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use utoipa_actix_web::AppExt as _;

use super::audit;
use super::auth::oidc::OidcVerifier;
use super::auth::Authenticator;
use super::blobs::BlobStore;
use super::db::Db;
use super::file_modes;
use super::gc;
use super::head;
use super::jobs::{JobSettings, Jobs};
use super::queue::Queue;
use super::request_id;
use super::routes;
use super::routes::body::BodyBudget;
use super::secure::cache::EvaluatorCache;
use super::security_headers;
use super::tls;
use super::weights_cache::WeightsCache;

// Under their old paths (`more_server::startup::Settings`).
pub use crate::settings::{Settings, TlsFiles};
pub use crate::state::AppState;

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

/// A bound, not yet running service.
pub struct Application {
    address: SocketAddr,
    server: Server,
    jobs: Arc<Jobs>,
    gc: JoinHandle<()>,
    audit: audit::Auditor,
    audit_task: JoinHandle<()>,
    /// The `--metrics-bind` listener serving `/metrics` alone, and its address.
    metrics: Option<(SocketAddr, Server)>,
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
                data: settings.job_data.clone(),
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
        crate::metrics::handle();
        let metrics = match &settings.metrics.bind {
            Some(bind) => Some(crate::metrics::serve_alone(bind, state.clone())?),
            None => None,
        };
        let mut server = HttpServer::new(move || {
            App::new()
                .into_utoipa_app()
                .app_data(state.clone())
                .app_data(request_ids.clone())
                .app_data(document.clone())
                .configure(|cfg| routes::configure(cfg, &state.settings))
                .map(|app| {
                    app.service(routes::security::page)
                        .service(routes::static_files(&state.settings))
                })
                .into_app()
                // Innermost: before routing, after the access log saw the method.
                .wrap(actix_web::middleware::from_fn(head::as_get))
                .wrap(security_headers::default_headers(
                    state.auth.oidc().and_then(|v| v.token_endpoint()),
                ))
                // Inside the request's span: counts and times it by route template and status.
                .wrap(actix_web::middleware::from_fn(crate::metrics::track))
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
            metrics,
        })
    }

    /// The address of the `--metrics-bind` listener, if any.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(address, _)| *address)
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
        let metrics = self.metrics.map(|(_, server)| {
            let handle = server.handle();
            (tokio::spawn(server), handle)
        });
        let result = self.server.await;
        if let Some((task, handle)) = metrics {
            handle.stop(true).await;
            let _ = task.await;
        }
        tracing::info!("server stopped; interrupting running jobs");
        self.jobs.shutdown().await;
        self.gc.abort();
        self.audit_task.abort();
        self.audit.shutdown().await;
        result
    }
}
