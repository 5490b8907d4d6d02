//! Non-vessel anatomy as line integrals of attenuation (dimensionless, Σ μ·L).
//!
//! * chest wall and lungs: a constant `base` (only sets the transmitted photon count);
//! * cardiac silhouette: an ellipsoid around the ventricles of attenuation μ_tissue − μ_lung
//!   (0.003-0.006 /mm, low because a real silhouette is softened by lung overlap; water at ~60 keV is ≈0.02 /mm, aerated lung a fraction of that — NIST XCOM,
//!   approximate), exact chord length through the ellipsoid;
//! * spine: a vertical cylinder (vertebral bodies, radius 16-22 mm) posterior to the heart near the
//!   midline, extra μ 0.008-0.016 /mm (bone minus soft tissue averaged over cancellous bone, approximate), modulated every 26-32 mm
//!   by intervertebral discs; exact chord through the cylinder;
//! * diaphragm/liver: a dome under the heart; rays crossing the isocenter plane below it gain
//!   A·(1 − exp(−h/20 mm)) with h their depth below the dome (an edge-like approximation, not a
//!   3D solid);
//! * mottle: 10 low-frequency Gaussian blobs (σ 15-60 mm at the detector, amplitude ±0.12) and
//!   10 mid-frequency cosine waves (wavelength 8-30 mm, amplitude ≤0.012) standing in for lung
//!   texture, ribs and overlapping soft tissue.

use crate::anatomy::HeartShape;
use crate::geometry::Ray;
use crate::vec3::Vec3;
use rand::Rng;
use std::f64::consts::PI;

/// Sampled background anatomy of one image (all lengths mm, LPS coordinates).
#[derive(Debug, Clone, PartialEq)]
pub struct Background {
    /// Constant line integral of chest wall and lungs.
    pub base: f64,
    /// Ellipsoid centre of the cardiac silhouette.
    pub heart_center: Vec3,
    /// Unit long axis of the ellipsoid.
    pub heart_axis: Vec3,
    /// Semi-axis along `heart_axis`.
    pub heart_a: f64,
    /// Semi-axis perpendicular to it.
    pub heart_b: f64,
    /// μ(tissue) − μ(lung), 1/mm.
    pub heart_mu: f64,
    /// Spine axis position (x, y); the axis is parallel to z.
    pub spine_xy: (f64, f64),
    /// Vertebral body radius.
    pub spine_radius: f64,
    /// Extra μ of bone, 1/mm.
    pub spine_mu: f64,
    /// Vertebral period along z and phase (mm).
    pub vertebra_period: f64,
    /// Phase of the disc pattern (mm).
    pub vertebra_phase: f64,
    /// Dome apex height z (mm) and its x position.
    pub diaphragm_apex: (f64, f64),
    /// Dome curvature radius (mm).
    pub diaphragm_radius: f64,
    /// Asymptotic extra line integral below the dome.
    pub diaphragm_amp: f64,
    /// Blobs in detector mm: (u, v, σ, amplitude).
    pub blobs: Vec<(f64, f64, f64, f64)>,
    /// Waves in detector mm: (ku, kv, phase, amplitude), k in rad/mm.
    pub waves: Vec<(f64, f64, f64, f64)>,
}

impl Background {
    /// Samples a background consistent with `heart` (silhouette around it, diaphragm below it).
    pub fn sample<R: Rng + ?Sized>(heart: &HeartShape, rng: &mut R) -> Self {
        let heart_center = heart.base_center + heart.long_axis * (0.45 * heart.length_mm);
        let lowest = heart_center.z
            - 0.6 * heart.length_mm * heart.long_axis.z.abs()
            - heart.base_radius_mm * 0.7;
        let blobs = (0..10)
            .map(|_| {
                (
                    rng.random_range(-120.0..120.0),
                    rng.random_range(-120.0..120.0),
                    rng.random_range(15.0..60.0),
                    rng.random_range(-0.12..0.12),
                )
            })
            .collect();
        let waves = (0..10)
            .map(|_| {
                let lambda: f64 = rng.random_range(8.0..30.0);
                let th: f64 = rng.random_range(0.0..PI);
                let k = 2.0 * PI / lambda;
                (
                    k * th.cos(),
                    k * th.sin(),
                    rng.random_range(0.0..2.0 * PI),
                    rng.random_range(0.0..0.012),
                )
            })
            .collect();
        Self {
            base: rng.random_range(2.0..3.0),
            heart_center,
            heart_axis: heart.long_axis,
            heart_a: 0.62 * heart.length_mm,
            heart_b: 1.05 * heart.base_radius_mm,
            heart_mu: rng.random_range(0.003..0.006),
            spine_xy: (
                heart_center.x - rng.random_range(20.0..40.0),
                heart_center.y + rng.random_range(70.0..100.0),
            ),
            spine_radius: rng.random_range(16.0..22.0),
            spine_mu: rng.random_range(0.008..0.016),
            vertebra_period: rng.random_range(26.0..32.0),
            vertebra_phase: rng.random_range(0.0..32.0),
            diaphragm_apex: (
                lowest - rng.random_range(0.0..25.0),
                heart_center.x + rng.random_range(-30.0..30.0),
            ),
            diaphragm_radius: rng.random_range(120.0..220.0),
            diaphragm_amp: rng.random_range(0.5..1.0),
            blobs,
            waves,
        }
    }

    /// Line integral of the anatomy along `ray` (base, heart, spine, diaphragm); the detector-plane
    /// texture is added by [`Self::detector_texture`].
    pub fn ray_integral(&self, ray: &Ray) -> f64 {
        let mut p = self.base;
        p += self.heart_mu * self.heart_chord(ray);
        p += self.spine_mu * self.spine_chord(ray);
        // Diaphragm: depth below the dome where the ray is closest to the isocenter.
        let t = -ray.origin.dot(ray.dir);
        let q = ray.origin + ray.dir * t;
        let dx = q.x - self.diaphragm_apex.1;
        let dome_z = self.diaphragm_apex.0 - dx * dx / (2.0 * self.diaphragm_radius);
        let h = dome_z - q.z;
        if h > 0.0 {
            p += self.diaphragm_amp * (1.0 - (-h / 20.0).exp());
        }
        p
    }

    /// The blobs and waves at every detector point `(us[c], vs[r])` (mm from the centre), row
    /// by row: `out[r·us.len() + c]`. Both are separable in `u` and `v`, so each costs one
    /// product per point: a blob `a·e^(−(u−bu)²/2s²)·e^(−(v−bv)²/2s²)`, a wave
    /// `a·(cos(ku·u + φ)·cos(kv·v) − sin(ku·u + φ)·sin(kv·v))`.
    pub fn detector_texture(&self, us: &[f64], vs: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; us.len() * vs.len()];
        let mut add = |fu: &[f64], fv: &[f64], a: f64| {
            for (row, &fv) in out.chunks_exact_mut(us.len()).zip(fv) {
                for (o, &fu) in row.iter_mut().zip(fu) {
                    *o += a * fu * fv;
                }
            }
        };
        for &(bu, bv, s, a) in &self.blobs {
            let gauss = |x: f64, c: f64| (-(x - c).powi(2) / (2.0 * s * s)).exp();
            let fu: Vec<f64> = us.iter().map(|&u| gauss(u, bu)).collect();
            let fv: Vec<f64> = vs.iter().map(|&v| gauss(v, bv)).collect();
            add(&fu, &fv, a);
        }
        for &(ku, kv, ph, a) in &self.waves {
            let (su, cu): (Vec<f64>, Vec<f64>) =
                us.iter().map(|&u| (ku * u + ph).sin_cos()).unzip();
            let (sv, cv): (Vec<f64>, Vec<f64>) = vs.iter().map(|&v| (kv * v).sin_cos()).unzip();
            add(&cu, &cv, a);
            add(&su, &sv, -a);
        }
        out
    }

    fn heart_chord(&self, ray: &Ray) -> f64 {
        // Map to the unit sphere: scale the axial component by 1/a, the rest by 1/b.
        let ax = self.heart_axis;
        let scale = |v: Vec3| {
            let along = v.dot(ax);
            let perp = v - ax * along;
            ax * (along / self.heart_a) + perp * (1.0 / self.heart_b)
        };
        let o = scale(ray.origin - self.heart_center);
        let d = scale(ray.dir);
        let (qa, qb, qc) = (d.dot(d), 2.0 * o.dot(d), o.dot(o) - 1.0);
        let disc = qb * qb - 4.0 * qa * qc;
        if disc <= 0.0 || qa <= 0.0 {
            0.0
        } else {
            disc.sqrt() / qa // t1 − t0 in units of the (unit) ray parameter = mm
        }
    }

    fn spine_chord(&self, ray: &Ray) -> f64 {
        let (ox, oy) = (
            ray.origin.x - self.spine_xy.0,
            ray.origin.y - self.spine_xy.1,
        );
        let (dx, dy) = (ray.dir.x, ray.dir.y);
        let qa = dx * dx + dy * dy;
        if qa < 1e-9 {
            return 0.0;
        }
        let qb = 2.0 * (ox * dx + oy * dy);
        let qc = ox * ox + oy * oy - self.spine_radius * self.spine_radius;
        let disc = qb * qb - 4.0 * qa * qc;
        if disc <= 0.0 {
            return 0.0;
        }
        let chord = disc.sqrt() / qa;
        let tm = -qb / (2.0 * qa);
        let z = ray.origin.z + ray.dir.z * tm;
        let phase = ((z + self.vertebra_phase) / self.vertebra_period * PI)
            .cos()
            .powi(8);
        chord * (1.0 - 0.2 * phase)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::{Background, HeartShape};

    /// The separable evaluation against the blob and wave formulas point by point (f64; the
    /// products reorder a few roundings, hence 1e-12 absolute on values of order 0.1).
    #[test]
    fn detector_texture_is_the_sum_of_blobs_and_waves() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let background = Background::sample(&HeartShape::sample(&mut rng), &mut rng);
        let us = [-130.0, -41.5, 0.0, 12.25, 99.0];
        let vs = [-77.0, 3.5, 140.0];
        let texture = background.detector_texture(&us, &vs);
        for (r, &v) in vs.iter().enumerate() {
            for (c, &u) in us.iter().enumerate() {
                let blobs: f64 = (background.blobs.iter())
                    .map(|&(bu, bv, s, a)| {
                        a * (-((u - bu).powi(2) + (v - bv).powi(2)) / (2.0 * s * s)).exp()
                    })
                    .sum();
                let waves: f64 = (background.waves.iter())
                    .map(|&(ku, kv, ph, a)| a * (ku * u + kv * v + ph).cos())
                    .sum();
                let got = texture[r * us.len() + c];
                assert!(
                    (got - (blobs + waves)).abs() < 1e-12,
                    "({u}, {v}): {got} vs {}",
                    blobs + waves
                );
            }
        }
    }
}
