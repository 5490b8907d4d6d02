//! The regression data set: one row per patient, the eight patient parameters (inputs) then the
//! twelve outputs (targets), with units in the column names; CSV writing/reading and a
//! Markdown data card.
//!
//! # Rejection policy
//!
//! A draw is **rejected and resampled deterministically** (next draw of the same row's random
//! stream, see [`crate::sampling`]) when its simulation does not reach a periodic steady state
//! ([`HemodynamicsError::NoSteadyState`]), the integrator fails, or an output lies outside
//! [`PHYSIOLOGIC_OUTPUT_WINDOWS`]. The number of rejected draws of each kind is reported in
//! [`Dataset`] and in the data card. After [`MAX_DRAWS_PER_PATIENT`] rejected draws for a single
//! row, generation fails with [`HemodynamicsError::SamplingExhausted`].

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{HemodynamicsError, Result};
use crate::outputs::{HemodynamicOutputs, OUTPUT_COLUMNS, PHYSIOLOGIC_OUTPUT_WINDOWS};
use crate::parameters::{PatientParameters, PATIENT_PARAMETER_RANGES};
use crate::sampling::{draw_patient, patient_rng};
use crate::simulate::simulate_patient;

/// Largest number of draws tried for one data-set row before giving up.
pub const MAX_DRAWS_PER_PATIENT: usize = 50;

/// Reference of the model, as written into the data card.
pub const MODEL_REFERENCE: &str = "Smith B.W., Chase J.G., Nokes R.I., Shaw G.M., Wake G., \
\"Minimal haemodynamic system model including ventricular interaction and valve dynamics\", \
Med. Eng. Phys. 26 (2004) 131-139; simplified: no septum (pericardial interaction kept), \
no valve inertances";

/// CSV names of the input columns (patient parameters, with units), in CSV order.
pub fn input_column_names() -> [&'static str; PatientParameters::COUNT] {
    PATIENT_PARAMETER_RANGES.map(|range| range.name)
}

/// CSV names of the output columns (regression targets, with units), in CSV order.
pub fn output_column_names() -> [&'static str; HemodynamicOutputs::COUNT] {
    OUTPUT_COLUMNS
}

/// One data-set row: a patient and the outputs of its steady-state beat.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatientRecord {
    /// Inputs: the patient's parameters.
    pub parameters: PatientParameters,
    /// Targets: the simulated outputs.
    pub outputs: HemodynamicOutputs,
}

/// A generated data set and its provenance.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Seed of the patient streams.
    pub seed: u64,
    /// Accepted patients, row `i` from stream `i`.
    pub records: Vec<PatientRecord>,
    /// Draws rejected because no periodic steady state was reached or integration failed.
    pub rejected_without_steady_state: usize,
    /// Draws rejected because an output was outside [`PHYSIOLOGIC_OUTPUT_WINDOWS`].
    pub rejected_non_physiologic: usize,
}

/// An accepted row and the number of draws rejected before it.
struct RowOutcome {
    record: PatientRecord,
    no_steady_state: usize,
    non_physiologic: usize,
}

/// Generates `count` accepted patients for `seed` in parallel (rayon; result independent of
/// the thread count). `progress`, if given, is called once per finished row with the number of
/// rows finished so far (calls can come from any thread, values may arrive slightly out of
/// order; for an indicatif bar call `inc(1)` per call).
pub fn generate_dataset(
    count: usize,
    seed: u64,
    progress: Option<&(dyn Fn(usize) + Sync)>,
) -> Result<Dataset> {
    let finished = AtomicUsize::new(0);
    let rows: Vec<RowOutcome> = (0..count)
        .into_par_iter()
        .map(|index| {
            let outcome = generate_row(seed, index)?;
            let done = finished.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(callback) = progress {
                callback(done);
            }
            Ok(outcome)
        })
        .collect::<Result<_>>()?;
    let mut dataset = Dataset {
        seed,
        records: Vec::with_capacity(count),
        rejected_without_steady_state: 0,
        rejected_non_physiologic: 0,
    };
    for RowOutcome {
        record,
        no_steady_state,
        non_physiologic,
    } in rows
    {
        dataset.records.push(record);
        dataset.rejected_without_steady_state += no_steady_state;
        dataset.rejected_non_physiologic += non_physiologic;
    }
    Ok(dataset)
}

fn generate_row(seed: u64, index: usize) -> Result<RowOutcome> {
    let mut rng = patient_rng(seed, index);
    let mut no_steady_state = 0;
    let mut non_physiologic = 0;
    for _ in 0..MAX_DRAWS_PER_PATIENT {
        let parameters = draw_patient(&mut rng);
        match simulate_patient(&parameters) {
            Ok(simulation) => match simulation.outputs.check_physiologic() {
                Ok(()) => {
                    let record = PatientRecord {
                        parameters,
                        outputs: simulation.outputs,
                    };
                    return Ok(RowOutcome {
                        record,
                        no_steady_state,
                        non_physiologic,
                    });
                }
                Err(_) => non_physiologic += 1,
            },
            Err(HemodynamicsError::NoSteadyState { .. } | HemodynamicsError::Integration(_)) => {
                no_steady_state += 1
            }
            Err(other) => return Err(other),
        }
    }
    Err(HemodynamicsError::SamplingExhausted {
        index,
        attempts: MAX_DRAWS_PER_PATIENT,
    })
}

/// Writes the header (inputs then outputs) and one row per record. Numbers are written in
/// Rust's shortest round-trip decimal form, so reading gives back the identical `f64`s.
pub fn write_csv<W: Write>(records: &[PatientRecord], writer: W) -> Result<()> {
    let mut csv_writer = csv::Writer::from_writer(writer);
    let header: Vec<&str> = input_column_names()
        .into_iter()
        .chain(output_column_names())
        .collect();
    csv_writer.write_record(&header)?;
    for record in records {
        let cells = record
            .parameters
            .to_values()
            .into_iter()
            .chain(record.outputs.to_values())
            .map(|value| value.to_string());
        csv_writer.write_record(cells)?;
    }
    csv_writer.flush()?;
    Ok(())
}

/// [`write_csv`] to a file (created or truncated).
pub fn write_csv_file(records: &[PatientRecord], path: impl AsRef<Path>) -> Result<()> {
    let file = std::fs::File::create(path)?;
    write_csv(records, std::io::BufWriter::new(file))
}

/// Reads a CSV written by [`write_csv`]; the header must match exactly.
pub fn read_csv<R: Read>(reader: R) -> Result<Vec<PatientRecord>> {
    let mut csv_reader = csv::Reader::from_reader(reader);
    let expected: Vec<&str> = input_column_names()
        .into_iter()
        .chain(output_column_names())
        .collect();
    let header = csv_reader.headers()?.clone();
    if header.iter().ne(expected.iter().copied()) {
        return Err(HemodynamicsError::MalformedCsv(format!(
            "header {:?} differs from expected {:?}",
            header.iter().collect::<Vec<_>>(),
            expected
        )));
    }
    let mut records = Vec::new();
    for (row, result) in csv_reader.records().enumerate() {
        let cells = result?;
        let values = cells
            .iter()
            .map(|cell| {
                cell.trim().parse::<f64>().map_err(|error| {
                    HemodynamicsError::MalformedCsv(format!("row {row}: `{cell}`: {error}"))
                })
            })
            .collect::<Result<Vec<f64>>>()?;
        let (inputs, outputs) = values.split_at(PatientParameters::COUNT);
        let inputs: [f64; PatientParameters::COUNT] = inputs
            .try_into()
            .map_err(|_| HemodynamicsError::MalformedCsv(format!("row {row}: too few cells")))?;
        let outputs: [f64; HemodynamicOutputs::COUNT] = outputs
            .try_into()
            .map_err(|_| HemodynamicsError::MalformedCsv(format!("row {row}: wrong cell count")))?;
        records.push(PatientRecord {
            parameters: PatientParameters::from_values(&inputs),
            outputs: HemodynamicOutputs::from_values(&outputs),
        });
    }
    Ok(records)
}

/// [`read_csv`] from a file.
pub fn read_csv_file(path: impl AsRef<Path>) -> Result<Vec<PatientRecord>> {
    read_csv(std::io::BufReader::new(std::fs::File::open(path)?))
}

/// Markdown data card: model reference, seed, counts, rejection policy and counts, the input
/// sampling ranges, and observed min / mean / max of every column.
pub fn data_card(dataset: &Dataset) -> String {
    let mut card = String::new();
    let count = dataset.records.len();
    card.push_str("# WBC hemodynamic regression data set\n\n");
    card.push_str(&format!(
        "* Model: {MODEL_REFERENCE}; crate `more-hemodynamics` {}.\n",
        env!("CARGO_PKG_VERSION")
    ));
    card.push_str("* Integrator: Dopri5 (ode_solvers), run to a periodic steady state; outputs from the last beat.\n");
    card.push_str(&format!(
        "* Seed: {} (row i uses ChaCha8 stream i).\n",
        dataset.seed
    ));
    card.push_str(&format!("* Patients: {count}.\n"));
    card.push_str(&format!(
        "* Rejected and resampled draws: {} without steady state, {} non-physiologic (max {} draws per row).\n\n",
        dataset.rejected_without_steady_state, dataset.rejected_non_physiologic, MAX_DRAWS_PER_PATIENT
    ));
    card.push_str("## Inputs (independent uniform draws)\n\n");
    card.push_str("| column | range min | range max | nominal (Smith 2004) | observed min | observed mean | observed max |\n|---|---|---|---|---|---|---|\n");
    for (column, range) in PATIENT_PARAMETER_RANGES.iter().enumerate() {
        let (min, mean, max) =
            column_summary(dataset, |record| record.parameters.to_values()[column]);
        card.push_str(&format!(
            "| `{}` | {} | {} | {:.4} | {min:.4} | {mean:.4} | {max:.4} |\n",
            range.name, range.min, range.max, range.nominal
        ));
    }
    card.push_str("\n## Outputs (regression targets)\n\n");
    card.push_str("| column | accepted min | accepted max | observed min | observed mean | observed max |\n|---|---|---|---|---|---|\n");
    for (column, (name, (low, high))) in OUTPUT_COLUMNS
        .iter()
        .zip(PHYSIOLOGIC_OUTPUT_WINDOWS)
        .enumerate()
    {
        let (min, mean, max) = column_summary(dataset, |record| record.outputs.to_values()[column]);
        card.push_str(&format!(
            "| `{name}` | {low} | {high} | {min:.3} | {mean:.3} | {max:.3} |\n"
        ));
    }
    card
}

fn column_summary(dataset: &Dataset, value: impl Fn(&PatientRecord) -> f64) -> (f64, f64, f64) {
    if dataset.records.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let values: Vec<f64> = dataset.records.iter().map(value).collect();
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    (min, mean, max)
}
