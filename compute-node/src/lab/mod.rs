//! The lab: experiments that play both sides (key holder and node) in one process.
//!
//! Each experiment generates a key (`SecretKey::generate()`; the `--seed` drives only the initial
//! weights, shuffling, splits and the shadow RNG), encrypts the data as its owner would (compact
//! form by default, Gaussian N(0, 0.1²) shadows by default), trains the same architecture with
//! the same `TrainConfig` on plaintext and on ciphertexts, runs encrypted inference on the test
//! set, decrypts as the key holder and compares. See compute-node/docs/EXPERIMENT_JSON.md.

pub mod angio;
pub mod args;
pub mod attack;
pub mod compare;
pub mod csv;
pub mod experiment;
pub mod mnist;
pub mod plot;
pub mod progress;
pub mod report;
pub mod secure;
mod secure_bfv;
mod secure_data;
mod secure_report;
mod secure_train;
pub mod wbc;

pub use args::{AttackArgs, Experiment, ExperimentArgs};
pub use report::ExperimentReport;

/// Runs one experiment and returns its report (the CLI prints and writes it).
///
/// # Errors
/// Bad input (missing file, bad column, …), engine errors, file errors.
pub fn experiment(args: ExperimentArgs) -> anyhow::Result<ExperimentReport> {
    match args.experiment {
        Experiment::Mnist(a) => mnist::run(a),
        Experiment::Csv(a) => csv::run(a),
        Experiment::Idx(a) => mnist::run_idx(a),
        Experiment::Wbc(a) => wbc::run(a),
        Experiment::Angio(a) if a.write_dicom.is_some() => {
            anyhow::bail!("--write-dicom writes a DICOM folder and trains nothing: no report")
        }
        Experiment::Angio(a) => angio::run(a),
        Experiment::Secure(_) => {
            anyhow::bail!("experiment secure has its own report: lab::secure::run")
        }
    }
}

/// `more-node experiment ...`.
///
/// # Errors
/// As [`experiment()`].
pub fn run_experiment(args: ExperimentArgs) -> anyhow::Result<()> {
    if let Experiment::Secure(a) = &args.experiment {
        return secure::run(a.clone()).map(|_| ());
    }
    if let Experiment::Angio(a) = &args.experiment {
        if let Some(dir) = &a.write_dicom {
            return angio::write_dicom(a, dir);
        }
    }
    experiment(args).map(|_| ())
}

/// `more-node attack ...`.
///
/// # Errors
/// Bad input, attack or file errors.
pub fn run_attack(args: AttackArgs) -> anyhow::Result<()> {
    attack::run(args)
}
