//! Where the rows of a stored shard are: each shard is two wire tensors (features
//! `(samples, ...)` and targets `(samples, outputs)`), whose row `r` of plane `p` sits at byte
//! `header + (p·V + r·row)·4` (`shared/WIRE_FORMAT.md`: planes plane-major, each row-major, f32).
//! Headers are read once per blob with two small range reads and parsed by
//! [`more_core::wire::decode_header`].

use std::ops::Range;

use more_core::tensor::RepresentationKind;
use more_core::wire::{decode_header, Header, WireError, FIXED_HEADER_LEN};
use more_core::Dtype;

use crate::blobs::BlobStore;
use crate::error::{StoreError, StoreResult};

/// Bytes of one f32 plane value.
pub(super) const E: u64 = 4;

/// One stored tensor blob of a shard: its header and its row geometry.
#[derive(Clone, Debug)]
pub(super) struct TensorBlob {
    /// The blob's SHA-256.
    pub sha256: String,
    /// The parsed header (kind, shape, basis).
    pub header: Header,
    /// Values of one row (the product of the shape after the first axis).
    pub row_values: usize,
}

impl TensorBlob {
    /// Reads and checks the header of blob `sha256`: an f32 compact or matrix-form tensor of
    /// rank ≥ 2 with at least one row. Counts the bytes read into `read`.
    pub async fn open(blobs: &BlobStore, sha256: &str, read: &mut u64) -> StoreResult<Self> {
        let size = blobs
            .size(sha256)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("stored blob {sha256} is missing")))?;
        if size < FIXED_HEADER_LEN as u64 {
            return Err(StoreError::MalformedTensor(format!(
                "stored shard tensor {sha256}: {size} bytes, shorter than a tensor header"
            )));
        }
        let fixed = blobs.get_range(sha256, 0..FIXED_HEADER_LEN as u64).await?;
        *read += fixed.len() as u64;
        let header = match decode_header(&fixed) {
            Ok(h) => h,
            Err(WireError::Truncated { expected, .. }) if (expected as u64) <= size => {
                let whole = blobs.get_range(sha256, 0..expected as u64).await?;
                *read += whole.len() as u64;
                decode_header(&whole).map_err(|e| malformed(sha256, e))?
            }
            Err(e) => return Err(malformed(sha256, e)),
        };
        if header.total_len as u64 != size {
            return Err(StoreError::MalformedTensor(format!(
                "stored shard tensor {sha256} is {size} bytes, its header says {}",
                header.total_len
            )));
        }
        let kind_ok = matches!(
            header.kind,
            RepresentationKind::Compact | RepresentationKind::Matrix
        );
        if !kind_ok || header.dtype != Dtype::F32 || header.shape.len() < 2 || header.shape[0] == 0
        {
            return Err(StoreError::MalformedTensor(format!(
                "stored shard tensor {sha256} is not f32 ciphertext rows (kind {:?}, shape {:?})",
                header.kind, header.shape
            )));
        }
        let row_values = header.shape[1..].iter().product();
        Ok(TensorBlob {
            sha256: sha256.to_string(),
            header,
            row_values,
        })
    }

    /// Rows of the tensor.
    pub fn rows(&self) -> usize {
        self.header.shape[0]
    }

    /// Bytes of `len` rows of one plane.
    pub fn run_bytes(&self, len: usize) -> u64 {
        (len * self.row_values) as u64 * E
    }

    /// The byte range of rows `rows` of plane `plane`.
    pub fn range(&self, plane: usize, rows: Range<usize>) -> Range<u64> {
        let values = self.rows() * self.row_values;
        let start = self.header.header_len as u64
            + (plane * values + rows.start * self.row_values) as u64 * E;
        start..start + self.run_bytes(rows.len())
    }
}

fn malformed(sha256: &str, e: WireError) -> StoreError {
    StoreError::MalformedTensor(format!("stored shard tensor {sha256}: {e}"))
}

/// A shard as the stream reads it: its two tensors and its first row's global index.
#[derive(Clone, Debug)]
pub(super) struct ShardLayout {
    /// Global index of its first row.
    pub start: usize,
    /// Its features.
    pub features: TensorBlob,
    /// Its targets.
    pub targets: TensorBlob,
}

/// Checks that the shards form one data set: the same representation (and compact basis), the
/// same sample shape and outputs, and as many target rows as feature rows in each shard.
pub(super) fn check_consistent(shards: &[ShardLayout]) -> StoreResult<()> {
    let Some(first) = shards.first() else {
        return Err(StoreError::MalformedTensor(
            "a dataset without shards".into(),
        ));
    };
    let same = |a: &Header, b: &Header| {
        a.kind == b.kind && a.basis == b.basis && a.shape[1..] == b.shape[1..]
    };
    for s in shards {
        let (f, t) = (&s.features.header, &s.targets.header);
        if f.shape[0] != t.shape[0]
            || t.shape.len() != 2
            || f.kind != t.kind
            || f.basis != t.basis
            || !same(f, &first.features.header)
            || !same(t, &first.targets.header)
        {
            return Err(StoreError::MalformedTensor(format!(
                "shard of features {} and targets {} does not match the dataset's first shard \
                 (representation, key basis, shapes {:?} and {:?})",
                s.features.sha256, s.targets.sha256, f.shape, t.shape
            )));
        }
    }
    Ok(())
}

/// A run of consecutive rows of one shard, and where each lands in the batch.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Run {
    /// The shard (index into the layout list).
    pub shard: usize,
    /// Its rows `first..first + positions.len()`.
    pub first: usize,
    /// The batch position of each row of the run, in row order.
    pub positions: Vec<usize>,
}

/// The batch's rows as runs of consecutive rows per shard: global index `indices[pos]` is row
/// `g − start` of the last shard starting at or before `g`. Runs are sorted by shard and row;
/// a row asked for twice is read twice.
pub(super) fn plan_runs(starts: &[usize], indices: &[usize]) -> Vec<Run> {
    let mut rows: Vec<(usize, usize, usize)> = indices
        .iter()
        .enumerate()
        .map(|(pos, &g)| {
            let shard = starts.partition_point(|&s| s <= g) - 1;
            (shard, g - starts[shard], pos)
        })
        .collect();
    rows.sort_unstable();
    let mut runs: Vec<Run> = Vec::new();
    for (shard, row, pos) in rows {
        match runs.last_mut() {
            Some(run) if run.shard == shard && run.first + run.positions.len() == row => {
                run.positions.push(pos)
            }
            _ => runs.push(Run {
                shard,
                first: row,
                positions: vec![pos],
            }),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_runs_of_consecutive_rows_per_shard() {
        // Shards of 4, 3 and 5 rows start at 0, 4 and 7.
        let runs = plan_runs(&[0, 4, 7], &[5, 0, 6, 1, 11, 3, 4]);
        let want = |shard, first, positions: &[usize]| Run {
            shard,
            first,
            positions: positions.to_vec(),
        };
        assert_eq!(
            runs,
            vec![
                want(0, 0, &[1, 3]),
                want(0, 3, &[5]),
                want(1, 0, &[6, 0, 2]),
                want(2, 4, &[4]),
            ]
        );
    }
}
