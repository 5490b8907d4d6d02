//! Data-set generation, determinism, CSV round trip and error handling.

use more_hemodynamics::{
    data_card, generate_dataset, input_column_names, output_column_names, read_csv,
    sample_patients, simulate, simulate_patient, write_csv, CirculationParameters,
    HemodynamicsError, PatientParameters, SimulationSettings, PATIENT_PARAMETER_RANGES,
};
use std::sync::atomic::{AtomicUsize, Ordering};

fn csv_bytes(records: &[more_hemodynamics::PatientRecord]) -> Vec<u8> {
    let mut bytes = Vec::new();
    write_csv(records, &mut bytes).unwrap();
    bytes
}

#[test]
fn same_seed_gives_identical_csv_and_other_seed_differs() {
    let calls = AtomicUsize::new(0);
    let progress = |_done: usize| {
        calls.fetch_add(1, Ordering::Relaxed);
    };
    let first = generate_dataset(12, 7, Some(&progress)).unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 12);
    // Same seed on a single-thread pool: identical bytes regardless of thread count.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let second = pool.install(|| generate_dataset(12, 7, None)).unwrap();
    assert_eq!(csv_bytes(&first.records), csv_bytes(&second.records));
    let other = generate_dataset(12, 8, None).unwrap();
    assert_ne!(csv_bytes(&first.records), csv_bytes(&other.records));
    // A prefix of a longer data set equals the shorter one (row i depends only on seed and i).
    let longer = generate_dataset(14, 7, None).unwrap();
    assert_eq!(&longer.records[..12], &first.records[..]);
}

#[test]
fn csv_round_trip_is_exact_and_header_has_units() {
    let dataset = generate_dataset(5, 42, None).unwrap();
    let bytes = csv_bytes(&dataset.records);
    let text = String::from_utf8(bytes.clone()).unwrap();
    let header = text.lines().next().unwrap();
    let expected: Vec<&str> = input_column_names()
        .into_iter()
        .chain(output_column_names())
        .collect();
    assert_eq!(header, expected.join(","));
    assert!(header.starts_with("heart_rate_bpm,lv_end_systolic_elastance_mmhg_per_ml"));
    assert!(header.contains("stroke_volume_ml,cardiac_output_l_per_min"));
    assert_eq!(text.lines().count(), 6);
    let read_back = read_csv(bytes.as_slice()).unwrap();
    assert_eq!(read_back, dataset.records);
}

#[test]
fn read_csv_rejects_wrong_header_and_bad_cells() {
    let wrong_header = "a,b\n1,2\n";
    assert!(matches!(
        read_csv(wrong_header.as_bytes()),
        Err(HemodynamicsError::MalformedCsv(_))
    ));
    let dataset = generate_dataset(1, 1, None).unwrap();
    let text = String::from_utf8(csv_bytes(&dataset.records)).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let row = lines
        .next()
        .unwrap()
        .replacen(|c: char| c.is_ascii_digit(), "x", 1);
    let corrupted = format!("{header}\n{row}\n");
    assert!(matches!(
        read_csv(corrupted.as_bytes()),
        Err(HemodynamicsError::MalformedCsv(_))
    ));
}

#[test]
fn sampled_patients_lie_in_documented_ranges_and_are_accepted() {
    let patients = sample_patients(200, 3);
    assert_eq!(patients.len(), 200);
    for patient in &patients {
        patient.validate().unwrap();
    }
    // Sampling covers the ranges (not stuck at a point): each parameter spans > 80 % of its range.
    for (column, range) in PATIENT_PARAMETER_RANGES.iter().enumerate() {
        let values: Vec<f64> = patients.iter().map(|p| p.to_values()[column]).collect();
        let span = values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            - values.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(span > 0.8 * (range.max - range.min), "{}", range.name);
    }
    let dataset = generate_dataset(6, 3, None).unwrap();
    for record in &dataset.records {
        record.parameters.validate().unwrap();
        record.outputs.check_physiologic().unwrap();
    }
    let card = data_card(&dataset);
    assert!(card.contains("Seed: 3"));
    assert!(card.contains("Patients: 6"));
    assert!(card.contains("Smith"));
    assert!(card.contains("`cardiac_output_l_per_min`"));
}

#[test]
fn bad_parameters_are_errors_not_panics() {
    let bad_heart_rate = PatientParameters {
        heart_rate_bpm: 300.0,
        ..PatientParameters::nominal()
    };
    assert!(matches!(
        simulate_patient(&bad_heart_rate),
        Err(HemodynamicsError::InvalidParameter {
            name: "heart_rate_bpm",
            ..
        })
    ));
    let nan_volume = PatientParameters {
        stressed_blood_volume_ml: f64::NAN,
        ..PatientParameters::nominal()
    };
    assert!(matches!(
        simulate_patient(&nan_volume),
        Err(HemodynamicsError::InvalidParameter { .. })
    ));
    let mut negative_resistance = CirculationParameters::smith_2004_nominal();
    negative_resistance.systemic_resistance_mmhg_s_per_ml = -1.0;
    assert!(matches!(
        simulate(&negative_resistance, &SimulationSettings::default()),
        Err(HemodynamicsError::InvalidParameter {
            name: "systemic_resistance_mmhg_s_per_ml",
            ..
        })
    ));
    let bad_settings = SimulationSettings {
        recorded_beats: 0,
        ..Default::default()
    };
    assert!(matches!(
        simulate(&CirculationParameters::smith_2004_nominal(), &bad_settings),
        Err(HemodynamicsError::InvalidSetting(_))
    ));
    // Too few beats allowed to reach steady state: reported, not panicking.
    let mut short = SimulationSettings::default();
    short.steady_state.max_beats = 5;
    assert!(matches!(
        simulate(&CirculationParameters::smith_2004_nominal(), &short),
        Err(HemodynamicsError::NoSteadyState { beats: 5, .. })
    ));
}

#[test]
fn waveform_png_is_written() {
    let simulation = simulate_patient(&PatientParameters::nominal()).unwrap();
    let path = std::env::temp_dir().join(format!("wbc-waveforms-test-{}.png", std::process::id()));
    more_hemodynamics::plot_waveforms(&path, &simulation).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 10_000);
}
