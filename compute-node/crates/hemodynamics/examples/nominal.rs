//! Simulates the Smith et al. 2004 nominal patient, prints its outputs and writes the waveform
//! figure `docs/wbc-waveforms.png` (path relative to this crate).
//!
//! Run: `cargo run --release -p more-hemodynamics --example nominal`
use more_hemodynamics::{plot_waveforms, simulate_patient, PatientParameters};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = std::time::Instant::now();
    let simulation = simulate_patient(&PatientParameters::nominal())?;
    println!(
        "beats simulated: {}, final relative change {:.2e}, wall time {:?}",
        simulation.beats_simulated,
        simulation.final_relative_change,
        start.elapsed()
    );
    println!("{:#?}", simulation.outputs);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/wbc-waveforms.png");
    plot_waveforms(path, &simulation)?;
    println!("wrote {path}");
    Ok(())
}
