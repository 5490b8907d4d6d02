//! The [`Evaluator`]s of recently used secure models, by model id (least recently used first out,
//! at most a fixed number): building one validates the model, checks its bounds and pre-encodes
//! its weights, which a predict should not repeat. A published model never changes (a new
//! publish is a new id), so an entry is only dropped when its model is deleted or it ages out.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use more_secure::eval::Evaluator;

/// Secure models whose evaluators are kept at once.
pub const DEFAULT_ENTRIES: usize = 8;

/// Evaluators by model id.
pub struct EvaluatorCache {
    entries: Mutex<LruCache<String, Arc<Evaluator>>>,
    /// One build at a time: concurrent first predicts of one model wait for one build.
    building: tokio::sync::Mutex<()>,
}

impl EvaluatorCache {
    /// A cache of at most `entries` evaluators (at least one).
    pub fn new(entries: usize) -> Self {
        let cap = NonZeroUsize::new(entries.max(1)).unwrap_or(NonZeroUsize::MIN);
        EvaluatorCache {
            entries: Mutex::new(LruCache::new(cap)),
            building: tokio::sync::Mutex::new(()),
        }
    }

    /// The evaluator of `model`, if cached (marked most recently used).
    pub fn get(&self, model: &str) -> Option<Arc<Evaluator>> {
        self.entries.lock().ok()?.get(model).cloned()
    }

    /// Caches `evaluator` for `model`; returns it shared.
    pub fn insert(&self, model: &str, evaluator: Evaluator) -> Arc<Evaluator> {
        let evaluator = Arc::new(evaluator);
        if let Ok(mut entries) = self.entries.lock() {
            entries.put(model.to_string(), evaluator.clone());
        }
        evaluator
    }

    /// Forgets `model` (deleted).
    pub fn remove(&self, model: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.pop(model);
        }
    }

    /// Models cached now.
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }

    /// Whether none is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Held while an evaluator is built (look the model up again once it is held).
    pub async fn building(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.building.lock().await
    }
}
