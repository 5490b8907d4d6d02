//! The handlers' shared state ([`AppState`]), built once by `crate::startup` and handed to
//! every request. Kept apart from the startup so that a handler names its state without
//! importing the module that wires the handlers (no import circle through `startup`).

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::audit;
use crate::auth::Authenticator;
use crate::blobs::BlobStore;
use crate::db::Db;
use crate::jobs::Jobs;
use crate::routes::body::BodyBudget;
use crate::secure::cache::EvaluatorCache;
use crate::settings::Settings;
use crate::weights_cache::WeightsCache;

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
