//! Whole-body circulation (WBC) hemodynamic model. Plaintext science code: it never sees ciphertexts.
//!
//! A closed-loop, six-compartment lumped-parameter (0D) model after Smith, Chase, Nokes, Shaw,
//! Wake, "Minimal haemodynamic system model including ventricular interaction and valve
//! dynamics", Med. Eng. Phys. 26 (2004) 131–139 (equations in [`model`], parameter table in
//! [`parameters`]), integrated with `ode_solvers`' Dopri5 to a periodic steady state
//! ([`mod@simulate`]), reduced to clinical outputs ([`outputs`]), sampled over a patient population
//! ([`sampling`]) and written as a CSV data set ([`dataset`]) for the encrypted-regression
//! experiment. [`plot`] draws the waveforms.
#![deny(missing_docs)]

pub mod dataset;
pub mod error;
pub mod model;
pub mod outputs;
pub mod parameters;
pub mod plot;
pub mod sampling;
pub mod simulate;

pub use dataset::{
    data_card, generate_dataset, input_column_names, output_column_names, read_csv, read_csv_file,
    write_csv, write_csv_file, Dataset, PatientRecord,
};
pub use error::{HemodynamicsError, Result};
pub use model::CirculationModel;
pub use outputs::{HemodynamicOutputs, OUTPUT_COLUMNS};
pub use parameters::{CirculationParameters, PatientParameters, PATIENT_PARAMETER_RANGES};
pub use plot::plot_waveforms;
pub use sampling::sample_patients;
pub use simulate::{
    simulate, simulate_patient, Simulation, SimulationSettings, SteadyStateCriterion, Waveforms,
};
