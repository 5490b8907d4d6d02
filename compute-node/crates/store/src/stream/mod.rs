//! Training and prediction data streamed from a dataset's stored shards, without the data set
//! in memory: a [`ShardStream`] is a [`SampleSource`] over a pinned shard list. A batch's rows
//! are read with one range read per run of consecutive rows of a shard per plane
//! ([`BlobStore::get_range`]); the headers are read once when the stream opens. Shuffling is the
//! trainer's index permutation (deterministic from the seed and the epoch), so a streamed epoch
//! is the same bits as the same epoch in memory.
//!
//! Read-ahead: told the upcoming batches, the stream starts reading them as tasks on the
//! runtime, as many as fit [`StreamOptions::read_ahead_bytes`] (decoded batch bytes); the node's
//! memory for data is that bound plus the batch being trained. The whole stream has at most
//! [`READS_IN_FLIGHT`] range reads in flight (a file store's read takes one of tokio's blocking
//! threads): when every read-ahead batch took a blocking thread and brought its own 16 reads,
//! the node grew to 316 threads, and their allocator heaps took its memory from 80 to 445 MiB
//! over one epoch of a 768 MiB dataset (issue #32's finding). Every byte read is counted ([`ShardStream::bytes_read`]).

mod layout;
mod read;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use more_core::nn::{Batch, NnError, SampleSource};
use more_core::tensor::{Compact, MatrixForm, Representation, RepresentationKind};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::blobs::BlobStore;
use crate::error::{StoreError, StoreResult};
use layout::{check_consistent, ShardLayout, TensorBlob};

/// Range reads of a stream in flight at once, over all the batches it reads.
pub const READS_IN_FLIGHT: usize = 16;

/// How a stream reads.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Most bytes of decoded batches read ahead of training (0: none; at least one batch is
    /// always read ahead when this is ≥ its size).
    pub read_ahead_bytes: u64,
    /// How long a transient object-store failure of one read is retried before the read fails.
    pub retry_budget: Duration,
}

impl Default for StreamOptions {
    /// 64 MiB of read-ahead, 2 minutes of retries.
    fn default() -> Self {
        StreamOptions {
            read_ahead_bytes: 64 << 20,
            retry_budget: Duration::from_secs(120),
        }
    }
}

/// A stream of f32 ciphertext rows of either representation.
pub enum AnyStream {
    /// Compact ciphertexts (one basis `C0` for every shard).
    Compact(ShardStream<Compact>),
    /// Matrix-form ciphertexts.
    Matrix(ShardStream<MatrixForm>),
}

impl AnyStream {
    /// Opens the stream over `shards` (each the SHA-256 of its features and its targets blob, in
    /// the dataset's order): reads every header and checks that the shards form one data set.
    /// The stream's reads later block on `runtime` (a multi-thread runtime: read-ahead runs on
    /// its blocking pool).
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] for a missing or unreadable blob;
    /// [`StoreError::MalformedTensor`] for shards that are not f32 ciphertext rows of one
    /// representation, basis and shape.
    pub async fn open(
        blobs: &BlobStore,
        runtime: &Handle,
        shards: &[(String, String)],
        options: &StreamOptions,
    ) -> StoreResult<Self> {
        let mut read = 0;
        let mut layouts = Vec::with_capacity(shards.len());
        let mut start = 0;
        for (features, targets) in shards {
            let features = TensorBlob::open(blobs, features, &mut read).await?;
            let targets = TensorBlob::open(blobs, targets, &mut read).await?;
            let rows = features.rows();
            layouts.push(ShardLayout {
                start,
                features,
                targets,
            });
            start += rows;
        }
        check_consistent(&layouts)?;
        let header = layouts[0].features.header.clone();
        let inner = Inner {
            blobs: blobs.clone(),
            layouts,
            samples: start,
            retry_budget: options.retry_budget,
            bytes_read: AtomicU64::new(read),
            reads: Semaphore::new(READS_IN_FLIGHT),
        };
        Ok(match (header.kind, header.basis) {
            (RepresentationKind::Compact, Some(basis)) => {
                AnyStream::Compact(ShardStream::new(inner, Compact { basis }, runtime, options))
            }
            _ => AnyStream::Matrix(ShardStream::new(inner, MatrixForm, runtime, options)),
        })
    }

    /// Bytes read from the object store so far (headers and rows).
    pub fn bytes_read(&self) -> u64 {
        match self {
            AnyStream::Compact(s) => s.bytes_read(),
            AnyStream::Matrix(s) => s.bytes_read(),
        }
    }
}

/// What a stream and its read-ahead tasks share.
struct Inner {
    blobs: BlobStore,
    layouts: Vec<ShardLayout>,
    samples: usize,
    retry_budget: Duration,
    bytes_read: AtomicU64,
    /// Permits for the range reads in flight ([`READS_IN_FLIGHT`]).
    reads: Semaphore,
}

/// A batch being read ahead: its indices, its decoded bytes, the task reading it.
struct Pending<R> {
    indices: Vec<usize>,
    bytes: u64,
    task: JoinHandle<StoreResult<Batch<f32, R>>>,
}

/// The samples of a pinned shard list, read batch by batch (see the module's documentation).
pub struct ShardStream<R> {
    inner: Arc<Inner>,
    rep: R,
    runtime: Handle,
    read_ahead_bytes: u64,
    pending: Mutex<VecDeque<Pending<R>>>,
    failure: Mutex<Option<StoreError>>,
}

impl<R: Representation<f32>> ShardStream<R> {
    fn new(inner: Inner, rep: R, runtime: &Handle, options: &StreamOptions) -> Self {
        ShardStream {
            inner: Arc::new(inner),
            rep,
            runtime: runtime.clone(),
            read_ahead_bytes: options.read_ahead_bytes,
            pending: Mutex::new(VecDeque::new()),
            failure: Mutex::new(None),
        }
    }

    /// The representation (and compact basis) of the rows.
    pub fn representation(&self) -> &R {
        &self.rep
    }

    /// The shape of one sample's features.
    pub fn sample_shape(&self) -> &[usize] {
        &self.inner.layouts[0].features.header.shape[1..]
    }

    /// Outputs per sample (the targets' second axis).
    pub fn outputs(&self) -> usize {
        self.inner.layouts[0].targets.header.shape[1]
    }

    /// Bytes read from the object store so far (headers and rows).
    pub fn bytes_read(&self) -> u64 {
        self.inner.bytes_read.load(Ordering::Relaxed)
    }

    /// The store failure behind the last [`NnError::Source`] this stream returned, if any (so
    /// a caller can tell a transient outage from bad data).
    pub fn take_failure(&self) -> Option<StoreError> {
        self.failure.lock().expect("failure lock").take()
    }

    /// Decoded bytes of a batch of `rows` rows (features and targets, every plane).
    fn batch_bytes(&self, rows: usize) -> u64 {
        let first = &self.inner.layouts[0];
        (first.features.run_bytes(rows) + first.targets.run_bytes(rows)) * R::PLANES as u64
    }

    /// Reads the rows at `indices` as a task on the runtime (aborted, it stops at its next
    /// read; a blocking-pool thread per batch read ahead made the node's threads and memory
    /// grow, and could not be stopped).
    fn spawn_read(&self, indices: Vec<usize>) -> JoinHandle<StoreResult<Batch<f32, R>>> {
        let (inner, rep) = (self.inner.clone(), self.rep.clone());
        self.runtime
            .spawn(async move { read::batch(&inner, &rep, &indices).await })
    }

    /// The batch at `indices`: the read-ahead one (any read ahead before it, out of line, is
    /// dropped), else read now, leaving the read-ahead of the batches after it running.
    fn take(&self, indices: &[usize]) -> StoreResult<Batch<f32, R>> {
        let next = {
            let mut pending = self.pending.lock().expect("pending lock");
            match pending.iter().position(|p| p.indices == indices) {
                Some(i) => {
                    pending.drain(..i).for_each(|p| p.task.abort());
                    pending.pop_front()
                }
                None => None,
            }
        };
        match next {
            Some(p) => self.runtime.block_on(p.task).map_err(|e| {
                StoreError::Io(format!("a read-ahead of the dataset's rows failed: {e}"))
            })?,
            None => self
                .runtime
                .block_on(read::batch(&self.inner, &self.rep, indices)),
        }
    }
}

impl<R: Representation<f32>> SampleSource<f32, R> for ShardStream<R> {
    fn samples(&self) -> usize {
        self.inner.samples
    }

    fn gather(&self, indices: &[usize]) -> Result<Batch<f32, R>, NnError> {
        if let Some(&i) = indices.iter().find(|&&i| i >= self.inner.samples) {
            return Err(NnError::Source(format!(
                "sample {i} is past the dataset's {} samples",
                self.inner.samples
            )));
        }
        self.take(indices).map_err(|e| {
            let message = NnError::Source(e.to_string());
            *self.failure.lock().expect("failure lock") = Some(e);
            message
        })
    }

    fn read_ahead(&self, upcoming: &[&[usize]]) {
        let mut pending = self.pending.lock().expect("pending lock");
        let in_line = pending
            .iter()
            .zip(upcoming)
            .all(|(p, next)| p.indices == *next);
        if !in_line || pending.len() > upcoming.len() {
            pending.drain(..).for_each(|p| p.task.abort());
        }
        let mut bytes: u64 = pending.iter().map(|p| p.bytes).sum();
        for next in &upcoming[pending.len()..] {
            let size = self.batch_bytes(next.len());
            if bytes + size > self.read_ahead_bytes {
                break;
            }
            bytes += size;
            let task = self.spawn_read(next.to_vec());
            pending.push_back(Pending {
                indices: next.to_vec(),
                bytes: size,
                task,
            });
        }
    }
}
