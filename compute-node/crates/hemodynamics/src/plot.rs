//! PNG figure of the recorded waveforms (plotters, bitmap backend).
//!
//! Top: aortic and left-ventricular pressure (mmHg) against time (s); bottom left: LV volume
//! (mL) against time; bottom right: the LV pressure–volume loop. Text is rendered with
//! ab_glyph from an embedded ASCII subset of DejaVu Sans (`assets/DejaVuSans-ascii.ttf`,
//! Bitstream Vera / public-domain licence in `assets/DejaVuSans-LICENSE.txt`), so no system
//! font library is needed.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::error::{HemodynamicsError, Result};
use crate::simulate::Simulation;

/// Width and height of the figure (pixels).
pub const FIGURE_SIZE_PX: (u32, u32) = (1000, 760);

static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans-ascii.ttf");
static FONT_REGISTRATION: OnceLock<std::result::Result<(), String>> = OnceLock::new();

fn register_embedded_font() -> Result<()> {
    FONT_REGISTRATION
        .get_or_init(|| {
            plotters::style::register_font("sans-serif", FontStyle::Normal, FONT_BYTES)
                .map_err(|_| "embedded font is not a valid TrueType font".to_string())
        })
        .clone()
        .map_err(HemodynamicsError::Plot)
}

fn plot_error<E: std::fmt::Display>(error: E) -> HemodynamicsError {
    HemodynamicsError::Plot(error.to_string())
}

fn padded_range(values: &[f64], pad_fraction: f64) -> std::ops::Range<f64> {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((max - min) * pad_fraction).max(1.0);
    (min - pad)..(max + pad)
}

/// Draws `simulation.waveforms` (all recorded beats) to a PNG at `path`.
pub fn plot_waveforms(path: impl AsRef<Path>, simulation: &Simulation) -> Result<()> {
    let waveforms = &simulation.waveforms;
    if waveforms.len() < 2 {
        return Err(HemodynamicsError::Plot(
            "fewer than two waveform samples".into(),
        ));
    }
    register_embedded_font()?;
    let root = BitMapBackend::new(path.as_ref(), FIGURE_SIZE_PX).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let title = format!(
        "Smith et al. 2004 WBC model (simplified), HR {:.0} bpm: {:.0}/{:.0} mmHg, SV {:.1} mL, CO {:.2} L/min, EF {:.0} %",
        simulation.parameters.heart_rate_bpm,
        simulation.outputs.systolic_aortic_pressure_mmhg,
        simulation.outputs.diastolic_aortic_pressure_mmhg,
        simulation.outputs.stroke_volume_ml,
        simulation.outputs.cardiac_output_l_per_min,
        simulation.outputs.ejection_fraction_percent,
    );
    let root = root
        .titled(&title, ("sans-serif", 18))
        .map_err(plot_error)?;
    let (top, bottom) = root.split_vertically(FIGURE_SIZE_PX.1 / 2);
    let (bottom_left, bottom_right) = bottom.split_horizontally(FIGURE_SIZE_PX.0 / 2);

    let time_range = waveforms.time_s[0]..waveforms.time_s[waveforms.len() - 1];
    let all_pressures: Vec<f64> = waveforms
        .aortic_pressure_mmhg
        .iter()
        .chain(&waveforms.lv_pressure_mmhg)
        .copied()
        .collect();
    let pressure_range = padded_range(&all_pressures, 0.05);

    let mut pressure_chart = ChartBuilder::on(&top)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(time_range.clone(), pressure_range.clone())
        .map_err(plot_error)?;
    pressure_chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("pressure (mmHg)")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(plot_error)?;
    let series = |values: &[f64]| -> Vec<(f64, f64)> {
        waveforms
            .time_s
            .iter()
            .copied()
            .zip(values.iter().copied())
            .collect()
    };
    pressure_chart
        .draw_series(LineSeries::new(
            series(&waveforms.aortic_pressure_mmhg),
            RED.stroke_width(2),
        ))
        .map_err(plot_error)?
        .label("aortic pressure")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    pressure_chart
        .draw_series(LineSeries::new(
            series(&waveforms.lv_pressure_mmhg),
            BLUE.stroke_width(2),
        ))
        .map_err(plot_error)?
        .label("LV pressure")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    pressure_chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(plot_error)?;

    let volume_range = padded_range(&waveforms.lv_volume_ml, 0.05);
    let mut volume_chart = ChartBuilder::on(&bottom_left)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(time_range, volume_range.clone())
        .map_err(plot_error)?;
    volume_chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("LV volume (mL)")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(plot_error)?;
    volume_chart
        .draw_series(LineSeries::new(
            series(&waveforms.lv_volume_ml),
            GREEN.stroke_width(2),
        ))
        .map_err(plot_error)?;

    let mut loop_chart = ChartBuilder::on(&bottom_right)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(volume_range, pressure_range)
        .map_err(plot_error)?;
    loop_chart
        .configure_mesh()
        .x_desc("LV volume (mL)")
        .y_desc("LV pressure (mmHg)")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(plot_error)?;
    let loop_points: Vec<(f64, f64)> = waveforms
        .lv_volume_ml
        .iter()
        .copied()
        .zip(waveforms.lv_pressure_mmhg.iter().copied())
        .collect();
    // Width 1: with plotters 0.3.7 the bitmap backend dropped the exactly vertical
    // (isovolumic) segments of this loop when drawn with a wider stroke.
    loop_chart
        .draw_series(LineSeries::new(loop_points, MAGENTA.stroke_width(1)))
        .map_err(plot_error)?;

    root.present().map_err(plot_error)?;
    Ok(())
}
