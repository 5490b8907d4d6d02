//! Settings and the application: bind, run, stop.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};

use super::jobs::Jobs;
use super::routes;
use super::storage::Storage;
use super::weights_cache::WeightsCache;

/// Everything the service is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Listen address (`127.0.0.1:0` picks a free port).
    pub bind: String,
    /// The web page's directory, served at `/`.
    pub web_dir: PathBuf,
    /// Largest accepted upload body (dataset tensors, predict batches), bytes.
    pub max_upload_bytes: usize,
    /// Largest accepted predict batch (samples).
    pub max_predict_batch: usize,
    /// Memory for decoded trained weights kept between predict requests, bytes (0: none).
    pub model_cache_bytes: usize,
    /// Largest accepted JSON body, bytes.
    pub max_json_bytes: usize,
    /// Actix worker threads (default: 2).
    pub workers: usize,
    /// Whether actix installs SIGINT/SIGTERM handlers (off in tests that run several servers).
    pub handle_signals: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("data"),
            bind: "127.0.0.1:8080".into(),
            web_dir: PathBuf::from("web"),
            max_upload_bytes: 512 << 20,
            max_predict_batch: 4096,
            model_cache_bytes: 256 << 20,
            max_json_bytes: 256 << 10,
            workers: 2,
            handle_signals: true,
        }
    }
}

/// Shared state of the handlers.
pub struct AppState {
    /// The data directory.
    pub storage: Storage,
    /// The job runner.
    pub jobs: Arc<Jobs>,
    /// The settings.
    pub settings: Settings,
    /// Serialises read-modify-write of dataset and model records.
    pub records: Mutex<()>,
    /// Decoded trained weights for predict.
    pub weights: WeightsCache,
}

/// A bound, not yet running service.
pub struct Application {
    address: SocketAddr,
    server: Server,
    jobs: Arc<Jobs>,
}

impl Application {
    /// Opens the data directory (marking jobs left running as `interrupted`) and binds the
    /// listener. Must be called inside a tokio runtime (training runs on its blocking pool).
    ///
    /// # Errors
    /// When the data directory cannot be opened or the address bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let storage = Storage::open(&settings.data_dir)?;
        let jobs = Arc::new(
            Jobs::new(storage.clone(), tokio::runtime::Handle::current())
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
        let listener = TcpListener::bind(&settings.bind)?;
        let address = listener.local_addr()?;
        let state = web::Data::new(AppState {
            storage,
            jobs: jobs.clone(),
            settings: settings.clone(),
            records: Mutex::new(()),
            weights: WeightsCache::new(settings.model_cache_bytes),
        });
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(
                    actix_web::middleware::Logger::new("%r %s %b %Dms")
                        .log_target("more_node::http"),
                )
                .app_data(state.clone())
                .configure(|cfg| routes::configure(cfg, &state.settings))
        })
        .workers(settings.workers.max(1))
        .shutdown_timeout(10)
        .listen(listener)?;
        if !settings.handle_signals {
            server = server.disable_signals();
        }
        Ok(Application {
            address,
            server: server.run(),
            jobs,
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
        result
    }
}
