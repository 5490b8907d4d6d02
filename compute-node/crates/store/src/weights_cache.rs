//! Weights kept in memory between requests, keyed by the blob's SHA-256, bounded in bytes, least
//! recently used evicted first: decoded bundles for predict, and the encoded blobs that
//! `GET /v1/models/{id}/weights` sends (shared, not copied, by concurrent requests).
//!
//! Without it every predict request reads the weights blob, verifies its hash and decodes it, and
//! every weights download holds its own copy. Entries never go stale: retraining writes new
//! weights with a new SHA-256 (a new key here), and the old entry ages out. [`WeightsCache::loading`]
//! makes concurrent misses of one blob load it once.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lru::LruCache;
use more_core::tensor::RepresentationKind;
use more_core::wire::{AnyTensor, Bundle};
use more_core::Dtype;

/// A byte-bounded LRU cache of weight blobs, decoded or encoded.
pub struct WeightsCache {
    max_bytes: usize,
    inner: Mutex<Inner>,
    /// Striped locks for single-flight loads (a collision only serializes two loads).
    loads: Vec<Arc<tokio::sync::Mutex<()>>>,
}

/// An entry's key: the blob's SHA-256 and whether it is held decoded.
type Key = (String, bool);

#[derive(Clone)]
enum Entry {
    Decoded(Arc<Bundle>),
    Encoded(Bytes),
}

impl Entry {
    fn bytes(&self) -> usize {
        match self {
            Entry::Decoded(b) => bundle_bytes(b),
            Entry::Encoded(b) => b.len(),
        }
    }
}

struct Inner {
    entries: LruCache<Key, Entry>,
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

const LOAD_STRIPES: usize = 16;

impl WeightsCache {
    /// A cache holding at most `max_bytes` (0 disables it).
    pub fn new(max_bytes: usize) -> Self {
        WeightsCache {
            max_bytes,
            inner: Mutex::new(Inner {
                entries: LruCache::unbounded(),
                bytes: 0,
            }),
            loads: (0..LOAD_STRIPES).map(|_| Default::default()).collect(),
        }
    }

    /// The decoded bundle of the weights whose SHA-256 is `sha`, if held (marked most recently
    /// used).
    pub fn get(&self, sha: &str) -> Option<Arc<Bundle>> {
        match self.lock().entries.get(&(sha.to_string(), true)) {
            Some(Entry::Decoded(b)) => Some(b.clone()),
            _ => None,
        }
    }

    /// Keeps a decoded bundle (when it fits), evicting the least recently used; returns it shared.
    pub fn insert(&self, sha: &str, bundle: Bundle) -> Arc<Bundle> {
        let bundle = Arc::new(bundle);
        let _ = self.keep((sha.to_string(), true), Entry::Decoded(bundle.clone()));
        bundle
    }

    /// The encoded blob `sha`, if held (marked most recently used).
    pub fn get_encoded(&self, sha: &str) -> Option<Bytes> {
        match self.lock().entries.get(&(sha.to_string(), false)) {
            Some(Entry::Encoded(b)) => Some(b.clone()),
            _ => None,
        }
    }

    /// Keeps an encoded blob when it fits, evicting the least recently used; whether it was
    /// kept.
    pub fn insert_encoded(&self, sha: &str, bytes: Bytes) -> bool {
        self.keep((sha.to_string(), false), Entry::Encoded(bytes))
    }

    /// A lock to hold while loading `sha` on a miss (then look again before loading): concurrent
    /// misses of one blob load it once.
    pub async fn loading(&self, sha: &str) -> tokio::sync::OwnedMutexGuard<()> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let stripe = BuildHasherDefault::<DefaultHasher>::default().hash_one(sha) as usize;
        self.loads[stripe % LOAD_STRIPES].clone().lock_owned().await
    }

    fn keep(&self, key: Key, entry: Entry) -> bool {
        let bytes = entry.bytes();
        if bytes > self.max_bytes {
            return false;
        }
        let mut inner = self.lock();
        match inner.entries.put(key, entry) {
            Some(old) => inner.bytes = inner.bytes - old.bytes() + bytes,
            None => inner.bytes += bytes,
        }
        while inner.bytes > self.max_bytes {
            let Some((_, old)) = inner.entries.pop_lru() else {
                break;
            };
            inner.bytes -= old.bytes();
        }
        true
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
        // Encoded blobs share the bytes bound; the same SHA-256 decoded is another entry.
        assert!(cache.insert_encoded("a", Bytes::from(vec![0u8; 300])));
        assert!(!cache.insert_encoded("big", Bytes::from(vec![0u8; 1001])));
        assert_eq!(cache.get_encoded("a").map(|b| b.len()), Some(300));
        assert!(
            cache.get("c").is_none(),
            "the least recently used made room"
        );
        assert!(cache.get("a").is_some());
        assert!(cache.get_encoded("c").is_none());
        assert_eq!(cache.usage(), (2, 700));
    }
}
