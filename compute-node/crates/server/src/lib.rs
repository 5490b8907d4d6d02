//! The REST service (contract: `compute-node/API.md`, served as OpenAPI at `/v1/openapi.json`).
//! Never imports the secret key type: the node only ever sees ciphertexts and public bases.
//!
//! - [`startup`]: settings, the [`startup::Application`] (bind, run, graceful stop);
//! - [`routes`]: the handlers;
//! - [`storage`]: the data directory (atomic writes, checksums);
//! - [`jobs`]: the training runner;
//! - [`weights_cache`]: decoded trained weights kept for predict (LRU, bounded bytes);
//! - [`error`]: the JSON error type.

pub mod error;
pub mod jobs;
pub mod routes;
pub mod startup;
pub mod storage;
pub mod weights_cache;

use std::path::PathBuf;

pub use startup::{Application, Settings};

/// `more-node serve` options.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Where datasets, models and jobs are stored.
    #[arg(long, env = "MORE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "MORE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Directory of the web page (served at `/`, with `pkg/` for the wasm client).
    #[arg(long, default_value = "web")]
    pub web_dir: PathBuf,
    /// Largest accepted upload (a dataset tensor or a predict batch), in MiB.
    #[arg(long, default_value_t = 512)]
    pub max_upload_mb: usize,
    /// Memory for decoded trained weights kept between predict requests, in MiB (0: none).
    #[arg(long, default_value_t = 256)]
    pub model_cache_mb: usize,
}

/// Runs the service until SIGINT/SIGTERM (graceful: running jobs are saved as `interrupted`).
///
/// # Errors
/// When the data directory cannot be opened or the address bound.
pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn")),
        )
        .try_init();
    let settings = Settings {
        data_dir: args.data_dir,
        bind: args.bind,
        web_dir: args.web_dir,
        max_upload_bytes: args.max_upload_mb.saturating_mul(1 << 20),
        model_cache_bytes: args.model_cache_mb.saturating_mul(1 << 20),
        ..Settings::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = Application::build(settings).await?;
        tracing::info!(address = %app.address(), "compute node listening");
        app.run_until_stopped().await?;
        Ok(())
    })
}
