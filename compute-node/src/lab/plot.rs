//! PNG charts (plotters, bitmap backend, the DejaVu Sans subset font shipped with
//! more-hemodynamics): loss curves and predicted-vs-true scatter plots.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use super::report::ArchitectureResult;

static FONT: &[u8] = include_bytes!("../../crates/hemodynamics/assets/DejaVuSans-ascii.ttf");
static REGISTERED: OnceLock<bool> = OnceLock::new();

fn font() {
    REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
}

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("plot: {e}")
}

/// Loss per epoch: for each architecture the plaintext run as a line and the decrypted
/// encrypted run as crosses on top of it.
///
/// # Errors
/// Drawing or file errors.
pub fn loss_curves(path: &Path, title: &str, archs: &[ArchitectureResult]) -> anyhow::Result<()> {
    font();
    super::report::ensure_parent(path)?;
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let all: Vec<f64> = archs
        .iter()
        .flat_map(|a| {
            a.losses
                .plaintext
                .iter()
                .chain(&a.losses.encrypted_decrypted)
        })
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let epochs = archs
        .iter()
        .map(|a| a.losses.plaintext.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let (lo, hi) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    let (lo, hi) = if lo.is_finite() {
        (lo.min(0.0), hi * 1.1 + 1e-9)
    } else {
        (0.0, 1.0)
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5f64..epochs as f64 + 0.5, lo..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("mean training loss")
        .x_labels(epochs.min(20))
        .draw()
        .map_err(err)?;
    for (k, a) in archs.iter().enumerate() {
        let c = COLORS[k % COLORS.len()];
        let pts = |v: &[f64]| {
            v.iter()
                .enumerate()
                .map(|(i, &l)| ((i + 1) as f64, l))
                .collect::<Vec<_>>()
        };
        chart
            .draw_series(LineSeries::new(pts(&a.losses.plaintext), c.stroke_width(2)))
            .map_err(err)?
            .label(format!("{} plaintext", a.name))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart
            .draw_series(
                pts(&a.losses.encrypted_decrypted)
                    .into_iter()
                    .map(|p| Cross::new(p, 7, c.stroke_width(2))),
            )
            .map_err(err)?
            .label(format!("{} encrypted (decrypted)", a.name))
            .legend(move |(x, y)| Cross::new((x + 10, y), 5, c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// One panel per output: predicted (plaintext: circles, encrypted: crosses) against true value.
///
/// # Errors
/// Drawing or file errors.
pub fn scatter(
    path: &Path,
    names: &[String],
    truth: &ndarray::Array2<f32>,
    plain: &ndarray::Array2<f32>,
    encrypted: &ndarray::Array2<f32>,
) -> anyhow::Result<()> {
    font();
    super::report::ensure_parent(path)?;
    let k = names.len().max(1);
    let cols = 3.min(k);
    let rows = k.div_ceil(cols);
    let root = BitMapBackend::new(path, (420 * cols as u32, 380 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let n = truth.nrows().min(1000);
    for (j, area) in root
        .split_evenly((rows, cols))
        .into_iter()
        .enumerate()
        .take(k)
    {
        let t: Vec<f64> = (0..n).map(|i| truth[[i, j]] as f64).collect();
        let (lo, hi) = t
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        let pad = (hi - lo).max(1e-6) * 0.1;
        let r = (lo - pad)..(hi + pad);
        let mut chart = ChartBuilder::on(&area)
            .caption(&names[j], ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(45)
            .build_cartesian_2d(r.clone(), r.clone())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("true")
            .y_desc("predicted")
            .x_labels(5)
            .y_labels(5)
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                vec![(r.start, r.start), (r.end, r.end)],
                BLACK.mix(0.5),
            ))
            .map_err(err)?;
        chart
            .draw_series(
                (0..n).map(|i| {
                    Circle::new((t[i], plain[[i, j]] as f64), 3, COLORS[0].mix(0.6).filled())
                }),
            )
            .map_err(err)?;
        chart
            .draw_series(
                (0..n).map(|i| Cross::new((t[i], encrypted[[i, j]] as f64), 3, COLORS[1].mix(0.8))),
            )
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}
