//! Data card (Markdown) describing a generated data set.

use crate::dataset::{Dataset, ImageMeta};
use crate::geometry::STANDARD_VIEWS;
use crate::render::GeneratorConfig;

/// A Markdown data card for `ds`, generated with `config` and `seed`: purpose, task and classes,
/// counts, parameter ranges, observed ranges, the views, and references.
pub fn data_card(ds: &Dataset, config: &GeneratorConfig, seed: u64) -> String {
    let counts = ds.class_counts();
    let mut s = String::new();
    s.push_str("# Data card: synthetic X-ray coronary angiograms (more-angiography)\n\n");
    s.push_str(
        "Synthetic, not patient data. Stand-in for the angiography experiment of Vizitiu et al. \
(CMMM 2020, Article 3910250), whose data set, resolution and classes are not public.\n\n",
    );
    s.push_str(&format!(
        "* images: {} of {}×{} pixels, f32 in [0, 1], row-major, vessels dark\n* seed: {seed} (image i uses ChaCha8 seeded with the seed, stream i)\n",
        ds.len(), ds.size, ds.size
    ));
    s.push_str("\n## Classes\n\n| label | class | images |\n| --- | --- | --- |\n");
    for (i, name) in ds.class_names.iter().enumerate() {
        s.push_str(&format!(
            "| {i} | {name} | {} |\n",
            counts.get(i).copied().unwrap_or(0)
        ));
    }
    s.push_str("\n## Standard views (nominal; each image jittered)\n\n| tree | view | primary (LAO+) | secondary (CRA+) | purpose |\n| --- | --- | --- | --- | --- |\n");
    for v in STANDARD_VIEWS.iter() {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            v.tree.abbreviation(),
            v.angles.label(),
            v.angles.primary_deg,
            v.angles.secondary_deg,
            v.purpose
        ));
    }
    s.push_str("\n## Generation parameters (uniform ranges)\n\n");
    s.push_str(&format!(
        "* view angle jitter: ±{}°\n",
        config.angle_jitter_deg
    ));
    s.push_str(&format!(
        "* SID: {:?} mm, SOD: {:?} mm, detector FOV: {} mm\n",
        config.sid_mm, config.sod_mm, config.fov_mm
    ));
    s.push_str(&format!(
        "* contrast μ: {:?} /mm; transmitted fluence: {:?} photons/mm²\n",
        config.contrast_mu_per_mm, config.photons_per_mm2
    ));
    s.push_str(&format!(
        "* PSF σ: {:?} mm; left dominance probability: {}\n",
        config.psf_sigma_mm, config.left_dominance_prob
    ));
    s.push_str(&format!(
        "* display window: log-intensity percentiles {:?}\n",
        config.window_percentiles
    ));
    s.push_str("* heart: base radius 38-50 mm, base-apex 75-100 mm, long axis azimuth 45±10°, elevation 25±8°, roll 0±8°, centre within ±15 mm of isocenter\n");
    s.push_str("* vessels: diameters × N(1, 0.1), branch lengths × U(0.75, 1.2), 1-3 diagonals, 2-3 septals, 1-3 OMs, tortuosity 0.3-2.5 mm\n");
    let synth: Vec<_> = ds
        .metadata
        .iter()
        .filter_map(|m| match m {
            ImageMeta::Synthetic(s) => Some(s),
            _ => None,
        })
        .collect();
    if !synth.is_empty() {
        let left = synth
            .iter()
            .filter(|m| m.dominance == crate::Dominance::Left)
            .count();
        let (mut pmin, mut pmax, mut smin, mut smax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for m in &synth {
            pmin = pmin.min(m.angles.primary_deg);
            pmax = pmax.max(m.angles.primary_deg);
            smin = smin.min(m.angles.secondary_deg);
            smax = smax.max(m.angles.secondary_deg);
        }
        s.push_str(&format!(
            "\n## Observed\n\n* left-dominant patients: {left} of {}\n* primary angle {pmin:.1}..{pmax:.1}°, secondary {smin:.1}..{smax:.1}°\n",
            synth.len()
        ));
    }
    s.push_str("\n## Physics\n\nPerspective (cone-beam) projection from a point source; Beer-Lambert I = I0·exp(−Σ μ_i L_i) with exact chord lengths through \
cylindrical lumen pieces, an ellipsoidal cardiac silhouette, a cylindrical spine with disc modulation, a diaphragm edge and low-frequency mottle; \
supersampled detector integration, Gaussian PSF, Poisson quantum noise, log transform and percentile windowing.\n");
    s.push_str("\n## References\n\n* Dodge JT et al. Lumen diameter of normal human coronary arteries. Circulation 1992;86:232-246 (diameters, approximate).\n\
* Dodge JT et al. Intrathoracic spatial location of specified coronary segments on the normal human heart. Circulation 1988;78:1167-1180 (groove topology; positions hand-placed, not its tables).\n\
* DICOM PS3.3 C.8.7.5 XA Positioner (angle conventions).\n* NIST XCOM (attenuation orders of magnitude).\n\
\n## Limitations\n\nNo cardiac or respiratory motion, no contrast wash-in, no scatter model, no stenoses, no overlapping non-injected tree, hand-placed geometry.\n");
    s
}
