//! A job's training data: its pinned shards, loaded into memory when small (as before shards
//! existed), else streamed from the object store by range reads (`more_store::stream`). Both are
//! a [`SampleSource`] read in the trainer's shuffled order, so both train the same bits.

use more_core::nn::{Batch, NnError, SampleSource, Tensors};
use more_core::tensor::{Compact, MatrixForm, PlanarTensor, Representation, RepresentationKind};
use more_core::wire::{self, AnyTensor};
use more_store::records::Job;
use more_store::stream::{AnyStream, ShardStream, StreamOptions};
use more_store::weights::storage_limits;
use more_store::StoreError;

use super::train::Context;
use crate::error::{JobError, JobResult};

/// How a node reads the data of the jobs it trains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSettings {
    /// A job's shards of at most this many stored bytes in all are loaded into memory; larger
    /// data sets are streamed (`--stream-above-mib`).
    pub in_memory_max_bytes: u64,
    /// Most bytes of decoded batches a streamed job reads ahead of training
    /// (`--stream-read-ahead-mib`).
    pub read_ahead_bytes: u64,
}

impl Default for DataSettings {
    /// 256 MiB in memory, 64 MiB of read-ahead.
    fn default() -> Self {
        DataSettings {
            in_memory_max_bytes: 256 << 20,
            read_ahead_bytes: 64 << 20,
        }
    }
}

/// A job's samples: in memory, or streamed.
pub(super) enum Source<R> {
    /// Features and targets decoded whole (the shards concatenated in order).
    Memory(PlanarTensor<f32, R>, PlanarTensor<f32, R>),
    /// Rows read batch by batch.
    Stream(ShardStream<R>),
}

/// A job's samples in the representation of its data.
pub(super) enum Data {
    /// Compact ciphertexts.
    Compact(Source<Compact>),
    /// Matrix-form ciphertexts.
    Matrix(Source<MatrixForm>),
}

impl<R: Representation<f32>> Source<R> {
    /// The representation (and compact basis) of the data.
    pub fn representation(&self) -> R {
        match self {
            Source::Memory(x, _) => x.representation().clone(),
            Source::Stream(s) => s.representation().clone(),
        }
    }

    /// The public basis `C0` of compact data, for the trained weights' metadata.
    pub fn basis(&self) -> Option<[f64; 4]> {
        self.representation().public_key().map(|key| key.c0())
    }

    /// Bytes of the dataset read from the object store so far by a stream (`None` in memory).
    pub fn bytes_read(&self) -> Option<u64> {
        match self {
            Source::Memory(..) => None,
            Source::Stream(s) => Some(s.bytes_read()),
        }
    }

    /// A training error as the job's: the store failure behind a stream's read (transient
    /// outages leave the job `interrupted`), else the engine's error.
    pub fn job_error(&self, e: NnError) -> JobError {
        let failure = match (self, matches!(e, NnError::Source(_))) {
            (Source::Stream(s), true) => s.take_failure(),
            _ => None,
        };
        failure.map_or(JobError::Engine(e), JobError::Store)
    }
}

impl<R: Representation<f32>> SampleSource<f32, R> for Source<R> {
    fn samples(&self) -> usize {
        match self {
            Source::Memory(x, _) => x.shape()[0],
            Source::Stream(s) => s.samples(),
        }
    }

    fn gather(&self, indices: &[usize]) -> Result<Batch<f32, R>, NnError> {
        match self {
            Source::Memory(x, y) => Tensors::new(x, y)?.gather(indices),
            Source::Stream(s) => s.gather(indices),
        }
    }

    fn read_ahead(&self, upcoming: &[&[usize]]) {
        if let Source::Stream(s) = self {
            s.read_ahead(upcoming);
        }
    }
}

/// The job's pinned shards as a source: in memory up to `settings.in_memory_max_bytes` stored
/// bytes, else streamed.
///
/// # Errors
/// [`JobError::Store`] when the store fails (after retries); [`JobError::Data`] for shards
/// that are not f32 ciphertexts of one representation, basis and shape.
pub(super) fn open(cx: &Context, job: &Job) -> JobResult<Data> {
    let shards = job.pinned_shards();
    if stored_bytes(cx, job)? <= cx.data.in_memory_max_bytes {
        return load(cx, &shards);
    }
    let options = StreamOptions {
        read_ahead_bytes: cx.data.read_ahead_bytes,
        retry_budget: cx.retry_budget,
    };
    let stream = cx.retry("open the dataset's shards", || {
        AnyStream::open(&cx.blobs, &cx.runtime, &shards, &options)
    });
    tracing::info!(job = %job.id, shards = shards.len(), "streaming the dataset");
    Ok(match stream.map_err(data_error)? {
        AnyStream::Compact(s) => Data::Compact(Source::Stream(s)),
        AnyStream::Matrix(s) => Data::Matrix(Source::Stream(s)),
    })
}

/// Stored bytes of the job's shards: the pinned list's sizes, or the two blobs' of a job from
/// before shards.
fn stored_bytes(cx: &Context, job: &Job) -> JobResult<u64> {
    if !job.shards.is_empty() {
        return Ok(job.shards.iter().map(|s| s.bytes).sum());
    }
    let mut total = 0;
    for sha in [&job.features_sha256, &job.targets_sha256] {
        total += cx
            .retry("read the dataset's size", || cx.blobs.size(sha))?
            .unwrap_or(0);
    }
    Ok(total)
}

/// Every shard read whole (each blob verified against its SHA-256) and decoded, concatenated in
/// order.
fn load(cx: &Context, shards: &[(String, String)]) -> JobResult<Data> {
    let limits = storage_limits();
    let read = |sha: &str, what: &str| -> JobResult<AnyTensor> {
        let bytes = cx.retry("read the dataset", || cx.blobs.get(sha))?;
        wire::decode(&bytes, &limits).map_err(|e| JobError::Data(format!("stored {what}: {e}")))
    };
    let mut parts = Vec::with_capacity(shards.len());
    for (features, targets) in shards {
        parts.push((read(features, "features")?, read(targets, "targets")?));
    }
    match parts[0].0.kind() {
        RepresentationKind::Compact => {
            Ok(Data::Compact(concatenate(typed(parts, |p| match p {
                (AnyTensor::CompactF32(x), AnyTensor::CompactF32(y)) => Some((x, y)),
                _ => None,
            })?)?))
        }
        _ => Ok(Data::Matrix(concatenate(typed(parts, |p| match p {
            (AnyTensor::MatrixF32(x), AnyTensor::MatrixF32(y)) => Some((x, y)),
            _ => None,
        })?)?)),
    }
}

/// The decoded shards as tensors of one representation (`pick` gives `None` for another).
fn typed<R>(
    parts: Vec<(AnyTensor, AnyTensor)>,
    pick: impl Fn((AnyTensor, AnyTensor)) -> Option<Batch<f32, R>>,
) -> JobResult<Vec<Batch<f32, R>>> {
    parts
        .into_iter()
        .map(|p| {
            pick(p)
                .ok_or_else(|| JobError::Data("stored dataset has unexpected tensor types".into()))
        })
        .collect()
}

/// The shards' tensors as one pair (one shard: as it is).
fn concatenate<R: Representation<f32>>(mut parts: Vec<Batch<f32, R>>) -> JobResult<Source<R>> {
    if parts.len() == 1 {
        let (x, y) = parts.pop().expect("one shard");
        return Ok(Source::Memory(x, y));
    }
    let (xs, ys): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
    let join = |t: Vec<PlanarTensor<f32, R>>| {
        PlanarTensor::concatenate(0, &t)
            .map_err(|e| JobError::Data(format!("the dataset's shards do not match: {e}")))
    };
    Ok(Source::Memory(join(xs)?, join(ys)?))
}

/// A malformed shard is the data's fault (the job fails); other store errors stay store errors.
fn data_error(e: StoreError) -> JobError {
    match e {
        StoreError::MalformedTensor(m) => JobError::Data(m),
        other => JobError::Store(other),
    }
}
