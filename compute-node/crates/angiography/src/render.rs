//! One synthetic angiogram: anatomy → C-arm → Beer-Lambert → PSF → quantum noise → log → window.

use crate::anatomy::{build_tree, ArteryTree, Dominance, HeartShape};
use crate::background::Background;
use crate::error::{AngioError, Result};
use crate::geometry::{CArm, StandardView, ViewAngles};
use crate::noise::{box_downsample, gaussian_blur, poisson_counts};
use crate::projection::add_vessel_line_integrals;
use rand::Rng;
use std::ops::Range;

/// Ranges from which each image's acquisition parameters are drawn uniformly.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Per-image jitter added to the nominal view angles (deg, uniform ±). Default 6.
    pub angle_jitter_deg: f64,
    /// Source-to-image distance (mm). Default 1000-1200.
    pub sid_mm: Range<f64>,
    /// Source-to-isocenter distance (mm). Default 720-780.
    pub sod_mm: Range<f64>,
    /// Detector field of view (mm, square). Default 200.
    pub fov_mm: f64,
    /// Linear attenuation of the contrast-filled lumen (1/mm). Default 0.06-0.14: iodine at
    /// 150-300 mg/ml after mixing with blood, mass attenuation ≈5-7 cm²/g at an effective 55-65 keV
    /// (NIST XCOM, approximate).
    pub contrast_mu_per_mm: Range<f64>,
    /// Transmitted photons per mm² at the detector behind the background (default 150-1500).
    /// Deliberately below clinical cine fluence so that the noise also stands in for scatter,
    /// electronic noise and motion blur.
    pub photons_per_mm2: Range<f64>,
    /// Detector/focal-spot PSF, Gaussian σ in mm at the detector. Default 0.8-1.6.
    pub psf_sigma_mm: Range<f64>,
    /// Probability of left dominance. Default 0.15.
    pub left_dominance_prob: f64,
    /// Lower and upper percentiles of log-intensity mapped to 0 and 1. Default (0.5, 99.5).
    pub window_percentiles: (f64, f64),
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            angle_jitter_deg: 6.0,
            sid_mm: 1000.0..1200.0,
            sod_mm: 720.0..780.0,
            fov_mm: 200.0,
            contrast_mu_per_mm: 0.06..0.14,
            photons_per_mm2: 150.0..1500.0,
            psf_sigma_mm: 0.8..1.6,
            left_dominance_prob: 0.15,
            window_percentiles: (0.5, 99.5),
        }
    }
}

impl GeneratorConfig {
    /// Checks that every range is non-empty and physically meaningful.
    pub fn validate(&self) -> Result<()> {
        let ok = |r: &Range<f64>| {
            r.start.is_finite() && r.end.is_finite() && r.start < r.end && r.start > 0.0
        };
        let bad = |what: &str| Err(AngioError::InvalidParameter(what.to_string()));
        if !ok(&self.sid_mm) || !ok(&self.sod_mm) || self.sod_mm.end >= self.sid_mm.start {
            return bad("need 0 < SOD < SID ranges");
        }
        if !(self.fov_mm > 0.0 && self.fov_mm.is_finite()) {
            return bad("fov_mm must be > 0");
        }
        if !ok(&self.contrast_mu_per_mm) || !ok(&self.photons_per_mm2) || !ok(&self.psf_sigma_mm) {
            return bad("contrast, photon and PSF ranges must be positive and non-empty");
        }
        if !(0.0..=1.0).contains(&self.left_dominance_prob)
            || !(0.0..=45.0).contains(&self.angle_jitter_deg)
        {
            return bad("left_dominance_prob in [0,1], angle_jitter_deg in [0,45]");
        }
        let (lo, hi) = self.window_percentiles;
        if !(0.0 <= lo && lo < hi && hi <= 100.0) {
            return bad("window percentiles must satisfy 0 <= lo < hi <= 100");
        }
        Ok(())
    }
}

/// How one synthetic image was made.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticMeta {
    /// Injected tree.
    pub tree: ArteryTree,
    /// Nominal standard view (its class for [`crate::Task::View`]).
    pub view: StandardView,
    /// Actual angles after jitter.
    pub angles: ViewAngles,
    /// Coronary dominance.
    pub dominance: Dominance,
    /// SID (mm).
    pub sid_mm: f64,
    /// SOD (mm).
    pub sod_mm: f64,
    /// Contrast attenuation (1/mm).
    pub contrast_mu_per_mm: f64,
    /// Transmitted fluence behind the background (photons/mm²).
    pub photons_per_mm2: f64,
    /// PSF σ (mm at the detector).
    pub psf_sigma_mm: f64,
    /// Heart base radius (mm).
    pub heart_radius_mm: f64,
    /// Heart base-to-apex length (mm).
    pub heart_length_mm: f64,
    /// Number of vessel segments drawn (catheter included).
    pub n_segments: usize,
}

/// Supersampling factor used for `size`: rays per output pixel along each axis.
fn supersample(size: usize) -> usize {
    if size <= 64 {
        3
    } else if size <= 256 {
        2
    } else {
        1
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Renders one `size × size` angiogram of `tree` in nominal view `view`, drawing the patient and
/// acquisition from `rng`. Returns row-major pixels in [0, 1] (vessels dark) and the metadata.
pub fn render_angiogram<R: Rng + ?Sized>(
    tree: ArteryTree,
    view: StandardView,
    size: usize,
    config: &GeneratorConfig,
    rng: &mut R,
) -> Result<(Vec<f32>, SyntheticMeta)> {
    if !(8..=4096).contains(&size) {
        return Err(AngioError::InvalidParameter(format!(
            "image size {size} not in 8..=4096"
        )));
    }
    config.validate()?;
    let heart = HeartShape::sample(rng);
    let dominance = if rng.random_bool(config.left_dominance_prob) {
        Dominance::Left
    } else {
        Dominance::Right
    };
    let coronary = build_tree(tree, &heart, dominance, rng);
    let background = Background::sample(&heart, rng);
    let j = config.angle_jitter_deg;
    let jit = |rng: &mut R| {
        if j > 0.0 {
            rng.random_range(-j..j)
        } else {
            0.0
        }
    };
    let angles = ViewAngles::new(
        view.angles.primary_deg + jit(rng),
        view.angles.secondary_deg + jit(rng),
    );
    let carm = CArm {
        sid_mm: rng.random_range(config.sid_mm.clone()),
        sod_mm: rng.random_range(config.sod_mm.clone()),
        fov_mm: config.fov_mm,
        angles,
    };
    let mu = rng.random_range(config.contrast_mu_per_mm.clone());
    let fluence = rng.random_range(config.photons_per_mm2.clone());
    let psf = rng.random_range(config.psf_sigma_mm.clone());

    let f = supersample(size);
    let grid = size * f;
    let mm_per_px = config.fov_mm / grid as f64;
    // Detector coordinates (mm from the centre) of the pixel centres, the same along u and v.
    let centres: Vec<f64> = (0..grid)
        .map(|i| (i as f64 + 0.5 - grid as f64 / 2.0) * mm_per_px)
        .collect();
    let mut line = background.detector_texture(&centres, &centres);
    for r in 0..grid {
        for c in 0..grid {
            let ray = carm.ray(c as f64 + 0.5, r as f64 + 0.5, grid);
            line[r * grid + c] += background.ray_integral(&ray);
        }
    }
    add_vessel_line_integrals(&coronary, &carm, grid, mu, &mut line);
    // Beer-Lambert, relative to the background-only transmission exp(−base).
    let intensity: Vec<f64> = line
        .iter()
        .map(|p| (-(p - background.base)).exp())
        .collect();
    let pixel = box_downsample(&intensity, size, f);
    let out_mm = config.fov_mm / size as f64;
    let blurred = gaussian_blur(&pixel, size, psf / out_mm);
    let n0 = fluence * out_mm * out_mm;
    let expected: Vec<f64> = blurred.iter().map(|i| n0 * i).collect();
    let counts = poisson_counts(&expected, rng);
    let logi: Vec<f64> = counts.iter().map(|&n| n.max(0.5).ln()).collect();
    let mut sorted = logi.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let lo = percentile(&sorted, config.window_percentiles.0);
    let hi = percentile(&sorted, config.window_percentiles.1);
    let span = (hi - lo).max(1e-9);
    let img = logi
        .iter()
        .map(|&l| ((l - lo) / span).clamp(0.0, 1.0) as f32)
        .collect();
    let meta = SyntheticMeta {
        tree,
        view,
        angles,
        dominance,
        sid_mm: carm.sid_mm,
        sod_mm: carm.sod_mm,
        contrast_mu_per_mm: mu,
        photons_per_mm2: fluence,
        psf_sigma_mm: psf,
        heart_radius_mm: heart.base_radius_mm,
        heart_length_mm: heart.length_mm,
        n_segments: coronary.segments.len(),
    };
    Ok((img, meta))
}
