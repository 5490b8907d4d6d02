//! Line integrals of the linear attenuation coefficient through contrast-filled lumens.
//!
//! Each centerline piece between two vertices is a finite cylinder (flat caps perpendicular to its
//! axis) of the mean radius of its ends. For a ray, the path length inside it is the intersection of
//! the ray's interval inside the infinite cylinder (a quadratic in the ray parameter) with the slab
//! between the caps. The Beer-Lambert law then gives I = I0 · exp(−Σ μ_i L_i) (see
//! [`crate::render`]).

use crate::anatomy::CoronaryTree;
use crate::geometry::{CArm, Ray};
use crate::vec3::Vec3;

/// Path length (mm) of `ray` inside the finite cylinder of radius `radius` (mm) from `a` to `b`.
/// Zero when it misses. Exact for a straight cylinder with flat perpendicular caps.
pub fn chord_length(ray: &Ray, a: Vec3, b: Vec3, radius: f64) -> f64 {
    let axis = b - a;
    let len = axis.norm();
    if len <= 0.0 || radius <= 0.0 {
        return 0.0;
    }
    let ax = axis * (1.0 / len);
    let w = ray.origin - a;
    let ra = ray.dir.dot(ax);
    let wa = w.dot(ax);
    let r_perp = ray.dir - ax * ra;
    let w_perp = w - ax * wa;
    let qa = r_perp.dot(r_perp);
    let qb = 2.0 * w_perp.dot(r_perp);
    let qc = w_perp.dot(w_perp) - radius * radius;
    let (mut t0, mut t1) = if qa < 1e-12 {
        if qc > 0.0 {
            return 0.0;
        }
        (f64::NEG_INFINITY, f64::INFINITY)
    } else {
        let disc = qb * qb - 4.0 * qa * qc;
        if disc <= 0.0 {
            return 0.0;
        }
        let sq = disc.sqrt();
        ((-qb - sq) / (2.0 * qa), (-qb + sq) / (2.0 * qa))
    };
    // Axial coordinate h(t) = wa + t·ra must lie in [0, len].
    if ra.abs() < 1e-12 {
        if wa < 0.0 || wa > len {
            return 0.0;
        }
    } else {
        let (h0, h1) = ((0.0 - wa) / ra, (len - wa) / ra);
        let (lo, hi) = if h0 < h1 { (h0, h1) } else { (h1, h0) };
        t0 = t0.max(lo);
        t1 = t1.min(hi);
    }
    (t1 - t0).max(0.0)
}

/// Adds `mu_per_mm` × (path length through every lumen of `tree`) to `out`, a row-major
/// `grid × grid` array whose element (row r, column c) is the ray through pixel centre
/// (c + 0.5, r + 0.5) of a `grid`-pixel detector image. Only pixels within the projected radius
/// (+1.5 px) of each piece are visited.
pub fn add_vessel_line_integrals(
    tree: &CoronaryTree,
    carm: &CArm,
    grid: usize,
    mu_per_mm: f64,
    out: &mut [f64],
) {
    let px_per_mm = grid as f64 / carm.fov_mm;
    for seg in &tree.segments {
        for (i, w) in seg.centerline.windows(2).enumerate() {
            let (a, b) = (w[0], w[1]);
            let r = 0.5 * (seg.radius_mm[i] + seg.radius_mm[i + 1]);
            let (Some(pa), Some(pb)) = (carm.project(a, grid), carm.project(b, grid)) else {
                continue;
            };
            let m = carm.magnification_at(a).max(carm.magnification_at(b));
            let margin = r * m * px_per_mm + 1.5;
            let c0 = (pa.0.min(pb.0) - margin).floor().max(0.0) as usize;
            let c1 = (pa.0.max(pb.0) + margin).ceil().min(grid as f64) as usize;
            let r0 = (pa.1.min(pb.1) - margin).floor().max(0.0) as usize;
            let r1 = (pa.1.max(pb.1) + margin).ceil().min(grid as f64) as usize;
            for row in r0..r1 {
                for col in c0..c1 {
                    let ray = carm.ray(col as f64 + 0.5, row as f64 + 0.5, grid);
                    let l = chord_length(&ray, a, b, r);
                    if l > 0.0 {
                        out[row * grid + col] += mu_per_mm * l;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::ViewAngles;

    #[test]
    fn chord_through_perpendicular_and_oblique_tube() {
        let ray = Ray {
            origin: Vec3::new(0.0, -100.0, 0.0),
            dir: Vec3::new(0.0, 1.0, 0.0),
        };
        // Tube along x, radius 2: chord 2·sqrt(r² − δ²).
        let l = chord_length(
            &ray,
            Vec3::new(-10.0, 0.0, 0.5),
            Vec3::new(10.0, 0.0, 0.5),
            2.0,
        );
        assert!((l - 2.0 * (4.0f64 - 0.25).sqrt()).abs() < 1e-9);
        assert_eq!(
            chord_length(
                &ray,
                Vec3::new(-10.0, 0.0, 3.0),
                Vec3::new(10.0, 0.0, 3.0),
                2.0
            ),
            0.0
        );
        // Ray along the tube axis: the whole length.
        let l = chord_length(
            &ray,
            Vec3::new(0.0, 0.0, 0.0),
            Vec3::new(0.0, 7.0, 0.0),
            1.0,
        );
        assert!((l - 7.0).abs() < 1e-9);
        // Finite caps: tube ends before the ray.
        assert_eq!(
            chord_length(
                &ray,
                Vec3::new(1.0, 0.0, 0.0),
                Vec3::new(10.0, 0.0, 0.0),
                0.5
            ),
            0.0
        );
    }

    #[test]
    fn isocenter_projects_to_centre_and_lao_moves_left_point_right() {
        let carm = CArm {
            sid_mm: 1100.0,
            sod_mm: 750.0,
            fov_mm: 200.0,
            angles: ViewAngles::new(0.0, 0.0),
        };
        let (c, r) = carm.project(Vec3::default(), 100).unwrap();
        assert!((c - 50.0).abs() < 1e-9 && (r - 50.0).abs() < 1e-9);
        // AP: patient's left (+x) on the image right, head (+z) at the top; magnification 1100/750.
        let (c, r) = carm.project(Vec3::new(10.0, 0.0, 10.0), 100).unwrap();
        assert!((c - (50.0 + 10.0 * 1100.0 / 750.0 / 2.0)).abs() < 1e-9 && r < 50.0);
        let lao = CArm {
            angles: ViewAngles::new(45.0, 0.0),
            ..carm
        };
        let d = lao.detector_direction();
        assert!(d.x > 0.0 && d.y < 0.0, "LAO detector is left-anterior");
    }
}
