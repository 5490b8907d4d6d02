//! The MPI world (rsmpi over the system's libmpi, e.g. Open MPI).

use more_core::nn::{Collective, CollectiveError};
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

use crate::DistributedError;

/// `MPI_COMM_WORLD` of this process. MPI is finalised when it is dropped.
pub struct Mpi {
    world: SimpleCommunicator,
    // Dropped last: finalises MPI.
    _universe: Universe,
}

impl Mpi {
    /// Initialises MPI (a singleton world of 1 rank when not launched by `mpirun`/`srun`).
    ///
    /// # Errors
    /// [`DistributedError::Mpi`] when MPI was already initialised in this process.
    pub fn init() -> Result<Self, DistributedError> {
        let universe = mpi::initialize()
            .ok_or_else(|| DistributedError::Mpi("MPI is already initialised".into()))?;
        Ok(Mpi {
            world: universe.world(),
            _universe: universe,
        })
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    /// An all-gather of every rank's buffer, then the sum in rank order on every rank: the same
    /// bits everywhere, independent of MPI's reduction algorithm. Each rank sends its buffer to
    /// and receives one from every other rank: `(size − 1) · 8 · len` bytes each way per call.
    fn all_reduce_sum(&self, data: &mut [f64]) -> Result<(), CollectiveError> {
        let mut lens = vec![0u64; self.size()];
        self.world
            .all_gather_into(&(data.len() as u64), &mut lens[..]);
        if lens.iter().any(|&l| l != data.len() as u64) {
            return Err(CollectiveError {
                op: "all_reduce_sum",
                message: format!("ranks disagree on the buffer length: {lens:?}"),
            });
        }
        let mut gathered = vec![0f64; data.len() * self.size()];
        self.world.all_gather_into(&data[..], &mut gathered[..]);
        sum_in_rank_order(&gathered, data);
        Ok(())
    }

    fn broadcast(&self, data: &mut Vec<u8>, root: usize) -> Result<(), CollectiveError> {
        if root >= self.size() {
            return Err(CollectiveError {
                op: "broadcast",
                message: format!("root {root} outside a world of {} ranks", self.size()),
            });
        }
        let process = self.world.process_at_rank(root as i32);
        let mut len = data.len() as u64;
        process.broadcast_into(&mut len);
        data.resize(len as usize, 0);
        process.broadcast_into(&mut data[..]);
        Ok(())
    }

    fn barrier(&self) -> Result<(), CollectiveError> {
        self.world.barrier();
        Ok(())
    }
}

/// `out[i] = gathered[0·n + i] + gathered[1·n + i] + ...` (ranks added in order).
fn sum_in_rank_order(gathered: &[f64], out: &mut [f64]) {
    let n = out.len();
    for (i, v) in out.iter_mut().enumerate() {
        *v = gathered[i];
        for r in gathered.chunks_exact(n.max(1)).skip(1) {
            *v += r[i];
        }
    }
}
