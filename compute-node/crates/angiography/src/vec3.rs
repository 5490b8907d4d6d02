//! Minimal 3-vector in millimetres, patient coordinates.
//!
//! Coordinate system: DICOM patient LPS, the convention of the positioner angles:
//! +x toward the patient's **left**, +y **posterior**, +z **superior** (cranial). Units: mm.

use std::ops::{Add, Mul, Neg, Sub};

/// A point or direction in patient LPS coordinates (mm).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Vec3 {
    /// Toward the patient's left (mm).
    pub x: f64,
    /// Toward the patient's back (mm).
    pub y: f64,
    /// Toward the patient's head (mm).
    pub z: f64,
}

impl Vec3 {
    /// Builds a vector from its components.
    pub const fn new(x: f64, y: f64, z: f64) -> Self {
        Self { x, y, z }
    }
    /// Dot product.
    pub fn dot(self, o: Self) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }
    /// Cross product `self × o`.
    pub fn cross(self, o: Self) -> Self {
        Self::new(
            self.y * o.z - self.z * o.y,
            self.z * o.x - self.x * o.z,
            self.x * o.y - self.y * o.x,
        )
    }
    /// Euclidean length.
    pub fn norm(self) -> f64 {
        self.dot(self).sqrt()
    }
    /// Unit vector in the same direction (the zero vector is returned unchanged).
    pub fn normalized(self) -> Self {
        let n = self.norm();
        if n > 0.0 {
            self * (1.0 / n)
        } else {
            self
        }
    }
}

impl Add for Vec3 {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self::new(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}
impl Sub for Vec3 {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self::new(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}
impl Mul<f64> for Vec3 {
    type Output = Self;
    fn mul(self, s: f64) -> Self {
        Self::new(self.x * s, self.y * s, self.z * s)
    }
}
impl Neg for Vec3 {
    type Output = Self;
    fn neg(self) -> Self {
        Self::new(-self.x, -self.y, -self.z)
    }
}
