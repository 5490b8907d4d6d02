//! `more-train-distributed`: the `train-distributed` command as its own binary, for
//! `mpirun -np N more-train-distributed ...` (the same as `more-node train-distributed`).

use clap::Parser;

/// Trains one job data-parallel across the ranks of an MPI world.
#[derive(Parser)]
#[command(name = "more-train-distributed", version)]
struct Cli {
    #[command(flatten)]
    args: more_distributed::TrainDistributedArgs,
}

fn main() {
    let cli = Cli::parse();
    let outcome = more_distributed::world()
        .and_then(|comm| more_distributed::run(&cli.args, comm.as_ref()).map(|_| ()));
    if let Err(e) = outcome {
        eprintln!("more-train-distributed: {e}");
        std::process::exit(1);
    }
}
