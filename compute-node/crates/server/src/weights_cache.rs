//! Decoded trained weights kept in memory for predict, keyed by the weights' SHA-256, bounded in
//! bytes, least recently used evicted first.
//!
//! Without it every predict request reads the weights blob, verifies its hash and decodes it. Entries never
//! go stale: retraining writes new weights with a new SHA-256 (a new key here), and the old entry
//! ages out.

use std::sync::{Arc, Mutex};

use lru::LruCache;
use more_core::tensor::RepresentationKind;
use more_core::wire::{AnyTensor, Bundle};
use more_core::Dtype;

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

    /// The bundle of the weights whose SHA-256 is `sha`, if held (marked most recently used).
    pub fn get(&self, sha: &str) -> Option<Arc<Bundle>> {
        self.lock().entries.get(sha).cloned()
    }

    /// Keeps a decoded bundle (when it fits), evicting the least recently used; returns it shared.
    pub fn insert(&self, sha: &str, bundle: Bundle) -> Arc<Bundle> {
        let bundle = Arc::new(bundle);
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
        bundle
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
    fn keeps_and_evicts_least_recently_used_by_bytes() {
        let cache = WeightsCache::new(1000);
        assert!(cache.get("a").is_none());
        cache.insert("a", bundle(100));
        assert!(cache.get("a").is_some());
        assert_eq!(cache.usage(), (1, 400));
        cache.insert("b", bundle(100));
        cache.get("a").expect("a is held");
        // 400 + 400 + 400 > 1000: "b" is the least recently used and goes.
        cache.insert("c", bundle(100));
        assert_eq!(cache.usage(), (2, 800));
        assert!(cache.get("b").is_none());
        assert!(cache.get("a").is_some());
        // Larger than the whole cache: returned, not kept.
        cache.insert("huge", bundle(1000));
        assert!(cache.get("huge").is_none());
        assert_eq!(cache.usage().1, 800);
    }
}
