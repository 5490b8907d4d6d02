//! Collective operations between the processes (ranks) of one data-parallel training run.
//!
//! MORE ciphertexts are real planes and ciphertext addition is plane-wise addition, so summing
//! encrypted gradients across ranks is a plain float sum of their planes: no custom reduction.
//! [`Local`] is the single-process world (rank 0 of 1); an MPI implementation lives in the compute
//! node's `more-distributed` crate behind its `mpi` feature, so this crate never links libmpi.

use thiserror::Error;

/// A collective operation failed (a transport error, or ranks that disagree on a length).
#[derive(Debug, Error, Clone, PartialEq)]
#[error("collective {op}: {message}")]
pub struct CollectiveError {
    /// The operation: `"all_reduce_sum"`, `"broadcast"` or `"barrier"`.
    pub op: &'static str,
    /// What went wrong.
    pub message: String,
}

/// The ranks of one run. Every rank must call the same operations in the same order with buffers
/// of the same length.
pub trait Collective {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Replaces `data` on every rank by the element-wise sum over all ranks. Implementations add
    /// the ranks' buffers in rank order (rank 0 + rank 1 + ...), so every rank gets the same bits
    /// and a run is reproducible.
    ///
    /// # Errors
    /// A transport failure or a length that differs between ranks.
    fn all_reduce_sum(&self, data: &mut [f64]) -> Result<(), CollectiveError>;
    /// Replaces `data` on every rank by `root`'s bytes (the length may change).
    ///
    /// # Errors
    /// A transport failure or `root >= size()`.
    fn broadcast(&self, data: &mut Vec<u8>, root: usize) -> Result<(), CollectiveError>;
    /// Returns once every rank has called it.
    ///
    /// # Errors
    /// A transport failure.
    fn barrier(&self) -> Result<(), CollectiveError>;
}

/// The single-process world: rank 0 of 1; every operation leaves the data as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Local;

impl Collective for Local {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_reduce_sum(&self, _data: &mut [f64]) -> Result<(), CollectiveError> {
        Ok(())
    }
    fn broadcast(&self, _data: &mut Vec<u8>, root: usize) -> Result<(), CollectiveError> {
        if root != 0 {
            return Err(CollectiveError {
                op: "broadcast",
                message: format!("root {root} outside a world of 1 rank"),
            });
        }
        Ok(())
    }
    fn barrier(&self) -> Result<(), CollectiveError> {
        Ok(())
    }
}

/// The contiguous part of a mini-batch's `len` samples that `rank` of `size` computes:
/// `[rank·len/size, (rank+1)·len/size)`. The parts of all ranks cover the batch in order, without
/// overlap; a rank's part is empty when the batch has fewer samples than ranks.
pub fn shard_range(len: usize, rank: usize, size: usize) -> std::ops::Range<usize> {
    let size = size.max(1);
    (rank * len / size)..((rank + 1) * len / size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_in_order() {
        for len in [0, 1, 3, 32, 33] {
            for size in 1..=5 {
                let mut next = 0;
                for rank in 0..size {
                    let r = shard_range(len, rank, size);
                    assert_eq!(r.start, next, "len {len} size {size} rank {rank}");
                    assert!(r.len() <= len.div_ceil(size));
                    next = r.end;
                }
                assert_eq!(next, len);
            }
        }
    }

    #[test]
    fn local_is_rank_zero_of_one_and_keeps_data() {
        let mut v = vec![1.5, -2.0];
        Local.all_reduce_sum(&mut v).unwrap();
        assert_eq!(v, [1.5, -2.0]);
        let mut b = vec![7u8];
        Local.broadcast(&mut b, 0).unwrap();
        assert_eq!(b, [7]);
        assert!(Local.broadcast(&mut b, 1).is_err());
        assert_eq!((Local.rank(), Local.size()), (0, 1));
        Local.barrier().unwrap();
    }
}
