//! Simulates the Smith et al. 2004 nominal patient and prints the outputs.
use more_hemodynamics::{simulate_patient, PatientParameters};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = std::time::Instant::now();
    let simulation = simulate_patient(&PatientParameters::nominal())?;
    println!(
        "beats simulated: {}, final relative change {:.2e}, {:?}",
        simulation.beats_simulated,
        simulation.final_relative_change,
        start.elapsed()
    );
    println!("{:#?}", simulation.outputs);
    Ok(())
}
