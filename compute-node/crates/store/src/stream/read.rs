//! Reading one batch: the rows' runs ([`super::layout::plan_runs`]), one range read per run per
//! plane of each tensor (concurrently), the bytes placed at the rows' batch positions.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use more_core::nn::Batch;
use more_core::tensor::{PlanarTensor, Representation};
use ndarray::{ArrayD, IxDyn};

use super::layout::{plan_runs, Run, TensorBlob, E};
use super::Inner;
use crate::error::{StoreError, StoreResult};

/// Range reads of one batch in flight at once.
const READS_IN_FLIGHT: usize = 16;

/// The rows at `indices` (all `< inner.samples`) as a batch.
pub(super) async fn batch<R: Representation<f32>>(
    inner: &Inner,
    rep: &R,
    indices: &[usize],
) -> StoreResult<Batch<f32, R>> {
    let starts: Vec<usize> = inner.layouts.iter().map(|l| l.start).collect();
    let runs = plan_runs(&starts, indices);
    let x = tensor(inner, rep, &runs, indices.len(), |s| {
        &inner.layouts[s].features
    })
    .await?;
    let y = tensor(inner, rep, &runs, indices.len(), |s| {
        &inner.layouts[s].targets
    })
    .await?;
    Ok((x, y))
}

/// One tensor of the batch (`which` picks features or targets of a shard).
async fn tensor<'a, R: Representation<f32>>(
    inner: &'a Inner,
    rep: &R,
    runs: &[Run],
    rows: usize,
    which: impl Fn(usize) -> &'a TensorBlob,
) -> StoreResult<PlanarTensor<f32, R>> {
    let first = which(0);
    let row_values = first.row_values;
    let mut planes = vec![vec![0f32; rows * row_values]; R::PLANES];
    let reads = runs.iter().flat_map(|run| {
        let blob = which(run.shard);
        let rows = run.first..run.first + run.positions.len();
        (0..R::PLANES).map(move |plane| (run, plane, blob, blob.range(plane, rows.clone())))
    });
    let mut done = futures_util::stream::iter(reads)
        .map(|(run, plane, blob, range)| async move {
            read_range(inner, &blob.sha256, range)
                .await
                .map(|bytes| (run, plane, blob, bytes))
        })
        .buffer_unordered(READS_IN_FLIGHT);
    while let Some(read) = done.next().await {
        let (run, plane, blob, bytes) = read?;
        place(&mut planes[plane], run, row_values, &bytes, &blob.sha256)?;
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

/// One range read, retried through transient object-store failures for the stream's retry
/// budget, counted in the stream's bytes read.
async fn read_range(inner: &Inner, sha256: &str, range: Range<u64>) -> StoreResult<Bytes> {
    let started = Instant::now();
    let mut wait = std::time::Duration::from_millis(50);
    loop {
        match inner.blobs.get_range(sha256, range.clone()).await {
            Ok(bytes) => {
                inner
                    .bytes_read
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                return Ok(bytes);
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
