//! The real element types the planes are stored in (`f32`, `f64`).

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, MulAssign, SubAssign};

/// Element type tag, as written in the wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary64.
    F64,
}

impl Dtype {
    /// Bytes per stored value.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }
}

/// A real floating-point type planes are stored in. Implemented for `f32` and `f64`.
pub trait Float:
    num_traits::Float
    + num_traits::FromPrimitive
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + AddAssign
    + SubAssign
    + MulAssign
    + Sum
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + 'static
{
    /// The wire-format tag of this type.
    const DTYPE: Dtype;
    /// Lossless (f32 → f64) or exact (f64) widening.
    fn as_f64(self) -> f64;
    /// Rounding conversion from `f64`.
    fn of_f64(value: f64) -> Self;
}

impl Float for f32 {
    const DTYPE: Dtype = Dtype::F32;
    fn as_f64(self) -> f64 {
        self as f64
    }
    fn of_f64(value: f64) -> Self {
        value as f32
    }
}

impl Float for f64 {
    const DTYPE: Dtype = Dtype::F64;
    fn as_f64(self) -> f64 {
        self
    }
    fn of_f64(value: f64) -> Self {
        value
    }
}
