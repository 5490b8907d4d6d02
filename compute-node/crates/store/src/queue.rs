//! The durable training queue shared by every node: [apalis] with its SQLite or PostgreSQL
//! backend, in the metadata database. A task carries only a job id; the job's row (`crate::db`)
//! holds everything else.
//!
//! A job row and its task are written in one transaction, so a queued job always has a task and a
//! task always has a row. Each node's worker runs up to `max_jobs` tasks at once and heartbeats;
//! apalis puts the tasks of a node whose heartbeats stop back in the queue, and another node's
//! worker resumes the job from its last checkpoint.

use std::time::Duration;

use apalis::prelude::TaskBuilder;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::db::{db_error, is_unique_violation, model_busy, to_json};
use crate::error::{StoreError, StoreResult};
use crate::records::Job;

/// The queue's name in apalis's tables.
pub const QUEUE: &str = "training";

/// A task: train (or continue) this job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainTask {
    /// The job's id.
    pub job_id: String,
}

/// The queue's database, through the pool type its apalis backend needs.
#[derive(Clone, Debug)]
pub enum Queue {
    /// A SQLite file (one machine).
    Sqlite(SqlitePool),
    /// PostgreSQL (several nodes).
    Postgres(PgPool),
}

/// How long apalis waits for a dead node: its heartbeat period and how many it may miss.
#[derive(Clone, Copy, Debug)]
pub struct Lease {
    /// Heartbeat period of a worker.
    pub heartbeat: Duration,
    /// Missed heartbeats after which a worker's tasks go back in the queue.
    pub missed: usize,
}

impl Lease {
    /// Three heartbeats per `lease`; the tasks of a node silent for `lease` are requeued.
    pub fn of(lease: Duration) -> Self {
        Lease {
            heartbeat: (lease / 3).max(Duration::from_secs(1)),
            missed: 3,
        }
    }
}

/// Runs `$body` with `$tx` a transaction on either pool, then adds a task for `$job_id` in the
/// same transaction and commits. `$body` may `return` (the transaction then rolls back). On
/// PostgreSQL the rows `$share_locks` names (`(sql, id)` pairs) are first locked `FOR SHARE`, so
/// a concurrent delete or upload of them waits for this transaction (SQLite runs one writer at a
/// time).
macro_rules! with_task {
    ($queue:expr, $job_id:expr, $share_locks:expr, |$tx:ident| $body:block) => {
        match $queue {
            Queue::Sqlite(pool) => {
                let mut $tx = pool.begin().await.map_err(db_error)?;
                $body
                let task = TaskBuilder::new(task_bytes($job_id)).max_attempts(1).build();
                apalis_sqlite::queries::push_tasks(&mut *$tx, QUEUE, &[task])
                    .await
                    .map_err(queue_error)?;
                $tx.commit().await.map_err(db_error)?;
            }
            Queue::Postgres(pool) => {
                let mut $tx = pool.begin().await.map_err(db_error)?;
                for (sql, id) in $share_locks {
                    sqlx::query(*sql)
                        .bind(*id)
                        .fetch_optional(&mut *$tx)
                        .await
                        .map_err(db_error)?;
                }
                $body
                let task = TaskBuilder::new(task_bytes($job_id)).max_attempts(1).build();
                apalis_postgres::queries::push_tasks(&mut *$tx, QUEUE, vec![task])
                    .await
                    .map_err(queue_error)?;
                $tx.commit().await.map_err(db_error)?;
            }
        }
    };
}

fn queue_error(e: impl std::fmt::Display) -> StoreError {
    tracing::error!(error = %e, "job queue");
    metrics::counter!("more_queue_errors_total").increment(1);
    StoreError::Queue(e.to_string())
}

/// Inserts the job only if its model exists and its dataset is still the version it was checked
/// against (not deleted, no upload since).
const INSERT_JOB: &str = "INSERT INTO training_jobs \
     (id, model_id, dataset_id, state, created_at, record, tenant) \
     SELECT $1, $2, $3, 'queued', $4, $5, $7 \
     WHERE EXISTS (SELECT 1 FROM models WHERE id = $2 AND tenant = $7) \
     AND EXISTS (SELECT 1 FROM datasets WHERE id = $3 AND version = $6 AND tenant = $7)";
const LOCK_MODEL: &str = "SELECT id FROM models WHERE id = $1 FOR SHARE";
const LOCK_DATASET: &str = "SELECT id FROM datasets WHERE id = $1 FOR SHARE";
const INSERT_REF: &str = "INSERT INTO blob_refs (owner, sha256) VALUES ($1, $2)";
const REQUEUE_JOB: &str =
    "UPDATE training_jobs SET state = 'queued', cancel_requested = 0, node = NULL, record = $2 \
     WHERE id = $1 AND state IN ('interrupted', 'cancelled', 'failed')";

impl Queue {
    /// Connects to the metadata database `url` and applies apalis's migrations.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            let options: SqliteConnectOptions = url.parse()?;
            let options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(crate::db::ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?;
            SqliteStorage::<()>::migrations().run(&pool).await?;
            Ok(Queue::Sqlite(pool))
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(crate::db::ACQUIRE_TIMEOUT)
                .connect(url)
                .await?;
            PostgresStorage::<()>::migrations().run(&pool).await?;
            Ok(Queue::Postgres(pool))
        }
    }

    /// Whether the queue's database answers a trivial query within `timeout` (a dead server
    /// cannot hang it: the wait is bounded whatever the pool does).
    #[tracing::instrument(name = "queue.ping", skip_all, level = "debug")]
    pub async fn ping(&self, timeout: Duration) -> bool {
        let answered = async {
            match self {
                Queue::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
                Queue::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
            }
        };
        tokio::time::timeout(timeout, answered).await.unwrap_or(false)
    }

    /// Inserts a new `queued` job of `tenant` (with its blob references) and its task, in one
    /// transaction, if its model still exists and its dataset is still at `dataset_version`
    /// (both of `tenant`).
    ///
    /// # Errors
    /// 409 when the model already has a queued or running job (one of several concurrent
    /// creates wins) or the model or dataset changed or went since they were read (the caller
    /// tells 404 from 409); 500 on a database error.
    #[tracing::instrument(name = "queue.enqueue_new", skip_all)]
    pub async fn enqueue_new(
        &self,
        tenant: &str,
        job: &Job,
        dataset_version: i64,
    ) -> StoreResult<bool> {
        let record = to_json(job)?;
        let owner = format!("job:{}", job.id);
        let mut blobs = crate::db::Record::blobs(job);
        blobs.sort();
        blobs.dedup();
        let locks = [
            (LOCK_MODEL, job.model_id.as_str()),
            (LOCK_DATASET, job.dataset_id.as_str()),
        ];
        with_task!(self, &job.id, &locks, |tx| {
            let inserted = sqlx::query(INSERT_JOB)
                .bind(&job.id)
                .bind(&job.model_id)
                .bind(&job.dataset_id)
                .bind(job.created_at as i64)
                .bind(&record)
                .bind(dataset_version)
                .bind(tenant)
                .execute(&mut *tx)
                .await;
            match inserted {
                Err(e) if is_unique_violation(&e) => return Err(model_busy(&job.model_id)),
                Err(e) => return Err(db_error(e)),
                Ok(r) if r.rows_affected() == 0 => return Ok(false),
                Ok(_) => {}
            }
            for sha in &blobs {
                sqlx::query(INSERT_REF)
                    .bind(&owner)
                    .bind(sha)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
        });
        Ok(true)
    }

    /// Puts an `interrupted`, `cancelled` or `failed` job back in the queue with a new task, in
    /// one transaction (its error cleared; it continues from its last checkpoint). `false` when
    /// the job is in another state.
    ///
    /// # Errors
    /// 409 when its model has another active job (one of several concurrent resumes wins); 500
    /// on a database error.
    #[tracing::instrument(name = "queue.requeue", skip_all)]
    pub async fn requeue(&self, job: &Job) -> StoreResult<bool> {
        let no_locks: [(&str, &str); 0] = [];
        let mut queued = job.clone();
        queued.state = crate::records::JobState::Queued;
        queued.error = None;
        queued.node = None;
        queued.batches_done = 0;
        let record = to_json(&queued)?;
        with_task!(self, &job.id, &no_locks, |tx| {
            let updated = sqlx::query(REQUEUE_JOB)
                .bind(&job.id)
                .bind(&record)
                .execute(&mut *tx)
                .await;
            match updated {
                Err(e) if is_unique_violation(&e) => return Err(model_busy(&job.model_id)),
                Err(e) => return Err(db_error(e)),
                Ok(r) if r.rows_affected() == 0 => return Ok(false),
                Ok(_) => {}
            }
        });
        Ok(true)
    }
}

/// The payload of a task for `job_id`. Tasks are pushed with `max_attempts(1)`: a failed job is
/// not retried (its error is in the job row); apalis still requeues the tasks of a dead node
/// regardless of attempts, which is the takeover (the runner bounds how often).
fn task_bytes(job_id: &str) -> Vec<u8> {
    serde_json::to_vec(&TrainTask {
        job_id: job_id.to_string(),
    })
    .expect("a task serialises")
}

/// An apalis worker id of a node: `{node}#{process}.{generation}`, unique per process (the
/// process id and start time) and per rebuild of the worker in that process, so that a node
/// restarted under its own name never heartbeats as its dead predecessor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerId {
    /// The node's name (`jobs.node`).
    pub node: String,
    /// This process: its id and start time, in hex.
    pub process: String,
    /// How many times this process built its worker before this one.
    pub generation: u64,
}

impl WorkerId {
    /// The first worker id of this process for `node`.
    pub fn first(node: &str) -> Self {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        WorkerId {
            node: node.to_string(),
            process: format!("{:x}-{started:x}", std::process::id()),
            generation: 0,
        }
    }

    /// The id of the next rebuild of the worker in this process.
    pub fn next(&self) -> Self {
        WorkerId {
            generation: self.generation + 1,
            ..self.clone()
        }
    }

    /// Parses `{node}#{process}.{generation}` (`None` for other ids, e.g. of older versions).
    pub fn parse(id: &str) -> Option<Self> {
        let (node, rest) = id.rsplit_once('#')?;
        let (process, generation) = rest.rsplit_once('.')?;
        Some(WorkerId {
            node: node.to_string(),
            process: process.to_string(),
            generation: generation.parse().ok()?,
        })
    }
}

impl std::fmt::Display for WorkerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}.{}", self.node, self.process, self.generation)
    }
}

const LOCKERS_SQLITE: &str = "SELECT DISTINCT lock_by FROM Jobs \
     WHERE job_type = $1 AND status IN ('Running', 'Queued') AND lock_by IS NOT NULL";
const LOCKERS_POSTGRES: &str = "SELECT DISTINCT lock_by FROM apalis.jobs \
     WHERE job_type = $1 AND status IN ('Running', 'Queued') AND lock_by IS NOT NULL";
const RELEASE_SQLITE: &str = "UPDATE Jobs SET status = 'Pending', done_at = NULL, \
     lock_by = NULL, lock_at = NULL, attempts = attempts + $3 \
     WHERE job_type = $1 AND lock_by = $2 AND status IN ('Running', 'Queued')";
const RELEASE_POSTGRES: &str = "UPDATE apalis.jobs SET status = 'Pending', done_at = NULL, \
     lock_by = NULL, lock_at = NULL, attempts = attempts + $3 \
     WHERE job_type = $1 AND lock_by = $2 AND status IN ('Running', 'Queued')";

impl Queue {
    /// Puts back in the queue, at once, the tasks held by earlier workers of `me`'s node: of an
    /// earlier process under the same `--node-name` (it died: counted as an attempt, as apalis
    /// counts a takeover after the lease) or of an earlier build of this process's worker (it
    /// stopped on a database error: not counted). Returns how many tasks went back.
    ///
    /// # Errors
    /// 503 or 500 on a database error.
    #[tracing::instrument(name = "queue.reclaim", skip_all, level = "debug")]
    pub async fn reclaim(&self, me: &WorkerId) -> StoreResult<u64> {
        let lockers: Vec<String> = match self {
            Queue::Sqlite(pool) => sqlx::query_scalar(LOCKERS_SQLITE)
                .bind(QUEUE)
                .fetch_all(pool)
                .await
                .map_err(db_error)?,
            Queue::Postgres(pool) => sqlx::query_scalar(LOCKERS_POSTGRES)
                .bind(QUEUE)
                .fetch_all(pool)
                .await
                .map_err(db_error)?,
        };
        let mut released = 0;
        for locker in lockers {
            // An id that is only the node's name: a worker of a version before per-process ids.
            let died = match WorkerId::parse(&locker) {
                _ if locker == me.node => true,
                Some(earlier) if earlier.node == me.node && earlier != *me => {
                    earlier.process != me.process
                }
                _ => continue,
            };
            let died = i64::from(died);
            released += match self {
                Queue::Sqlite(pool) => sqlx::query(RELEASE_SQLITE)
                    .bind(QUEUE)
                    .bind(&locker)
                    .bind(died)
                    .execute(pool)
                    .await
                    .map_err(db_error)?
                    .rows_affected(),
                Queue::Postgres(pool) => sqlx::query(RELEASE_POSTGRES)
                    .bind(QUEUE)
                    .bind(&locker)
                    .bind(died as i32)
                    .execute(pool)
                    .await
                    .map_err(db_error)?
                    .rows_affected(),
            };
        }
        Ok(released)
    }
}

#[cfg(test)]
mod tests {
    use super::WorkerId;

    #[test]
    fn worker_ids_are_unique_per_build_and_name_their_node() {
        let first = WorkerId::first("worker#1");
        let next = first.next();
        assert_ne!(first.to_string(), next.to_string());
        assert_eq!(WorkerId::parse(&next.to_string()), Some(next.clone()));
        assert_eq!(next.node, "worker#1");
        assert_eq!(WorkerId::parse("worker-1"), None);
    }
}
