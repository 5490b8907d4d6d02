//! Reductions over axes.

use ndarray::Axis;

use super::planar::PlanarTensor;
use super::representation::Representation;
use crate::{Float, MoreError, Result};

impl<F: Float, R: Representation<F>> PlanarTensor<F, R> {
    fn reduce_axis_check(&self, op: &'static str, axis: usize) -> Result<()> {
        if axis >= self.shape().len() || self.shape()[axis] == 0 {
            return Err(MoreError::BadRank {
                op,
                expected: "a non-empty axis within the tensor's rank",
                shape: self.shape().to_vec(),
            });
        }
        Ok(())
    }

    /// Sum over `axis`, which is kept with length 1 (so the result broadcasts back).
    ///
    /// # Errors
    /// [`MoreError::BadRank`] for an axis out of range or of length 0.
    pub fn sum_axis(&self, axis: usize) -> Result<Self> {
        self.reduce_axis_check("sum_axis", axis)?;
        let planes = self
            .planes
            .iter()
            .map(|p| p.sum_axis(Axis(axis)).insert_axis(Axis(axis)))
            .collect();
        Ok(self.with_planes(planes))
    }

    /// Mean over `axis`, kept with length 1. Errors as [`Self::sum_axis`].
    pub fn mean_axis(&self, axis: usize) -> Result<Self> {
        let n = self.shape().get(axis).copied().unwrap_or(0);
        Ok(self
            .sum_axis(axis)?
            .scale(F::one() / F::from_usize(n.max(1)).unwrap()))
    }

    /// Sum of all values, as a tensor of shape `[1]`.
    pub fn sum_all(&self) -> Self {
        let planes = self
            .planes
            .iter()
            .map(|p| ndarray::arr1(&[p.sum()]).into_dyn())
            .collect();
        self.with_planes(planes)
    }

    /// Element-wise maximum over `axis` (exact, through `max(a,b) = (a+b+|a−b|)/2`), kept with
    /// length 1. Errors as [`Self::sum_axis`].
    pub fn max_axis(&self, axis: usize) -> Result<Self> {
        self.reduce_axis_check("max_axis", axis)?;
        let mut acc = self.slice_axis(axis, 0, 1)?;
        for i in 1..self.shape()[axis] {
            acc = acc.maximum(&self.slice_axis(axis, i, i + 1)?)?;
        }
        Ok(acc)
    }
}
