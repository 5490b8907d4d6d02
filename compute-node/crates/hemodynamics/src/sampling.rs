//! Reproducible random patients.
//!
//! Every patient row `index` of a data set with seed `seed` draws from its own ChaCha8 stream:
//! `ChaCha8Rng::seed_from_u64(seed)` with `set_stream(index)`. Results therefore do not depend
//! on the number of threads or on the order in which rows are computed, and a rejected draw
//! (see [`crate::dataset`]) is replaced by the next draw of the same stream.
//!
//! Each parameter is drawn independently and uniformly from its
//! [`PATIENT_PARAMETER_RANGES`] entry.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::parameters::{PatientParameters, PATIENT_PARAMETER_RANGES};

/// The random-number stream of data-set row `index` for data-set seed `seed`.
pub fn patient_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}

/// Draws one patient: each parameter uniform in its documented range.
pub fn draw_patient<R: Rng + ?Sized>(rng: &mut R) -> PatientParameters {
    let values = PATIENT_PARAMETER_RANGES.map(|range| rng.random_range(range.min..=range.max));
    PatientParameters::from_values(&values)
}

/// The first draw of each of `count` patient streams for `seed` (parameters only, nothing is
/// simulated or rejected; [`crate::dataset::generate_dataset`] gives the accepted patients).
/// Computed in parallel with rayon; identical for any thread count.
pub fn sample_patients(count: usize, seed: u64) -> Vec<PatientParameters> {
    (0..count)
        .into_par_iter()
        .map(|index| draw_patient(&mut patient_rng(seed, index)))
        .collect()
}
