//! Error type of the crate.

/// Everything that can go wrong when simulating, sampling, writing or plotting.
#[derive(Debug, thiserror::Error)]
pub enum HemodynamicsError {
    /// A model or patient parameter is not finite or lies outside its accepted range
    /// (the range is given in the parameter's own unit).
    #[error("parameter `{name}` = {value} is outside its accepted range [{min}, {max}]")]
    InvalidParameter {
        /// Name of the parameter, with its unit suffix (e.g. `heart_rate_bpm`).
        name: &'static str,
        /// Offending value, in the parameter's unit.
        value: f64,
        /// Smallest accepted value, in the parameter's unit.
        min: f64,
        /// Largest accepted value, in the parameter's unit.
        max: f64,
    },
    /// A simulation setting (tolerance, beat count, sample count) is unusable.
    #[error("invalid simulation setting: {0}")]
    InvalidSetting(String),
    /// The Dormand–Prince integrator gave up (step-size underflow, too many steps, stiffness).
    #[error("ODE integration failed: {0}")]
    Integration(String),
    /// The state did not become periodic within the allowed number of beats.
    #[error("no periodic steady state after {beats} beats (last beat-to-beat relative change {last_relative_change:.3e})")]
    NoSteadyState {
        /// Number of simulated beats.
        beats: usize,
        /// Largest relative beat-to-beat change of a compartment volume at the last beat (dimensionless).
        last_relative_change: f64,
    },
    /// The steady state was reached but an output lies outside the physiologic acceptance window.
    #[error("non-physiologic output `{name}` = {value} (accepted [{min}, {max}])")]
    NonPhysiologic {
        /// Output column name, with its unit suffix.
        name: &'static str,
        /// Offending value, in the output's unit.
        value: f64,
        /// Smallest accepted value.
        min: f64,
        /// Largest accepted value.
        max: f64,
    },
    /// Rejection sampling could not find an acceptable patient for one data-set row.
    #[error("patient {index}: no physiologic patient after {attempts} draws")]
    SamplingExhausted {
        /// Row index of the patient in the data set.
        index: usize,
        /// Number of parameter draws that were tried.
        attempts: usize,
    },
    /// A CSV file does not have the expected columns or holds a non-numeric cell.
    #[error("malformed data-set CSV: {0}")]
    MalformedCsv(String),
    /// Error from the `csv` crate.
    #[error(transparent)]
    Csv(#[from] csv::Error),
    /// I/O error (opening or writing a file).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Error while drawing or encoding the waveform plot.
    #[error("plotting failed: {0}")]
    Plot(String),
}

/// Result alias with [`HemodynamicsError`].
pub type Result<T> = std::result::Result<T, HemodynamicsError>;
