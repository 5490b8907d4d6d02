//! Model parameters: the full parameter table of the circulation model
//! ([`CirculationParameters`]) and the per-patient subset that the data set varies
//! ([`PatientParameters`]).
//!
//! # Source of the nominal values
//!
//! Smith B.W., Chase J.G., Nokes R.I., Shaw G.M., Wake G., "Minimal haemodynamic system model
//! including ventricular interaction and valve dynamics", *Medical Engineering & Physics* 26 (2004)
//! 131–139, Table 1 (human nominal parameters), as also distributed in the CellML model
//! repository ("smith_chase_nokes_shaw_wake_2004"). The values below are quoted from memory of
//! that table; the ones we are confident about are marked (C), the ones we are less sure of
//! are marked (U) and were cross-checked only for plausibility (the nominal simulation must give
//! physiologic pressures and volumes, see the crate's validation test).
//!
//! | symbol | field | value | unit | |
//! |---|---|---|---|---|
//! | HR | `heart_rate_bpm` | 80 | beats/min | (C) |
//! | A | (fixed to 1) | 1 | – | (C) |
//! | B | `driver_width_per_s2` | 80 | s⁻² | (C) |
//! | C | `driver_peak_time_s` | 0.27 | s | (U: some reproductions use 0.375 s) |
//! | E_es,lvf | `lv_end_systolic_elastance_mmhg_per_ml` | 2.8798 | mmHg/mL | (C) |
//! | V_d,lvf | `lv_dead_volume_ml` | 0 | mL | (C) |
//! | P_0,lvf | `lv_edpvr_scale_mmhg` | 0.1203 | mmHg | (C) |
//! | λ_lvf | `lv_edpvr_stiffness_per_ml` | 0.033 | mL⁻¹ | (C) |
//! | V_0,lvf | `lv_edpvr_unstressed_volume_ml` | 0 | mL | (C) |
//! | E_es,rvf | `rv_end_systolic_elastance_mmhg_per_ml` | 0.585 | mmHg/mL | (C) |
//! | V_d,rvf | `rv_dead_volume_ml` | 0 | mL | (C) |
//! | P_0,rvf | `rv_edpvr_scale_mmhg` | 0.2157 | mmHg | (C) |
//! | λ_rvf | `rv_edpvr_stiffness_per_ml` | 0.023 | mL⁻¹ | (C) |
//! | V_0,rvf | `rv_edpvr_unstressed_volume_ml` | 0 | mL | (C) |
//! | E_es,ao | `aortic_elastance_mmhg_per_ml` | 0.6913 | mmHg/mL | (C) |
//! | E_es,vc | `vena_cava_elastance_mmhg_per_ml` | 0.0059 | mmHg/mL | (C) |
//! | E_es,pa | `pulmonary_artery_elastance_mmhg_per_ml` | 0.369 | mmHg/mL | (U) |
//! | E_es,pu | `pulmonary_vein_elastance_mmhg_per_ml` | 0.0073 | mmHg/mL | (C) |
//! | R_mt | `mitral_valve_resistance_mmhg_s_per_ml` | 0.0158 | mmHg·s/mL | (C) |
//! | R_av | `aortic_valve_resistance_mmhg_s_per_ml` | 0.0180 | mmHg·s/mL | (C) |
//! | R_tc | `tricuspid_valve_resistance_mmhg_s_per_ml` | 0.0237 | mmHg·s/mL | (C) |
//! | R_pv | `pulmonary_valve_resistance_mmhg_s_per_ml` | 0.0055 | mmHg·s/mL | (C) |
//! | R_sys | `systemic_resistance_mmhg_s_per_ml` | 1.0889 | mmHg·s/mL | (C) |
//! | R_pul | `pulmonary_resistance_mmhg_s_per_ml` | 0.1552 | mmHg·s/mL | (C) |
//! | V_tot | `stressed_blood_volume_ml` | 1500 | mL | (C) |
//! | P_0,pcd | `pericardium_scale_mmhg` | 0.5003 | mmHg | (C) |
//! | λ_pcd | `pericardium_stiffness_per_ml` | 0.030 | mL⁻¹ | (C) |
//! | V_0,pcd | `pericardium_unstressed_volume_ml` | 200 | mL | (C) |
//! | P_th | `thoracic_pressure_mmhg` | −4 | mmHg | (C) |
//!
//! Parameters of Smith et al. 2004 that this crate does **not** use, because the septum and
//! the valve inertances are dropped (see [`crate::model`]): septum E_es,spt = 48.754 mmHg/mL,
//! V_d,spt = 2 mL, P_0,spt = 1.1101 mmHg, λ_spt = 0.435 mL⁻¹, V_0,spt = 2 mL; inertances
//! L_mt = 7.6968·10⁻⁵, L_av = 1.2189·10⁻⁴, L_tc = 8.0093·10⁻⁵, L_pv = 1.4868·10⁻⁴ mmHg·s²/mL (U).

use serde::{Deserialize, Serialize};

use crate::error::{HemodynamicsError, Result};

/// Full parameter set of the six-compartment closed-loop model (see the module table for the
/// Smith et al. 2004 nominal values and units).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CirculationParameters {
    /// Heart rate HR (beats/min); the cardiac period is T = 60/HR s.
    pub heart_rate_bpm: f64,
    /// Width coefficient B of the Gaussian activation e(t) = exp(−B (t − C)²) (s⁻²).
    pub driver_width_per_s2: f64,
    /// Time C of peak activation after the start of the beat (s).
    pub driver_peak_time_s: f64,
    /// LV end-systolic elastance E_es,lv (slope of the ESPVR, mmHg/mL): contractility.
    pub lv_end_systolic_elastance_mmhg_per_ml: f64,
    /// LV dead volume V_d,lv of the ESPVR (mL).
    pub lv_dead_volume_ml: f64,
    /// LV EDPVR pressure scale P_0,lv (mmHg).
    pub lv_edpvr_scale_mmhg: f64,
    /// LV EDPVR exponential stiffness λ_lv (mL⁻¹).
    pub lv_edpvr_stiffness_per_ml: f64,
    /// LV EDPVR unstressed volume V_0,lv (mL).
    pub lv_edpvr_unstressed_volume_ml: f64,
    /// RV end-systolic elastance E_es,rv (mmHg/mL).
    pub rv_end_systolic_elastance_mmhg_per_ml: f64,
    /// RV dead volume V_d,rv of the ESPVR (mL).
    pub rv_dead_volume_ml: f64,
    /// RV EDPVR pressure scale P_0,rv (mmHg).
    pub rv_edpvr_scale_mmhg: f64,
    /// RV EDPVR exponential stiffness λ_rv (mL⁻¹).
    pub rv_edpvr_stiffness_per_ml: f64,
    /// RV EDPVR unstressed volume V_0,rv (mL).
    pub rv_edpvr_unstressed_volume_ml: f64,
    /// Aortic (systemic arterial) elastance E_ao = 1/C_ao (mmHg/mL).
    pub aortic_elastance_mmhg_per_ml: f64,
    /// Vena cava (systemic venous) elastance E_vc (mmHg/mL).
    pub vena_cava_elastance_mmhg_per_ml: f64,
    /// Pulmonary artery elastance E_pa (mmHg/mL).
    pub pulmonary_artery_elastance_mmhg_per_ml: f64,
    /// Pulmonary vein elastance E_pu (mmHg/mL).
    pub pulmonary_vein_elastance_mmhg_per_ml: f64,
    /// Mitral valve resistance R_mt (mmHg·s/mL).
    pub mitral_valve_resistance_mmhg_s_per_ml: f64,
    /// Aortic valve resistance R_av (mmHg·s/mL).
    pub aortic_valve_resistance_mmhg_s_per_ml: f64,
    /// Tricuspid valve resistance R_tc (mmHg·s/mL).
    pub tricuspid_valve_resistance_mmhg_s_per_ml: f64,
    /// Pulmonary valve resistance R_pv (mmHg·s/mL).
    pub pulmonary_valve_resistance_mmhg_s_per_ml: f64,
    /// Systemic vascular resistance R_sys (mmHg·s/mL; 1 mmHg·s/mL ≈ 1333 dyn·s·cm⁻⁵).
    pub systemic_resistance_mmhg_s_per_ml: f64,
    /// Pulmonary vascular resistance R_pul (mmHg·s/mL).
    pub pulmonary_resistance_mmhg_s_per_ml: f64,
    /// Total stressed blood volume V_tot shared by the six compartments (mL); conserved.
    pub stressed_blood_volume_ml: f64,
    /// Pericardium EDPVR pressure scale P_0,pcd (mmHg).
    pub pericardium_scale_mmhg: f64,
    /// Pericardium exponential stiffness λ_pcd (mL⁻¹).
    pub pericardium_stiffness_per_ml: f64,
    /// Pericardium unstressed volume V_0,pcd (mL).
    pub pericardium_unstressed_volume_ml: f64,
    /// Intrathoracic pressure P_th acting on the pericardium and pulmonary vessels (mmHg).
    pub thoracic_pressure_mmhg: f64,
}

impl CirculationParameters {
    /// Nominal human parameters of Smith et al. 2004, Table 1 (see the module documentation).
    pub fn smith_2004_nominal() -> Self {
        Self {
            heart_rate_bpm: 80.0,
            driver_width_per_s2: 80.0,
            driver_peak_time_s: 0.27,
            lv_end_systolic_elastance_mmhg_per_ml: 2.8798,
            lv_dead_volume_ml: 0.0,
            lv_edpvr_scale_mmhg: 0.1203,
            lv_edpvr_stiffness_per_ml: 0.033,
            lv_edpvr_unstressed_volume_ml: 0.0,
            rv_end_systolic_elastance_mmhg_per_ml: 0.585,
            rv_dead_volume_ml: 0.0,
            rv_edpvr_scale_mmhg: 0.2157,
            rv_edpvr_stiffness_per_ml: 0.023,
            rv_edpvr_unstressed_volume_ml: 0.0,
            aortic_elastance_mmhg_per_ml: 0.6913,
            vena_cava_elastance_mmhg_per_ml: 0.0059,
            pulmonary_artery_elastance_mmhg_per_ml: 0.369,
            pulmonary_vein_elastance_mmhg_per_ml: 0.0073,
            mitral_valve_resistance_mmhg_s_per_ml: 0.0158,
            aortic_valve_resistance_mmhg_s_per_ml: 0.0180,
            tricuspid_valve_resistance_mmhg_s_per_ml: 0.0237,
            pulmonary_valve_resistance_mmhg_s_per_ml: 0.0055,
            systemic_resistance_mmhg_s_per_ml: 1.0889,
            pulmonary_resistance_mmhg_s_per_ml: 0.1552,
            stressed_blood_volume_ml: 1500.0,
            pericardium_scale_mmhg: 0.5003,
            pericardium_stiffness_per_ml: 0.030,
            pericardium_unstressed_volume_ml: 200.0,
            thoracic_pressure_mmhg: -4.0,
        }
    }

    /// Cardiac period T = 60 / HR (s).
    pub fn cardiac_period_s(&self) -> f64 {
        60.0 / self.heart_rate_bpm
    }

    /// Checks that every parameter is finite and inside a broad admissible range (wide enough
    /// for any adult physiology, narrow enough to keep the ODE well posed).
    pub fn validate(&self) -> Result<()> {
        let checks: [(&'static str, f64, f64, f64); 28] = [
            ("heart_rate_bpm", self.heart_rate_bpm, 20.0, 250.0),
            ("driver_width_per_s2", self.driver_width_per_s2, 1.0, 1000.0),
            (
                "driver_peak_time_s",
                self.driver_peak_time_s,
                0.01,
                0.9 * 60.0 / self.heart_rate_bpm.max(20.0),
            ),
            (
                "lv_end_systolic_elastance_mmhg_per_ml",
                self.lv_end_systolic_elastance_mmhg_per_ml,
                0.05,
                20.0,
            ),
            ("lv_dead_volume_ml", self.lv_dead_volume_ml, 0.0, 100.0),
            ("lv_edpvr_scale_mmhg", self.lv_edpvr_scale_mmhg, 1e-4, 10.0),
            (
                "lv_edpvr_stiffness_per_ml",
                self.lv_edpvr_stiffness_per_ml,
                1e-4,
                0.2,
            ),
            (
                "lv_edpvr_unstressed_volume_ml",
                self.lv_edpvr_unstressed_volume_ml,
                0.0,
                100.0,
            ),
            (
                "rv_end_systolic_elastance_mmhg_per_ml",
                self.rv_end_systolic_elastance_mmhg_per_ml,
                0.01,
                20.0,
            ),
            ("rv_dead_volume_ml", self.rv_dead_volume_ml, 0.0, 100.0),
            ("rv_edpvr_scale_mmhg", self.rv_edpvr_scale_mmhg, 1e-4, 10.0),
            (
                "rv_edpvr_stiffness_per_ml",
                self.rv_edpvr_stiffness_per_ml,
                1e-4,
                0.2,
            ),
            (
                "rv_edpvr_unstressed_volume_ml",
                self.rv_edpvr_unstressed_volume_ml,
                0.0,
                100.0,
            ),
            (
                "aortic_elastance_mmhg_per_ml",
                self.aortic_elastance_mmhg_per_ml,
                0.01,
                20.0,
            ),
            (
                "vena_cava_elastance_mmhg_per_ml",
                self.vena_cava_elastance_mmhg_per_ml,
                1e-4,
                1.0,
            ),
            (
                "pulmonary_artery_elastance_mmhg_per_ml",
                self.pulmonary_artery_elastance_mmhg_per_ml,
                0.01,
                20.0,
            ),
            (
                "pulmonary_vein_elastance_mmhg_per_ml",
                self.pulmonary_vein_elastance_mmhg_per_ml,
                1e-4,
                1.0,
            ),
            (
                "mitral_valve_resistance_mmhg_s_per_ml",
                self.mitral_valve_resistance_mmhg_s_per_ml,
                1e-4,
                1.0,
            ),
            (
                "aortic_valve_resistance_mmhg_s_per_ml",
                self.aortic_valve_resistance_mmhg_s_per_ml,
                1e-4,
                1.0,
            ),
            (
                "tricuspid_valve_resistance_mmhg_s_per_ml",
                self.tricuspid_valve_resistance_mmhg_s_per_ml,
                1e-4,
                1.0,
            ),
            (
                "pulmonary_valve_resistance_mmhg_s_per_ml",
                self.pulmonary_valve_resistance_mmhg_s_per_ml,
                1e-4,
                1.0,
            ),
            (
                "systemic_resistance_mmhg_s_per_ml",
                self.systemic_resistance_mmhg_s_per_ml,
                0.05,
                10.0,
            ),
            (
                "pulmonary_resistance_mmhg_s_per_ml",
                self.pulmonary_resistance_mmhg_s_per_ml,
                0.005,
                5.0,
            ),
            (
                "stressed_blood_volume_ml",
                self.stressed_blood_volume_ml,
                100.0,
                6000.0,
            ),
            (
                "pericardium_scale_mmhg",
                self.pericardium_scale_mmhg,
                0.0,
                10.0,
            ),
            (
                "pericardium_stiffness_per_ml",
                self.pericardium_stiffness_per_ml,
                1e-4,
                0.2,
            ),
            (
                "pericardium_unstressed_volume_ml",
                self.pericardium_unstressed_volume_ml,
                0.0,
                1000.0,
            ),
            (
                "thoracic_pressure_mmhg",
                self.thoracic_pressure_mmhg,
                -20.0,
                20.0,
            ),
        ];
        for (name, value, min, max) in checks {
            check_range(name, value, min, max)?;
        }
        Ok(())
    }
}

/// Returns [`HemodynamicsError::InvalidParameter`] unless `value` is finite and in `[min, max]`.
fn check_range(name: &'static str, value: f64, min: f64, max: f64) -> Result<()> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(HemodynamicsError::InvalidParameter {
            name,
            value,
            min,
            max,
        })
    }
}

/// Documented sampling range of one patient parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParameterRange {
    /// CSV column name, with unit suffix.
    pub name: &'static str,
    /// Smallest value (in the unit of the column name).
    pub min: f64,
    /// Largest value (in the unit of the column name).
    pub max: f64,
    /// Smith et al. 2004 nominal value (in the unit of the column name).
    pub nominal: f64,
}

/// Sampling ranges of the eight patient parameters, in the order of [`PatientParameters`]'s
/// fields and of the CSV input columns.
///
/// The nominal values are those of Smith et al. 2004 (aortic compliance = 1/E_ao = 1/0.6913).
/// The ranges are **our choice**, not taken from the unknown WBC data set of the reproduced
/// study: roughly ±40–50 % around nominal, covering resting adults from normal to moderately
/// pathological (e.g. HR 50–110 bpm; SVR 0.7–1.6 mmHg·s/mL ≈ 930–2130 dyn·s·cm⁻⁵;
/// LV E_es 1.5–4.5 mmHg/mL spans reduced to high contractility).
pub const PATIENT_PARAMETER_RANGES: [ParameterRange; 8] = [
    ParameterRange {
        name: "heart_rate_bpm",
        min: 50.0,
        max: 110.0,
        nominal: 80.0,
    },
    ParameterRange {
        name: "lv_end_systolic_elastance_mmhg_per_ml",
        min: 1.5,
        max: 4.5,
        nominal: 2.8798,
    },
    ParameterRange {
        name: "rv_end_systolic_elastance_mmhg_per_ml",
        min: 0.3,
        max: 0.9,
        nominal: 0.585,
    },
    ParameterRange {
        name: "lv_diastolic_stiffness_per_ml",
        min: 0.025,
        max: 0.045,
        nominal: 0.033,
    },
    ParameterRange {
        name: "systemic_vascular_resistance_mmhg_s_per_ml",
        min: 0.7,
        max: 1.6,
        nominal: 1.0889,
    },
    ParameterRange {
        name: "pulmonary_vascular_resistance_mmhg_s_per_ml",
        min: 0.08,
        max: 0.25,
        nominal: 0.1552,
    },
    ParameterRange {
        name: "aortic_compliance_ml_per_mmhg",
        min: 0.9,
        max: 2.2,
        nominal: 1.0 / 0.6913,
    },
    ParameterRange {
        name: "stressed_blood_volume_ml",
        min: 1200.0,
        max: 1800.0,
        nominal: 1500.0,
    },
];

/// The per-patient parameters that the data set varies (the network's inputs). All other
/// parameters keep their Smith et al. 2004 nominal values. Ranges: [`PATIENT_PARAMETER_RANGES`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatientParameters {
    /// Heart rate (beats/min), range 50–110.
    pub heart_rate_bpm: f64,
    /// LV end-systolic elastance, i.e. contractility (mmHg/mL), range 1.5–4.5.
    pub lv_end_systolic_elastance_mmhg_per_ml: f64,
    /// RV end-systolic elastance (mmHg/mL), range 0.3–0.9.
    pub rv_end_systolic_elastance_mmhg_per_ml: f64,
    /// LV diastolic stiffness λ of the EDPVR (mL⁻¹), range 0.025–0.045.
    pub lv_diastolic_stiffness_per_ml: f64,
    /// Systemic vascular resistance (mmHg·s/mL), range 0.7–1.6.
    pub systemic_vascular_resistance_mmhg_s_per_ml: f64,
    /// Pulmonary vascular resistance (mmHg·s/mL), range 0.08–0.25.
    pub pulmonary_vascular_resistance_mmhg_s_per_ml: f64,
    /// Aortic compliance C_ao = 1/E_ao (mL/mmHg), range 0.9–2.2.
    pub aortic_compliance_ml_per_mmhg: f64,
    /// Total stressed blood volume (mL), range 1200–1800.
    pub stressed_blood_volume_ml: f64,
}

impl PatientParameters {
    /// Number of patient parameters (CSV input columns).
    pub const COUNT: usize = PATIENT_PARAMETER_RANGES.len();

    /// The Smith et al. 2004 nominal patient.
    pub fn nominal() -> Self {
        let values: [f64; Self::COUNT] = PATIENT_PARAMETER_RANGES.map(|range| range.nominal);
        Self::from_values(&values)
    }

    /// Values in the order of [`PATIENT_PARAMETER_RANGES`] (and of the CSV input columns).
    pub fn to_values(&self) -> [f64; Self::COUNT] {
        [
            self.heart_rate_bpm,
            self.lv_end_systolic_elastance_mmhg_per_ml,
            self.rv_end_systolic_elastance_mmhg_per_ml,
            self.lv_diastolic_stiffness_per_ml,
            self.systemic_vascular_resistance_mmhg_s_per_ml,
            self.pulmonary_vascular_resistance_mmhg_s_per_ml,
            self.aortic_compliance_ml_per_mmhg,
            self.stressed_blood_volume_ml,
        ]
    }

    /// Inverse of [`Self::to_values`].
    pub fn from_values(values: &[f64; Self::COUNT]) -> Self {
        Self {
            heart_rate_bpm: values[0],
            lv_end_systolic_elastance_mmhg_per_ml: values[1],
            rv_end_systolic_elastance_mmhg_per_ml: values[2],
            lv_diastolic_stiffness_per_ml: values[3],
            systemic_vascular_resistance_mmhg_s_per_ml: values[4],
            pulmonary_vascular_resistance_mmhg_s_per_ml: values[5],
            aortic_compliance_ml_per_mmhg: values[6],
            stressed_blood_volume_ml: values[7],
        }
    }

    /// Checks every value is finite and inside its [`PATIENT_PARAMETER_RANGES`] entry.
    pub fn validate(&self) -> Result<()> {
        for (range, value) in PATIENT_PARAMETER_RANGES.iter().zip(self.to_values()) {
            check_range(range.name, value, range.min, range.max)?;
        }
        Ok(())
    }

    /// Validates the patient and returns the full model parameters: Smith et al. 2004 nominal
    /// values with this patient's eight parameters substituted (E_ao = 1 / C_ao).
    pub fn to_circulation_parameters(&self) -> Result<CirculationParameters> {
        self.validate()?;
        let mut parameters = CirculationParameters::smith_2004_nominal();
        parameters.heart_rate_bpm = self.heart_rate_bpm;
        parameters.lv_end_systolic_elastance_mmhg_per_ml =
            self.lv_end_systolic_elastance_mmhg_per_ml;
        parameters.rv_end_systolic_elastance_mmhg_per_ml =
            self.rv_end_systolic_elastance_mmhg_per_ml;
        parameters.lv_edpvr_stiffness_per_ml = self.lv_diastolic_stiffness_per_ml;
        parameters.systemic_resistance_mmhg_s_per_ml =
            self.systemic_vascular_resistance_mmhg_s_per_ml;
        parameters.pulmonary_resistance_mmhg_s_per_ml =
            self.pulmonary_vascular_resistance_mmhg_s_per_ml;
        parameters.aortic_elastance_mmhg_per_ml = 1.0 / self.aortic_compliance_ml_per_mmhg;
        parameters.stressed_blood_volume_ml = self.stressed_blood_volume_ml;
        parameters.validate()?;
        Ok(parameters)
    }
}
