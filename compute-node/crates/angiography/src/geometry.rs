//! C-arm geometry: positioner angles, the standard coronary views, perspective projection.
//!
//! Conventions follow DICOM (PS3.3 C.8.7.5, XA Positioner module): the *positioner primary angle*
//! (0018,1510) rotates the detector about the patient's cranio-caudal axis, positive toward the
//! patient's left (**LAO**), negative toward the right (**RAO**); the *secondary angle* (0018,1511)
//! tilts it toward the head (**cranial**, positive) or the feet (**caudal**, negative). At 0°/0° the
//! X-ray source is under the table (posterior) and the detector anterior (an "AP" view, physically
//! a PA projection).
//!
//! Distances (typical of cardiac C-arms, e.g. Siemens Artis / Philips Allura, approximate):
//! source-to-image distance SID 1000-1200 mm, source-to-object (isocenter) distance SOD ≈ 750 mm,
//! giving a magnification of about 1.3-1.6 at the heart. The detector field of view is 200 mm
//! (a common 20 cm cardiac zoom), square, mapped onto `size × size` pixels.
//!
//! Image orientation is that of the cath-lab monitor: the patient's left on the right of the image in
//! the AP view, the head at the top.

use crate::anatomy::ArteryTree;
use crate::vec3::Vec3;

/// C-arm positioner angles in degrees (DICOM sign convention).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewAngles {
    /// Primary angle (deg): > 0 LAO, < 0 RAO, 0 AP.
    pub primary_deg: f64,
    /// Secondary angle (deg): > 0 cranial (CRA), < 0 caudal (CAU).
    pub secondary_deg: f64,
}

impl ViewAngles {
    /// Builds angles from primary (LAO+/RAO−) and secondary (CRA+/CAU−) degrees.
    pub const fn new(primary_deg: f64, secondary_deg: f64) -> Self {
        Self {
            primary_deg,
            secondary_deg,
        }
    }

    /// Cath-lab name, rounded to whole degrees: "LAO 45 CAU 25", "RAO 30", "AP CRA 30".
    /// Angles within ±0.5° of zero are omitted (the primary then reads "AP").
    pub fn label(&self) -> String {
        let p = self.primary_deg.round();
        let s = self.secondary_deg.round();
        let mut out = if p > 0.0 {
            format!("LAO {p}")
        } else if p < 0.0 {
            format!("RAO {}", -p)
        } else {
            "AP".to_string()
        };
        if s > 0.0 {
            out.push_str(&format!(" CRA {s}"));
        } else if s < 0.0 {
            out.push_str(&format!(" CAU {}", -s));
        }
        out
    }
}

/// A standard angiographic view of one coronary tree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StandardView {
    /// The tree it is used for.
    pub tree: ArteryTree,
    /// Nominal angles.
    pub angles: ViewAngles,
    /// What the view is for (segments best seen).
    pub purpose: &'static str,
}

impl StandardView {
    /// Class name "LCA RAO 30 CAU 25".
    pub fn name(&self) -> String {
        format!("{} {}", self.tree.abbreviation(), self.angles.label())
    }
}

/// Standard views of the LCA (5) and the RCA (4), from the usual cath-lab protocols (e.g. Baim &
/// Grossman, *Cardiac Catheterization, Angiography, and Intervention*, chapter on coronary
/// angiography; angles are typical, sites vary by ±10-15°).
pub const STANDARD_VIEWS: [StandardView; 9] = [
    StandardView {
        tree: ArteryTree::Lca,
        angles: ViewAngles::new(-30.0, -25.0),
        purpose: "LM, proximal LAD, LCx and OMs",
    },
    StandardView {
        tree: ArteryTree::Lca,
        angles: ViewAngles::new(-30.0, 30.0),
        purpose: "mid and distal LAD, septals",
    },
    StandardView {
        tree: ArteryTree::Lca,
        angles: ViewAngles::new(0.0, 30.0),
        purpose: "LAD and diagonals",
    },
    StandardView {
        tree: ArteryTree::Lca,
        angles: ViewAngles::new(45.0, 25.0),
        purpose: "LAD-diagonal bifurcations",
    },
    StandardView {
        tree: ArteryTree::Lca,
        angles: ViewAngles::new(45.0, -30.0),
        purpose: "\"spider\": LM and LCx ostium",
    },
    StandardView {
        tree: ArteryTree::Rca,
        angles: ViewAngles::new(30.0, 0.0),
        purpose: "proximal and mid RCA (\"C\" shape)",
    },
    StandardView {
        tree: ArteryTree::Rca,
        angles: ViewAngles::new(-30.0, 0.0),
        purpose: "mid RCA, PDA length",
    },
    StandardView {
        tree: ArteryTree::Rca,
        angles: ViewAngles::new(30.0, 20.0),
        purpose: "crux, PDA and PLV origins",
    },
    StandardView {
        tree: ArteryTree::Rca,
        angles: ViewAngles::new(0.0, 25.0),
        purpose: "distal RCA, PDA",
    },
];

/// The standard views of one tree (subset of [`STANDARD_VIEWS`], in the same order).
pub fn standard_views(tree: ArteryTree) -> Vec<StandardView> {
    STANDARD_VIEWS
        .iter()
        .copied()
        .filter(|v| v.tree == tree)
        .collect()
}

/// A C-arm pose: distances and angles. Projection is a perspective (cone-beam) projection from a point
/// source onto a flat detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CArm {
    /// Source-to-image (detector) distance, mm.
    pub sid_mm: f64,
    /// Source-to-isocenter distance, mm.
    pub sod_mm: f64,
    /// Side of the square detector field of view, mm.
    pub fov_mm: f64,
    /// Positioner angles.
    pub angles: ViewAngles,
}

/// A ray from the X-ray source (origin, mm) with unit direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ray {
    /// Source position (mm, LPS).
    pub origin: Vec3,
    /// Unit direction toward the detector.
    pub dir: Vec3,
}

impl CArm {
    /// Unit vector from the isocenter toward the detector centre.
    pub fn detector_direction(&self) -> Vec3 {
        let p = self.angles.primary_deg.to_radians();
        let s = self.angles.secondary_deg.to_radians();
        Vec3::new(p.sin() * s.cos(), -p.cos() * s.cos(), s.sin())
    }

    /// (column axis, row axis) of the detector: unit vectors for increasing column (image right) and
    /// increasing row (image down).
    pub fn detector_axes(&self) -> (Vec3, Vec3) {
        let d = self.detector_direction();
        let z = Vec3::new(0.0, 0.0, 1.0);
        let up = (z - d * z.dot(d)).normalized();
        (up.cross(d).normalized(), -up)
    }

    /// X-ray focal spot position (mm).
    pub fn source(&self) -> Vec3 {
        self.detector_direction() * (-self.sod_mm)
    }

    /// Perspective projection of `p` onto the detector, in continuous pixel coordinates
    /// (column, row) of a `size × size` image (pixel centres at k + 0.5). `None` for points at or
    /// behind the source.
    pub fn project(&self, p: Vec3, size: usize) -> Option<(f64, f64)> {
        let d = self.detector_direction();
        let (cu, cv) = self.detector_axes();
        let rel = p - self.source();
        let depth = rel.dot(d);
        if depth <= 1e-6 {
            return None;
        }
        let scale = self.sid_mm / depth;
        let u = rel.dot(cu) * scale;
        let v = rel.dot(cv) * scale;
        let px = size as f64 / self.fov_mm;
        Some((u * px + size as f64 / 2.0, v * px + size as f64 / 2.0))
    }

    /// Magnification SID / (distance of `p` from the source along the central ray).
    pub fn magnification_at(&self, p: Vec3) -> f64 {
        let depth = (p - self.source()).dot(self.detector_direction());
        self.sid_mm / depth.max(1.0)
    }

    /// The ray from the source through continuous pixel position (`col`, `row`) of a `size × size`
    /// detector image.
    pub fn ray(&self, col: f64, row: f64, size: usize) -> Ray {
        let d = self.detector_direction();
        let (cu, cv) = self.detector_axes();
        let mm = self.fov_mm / size as f64;
        let u = (col - size as f64 / 2.0) * mm;
        let v = (row - size as f64 / 2.0) * mm;
        let src = self.source();
        let target = src + d * self.sid_mm + cu * u + cv * v;
        Ray {
            origin: src,
            dir: (target - src).normalized(),
        }
    }
}
