//! Validation of the nominal (Smith et al. 2004) model against physiologic resting values.

use more_hemodynamics::{
    simulate, simulate_patient, CirculationParameters, PatientParameters, SimulationSettings,
};

/// Resting adult reference values (Guyton & Hall / Klabunde textbook norms: ~120/80 mmHg,
/// SV 60–80 mL, CO ~5 L/min, EF 55–70 %). Tolerances: pressures ±10 mmHg because the model is
/// a 6-compartment lumped model of a generic adult whose parameters were fitted by Smith et al.
/// to such norms, and we dropped the septum and the inertances (each shifts pressures by a few
/// mmHg); SV, CO and EF use the normal clinical ranges themselves.
#[test]
fn nominal_model_is_physiologic() {
    let simulation = simulate_patient(&PatientParameters::nominal()).expect("nominal simulation");
    let out = simulation.outputs;
    println!("{out:#?}, beats {}", simulation.beats_simulated);
    assert!(
        (out.systolic_aortic_pressure_mmhg - 120.0).abs() <= 10.0,
        "{out:?}"
    );
    assert!(
        (out.diastolic_aortic_pressure_mmhg - 80.0).abs() <= 10.0,
        "{out:?}"
    );
    assert!(
        (85.0..=105.0).contains(&out.mean_aortic_pressure_mmhg),
        "{out:?}"
    );
    assert!((60.0..=80.0).contains(&out.stroke_volume_ml), "{out:?}");
    assert!(
        (4.5..=6.0).contains(&out.cardiac_output_l_per_min),
        "{out:?}"
    );
    assert!(
        (55.0..=70.0).contains(&out.ejection_fraction_percent),
        "{out:?}"
    );
    // Normal mean pulmonary arterial pressure is 10-20 mmHg.
    assert!(
        (10.0..=20.0).contains(&out.mean_pulmonary_arterial_pressure_mmhg),
        "{out:?}"
    );
    // Consistency of derived outputs.
    let stroke = out.lv_end_diastolic_volume_ml - out.lv_end_systolic_volume_ml;
    assert!((out.stroke_volume_ml - stroke).abs() < 1e-9);
    assert!((out.cardiac_output_l_per_min - stroke * 80.0 / 1000.0).abs() < 1e-9);
    assert!(out.lv_peak_systolic_pressure_mmhg >= out.systolic_aortic_pressure_mmhg);
    out.check_physiologic()
        .expect("nominal outputs inside acceptance windows");
}

/// At steady state the right and left hearts eject the same volume per beat.
#[test]
fn steady_state_balances_left_and_right_stroke_volumes() {
    let simulation = simulate_patient(&PatientParameters::nominal()).unwrap();
    let w = &simulation.waveforms;
    let half = w.len() / 2;
    let range = |v: &[f64]| {
        v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            - v.iter().copied().fold(f64::INFINITY, f64::min)
    };
    let rv_stroke = range(&w.rv_volume_ml[half..]);
    let lv_stroke = simulation.outputs.stroke_volume_ml;
    assert!(
        (rv_stroke - lv_stroke).abs() / lv_stroke < 2e-3,
        "RV {rv_stroke} vs LV {lv_stroke}"
    );
}

/// The default steady-state tolerance (1e-4 per beat) gives outputs within 0.5 % of a run
/// with a 10× tighter tolerance (1e-5; below ~1e-5 the beat-to-beat jitter of the
/// adaptive integrator at rtol 1e-7 is reached), i.e. the criterion does not stop on a slow transient.
#[test]
fn default_steady_state_criterion_is_converged() {
    let parameters = CirculationParameters::smith_2004_nominal();
    let default = simulate(&parameters, &SimulationSettings::default()).unwrap();
    let mut strict_settings = SimulationSettings::default();
    strict_settings.steady_state.relative_tolerance = 1e-5;
    let strict = simulate(&parameters, &strict_settings).unwrap();
    println!(
        "beats: default {}, strict {}",
        default.beats_simulated, strict.beats_simulated
    );
    assert!(strict.beats_simulated > default.beats_simulated);
    for (a, b) in default
        .outputs
        .to_values()
        .iter()
        .zip(strict.outputs.to_values())
    {
        assert!((a - b).abs() <= 5e-3 * b.abs().max(1.0), "{a} vs {b}");
    }
}

/// Physiologic direction of the main parameters (Frank–Starling, contractility, afterload).
#[test]
fn outputs_respond_in_physiologic_directions() {
    let nominal = PatientParameters::nominal();
    let base = simulate_patient(&nominal).unwrap().outputs;
    let more_contractile = simulate_patient(&PatientParameters {
        lv_end_systolic_elastance_mmhg_per_ml: 4.0,
        ..nominal
    })
    .unwrap()
    .outputs;
    assert!(more_contractile.ejection_fraction_percent > base.ejection_fraction_percent);
    let more_volume = simulate_patient(&PatientParameters {
        stressed_blood_volume_ml: 1750.0,
        ..nominal
    })
    .unwrap()
    .outputs;
    assert!(more_volume.lv_end_diastolic_volume_ml > base.lv_end_diastolic_volume_ml);
    assert!(more_volume.stroke_volume_ml > base.stroke_volume_ml);
    let more_resistance = simulate_patient(&PatientParameters {
        systemic_vascular_resistance_mmhg_s_per_ml: 1.5,
        ..nominal
    })
    .unwrap()
    .outputs;
    assert!(more_resistance.mean_aortic_pressure_mmhg > base.mean_aortic_pressure_mmhg);
    assert!(more_resistance.stroke_volume_ml < base.stroke_volume_ml);
}
