//! Reading one batch: the rows' runs ([`super::layout::plan_runs`]), one request per shard and
//! plane of each tensor for all its runs' ranges (concurrently, within the stream's bound of
//! requests in flight), the bytes placed at the rows' batch positions.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use more_core::nn::Batch;
use more_core::tensor::{PlanarTensor, Representation};
use ndarray::{ArrayD, IxDyn};

use super::layout::{plan_runs, Run, TensorBlob, E};
use super::{Inner, READS_IN_FLIGHT};
use crate::error::{StoreError, StoreResult};

/// The rows at `indices` (all `< inner.samples`) as a batch.
pub(super) async fn batch<R: Representation<f32>>(
    inner: &Inner,
    rep: &R,
    indices: &[usize],
) -> StoreResult<Batch<f32, R>> {
    let starts: Vec<usize> = inner.layouts.iter().map(|l| l.start).collect();
    let runs = plan_runs(&starts, indices);
    let x = tensor(inner, rep, &runs, indices.len(), Part::Features).await?;
    let y = tensor(inner, rep, &runs, indices.len(), Part::Targets).await?;
    Ok((x, y))
}

/// Which tensor of a shard a read is for.
#[derive(Clone, Copy)]
enum Part {
    Features,
    Targets,
}

impl Part {
    fn of(self, inner: &Inner, shard: usize) -> &TensorBlob {
        match self {
            Part::Features => &inner.layouts[shard].features,
            Part::Targets => &inner.layouts[shard].targets,
        }
    }
}

/// One tensor of the batch. (The reads are named by index, not by reference, so that the future
/// is `Send` for every lifetime: a read-ahead runs it as a task of its own.)
async fn tensor<R: Representation<f32>>(
    inner: &Inner,
    rep: &R,
    runs: &[Run],
    rows: usize,
    part: Part,
) -> StoreResult<PlanarTensor<f32, R>> {
    let first = part.of(inner, 0);
    let row_values = first.row_values;
    let mut planes = vec![vec![0f32; rows * row_values]; R::PLANES];
    let reads: Vec<(Range<usize>, usize)> = shard_groups(runs)
        .into_iter()
        .flat_map(|group| (0..R::PLANES).map(move |plane| (group.clone(), plane)))
        .collect();
    let mut done = futures_util::stream::iter(reads)
        .map(|(group, plane)| async move {
            let blob = part.of(inner, runs[group.start].shard);
            let ranges: Vec<Range<u64>> = runs[group.clone()]
                .iter()
                .map(|run| blob.range(plane, run.first..run.first + run.positions.len()))
                .collect();
            read_ranges(inner, &blob.sha256, &ranges)
                .await
                .map(|parts| (group, plane, blob, parts))
        })
        .buffer_unordered(READS_IN_FLIGHT);
    while let Some(read) = done.next().await {
        let (group, plane, blob, parts) = read?;
        for (run, bytes) in runs[group].iter().zip(&parts) {
            place(&mut planes[plane], run, row_values, bytes, &blob.sha256)?;
        }
    }
    let mut shape = vec![rows];
    shape.extend_from_slice(&first.header.shape[1..]);
    let planes = planes
        .into_iter()
        .map(|p| ArrayD::from_shape_vec(IxDyn(&shape), p).expect("rows × row values"))
        .collect();
    PlanarTensor::from_planes(rep.clone(), planes)
        .map_err(|e| StoreError::MalformedTensor(format!("a batch of stored rows: {e}")))
}

/// The runs (sorted by shard) as groups of consecutive runs of one shard: one request each.
fn shard_groups(runs: &[Run]) -> Vec<Range<usize>> {
    let mut groups: Vec<Range<usize>> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if runs[g.start].shard == run.shard => g.end = i + 1,
            _ => groups.push(i..i + 1),
        }
    }
    groups
}

/// Copies a run's rows (little-endian f32) to their batch positions, refusing NaN and ±∞ as a
/// whole-tensor decode would.
fn place(
    plane: &mut [f32],
    run: &Run,
    row_values: usize,
    bytes: &Bytes,
    sha256: &str,
) -> StoreResult<()> {
    let row_bytes = row_values * E as usize;
    for (k, &pos) in run.positions.iter().enumerate() {
        let src = &bytes[k * row_bytes..(k + 1) * row_bytes];
        let dst = &mut plane[pos * row_values..(pos + 1) * row_values];
        for (d, s) in dst.iter_mut().zip(src.chunks_exact(E as usize)) {
            *d = f32::from_le_bytes(s.try_into().expect("4 bytes"));
            if !d.is_finite() {
                return Err(StoreError::MalformedTensor(format!(
                    "stored shard tensor {sha256} holds a NaN or infinite value"
                )));
            }
        }
    }
    Ok(())
}

/// One request for several ranges of a blob, retried through transient object-store failures
/// for the stream's retry budget, counted in the stream's bytes read.
async fn read_ranges(
    inner: &Inner,
    sha256: &str,
    ranges: &[Range<u64>],
) -> StoreResult<Vec<Bytes>> {
    let started = Instant::now();
    let mut wait = std::time::Duration::from_millis(50);
    loop {
        let permit = inner
            .reads
            .acquire()
            .await
            .expect("the stream's semaphore is never closed");
        let read = inner.blobs.get_ranges(sha256, ranges).await;
        drop(permit);
        match read {
            Ok(parts) => {
                let bytes: u64 = parts.iter().map(|b| b.len() as u64).sum();
                inner.bytes_read.fetch_add(bytes, Ordering::Relaxed);
                return Ok(parts);
            }
            Err(e) if e.is_transient() && started.elapsed() + wait < inner.retry_budget => {
                tracing::warn!(error = %e, "a range read of a dataset shard failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}
