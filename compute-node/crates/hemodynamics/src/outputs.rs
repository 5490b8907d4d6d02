//! Clinical outputs of one steady-state beat (the regression targets of the data set).
//!
//! Standard definitions (e.g. Klabunde, *Cardiovascular Physiology Concepts*, 2nd ed., ch. 4–5):
//! end-diastolic volume EDV = max V_lv over the beat, end-systolic volume ESV = min V_lv,
//! stroke volume SV = EDV − ESV (valid here because the modelled valves never leak),
//! cardiac output CO = SV · HR / 1000 (L/min), ejection fraction EF = 100 · SV / EDV (%),
//! systolic / diastolic aortic pressure = max / min of P_ao, and mean pressures = time average
//! over the beat (trapezoidal rule on the integrator's accepted steps).

use serde::{Deserialize, Serialize};

use crate::error::{HemodynamicsError, Result};
use crate::simulate::Waveforms;

/// CSV column names of the outputs, with unit suffixes, in the order of
/// [`HemodynamicOutputs::to_values`].
pub const OUTPUT_COLUMNS: [&str; HemodynamicOutputs::COUNT] = [
    "systolic_aortic_pressure_mmhg",
    "diastolic_aortic_pressure_mmhg",
    "mean_aortic_pressure_mmhg",
    "stroke_volume_ml",
    "cardiac_output_l_per_min",
    "ejection_fraction_percent",
    "lv_end_diastolic_volume_ml",
    "lv_end_systolic_volume_ml",
    "lv_peak_systolic_pressure_mmhg",
    "mean_pulmonary_arterial_pressure_mmhg",
    "mean_pulmonary_venous_pressure_mmhg",
    "mean_central_venous_pressure_mmhg",
];

/// Physiologic acceptance window `(min, max)` of each output, in [`OUTPUT_COLUMNS`] order.
/// A sampled patient whose outputs fall outside is rejected (see [`crate::dataset`]). The
/// windows are our choice: wide bounds for a living adult at rest (hypo- to hypertensive,
/// reduced to hyperdynamic function), meant to remove numerically odd corners of the
/// parameter box, not to enforce normality.
pub const PHYSIOLOGIC_OUTPUT_WINDOWS: [(f64, f64); HemodynamicOutputs::COUNT] = [
    (70.0, 220.0), // systolic aortic pressure, mmHg
    (30.0, 130.0), // diastolic aortic pressure, mmHg
    (50.0, 160.0), // mean aortic pressure, mmHg
    (20.0, 150.0), // stroke volume, mL
    (2.0, 12.0),   // cardiac output, L/min
    (20.0, 85.0),  // ejection fraction, %
    (50.0, 300.0), // LV end-diastolic volume, mL
    (10.0, 250.0), // LV end-systolic volume, mL
    (70.0, 230.0), // LV peak systolic pressure, mmHg
    (5.0, 50.0),   // mean pulmonary arterial pressure, mmHg
    (-2.0, 30.0),  // mean pulmonary venous pressure, mmHg (absolute; P_th = -4 mmHg included)
    (0.0, 20.0),   // mean central venous pressure, mmHg
];

/// Outputs of the last steady-state beat.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HemodynamicOutputs {
    /// Systolic (maximum) aortic pressure (mmHg).
    pub systolic_aortic_pressure_mmhg: f64,
    /// Diastolic (minimum) aortic pressure (mmHg).
    pub diastolic_aortic_pressure_mmhg: f64,
    /// Time-averaged aortic pressure over the beat (mmHg).
    pub mean_aortic_pressure_mmhg: f64,
    /// LV stroke volume EDV − ESV (mL).
    pub stroke_volume_ml: f64,
    /// Cardiac output SV · HR (L/min).
    pub cardiac_output_l_per_min: f64,
    /// LV ejection fraction 100 · SV / EDV (%).
    pub ejection_fraction_percent: f64,
    /// LV end-diastolic (maximum) volume (mL).
    pub lv_end_diastolic_volume_ml: f64,
    /// LV end-systolic (minimum) volume (mL).
    pub lv_end_systolic_volume_ml: f64,
    /// Peak LV pressure (mmHg).
    pub lv_peak_systolic_pressure_mmhg: f64,
    /// Time-averaged pulmonary arterial pressure (mmHg).
    pub mean_pulmonary_arterial_pressure_mmhg: f64,
    /// Time-averaged pulmonary venous pressure, the model's left-atrial filling pressure (mmHg).
    pub mean_pulmonary_venous_pressure_mmhg: f64,
    /// Time-averaged vena cava (central venous) pressure (mmHg).
    pub mean_central_venous_pressure_mmhg: f64,
}

impl HemodynamicOutputs {
    /// Number of outputs (CSV output columns).
    pub const COUNT: usize = 12;

    /// Computes the outputs from one beat of waveforms (exactly one cardiac period long) and the
    /// heart rate (beats/min).
    pub fn from_beat(beat: &Waveforms, heart_rate_bpm: f64) -> Result<Self> {
        if beat.len() < 3 {
            return Err(HemodynamicsError::Integration(
                "beat waveform has fewer than 3 samples".into(),
            ));
        }
        let end_diastolic = maximum(&beat.lv_volume_ml);
        let end_systolic = minimum(&beat.lv_volume_ml);
        let stroke_volume = end_diastolic - end_systolic;
        Ok(Self {
            systolic_aortic_pressure_mmhg: maximum(&beat.aortic_pressure_mmhg),
            diastolic_aortic_pressure_mmhg: minimum(&beat.aortic_pressure_mmhg),
            mean_aortic_pressure_mmhg: time_mean(&beat.time_s, &beat.aortic_pressure_mmhg),
            stroke_volume_ml: stroke_volume,
            cardiac_output_l_per_min: stroke_volume * heart_rate_bpm / 1000.0,
            ejection_fraction_percent: 100.0 * stroke_volume / end_diastolic,
            lv_end_diastolic_volume_ml: end_diastolic,
            lv_end_systolic_volume_ml: end_systolic,
            lv_peak_systolic_pressure_mmhg: maximum(&beat.lv_pressure_mmhg),
            mean_pulmonary_arterial_pressure_mmhg: time_mean(
                &beat.time_s,
                &beat.pulmonary_artery_pressure_mmhg,
            ),
            mean_pulmonary_venous_pressure_mmhg: time_mean(
                &beat.time_s,
                &beat.pulmonary_vein_pressure_mmhg,
            ),
            mean_central_venous_pressure_mmhg: time_mean(
                &beat.time_s,
                &beat.vena_cava_pressure_mmhg,
            ),
        })
    }

    /// Values in [`OUTPUT_COLUMNS`] order.
    pub fn to_values(&self) -> [f64; Self::COUNT] {
        [
            self.systolic_aortic_pressure_mmhg,
            self.diastolic_aortic_pressure_mmhg,
            self.mean_aortic_pressure_mmhg,
            self.stroke_volume_ml,
            self.cardiac_output_l_per_min,
            self.ejection_fraction_percent,
            self.lv_end_diastolic_volume_ml,
            self.lv_end_systolic_volume_ml,
            self.lv_peak_systolic_pressure_mmhg,
            self.mean_pulmonary_arterial_pressure_mmhg,
            self.mean_pulmonary_venous_pressure_mmhg,
            self.mean_central_venous_pressure_mmhg,
        ]
    }

    /// Inverse of [`Self::to_values`].
    pub fn from_values(values: &[f64; Self::COUNT]) -> Self {
        Self {
            systolic_aortic_pressure_mmhg: values[0],
            diastolic_aortic_pressure_mmhg: values[1],
            mean_aortic_pressure_mmhg: values[2],
            stroke_volume_ml: values[3],
            cardiac_output_l_per_min: values[4],
            ejection_fraction_percent: values[5],
            lv_end_diastolic_volume_ml: values[6],
            lv_end_systolic_volume_ml: values[7],
            lv_peak_systolic_pressure_mmhg: values[8],
            mean_pulmonary_arterial_pressure_mmhg: values[9],
            mean_pulmonary_venous_pressure_mmhg: values[10],
            mean_central_venous_pressure_mmhg: values[11],
        }
    }

    /// Returns [`HemodynamicsError::NonPhysiologic`] for the first output outside its
    /// [`PHYSIOLOGIC_OUTPUT_WINDOWS`] entry (or not finite).
    pub fn check_physiologic(&self) -> Result<()> {
        for ((name, (min, max)), value) in OUTPUT_COLUMNS
            .iter()
            .zip(PHYSIOLOGIC_OUTPUT_WINDOWS)
            .zip(self.to_values())
        {
            if !(value.is_finite() && (min..=max).contains(&value)) {
                return Err(HemodynamicsError::NonPhysiologic {
                    name,
                    value,
                    min,
                    max,
                });
            }
        }
        Ok(())
    }
}

fn maximum(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn minimum(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

/// Time average of `values` sampled at `times_s` (trapezoidal rule over the sampled span).
fn time_mean(times_s: &[f64], values: &[f64]) -> f64 {
    let span = times_s[times_s.len() - 1] - times_s[0];
    let integral: f64 = times_s
        .windows(2)
        .zip(values.windows(2))
        .map(|(t, v)| 0.5 * (t[1] - t[0]) * (v[0] + v[1]))
        .sum();
    integral / span
}
