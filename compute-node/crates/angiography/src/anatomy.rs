//! 3D models of the left (LCA) and right (RCA) coronary trees on an ellipsoidal epicardium.
//!
//! # Model
//! The ventricles are a half-ellipsoid: base (atrioventricular, AV, plane) of radius `R`, long axis of
//! length `L` from the base centre to the apex. Epicardial arteries run in the grooves of that surface,
//! as described in every anatomy text and in the coronary-position study of Dodge et al.
//! ("Intrathoracic spatial location of specified coronary segments on the normal human heart",
//! Circulation 78:1167-1180, 1988), which located the AV groove arteries (RCA, LCx) on a ring near the
//! base and the interventricular arteries (LAD, PDA) on the anterior and inferior faces:
//!
//! * **LCA**: left main (LM) from the left sinus of the aortic root to the bifurcation; the left
//!   anterior descending (LAD) down the anterior interventricular groove toward the apex with 1-3
//!   diagonals to the anterolateral wall and 2-3 septal perforators into the septum; the left
//!   circumflex (LCx) in the left AV groove with 1-3 obtuse marginals (OM) down the lateral wall.
//! * **RCA**: from the right sinus, in the right AV groove around the acute margin to the crux, with a
//!   conus branch, an acute marginal (AM) and a right-ventricular branch, then (right-dominant
//!   circulation) the posterior descending artery (PDA) down the inferior interventricular groove
//!   and a posterolateral branch (PLV).
//! * **Dominance**: 85 % right-dominant, 15 % left-dominant (the PDA then arises from the LCx and the
//!   RCA is short). The 85/15 split is the textbook figure (approximate; co-dominance is folded into
//!   right dominance here).
//!
//! Positions are given as (fraction of `L` from the base, angle around the long axis) on the surface;
//! they are hand-placed from the qualitative anatomy above, **not** Dodge's tabulated coordinates,
//! which were not available when this was written.
//!
//! Lumen diameters (proximal → distal, mm) follow the order of magnitude of Dodge et al., "Lumen
//! diameter of normal human coronary arteries", Circulation 86:232-246, 1992: LM 4.5, proximal LAD 3.7,
//! distal LAD ≈1.6, first diagonal ≈2.2, proximal LCx 3.4, OM ≈2.3, proximal RCA 3.9, distal RCA ≈3.0,
//! PDA ≈2.0. These are approximate recollections of that table (men and women pooled), not copied
//! values; each patient scales them by a factor drawn around 1.
//!
//! Angle convention around the long axis: 0° = anterior, +90° = right/acute margin (right-inferior),
//! ±180° = inferior/posterior (diaphragmatic face, crux), −90° = left/obtuse margin.

use crate::vec3::Vec3;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use std::f64::consts::PI;

/// Which coronary artery tree is filled with contrast (one per injection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArteryTree {
    /// Left coronary artery: LM, LAD (+ diagonals, septals), LCx (+ obtuse marginals).
    Lca,
    /// Right coronary artery: conus, acute marginal, RV branch, PDA, PLV.
    Rca,
}

impl ArteryTree {
    /// Field-standard abbreviation, "LCA" or "RCA".
    pub fn abbreviation(self) -> &'static str {
        match self {
            ArteryTree::Lca => "LCA",
            ArteryTree::Rca => "RCA",
        }
    }
    /// Both trees, in label order (LCA = 0, RCA = 1).
    pub const ALL: [ArteryTree; 2] = [ArteryTree::Lca, ArteryTree::Rca];
}

/// Coronary dominance: which artery gives the posterior descending artery (PDA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dominance {
    /// PDA from the RCA (about 85 % of people).
    Right,
    /// PDA from the LCx (about 15 %).
    Left,
}

/// Shape and pose of the ventricles (half-ellipsoid) in patient LPS coordinates (mm).
#[derive(Debug, Clone, PartialEq)]
pub struct HeartShape {
    /// Centre of the AV (base) plane (mm, LPS).
    pub base_center: Vec3,
    /// Unit vector from the base centre to the apex (anterior, leftward and inferior).
    pub long_axis: Vec3,
    /// Unit vector perpendicular to the long axis, pointing anterior (angle 0°).
    pub e_anterior: Vec3,
    /// Unit vector perpendicular to both, pointing right-inferior (angle +90°).
    pub e_right: Vec3,
    /// Radius of the base (mm); sampled in 38-50.
    pub base_radius_mm: f64,
    /// Base-to-apex length (mm); sampled in 75-100.
    pub length_mm: f64,
    /// Rotation of the vessel layout about the long axis (degrees), N(0, 8) clipped to ±15.
    pub roll_deg: f64,
}

impl HeartShape {
    /// Samples a heart: size, long-axis orientation (azimuth 45° ± 10° left of anterior, elevation
    /// 25° ± 8° downward; clipped to ±2 SD) and a position whose centre lies within ±15 mm of the
    /// C-arm isocenter (operators centre the heart).
    pub fn sample<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let base_radius_mm = rng.random_range(38.0..50.0);
        let length_mm = rng.random_range(75.0..100.0);
        let az = clipped_normal(rng, 45.0, 10.0).to_radians();
        let el = clipped_normal(rng, 25.0, 8.0).to_radians();
        let long_axis = Vec3::new(az.sin() * el.cos(), -az.cos() * el.cos(), -el.sin());
        let a = Vec3::new(0.0, -1.0, 0.0);
        let e_anterior = (a - long_axis * a.dot(long_axis)).normalized();
        let e_right = long_axis.cross(e_anterior).normalized();
        let centre = Vec3::new(
            rng.random_range(-15.0..15.0),
            rng.random_range(-15.0..15.0),
            rng.random_range(-15.0..15.0),
        );
        let base_center = centre - long_axis * (0.4 * length_mm);
        let roll_deg = clipped_normal(rng, 0.0, 8.0).clamp(-15.0, 15.0);
        Self {
            base_center,
            long_axis,
            e_anterior,
            e_right,
            base_radius_mm,
            length_mm,
            roll_deg,
        }
    }

    /// Radius of the epicardial surface at `s_frac` (fraction of `L` from the base; negative = above
    /// the base, where the surface is continued as a cylinder), in mm. Never below 4 mm.
    pub fn surface_radius(&self, s_frac: f64) -> f64 {
        let r = if s_frac <= 0.0 {
            self.base_radius_mm
        } else {
            self.base_radius_mm * (1.0 - s_frac.min(1.0).powi(2)).max(0.0).sqrt()
        };
        r.max(4.0)
    }

    /// Point at (`s_frac`, `phi_deg`) with its distance from the long axis scaled by `radial_scale`
    /// (1 = on the epicardium, <1 = inside the heart, e.g. aortic root, septum).
    pub fn point(&self, s_frac: f64, phi_deg: f64, radial_scale: f64) -> Vec3 {
        let phi = (phi_deg + self.roll_deg).to_radians();
        let r = self.surface_radius(s_frac) * radial_scale;
        self.base_center
            + self.long_axis * (s_frac * self.length_mm)
            + (self.e_anterior * phi.cos() + self.e_right * phi.sin()) * r
    }
}

/// One vessel: a centerline polyline with a lumen radius at each vertex.
#[derive(Debug, Clone, PartialEq)]
pub struct VesselSegment {
    /// Field-standard name ("LM", "LAD", "D1", "LCx", "OM1", "RCA", "PDA", "catheter", ...).
    pub name: String,
    /// Centerline vertices (mm, LPS), about 1.5 mm apart.
    pub centerline: Vec<Vec3>,
    /// Lumen radius at each vertex (mm); same length as `centerline`.
    pub radius_mm: Vec<f64>,
}

/// A contrast-filled coronary tree of one synthetic patient.
#[derive(Debug, Clone, PartialEq)]
pub struct CoronaryTree {
    /// LCA or RCA.
    pub tree: ArteryTree,
    /// The patient's dominance.
    pub dominance: Dominance,
    /// All vessels, the diagnostic catheter (contrast-filled, ending at the ostium) included.
    pub segments: Vec<VesselSegment>,
}

/// A path in surface parameters, kept so that branches can start exactly on their parent.
struct SurfacePath {
    /// (s_frac, phi_deg, radial_scale) per vertex, tortuosity included.
    params: Vec<(f64, f64, f64)>,
}

/// Per-patient anatomical variability.
struct Variation {
    /// Global lumen scale.
    diameter_scale: f64,
    /// Tortuosity amplitude (mm), 0.3-2.5.
    tortuosity_mm: f64,
}

const STEP_MM: f64 = 1.5;

fn clipped_normal<R: Rng + ?Sized>(rng: &mut R, mean: f64, sd: f64) -> f64 {
    let z: f64 = Normal::new(0.0, 1.0).map(|n| n.sample(rng)).unwrap_or(0.0);
    mean + sd * z.clamp(-2.0, 2.0)
}

/// Densifies `ctrl` (s_frac, phi_deg, radial_scale) into ~1.5 mm steps and adds tortuosity: two
/// sinusoids (wavelengths 12-35 mm) displacing the path along and across the surface, ramped in over
/// the first 10 mm so that a branch stays attached to its parent.
fn surface_path<R: Rng + ?Sized>(
    heart: &HeartShape,
    ctrl: &[(f64, f64, f64)],
    amp_mm: f64,
    rng: &mut R,
) -> SurfacePath {
    let mut dense: Vec<(f64, f64, f64, f64)> = Vec::new(); // (s, phi, rs, arc length)
    let mut arc = 0.0;
    for w in ctrl.windows(2) {
        let (a, b) = (w[0], w[1]);
        let r_mid = heart.surface_radius(0.5 * (a.0 + b.0)) * 0.5 * (a.2 + b.2);
        let ds = (b.0 - a.0) * heart.length_mm;
        let darc = r_mid * (b.1 - a.1).to_radians();
        let dr = heart.surface_radius(a.0) * (b.2 - a.2);
        let len = (ds * ds + darc * darc + dr * dr).sqrt();
        let n = ((len / STEP_MM).ceil() as usize).max(1);
        for k in 0..n {
            let t = k as f64 / n as f64;
            dense.push((
                a.0 + t * (b.0 - a.0),
                a.1 + t * (b.1 - a.1),
                a.2 + t * (b.2 - a.2),
                arc + t * len,
            ));
        }
        arc += len;
    }
    if let Some(last) = ctrl.last() {
        dense.push((last.0, last.1, last.2, arc));
    }
    let (l1, l2) = (rng.random_range(12.0..35.0), rng.random_range(12.0..35.0));
    let (p1, p2) = (
        rng.random_range(0.0..2.0 * PI),
        rng.random_range(0.0..2.0 * PI),
    );
    let params = dense
        .into_iter()
        .map(|(s, phi, rs, l)| {
            let ramp = (l / 10.0).min(1.0);
            let along = amp_mm * ramp * (2.0 * PI * l / l1 + p1).sin();
            let across = amp_mm * ramp * (2.0 * PI * l / l2 + p2).sin();
            let r = heart.surface_radius(s).max(5.0);
            (
                s + along / heart.length_mm,
                phi + (across / r).to_degrees(),
                rs,
            )
        })
        .collect();
    SurfacePath { params }
}

fn to_segment(
    heart: &HeartShape,
    name: &str,
    path: &SurfacePath,
    d_prox_mm: f64,
    d_dist_mm: f64,
    var: &Variation,
) -> VesselSegment {
    let n = path.params.len().max(2) - 1;
    let centerline = path
        .params
        .iter()
        .map(|&(s, phi, rs)| heart.point(s, phi, rs))
        .collect();
    let radius_mm = (0..path.params.len())
        .map(|i| {
            let t = i as f64 / n as f64;
            // Geometric taper between the proximal and distal diameters.
            0.5 * var.diameter_scale * d_prox_mm * (d_dist_mm / d_prox_mm).powf(t)
        })
        .collect();
    VesselSegment {
        name: name.to_string(),
        centerline,
        radius_mm,
    }
}

/// Surface parameters of `path` at fraction `f` of its vertices.
fn at(path: &SurfacePath, f: f64) -> (f64, f64, f64) {
    let i = ((path.params.len() - 1) as f64 * f.clamp(0.0, 1.0)).round() as usize;
    path.params[i]
}

/// Builds one patient's contrast-filled `tree` on `heart`. `dominance` decides where the PDA comes
/// from. Branch counts, take-off positions, lengths (×0.75-1.2), angles, diameters (global scale
/// N(1, 0.1) clipped to ±2 SD, per branch ×U(0.9, 1.1)) and tortuosity (0.3-2.5 mm) are drawn from
/// `rng`.
pub fn build_tree<R: Rng + ?Sized>(
    tree: ArteryTree,
    heart: &HeartShape,
    dominance: Dominance,
    rng: &mut R,
) -> CoronaryTree {
    let var = Variation {
        diameter_scale: clipped_normal(rng, 1.0, 0.1),
        tortuosity_mm: rng.random_range(0.3..2.5),
    };
    let mut segs = Vec::new();
    let ostium = match tree {
        ArteryTree::Lca => build_lca(heart, dominance, &var, rng, &mut segs),
        ArteryTree::Rca => build_rca(heart, dominance, &var, rng, &mut segs),
    };
    segs.push(catheter(ostium, tree, rng));
    CoronaryTree {
        tree,
        dominance,
        segments: segs,
    }
}

fn build_lca<R: Rng + ?Sized>(
    h: &HeartShape,
    dom: Dominance,
    var: &Variation,
    rng: &mut R,
    segs: &mut Vec<VesselSegment>,
) -> Vec3 {
    let amp = var.tortuosity_mm;
    let k = |rng: &mut R| -> f64 { rng.random_range(0.75..1.2) };
    let d = |rng: &mut R| -> f64 { rng.random_range(0.9..1.1) };
    // Left main: aortic root (inside the base ring) to the bifurcation.
    let bif_phi = rng.random_range(-50.0..-30.0);
    let lm = surface_path(h, &[(-0.14, -10.0, 0.7), (-0.03, bif_phi, 1.0)], 0.3, rng);
    segs.push(to_segment(h, "LM", &lm, 4.5, 4.0, var));
    let (s0, p0, _) = at(&lm, 1.0);
    // LAD down the anterior interventricular groove.
    let lad_end = (0.8 + 0.17 * k(rng) / 1.2).min(0.97);
    let lad_phi = rng.random_range(-20.0..-5.0);
    let lad = surface_path(
        h,
        &[
            (s0, p0, 1.0),
            (0.1, lad_phi - 8.0, 1.0),
            (0.5, lad_phi, 1.0),
            (lad_end, lad_phi + 5.0, 1.0),
        ],
        amp,
        rng,
    );
    segs.push(to_segment(h, "LAD", &lad, 3.7 * d(rng), 1.6, var));
    // Diagonals toward the anterolateral wall.
    let n_diag = rng.random_range(1..=3);
    for i in 0..n_diag {
        let f = 0.15 + 0.45 * (i as f64 + rng.random_range(0.0..0.8)) / n_diag as f64;
        let (s, p, _) = at(&lad, f);
        let len = rng.random_range(0.3..0.5) * k(rng);
        let turn = rng.random_range(40.0..70.0);
        let path = surface_path(
            h,
            &[
                (s, p, 1.0),
                (s + 0.5 * len, p - 0.6 * turn, 1.0),
                ((s + len).min(0.95), p - turn, 1.0),
            ],
            amp,
            rng,
        );
        let dp = if i == 0 { 2.2 } else { 1.8 } * d(rng);
        segs.push(to_segment(h, &format!("D{}", i + 1), &path, dp, 1.1, var));
    }
    // Septal perforators: straight, into the septum (radial scale < 1), toward the apex.
    for i in 0..rng.random_range(2..=3) {
        let (s, p, _) = at(&lad, 0.1 + 0.15 * i as f64 + rng.random_range(0.0..0.1));
        let len = rng.random_range(0.18..0.32);
        let path = surface_path(h, &[(s, p, 1.0), (s + len, p + 15.0, 0.55)], 0.2, rng);
        segs.push(to_segment(h, &format!("S{}", i + 1), &path, 1.3, 0.8, var));
    }
    // LCx in the left AV groove.
    let lcx_end = match dom {
        Dominance::Right => rng.random_range(-160.0..-130.0),
        Dominance::Left => -185.0,
    };
    let lcx = surface_path(
        h,
        &[
            (s0, p0, 1.0),
            (0.02, -75.0, 1.0),
            (0.05, -115.0, 1.0),
            (0.06, lcx_end, 1.0),
        ],
        amp * 0.7,
        rng,
    );
    let lcx_dist = if dom == Dominance::Left { 2.6 } else { 1.8 };
    segs.push(to_segment(h, "LCx", &lcx, 3.4 * d(rng), lcx_dist, var));
    // Obtuse marginals down the lateral wall.
    let n_om = rng.random_range(1..=3);
    for i in 0..n_om {
        let f = 0.3 + 0.55 * (i as f64 + rng.random_range(0.0..0.8)) / n_om as f64;
        let (s, p, _) = at(&lcx, f);
        let len = rng.random_range(0.45..0.7) * k(rng);
        let drift = rng.random_range(-15.0..15.0);
        let path = surface_path(
            h,
            &[
                (s, p, 1.0),
                (s + 0.5 * len, p + 0.5 * drift, 1.0),
                ((s + len).min(0.93), p + drift, 1.0),
            ],
            amp,
            rng,
        );
        let dp = if i == 0 { 2.3 } else { 1.9 } * d(rng);
        segs.push(to_segment(h, &format!("OM{}", i + 1), &path, dp, 1.1, var));
    }
    if dom == Dominance::Left {
        let (s, p, _) = at(&lcx, 1.0);
        let path = surface_path(
            h,
            &[
                (s, p, 1.0),
                (0.35, p + 5.0, 1.0),
                (0.7 * k(rng), p + 10.0, 1.0),
            ],
            amp,
            rng,
        );
        segs.push(to_segment(h, "L-PDA", &path, 2.0, 1.1, var));
    }
    h.point(-0.14, -10.0, 0.7)
}

fn build_rca<R: Rng + ?Sized>(
    h: &HeartShape,
    dom: Dominance,
    var: &Variation,
    rng: &mut R,
    segs: &mut Vec<VesselSegment>,
) -> Vec3 {
    let amp = var.tortuosity_mm;
    let k = |rng: &mut R| -> f64 { rng.random_range(0.75..1.2) };
    let d = |rng: &mut R| -> f64 { rng.random_range(0.9..1.1) };
    let crux = rng.random_range(165.0..185.0);
    let end = match dom {
        Dominance::Right => crux,
        Dominance::Left => rng.random_range(115.0..145.0),
    };
    let rca = surface_path(
        h,
        &[
            (-0.14, 15.0, 0.65),
            (-0.03, 35.0, 1.0),
            (0.02, 65.0, 1.0),
            (0.05, 100.0, 1.0),
            (0.06, 0.5 * (100.0 + end), 1.0),
            (0.05, end, 1.0),
        ],
        amp,
        rng,
    );
    let rca_dist = if dom == Dominance::Right { 3.0 } else { 1.8 };
    segs.push(to_segment(h, "RCA", &rca, 3.9 * d(rng), rca_dist, var));
    // Conus branch: small, anterior over the right-ventricular outflow tract.
    let (s, p, _) = at(&rca, 0.08);
    let conus = surface_path(
        h,
        &[
            (s, p, 1.0),
            (s + 0.12, p - 25.0, 1.0),
            (s + 0.2, p - 45.0, 1.0),
        ],
        0.5,
        rng,
    );
    segs.push(to_segment(h, "conus", &conus, 1.3, 0.8, var));
    // Right-ventricular branch and acute marginal down the RV free wall.
    for (name, f, dp) in [("RV", 0.3, 1.5), ("AM", 0.5, 1.9)] {
        let (s, p, _) = at(&rca, f + rng.random_range(-0.05..0.05));
        let len = rng.random_range(0.4..0.65) * k(rng);
        let drift = rng.random_range(-15.0..10.0);
        let path = surface_path(
            h,
            &[(s, p, 1.0), ((s + len).min(0.9), p + drift, 1.0)],
            amp,
            rng,
        );
        segs.push(to_segment(h, name, &path, dp * d(rng), 1.0, var));
    }
    if dom == Dominance::Right {
        let (s, p, _) = at(&rca, 1.0);
        let pda = surface_path(
            h,
            &[
                (s, p, 1.0),
                (0.35, p - 3.0, 1.0),
                ((0.7 * k(rng)).min(0.9), p - 6.0, 1.0),
            ],
            amp,
            rng,
        );
        segs.push(to_segment(h, "PDA", &pda, 2.0 * d(rng), 1.1, var));
        let plv = surface_path(
            h,
            &[
                (s, p, 1.0),
                (0.06, p + 25.0, 1.0),
                (0.3 * k(rng), p + 40.0, 1.0),
            ],
            amp,
            rng,
        );
        segs.push(to_segment(h, "PLV", &plv, 2.0 * d(rng), 1.1, var));
    }
    h.point(-0.14, 15.0, 0.65)
}

/// Diagonal catheter (6 F, lumen radius ≈0.7 mm, contrast-filled) from the ostium up the ascending
/// aorta, over the arch and down the descending aorta. Shape jittered ±8 mm per vertex.
fn catheter<R: Rng + ?Sized>(ostium: Vec3, tree: ArteryTree, rng: &mut R) -> VesselSegment {
    let side = if tree == ArteryTree::Lca { 1.0 } else { -1.0 };
    let j = |rng: &mut R| {
        Vec3::new(
            rng.random_range(-8.0..8.0),
            rng.random_range(-8.0..8.0),
            rng.random_range(-8.0..8.0),
        )
    };
    let p0 = ostium;
    let p1 = p0 + Vec3::new(-12.0 * side, -5.0, 25.0) + j(rng);
    let p2 = p1 + Vec3::new(-5.0, 10.0, 45.0) + j(rng);
    let p3 = p2 + Vec3::new(25.0, 40.0, 20.0) + j(rng);
    let p4 = p3 + Vec3::new(12.0, 10.0, -45.0) + j(rng);
    let p5 = p4 + Vec3::new(0.0, 0.0, -160.0);
    let ctrl = [p0, p1, p2, p3, p4, p5];
    let mut centerline = Vec::new();
    for w in ctrl.windows(2) {
        let n = (((w[1] - w[0]).norm() / 3.0).ceil() as usize).max(1);
        for i in 0..n {
            centerline.push(w[0] + (w[1] - w[0]) * (i as f64 / n as f64));
        }
    }
    centerline.push(p5);
    let radius_mm = vec![0.7; centerline.len()];
    VesselSegment {
        name: "catheter".into(),
        centerline,
        radius_mm,
    }
}
