//! Decoded trained weights kept in memory for predict, keyed by the weights' SHA-256, bounded in
//! bytes, least recently used evicted first.
//!
//! Without it every predict request reads the weights file, hashes it and decodes it. Entries never
//! go stale: retraining writes new weights with a new SHA-256 (a new key here), and the old entry
//! ages out.

use std::sync::{Arc, Mutex};

use lru::LruCache;
use more_core::tensor::RepresentationKind;
use more_core::wire::{AnyTensor, Bundle};
use more_core::Dtype;

use crate::error::ApiResult;

/// A byte-bounded LRU cache of decoded weight bundles.
pub struct WeightsCache {
    max_bytes: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    entries: LruCache<String, Arc<Bundle>>,
    bytes: usize,
}

/// Bytes of plane data a tensor holds in memory (planes × values × element size).
fn tensor_bytes(t: &AnyTensor) -> usize {
    let planes = match t.kind() {
        RepresentationKind::Plain => 1,
        RepresentationKind::Compact => 2,
        RepresentationKind::Matrix => 4,
    };
    let element = match t.dtype() {
        Dtype::F32 => 4,
        Dtype::F64 => 8,
    };
    t.shape().iter().product::<usize>() * planes * element
}

/// Bytes of plane data in a bundle.
pub fn bundle_bytes(bundle: &Bundle) -> usize {
    bundle.tensors.iter().map(|(_, t)| tensor_bytes(t)).sum()
}

impl WeightsCache {
    /// A cache holding at most `max_bytes` of plane data (0 disables it).
    pub fn new(max_bytes: usize) -> Self {
        WeightsCache {
            max_bytes,
            inner: Mutex::new(Inner {
                entries: LruCache::unbounded(),
                bytes: 0,
            }),
        }
    }

    /// The bundle of the weights whose SHA-256 is `sha`, from memory or from `load` (run without
    /// holding the lock, so a slow read does not block hits on other models).
    ///
    /// # Errors
    /// Whatever `load` returns.
    pub fn get_or_load(
        &self,
        sha: &str,
        load: impl FnOnce() -> ApiResult<Bundle>,
    ) -> ApiResult<Arc<Bundle>> {
        if let Some(hit) = self.lock().entries.get(sha) {
            return Ok(hit.clone());
        }
        let bundle = Arc::new(load()?);
        let bytes = bundle_bytes(&bundle);
        if bytes <= self.max_bytes {
            let mut inner = self.lock();
            if inner.entries.put(sha.to_string(), bundle.clone()).is_none() {
                inner.bytes += bytes;
            }
            while inner.bytes > self.max_bytes {
                let Some((_, old)) = inner.entries.pop_lru() else {
                    break;
                };
                inner.bytes -= bundle_bytes(&old);
            }
        }
        Ok(bundle)
    }

    /// `(entries, bytes)` held now.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.entries.len(), inner.bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map inconsistent with `bytes` beyond
        // one entry's size; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use more_core::tensor::PlanarTensor;
    use ndarray::ArrayD;

    fn bundle(values: usize) -> Bundle {
        let t = PlanarTensor::plain(ArrayD::<f32>::zeros(ndarray::IxDyn(&[values])));
        Bundle {
            metadata: Default::default(),
            tensors: vec![("w".into(), AnyTensor::from_typed(t).unwrap())],
        }
    }

    #[test]
    fn loads_once_and_evicts_least_recently_used_by_bytes() {
        let cache = WeightsCache::new(1000);
        let mut loads = 0;
        for _ in 0..3 {
            cache
                .get_or_load("a", || {
                    loads += 1;
                    Ok(bundle(100))
                })
                .unwrap();
        }
        assert_eq!(loads, 1);
        assert_eq!(cache.usage(), (1, 400));
        cache.get_or_load("b", || Ok(bundle(100))).unwrap();
        cache.get_or_load("a", || panic!("a is cached")).unwrap();
        // 400 + 400 + 400 > 1000: "b" is the least recently used and goes.
        cache.get_or_load("c", || Ok(bundle(100))).unwrap();
        assert_eq!(cache.usage(), (2, 800));
        let mut reloaded = false;
        cache
            .get_or_load("b", || {
                reloaded = true;
                Ok(bundle(100))
            })
            .unwrap();
        assert!(reloaded);
        // Larger than the whole cache: served, not kept.
        cache.get_or_load("huge", || Ok(bundle(1000))).unwrap();
        assert_eq!(cache.usage().1, 800);
    }
}
