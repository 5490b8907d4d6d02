//! Linear operations: they act on every plane alike, whatever the representation.

use ndarray::{ArrayD, Axis, IxDyn, Slice};

use super::planar::PlanarTensor;
use super::representation::Representation;
use crate::{Float, MoreError, Result};

/// The NumPy-style broadcast of two shapes.
pub(crate) fn broadcast_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(MoreError::ShapeMismatch {
                    op,
                    lhs: a.to_vec(),
                    rhs: b.to_vec(),
                })
            }
        };
    }
    Ok(out)
}

fn broadcast_plane<F: Float>(p: &ArrayD<F>, shape: &[usize]) -> ArrayD<F> {
    if p.shape() == shape {
        p.clone()
    } else {
        p.broadcast(IxDyn(shape))
            .expect("shape checked by broadcast_shape")
            .to_owned()
    }
}

/// The values at `indices` along `axis` of one plane; along the first axis of a contiguous plane
/// (mini-batches) by copying whole rows.
fn select_plane<F: Float>(p: &ArrayD<F>, axis: usize, indices: &[usize]) -> ArrayD<F> {
    match (axis, p.as_slice()) {
        (0, Some(values)) => {
            let row = p.shape()[1..].iter().product::<usize>();
            let mut out = Vec::with_capacity(indices.len() * row);
            for &i in indices {
                out.extend_from_slice(&values[i * row..(i + 1) * row]);
            }
            let mut shape = p.shape().to_vec();
            shape[0] = indices.len();
            ArrayD::from_shape_vec(IxDyn(&shape), out).expect("rows of the plane's shape")
        }
        _ => p.select(Axis(axis), indices),
    }
}

impl<F: Float, R: Representation<F>> PlanarTensor<F, R> {
    fn zip_planes(
        &self,
        other: &Self,
        op: &'static str,
        f: impl Fn(&ArrayD<F>, &ArrayD<F>) -> ArrayD<F>,
    ) -> Result<Self> {
        self.check_same_rep(other, op)?;
        let shape = broadcast_shape(op, self.shape(), other.shape())?;
        let planes = self
            .planes
            .iter()
            .zip(&other.planes)
            .map(|(a, b)| {
                if a.shape() == shape.as_slice() {
                    f(a, b)
                } else {
                    f(&broadcast_plane(a, &shape), b)
                }
            })
            .collect();
        Ok(self.with_planes(planes))
    }

    /// Both operands' planes broadcast to their common shape.
    pub(crate) fn broadcast_pair(
        &self,
        other: &Self,
        op: &'static str,
    ) -> Result<(Vec<ArrayD<F>>, Vec<ArrayD<F>>)> {
        self.check_same_rep(other, op)?;
        let shape = broadcast_shape(op, self.shape(), other.shape())?;
        let a = self
            .planes
            .iter()
            .map(|p| broadcast_plane(p, &shape))
            .collect();
        let b = other
            .planes
            .iter()
            .map(|p| broadcast_plane(p, &shape))
            .collect();
        Ok((a, b))
    }

    /// Element-wise sum, with broadcasting.
    ///
    /// # Errors
    /// [`MoreError::ShapeMismatch`] if the shapes do not broadcast; [`MoreError::BasisMismatch`]
    /// for compact tensors of different bases.
    pub fn add(&self, other: &Self) -> Result<Self> {
        self.zip_planes(other, "add", |a, b| a + b)
    }

    /// Element-wise difference, with broadcasting. Errors as [`Self::add`].
    pub fn sub(&self, other: &Self) -> Result<Self> {
        self.zip_planes(other, "sub", |a, b| a - b)
    }

    /// `self ← a·self + b·other` in place, one pass over each plane: the optimizers' updates
    /// without a temporary tensor. The same values, bit for bit, as `self.scale(a)` plus
    /// `other.scale(b)`.
    ///
    /// # Errors
    /// [`MoreError::ShapeMismatch`] unless both have the same shape (no broadcasting);
    /// [`MoreError::BasisMismatch`] for compact tensors of different bases. `self` is unchanged
    /// on error.
    pub fn scale_add_assign(&mut self, a: F, b: F, other: &Self) -> Result<()> {
        self.check_same_rep(other, "scale_add_assign")?;
        if self.shape() != other.shape() {
            return Err(MoreError::ShapeMismatch {
                op: "scale_add_assign",
                lhs: self.shape().to_vec(),
                rhs: other.shape().to_vec(),
            });
        }
        for (p, q) in self.planes.iter_mut().zip(&other.planes) {
            ndarray::Zip::from(p)
                .and(q)
                .for_each(|x, &y| *x = a * *x + b * y);
        }
        Ok(())
    }

    /// Negation.
    pub fn neg(&self) -> Self {
        self.scale(-F::one())
    }

    /// Multiplication by a plaintext scalar.
    pub fn scale(&self, c: F) -> Self {
        self.with_planes(self.planes.iter().map(|p| p * c).collect())
    }

    /// Adds the plaintext scalar `c` (as `c·I`) to every value.
    pub fn add_scalar(&self, c: F) -> Self {
        let planes = self
            .planes
            .iter()
            .zip(self.rep.identity())
            .map(|(p, &i)| {
                if i == 0.0 {
                    p.clone()
                } else {
                    p + c * F::of_f64(i)
                }
            })
            .collect();
        self.with_planes(planes)
    }

    /// Element-wise product with a plaintext tensor (broadcast): `w·I · C` scales every plane.
    ///
    /// # Errors
    /// [`MoreError::ShapeMismatch`] if the shapes do not broadcast.
    pub fn mul_plain(&self, w: &ArrayD<F>) -> Result<Self> {
        let shape = broadcast_shape("mul_plain", self.shape(), w.shape())?;
        let planes = self
            .planes
            .iter()
            .map(|p| &broadcast_plane(p, &shape) * w)
            .collect();
        Ok(self.with_planes(planes))
    }

    /// Adds a plaintext tensor (broadcast) as `w·I`.
    ///
    /// # Errors
    /// [`MoreError::ShapeMismatch`] if the shapes do not broadcast.
    pub fn add_plain(&self, w: &ArrayD<F>) -> Result<Self> {
        self.add(&Self::embed(self.rep.clone(), w.clone()))
    }

    /// Same values, new shape (row-major order).
    ///
    /// # Errors
    /// [`MoreError::BadReshape`] if the number of values differs.
    pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
        self.clone().into_reshaped(shape)
    }

    /// [`Self::reshape`] without copying the values.
    ///
    /// # Errors
    /// As [`Self::reshape`].
    pub fn into_reshaped(self, shape: &[usize]) -> Result<Self> {
        let bad = || MoreError::BadReshape {
            from: self.shape().to_vec(),
            from_len: self.len(),
            to: shape.to_vec(),
        };
        if shape.iter().product::<usize>() != self.len() {
            return Err(bad());
        }
        let planes = (self.planes.into_iter())
            .map(|p| {
                let p = if p.is_standard_layout() {
                    p
                } else {
                    p.as_standard_layout().into_owned()
                };
                p.into_shape_with_order(IxDyn(shape))
                    .expect("a standard layout of the same length")
            })
            .collect();
        Ok(PlanarTensor {
            planes,
            rep: self.rep,
        })
    }

    /// Permutes the axes (`axes[i]` is the old axis that becomes axis `i`). Each plane is
    /// permuted; planes are never swapped.
    ///
    /// # Errors
    /// [`MoreError::BadRank`] if `axes` is not a permutation of the tensor's axes.
    pub fn permute(&self, axes: &[usize]) -> Result<Self> {
        let mut seen = vec![false; self.shape().len()];
        if axes.len() != seen.len()
            || axes
                .iter()
                .any(|&a| a >= seen.len() || std::mem::replace(&mut seen[a], true))
        {
            return Err(MoreError::BadRank {
                op: "permute",
                expected: "a permutation of the axes",
                shape: self.shape().to_vec(),
            });
        }
        let planes = self
            .planes
            .iter()
            .map(|p| p.clone().permuted_axes(IxDyn(axes)))
            .collect();
        Ok(self.with_planes(planes))
    }

    /// Transpose of a 2-D tensor.
    ///
    /// # Errors
    /// [`MoreError::BadRank`] unless the tensor is 2-D.
    pub fn transpose(&self) -> Result<Self> {
        if self.shape().len() != 2 {
            return Err(MoreError::BadRank {
                op: "transpose",
                expected: "a 2-D tensor",
                shape: self.shape().to_vec(),
            });
        }
        self.permute(&[1, 0])
    }

    /// Broadcasts to a larger shape (NumPy rules).
    ///
    /// # Errors
    /// [`MoreError::ShapeMismatch`] if the tensor does not broadcast to `shape`.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Self> {
        if broadcast_shape("broadcast_to", self.shape(), shape)? != shape {
            return Err(MoreError::ShapeMismatch {
                op: "broadcast_to",
                lhs: self.shape().to_vec(),
                rhs: shape.to_vec(),
            });
        }
        Ok(self.with_planes(
            self.planes
                .iter()
                .map(|p| broadcast_plane(p, shape))
                .collect(),
        ))
    }

    fn check_axis(&self, op: &'static str, axis: usize) -> Result<()> {
        if axis >= self.shape().len() {
            return Err(MoreError::BadRank {
                op,
                expected: "an axis within the tensor's rank",
                shape: self.shape().to_vec(),
            });
        }
        Ok(())
    }

    /// The values at `indices` along `axis` (a gather; indices may repeat). Used for
    /// mini-batches and for im2col.
    ///
    /// # Errors
    /// [`MoreError::BadRank`] for a bad axis; [`MoreError::InvalidParameter`] for an index out
    /// of range.
    pub fn select(&self, axis: usize, indices: &[usize]) -> Result<Self> {
        self.check_axis("select", axis)?;
        let n = self.shape()[axis];
        if let Some(&i) = indices.iter().find(|&&i| i >= n) {
            return Err(MoreError::InvalidParameter(format!(
                "select: index {i} out of range for axis {axis} of length {n}"
            )));
        }
        Ok(self.with_planes(
            self.planes
                .iter()
                .map(|p| select_plane(p, axis, indices))
                .collect(),
        ))
    }

    /// The contiguous range `start..end` along `axis`.
    ///
    /// # Errors
    /// As [`Self::select`].
    pub fn slice_axis(&self, axis: usize, start: usize, end: usize) -> Result<Self> {
        self.check_axis("slice_axis", axis)?;
        if start > end || end > self.shape()[axis] {
            return Err(MoreError::InvalidParameter(format!(
                "slice_axis: range {start}..{end} out of bounds for axis {axis} of shape {:?}",
                self.shape()
            )));
        }
        let planes = self
            .planes
            .iter()
            .map(|p| p.slice_axis(Axis(axis), Slice::from(start..end)).to_owned())
            .collect();
        Ok(self.with_planes(planes))
    }

    /// Joins tensors along an existing axis.
    ///
    /// # Errors
    /// [`MoreError::ShapeMismatch`] if the other axes differ, [`MoreError::BasisMismatch`] for
    /// different bases, [`MoreError::InvalidParameter`] for an empty list.
    pub fn concatenate(axis: usize, parts: &[Self]) -> Result<Self> {
        let first = parts
            .first()
            .ok_or_else(|| MoreError::InvalidParameter("concatenate: no tensors".into()))?;
        first.check_axis("concatenate", axis)?;
        for p in parts {
            first.check_same_rep(p, "concatenate")?;
            let same_rest = p.shape().len() == first.shape().len()
                && (0..p.shape().len()).all(|i| i == axis || p.shape()[i] == first.shape()[i]);
            if !same_rest {
                return Err(MoreError::ShapeMismatch {
                    op: "concatenate",
                    lhs: first.shape().to_vec(),
                    rhs: p.shape().to_vec(),
                });
            }
        }
        let planes = (0..R::PLANES)
            .map(|k| {
                let views: Vec<_> = parts.iter().map(|p| p.planes[k].view()).collect();
                ndarray::concatenate(Axis(axis), &views).expect("shapes checked")
            })
            .collect();
        Ok(first.with_planes(planes))
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, Axis, IxDyn};

    use super::select_plane;

    #[test]
    fn selecting_rows_of_a_contiguous_plane_matches_ndarray() {
        let p = ArrayD::from_shape_fn(IxDyn(&[5, 2, 3]), |i| {
            (i[0] * 100 + i[1] * 10 + i[2]) as f32
        });
        let indices = [4, 0, 0, 2];
        assert_eq!(select_plane(&p, 0, &indices), p.select(Axis(0), &indices));
        let transposed = p.clone().reversed_axes();
        assert_eq!(
            select_plane(&transposed, 0, &[1, 1]),
            transposed.select(Axis(0), &[1, 1])
        );
    }
}
