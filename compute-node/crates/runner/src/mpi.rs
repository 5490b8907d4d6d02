//! Jobs of more than one rank, run as MPI jobs. The node launches
//! `LAUNCHER -n RANKS PROGRAM --store … --shards … --config …` (the program is
//! `more-node train-distributed` by default), reads the one-line JSON progress its rank 0 prints
//! after every epoch, and records each epoch in the job row as it does for the jobs it trains
//! itself; the last line names the trained weights, which the model then switches to.
//!
//! Cancellation, a takeover by another node and a graceful stop send SIGTERM to the launcher,
//! which forwards it to every rank; the job continues later from its last recorded epoch, with
//! any rank count.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use more_core::nn::NnError;
use serde::Deserialize;

use super::train::{complete, record_epoch, Context, EpochBlobs, Stop, Trained};
use super::JobHandle;
use crate::error::{JobError, JobResult};
use more_store::db::Scope;
use more_store::records::{Job, ModelRecord};
use more_store::weights::decode_bundle;

/// How often the node looks at the stop flags while an MPI job runs.
const POLL: Duration = Duration::from_millis(200);

/// How long the launcher has to stop its ranks after SIGTERM before it is killed.
const TERMINATE_GRACE: Duration = Duration::from_secs(10);

/// How this node launches jobs of more than one rank.
#[derive(Clone, Debug)]
pub struct MpiLaunch {
    /// The launcher and its options, e.g. `["mpirun", "--hostfile", "hosts"]`; `-n RANKS`
    /// follows them.
    pub launcher: Vec<String>,
    /// The program every rank runs and its first arguments, e.g.
    /// `["/usr/local/bin/more-node", "train-distributed"]`.
    pub program: Vec<String>,
    /// The most ranks a job may ask for.
    pub max_ranks: usize,
}

impl MpiLaunch {
    /// From `serve`'s options (launcher and program split at spaces; the program defaults to this
    /// executable's `train-distributed`). `None` when `max_ranks` is below 2.
    ///
    /// # Errors
    /// An empty launcher or program; this executable's path cannot be read.
    pub fn from_options(
        max_ranks: usize,
        launcher: &str,
        program: Option<&str>,
    ) -> anyhow::Result<Option<Self>> {
        if max_ranks < 2 {
            return Ok(None);
        }
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let program = match program {
            Some(p) => words(p),
            None => vec![
                std::env::current_exe()?.display().to_string(),
                "train-distributed".to_string(),
            ],
        };
        let launcher = words(launcher);
        if launcher.is_empty() || program.is_empty() {
            anyhow::bail!("--mpi-launcher and --mpi-program must name a program");
        }
        Ok(Some(MpiLaunch {
            launcher,
            program,
            max_ranks,
        }))
    }

    /// The command that runs `args` on `ranks` ranks.
    fn command(&self, ranks: usize, args: &[String]) -> Command {
        let mut command = Command::new(&self.launcher[0]);
        command
            .args(&self.launcher[1..])
            .arg("-n")
            .arg(ranks.to_string())
            .args(&self.program)
            .args(args);
        command
    }
}

/// What rank 0 prints after every epoch and at the end: the fields of
/// `more_distributed::Progress` the node records.
#[derive(Debug, Deserialize)]
struct Report {
    epochs_done: usize,
    checkpoint_sha256: Option<String>,
    losses_sha256: Option<String>,
    weights_sha256: Option<String>,
    #[serde(default)]
    bytes_read_per_rank: Vec<u64>,
}

/// Runs (or continues) a claimed job of `job.ranks` ranks as an MPI job, to its end or stop.
pub(super) fn train(
    cx: &Context,
    handle: &JobHandle,
    stopping: &dyn Fn() -> bool,
    job: &Job,
) -> Result<(), Stop> {
    let Some(launch) = cx.mpi.as_ref().filter(|m| job.ranks <= m.max_ranks) else {
        return Err(JobError::Mpi(format!(
            "node {} cannot launch a job of {} ranks (see its --mpi-max-ranks)",
            cx.node, job.ranks
        ))
        .into());
    };
    let (record, _) = cx.retry("read the model", || {
        cx.db.get::<ModelRecord>(Scope::Node, &job.model_id)
    })?;
    let mut command = launch.command(job.ranks, &arguments(cx, job, &record)?);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            tracing::error!(job = %job.id, launcher = ?launch.launcher, error = %e, "cannot start the MPI launcher");
            JobError::Mpi("cannot start the MPI launcher; see the node's log".into())
        })?;
    tracing::info!(job = %job.id, ranks = job.ranks, pid = child.id(), "MPI job launched");
    let reports = read_output(&mut child, &job.id);
    let followed = follow(cx, handle, stopping, job, &reports);
    if followed.is_err() {
        terminate(&mut child, &job.id);
    }
    let status = child
        .wait()
        .map_err(|e| JobError::Mpi(format!("MPI job: {e}")))?;
    let last = followed?;
    tracing::info!(job = %job.id, %status, "MPI job ended");
    let weights = match last.and_then(|r| r.weights_sha256) {
        Some(sha) if status.success() => sha,
        _ => {
            return Err(JobError::Mpi(format!(
            "the MPI job ended ({status}) without trained weights; its output is in node {}'s log",
            cx.node
        ))
            .into())
        }
    };
    let model = cx.retry("read the model", || {
        cx.db.get::<ModelRecord>(Scope::Node, &job.model_id)
    })?;
    complete(cx, handle, job, model, trained(cx, weights)?)
}

/// The program's arguments for this job: its data, model, configuration, and where it resumes.
fn arguments(cx: &Context, job: &Job, record: &ModelRecord) -> JobResult<Vec<String>> {
    let mut args = vec![
        "--store".to_string(),
        cx.blobs.url().to_string(),
        "--shards".to_string(),
        to_json(&job.pinned_shards())?,
        "--read-ahead-mib".to_string(),
        (cx.data.read_ahead_bytes >> 20).max(1).to_string(),
        "--spec".to_string(),
        to_json(&record.spec)?,
        "--model-seed".to_string(),
        record.seed.to_string(),
        "--config".to_string(),
        to_json(&job.config)?,
        "--base-epochs".to_string(),
        job.base_epochs.to_string(),
    ];
    match (
        &job.checkpoint_sha256,
        &job.losses_sha256,
        &record.weights_sha256,
    ) {
        (Some(checkpoint), Some(losses), _) => {
            args.extend(["--resume".into(), checkpoint.clone()]);
            args.extend(["--losses".into(), losses.clone()]);
        }
        (_, _, Some(weights)) => args.extend(["--weights".into(), weights.clone()]),
        _ => {}
    }
    Ok(args)
}

/// JSON text of a record passed on the command line.
fn to_json(value: &impl serde::Serialize) -> JobResult<String> {
    serde_json::to_string(value).map_err(|e| JobError::Mpi(format!("JSON: {e}")))
}

/// Reads the launch's output on two threads: standard output's JSON lines (rank 0's reports)
/// come back through the channel, which closes when the output ends; every other line goes to
/// the node's log.
fn read_output(child: &mut Child, job_id: &str) -> Receiver<Report> {
    let (tx, rx) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        let job_id = job_id.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match serde_json::from_str::<Report>(&line) {
                    Ok(report) => {
                        let _ = tx.send(report);
                    }
                    Err(_) => tracing::info!(job = %job_id, output = %line, "MPI job"),
                }
            }
        });
    }
    if let Some(stderr) = child.stderr.take() {
        let job_id = job_id.to_string();
        std::thread::spawn(move || log_lines(stderr, &job_id));
    }
    rx
}

fn log_lines(stream: impl Read, job_id: &str) {
    for line in BufReader::new(stream).lines().map_while(Result::ok) {
        tracing::warn!(job = %job_id, output = %line, "MPI job");
    }
}

/// Records every epoch the launch reports until its output ends (its last report) or a stop
/// flag is set (an error: the caller stops the launch).
fn follow(
    cx: &Context,
    handle: &JobHandle,
    stopping: &dyn Fn() -> bool,
    job: &Job,
    reports: &Receiver<Report>,
) -> Result<Option<Report>, Stop> {
    let started = Instant::now();
    let elapsed = || job.elapsed_seconds + started.elapsed().as_secs_f64();
    let mut last = None;
    loop {
        if handle.cancel.load(Ordering::SeqCst) || handle.lost.load(Ordering::SeqCst) || stopping()
        {
            return Err(Stop::Error(NnError::Cancelled.into()));
        }
        match reports.recv_timeout(POLL) {
            Ok(report) => {
                let (epochs_done, bytes) = (report.epochs_done, &report.bytes_read_per_rank);
                tracing::info!(job = %job.id, epochs_done, bytes_read_per_rank = ?bytes, "MPI job");
                if !report.bytes_read_per_rank.is_empty() {
                    handle.job.lock().expect("job lock").data_bytes_read =
                        report.bytes_read_per_rank.clone();
                }
                if let Some(epoch) = new_epoch(handle, &report) {
                    record_epoch(cx, handle, epoch, elapsed())?;
                }
                last = Some(report);
            }
            Err(RecvTimeoutError::Timeout) => {
                handle.job.lock().expect("job lock").elapsed_seconds = elapsed();
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(last),
        }
    }
}

/// The report's epoch, if it is one the job row does not name yet.
fn new_epoch(handle: &JobHandle, report: &Report) -> Option<EpochBlobs> {
    let recorded = handle.job.lock().expect("job lock").epoch;
    match (&report.checkpoint_sha256, &report.losses_sha256) {
        (Some(checkpoint), Some(losses)) if report.epochs_done > recorded => Some(EpochBlobs {
            epochs_done: report.epochs_done,
            checkpoint_sha256: checkpoint.clone(),
            losses_sha256: losses.clone(),
        }),
        _ => None,
    }
}

/// Stops the launch: SIGTERM (the launcher forwards it to its ranks), then SIGKILL after
/// [`TERMINATE_GRACE`].
fn terminate(child: &mut Child, job_id: &str) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    tracing::info!(job = %job_id, "stopping the MPI job");
    let Ok(pid) = i32::try_from(child.id()) else {
        let _ = child.kill();
        return;
    };
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    let deadline = Instant::now() + TERMINATE_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(POLL);
    }
    tracing::warn!(job = %job_id, "the MPI launcher ignored SIGTERM; killing it");
    let _ = child.kill();
}

/// The trained weights the launch stored, with the representation and basis their metadata
/// names.
fn trained(cx: &Context, weights_sha256: String) -> JobResult<Trained> {
    let bytes = cx.retry("read the trained weights", || cx.blobs.get(&weights_sha256))?;
    let bundle = decode_bundle(&bytes, "weights")?;
    let representation = match bundle.metadata["representation"].as_str() {
        Some("compact") => "compact",
        Some("matrix") => "matrix",
        other => {
            return Err(JobError::Mpi(format!(
                "the MPI job's weights name representation {other:?}"
            )))
        }
    };
    let basis = serde_json::from_value(bundle.metadata["basis"].clone())
        .map_err(|e| JobError::Mpi(format!("the MPI job's weights: basis: {e}")))?;
    Ok(Trained {
        weights_sha256,
        representation,
        basis,
    })
}
