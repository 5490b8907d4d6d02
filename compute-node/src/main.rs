//! `more-node`: the compute node's command line.

use clap::{Parser, Subcommand};

/// See the workspace manifest: freed pages are kept for the next training step.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "more-node",
    version,
    about = "Trains and runs neural networks on MORE-encrypted data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once; the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Start the REST service (and serve the web page).
    Serve(more_server::ServeArgs),
    /// Reproduce the study's experiments: plaintext vs encrypted, same seed.
    Experiment(more_node::lab::ExperimentArgs),
    /// Run the attack suite on real data and report what an attacker recovers.
    Attack(more_node::lab::AttackArgs),
    /// Read data files through the data owner's library, as the lab reads them.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Manage tenants (they own datasets, models and jobs).
    Tenant {
        #[command(subcommand)]
        command: more_server::admin::TenantCommand,
    },
    /// Manage API keys (printed once; only a hash is stored).
    Apikey {
        #[command(subcommand)]
        command: more_server::admin::ApiKeyCommand,
    },
    /// Read the audit log (who did what, when).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Back up the database and every blob it references to file:// or s3:// (a consistent
    /// snapshot while the node runs, with a manifest of SHA-256s); `backup verify` checks one.
    Backup(more_node::backup::BackupCommand),
    /// Restore a backup into an empty database and the node's store (verified first).
    Restore(more_node::backup::RestoreArgs),
    /// Train one job data-parallel across the ranks of an MPI world (`mpirun`/`srun`; build
    /// with `--features mpi`): dataset and checkpoints in the node's object store.
    TrainDistributed(more_distributed::TrainDistributedArgs),
}

#[derive(Subcommand)]
enum DataCommand {
    /// Print the library's description of the data (task, shapes, class names, notes, SHA-256 of
    /// the tensors) as JSON: the conformance suite's lab client.
    Inspect(more_node::inspect::InspectArgs),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Write the audit log as JSON Lines to standard output, oldest first.
    Export(more_server::admin::AuditExportArgs),
    /// Check the audit log's hash chain; exits non-zero at the first broken link.
    Verify(more_server::admin::AuditVerifyArgs),
    /// Remove old audit rows, leaving a checkpoint that keeps the chain verifiable.
    Prune(more_server::admin::AuditPruneArgs),
}

fn main() -> anyhow::Result<()> {
    // Every file this process creates (databases, blobs, checkpoints, results) is its user's only;
    // first, before any thread starts (the umask is process-wide).
    more_server::file_modes::restrict_umask();
    match Cli::parse().command {
        Command::Serve(args) => more_server::serve(args),
        Command::Experiment(args) => more_node::lab::run_experiment(args),
        Command::Attack(args) => more_node::lab::run_attack(args),
        Command::Data {
            command: DataCommand::Inspect(args),
        } => more_node::inspect::inspect(&args),
        Command::Tenant { command } => more_server::admin::tenant(command),
        Command::Apikey { command } => more_server::admin::apikey(command),
        Command::Audit {
            command: AuditCommand::Export(args),
        } => more_server::admin::audit_export(args),
        Command::Audit {
            command: AuditCommand::Verify(args),
        } => more_server::admin::audit_verify(args),
        Command::Audit {
            command: AuditCommand::Prune(args),
        } => more_server::admin::audit_prune(args),
        Command::Backup(cmd) => more_node::backup::backup(cmd),
        Command::Restore(args) => more_node::backup::restore(args),
        Command::TrainDistributed(args) => {
            let comm = more_distributed::world()?;
            more_distributed::run(&args, comm.as_ref())?;
            Ok(())
        }
    }
}
