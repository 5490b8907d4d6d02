//! Fallible allocation of buffers whose size comes from a model's geometry: a size the allocator
//! cannot give becomes [`MoreError::Allocation`] instead of aborting the process.

use crate::{Float, MoreError, Result};

/// An empty vector with room for exactly `len` items of `T`.
///
/// # Errors
/// [`MoreError::Allocation`] naming `what` when the memory cannot be reserved.
pub(crate) fn with_capacity<T>(len: usize, what: &'static str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| MoreError::Allocation {
            what,
            bytes: len.saturating_mul(std::mem::size_of::<T>()),
        })?;
    Ok(v)
}

/// `len` zeros.
///
/// # Errors
/// As [`with_capacity`].
pub(crate) fn zeros<F: Float>(len: usize, what: &'static str) -> Result<Vec<F>> {
    let mut v = with_capacity(len, what)?;
    v.resize(len, F::zero());
    Ok(v)
}

/// The number of values of `shape`.
///
/// # Errors
/// [`MoreError::Allocation`] naming `what` when the count is past `usize`.
pub(crate) fn count(shape: &[usize], what: &'static str) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or(MoreError::Allocation {
            what,
            bytes: usize::MAX,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An impossible size is an error, not an abort; a small one is exact.
    #[test]
    fn impossible_sizes_are_errors() {
        let e = with_capacity::<f64>(usize::MAX / 4, "test buffer").unwrap_err();
        assert!(
            matches!(
                e,
                MoreError::Allocation {
                    what: "test buffer",
                    ..
                }
            ),
            "{e}"
        );
        assert!(count(&[usize::MAX, 2], "t").is_err());
        assert_eq!(zeros::<f32>(5, "t").unwrap(), vec![0.0; 5]);
    }
}
