//! The durable training queue shared by every node: [apalis] with its SQLite or PostgreSQL
//! backend, in the metadata database. A task carries only a job id; the job's row (`crate::db`)
//! holds everything else.
//!
//! A job row and its task are written in one transaction, so a queued job always has a task and a
//! task always has a row. Each node's worker runs up to `max_jobs` tasks at once and heartbeats;
//! apalis puts the tasks of a node whose heartbeats stop back in the queue, and another node's
//! worker resumes the job from its last checkpoint.

use std::future::Future;
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

/// A value bound to a placeholder of a queue statement.
#[derive(Clone, Copy, Debug)]
enum Param<'a> {
    /// Text.
    Text(&'a str),
    /// A 64-bit integer.
    Int(i64),
    /// A 32-bit integer (apalis's PostgreSQL `attempts` column).
    Int32(i32),
}

/// A statement of a queue transaction: its SQL and its parameters in placeholder order.
#[derive(Clone, Debug)]
struct Statement<'a> {
    sql: &'static str,
    params: Vec<Param<'a>>,
}

impl<'a> Statement<'a> {
    fn new(sql: &'static str, params: Vec<Param<'a>>) -> Self {
        Statement { sql, params }
    }
}

/// `statement` as a sqlx query with its parameters bound.
fn bound<DB>(statement: &Statement<'_>) -> sqlx::query::Query<'static, DB, DB::Arguments>
where
    DB: sqlx::Database,
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    i32: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let query = sqlx::query(statement.sql);
    statement
        .params
        .iter()
        .fold(query, |query, param| match *param {
            Param::Text(text) => query.bind(text.to_string()),
            Param::Int(n) => query.bind(n),
            Param::Int32(n) => query.bind(n),
        })
}

/// What differs between the queue's two databases. apalis has a storage per database, typed by
/// its pool, so the queue keeps that pool; everything else (the transactions of a new or resumed
/// job, the reclaim of a dead worker's tasks) is written once, generic over this trait.
trait QueueDb: sqlx::Database {
    /// The distinct `lock_by` of the queue's running or queued tasks (`$1`: the queue).
    const LOCKERS: &'static str;
    /// Puts a worker's tasks back in the queue (`$1` the queue, `$2` the worker, `$3` the
    /// attempts increment).
    const RELEASE: &'static str;
    /// Whether writers run concurrently (PostgreSQL): the rows a new job names are then locked
    /// `FOR SHARE` first, so that a concurrent delete or upload of them waits for the job's
    /// transaction (SQLite runs one writer at a time).
    const CONCURRENT_WRITERS: bool;
    /// The `attempts` increment of a reclaimed task, in the column's type.
    fn attempts(died: bool) -> Param<'static>;
    /// Runs `statement` on `conn`; the rows it changed.
    fn execute<'c>(
        conn: &'c mut Self::Connection,
        statement: &'c Statement<'c>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c;
    /// The distinct `lock_by` of the queue's running or queued tasks.
    fn lockers(
        pool: &sqlx::Pool<Self>,
    ) -> impl Future<Output = Result<Vec<String>, sqlx::Error>> + Send + '_;
    /// Pushes a task carrying `payload` (at most one attempt) in the transaction on `conn`.
    fn push(
        conn: &mut Self::Connection,
        payload: Vec<u8>,
    ) -> impl Future<Output = Result<(), String>> + Send + '_;
}

impl QueueDb for sqlx::Sqlite {
    const LOCKERS: &'static str = "SELECT DISTINCT lock_by FROM Jobs \
         WHERE job_type = $1 AND status IN ('Running', 'Queued') AND lock_by IS NOT NULL";
    const RELEASE: &'static str = "UPDATE Jobs SET status = 'Pending', done_at = NULL, \
         lock_by = NULL, lock_at = NULL, attempts = attempts + $3 \
         WHERE job_type = $1 AND lock_by = $2 AND status IN ('Running', 'Queued')";
    const CONCURRENT_WRITERS: bool = false;
    fn attempts(died: bool) -> Param<'static> {
        Param::Int(i64::from(died))
    }
    async fn execute<'c>(
        conn: &'c mut sqlx::SqliteConnection,
        statement: &'c Statement<'c>,
    ) -> Result<u64, sqlx::Error> {
        Ok(bound(statement).execute(conn).await?.rows_affected())
    }
    fn lockers(
        pool: &SqlitePool,
    ) -> impl Future<Output = Result<Vec<String>, sqlx::Error>> + Send + '_ {
        sqlx::query_scalar(Self::LOCKERS)
            .bind(QUEUE)
            .fetch_all(pool)
    }
    fn push(
        conn: &mut sqlx::SqliteConnection,
        payload: Vec<u8>,
    ) -> impl Future<Output = Result<(), String>> + Send + '_ {
        let task = TaskBuilder::new(payload).max_attempts(1).build();
        async move {
            let pushed = apalis_sqlite::queries::push_tasks(conn, QUEUE, &[task]).await;
            pushed.map_err(|e| e.to_string())
        }
    }
}

impl QueueDb for sqlx::Postgres {
    const LOCKERS: &'static str = "SELECT DISTINCT lock_by FROM apalis.jobs \
         WHERE job_type = $1 AND status IN ('Running', 'Queued') AND lock_by IS NOT NULL";
    const RELEASE: &'static str = "UPDATE apalis.jobs SET status = 'Pending', done_at = NULL, \
         lock_by = NULL, lock_at = NULL, attempts = attempts + $3 \
         WHERE job_type = $1 AND lock_by = $2 AND status IN ('Running', 'Queued')";
    const CONCURRENT_WRITERS: bool = true;
    fn attempts(died: bool) -> Param<'static> {
        Param::Int32(i32::from(died))
    }
    async fn execute<'c>(
        conn: &'c mut sqlx::PgConnection,
        statement: &'c Statement<'c>,
    ) -> Result<u64, sqlx::Error> {
        Ok(bound(statement).execute(conn).await?.rows_affected())
    }
    fn lockers(
        pool: &PgPool,
    ) -> impl Future<Output = Result<Vec<String>, sqlx::Error>> + Send + '_ {
        sqlx::query_scalar(Self::LOCKERS)
            .bind(QUEUE)
            .fetch_all(pool)
    }
    fn push(
        conn: &mut sqlx::PgConnection,
        payload: Vec<u8>,
    ) -> impl Future<Output = Result<(), String>> + Send + '_ {
        let task = TaskBuilder::new(payload).max_attempts(1).build();
        let pushed = apalis_postgres::queries::push_tasks(conn, QUEUE, vec![task]);
        async move { pushed.await.map_err(|e| e.to_string()) }
    }
}

/// The transaction of a new or resumed job: `job` (changes one row, or none when the job is not
/// in the state it must be), then `then`, then the job's task, committed together.
struct JobTransaction<'a> {
    /// The job's id (its task's payload).
    job_id: &'a str,
    /// Its model (named when another active job holds the "one active job per model" index).
    model_id: &'a str,
    /// `(sql, id)` rows locked `FOR SHARE` first where writers run concurrently.
    share_locks: Vec<(&'static str, &'a str)>,
    /// The statement that creates or requeues the job's row.
    job: Statement<'a>,
    /// The statements after it (blob references).
    then: Vec<Statement<'a>>,
}

impl JobTransaction<'_> {
    /// Runs it on `pool`: `Ok(false)` (rolled back) when the job's statement changed no row.
    async fn run<DB: QueueDb>(&self, pool: &sqlx::Pool<DB>) -> StoreResult<bool> {
        let mut tx = pool.begin().await.map_err(db_error)?;
        if DB::CONCURRENT_WRITERS {
            for (sql, id) in &self.share_locks {
                let lock = Statement::new(sql, vec![Param::Text(id)]);
                DB::execute(&mut *tx, &lock).await.map_err(db_error)?;
            }
        }
        match DB::execute(&mut *tx, &self.job).await {
            Err(e) if is_unique_violation(&e) => return Err(model_busy(self.model_id)),
            Err(e) => return Err(db_error(e)),
            Ok(0) => return Ok(false),
            Ok(_) => {}
        }
        for statement in &self.then {
            DB::execute(&mut *tx, statement).await.map_err(db_error)?;
        }
        DB::push(&mut *tx, task_bytes(self.job_id))
            .await
            .map_err(queue_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }
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
        tokio::time::timeout(timeout, answered)
            .await
            .unwrap_or(false)
    }

    /// Inserts a new `queued` job of `tenant` (with its blob references) and its task, in one
    /// transaction, if its model still exists and its dataset is still at `dataset_version`
    /// (both of `tenant`).
    ///
    /// # Errors
    /// [`StoreError::ModelBusy`] when the model already has a queued or running job (one of
    /// several concurrent creates wins); `Ok(false)` when the model or dataset changed or went
    /// since they were read (the caller tells which); a database or queue error.
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
        let insert = vec![
            Param::Text(&job.id),
            Param::Text(&job.model_id),
            Param::Text(&job.dataset_id),
            Param::Int(job.created_at as i64),
            Param::Text(&record),
            Param::Int(dataset_version),
            Param::Text(tenant),
        ];
        let refs = blobs
            .iter()
            .map(|sha| Statement::new(INSERT_REF, vec![Param::Text(&owner), Param::Text(sha)]));
        self.run(&JobTransaction {
            job_id: &job.id,
            model_id: &job.model_id,
            share_locks: vec![(LOCK_MODEL, &job.model_id), (LOCK_DATASET, &job.dataset_id)],
            job: Statement::new(INSERT_JOB, insert),
            then: refs.collect(),
        })
        .await
    }

    /// Puts an `interrupted`, `cancelled` or `failed` job back in the queue with a new task, in
    /// one transaction (its error cleared; it continues from its last checkpoint). `false` when
    /// the job is in another state.
    ///
    /// # Errors
    /// [`StoreError::ModelBusy`] when its model has another active job (one of several
    /// concurrent resumes wins); a database or queue error.
    #[tracing::instrument(name = "queue.requeue", skip_all)]
    pub async fn requeue(&self, job: &Job) -> StoreResult<bool> {
        let mut queued = job.clone();
        queued.state = crate::records::JobState::Queued;
        queued.error = None;
        queued.node = None;
        queued.batches_done = 0;
        let record = to_json(&queued)?;
        self.run(&JobTransaction {
            job_id: &job.id,
            model_id: &job.model_id,
            share_locks: Vec::new(),
            job: Statement::new(
                REQUEUE_JOB,
                vec![Param::Text(&job.id), Param::Text(&record)],
            ),
            then: Vec::new(),
        })
        .await
    }

    /// Runs a job's transaction on whichever database the queue is in.
    async fn run(&self, transaction: &JobTransaction<'_>) -> StoreResult<bool> {
        match self {
            Queue::Sqlite(pool) => transaction.run(pool).await,
            Queue::Postgres(pool) => transaction.run(pool).await,
        }
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

impl Queue {
    /// Puts back in the queue, at once, the tasks held by earlier workers of `me`'s node: of an
    /// earlier process under the same `--node-name` (it died: counted as an attempt, as apalis
    /// counts a takeover after the lease) or of an earlier build of this process's worker (it
    /// stopped on a database error: not counted). Returns how many tasks went back.
    ///
    /// # Errors
    /// A database error.
    #[tracing::instrument(name = "queue.reclaim", skip_all, level = "debug")]
    pub async fn reclaim(&self, me: &WorkerId) -> StoreResult<u64> {
        match self {
            Queue::Sqlite(pool) => reclaim_in(pool, me).await,
            Queue::Postgres(pool) => reclaim_in(pool, me).await,
        }
    }
}

/// [`Queue::reclaim`] on one database.
async fn reclaim_in<DB: QueueDb>(pool: &sqlx::Pool<DB>, me: &WorkerId) -> StoreResult<u64> {
    let lockers = DB::lockers(pool).await.map_err(db_error)?;
    let mut released = 0;
    for locker in lockers {
        let Some(died) = earlier_worker(me, &locker) else {
            continue;
        };
        let params = vec![Param::Text(QUEUE), Param::Text(&locker), DB::attempts(died)];
        let release = Statement::new(DB::RELEASE, params);
        let mut conn = pool.acquire().await.map_err(db_error)?;
        released += DB::execute(&mut *conn, &release).await.map_err(db_error)?;
    }
    Ok(released)
}

/// Whether the worker `locker` is an earlier one of `me`'s node, and then whether its process
/// died (an earlier process under the same `--node-name`, or a worker of a version before
/// per-process ids, named by the node alone) rather than an earlier build of this process's
/// worker; `None` for another node's worker.
fn earlier_worker(me: &WorkerId, locker: &str) -> Option<bool> {
    match WorkerId::parse(locker) {
        _ if locker == me.node => Some(true),
        Some(earlier) if earlier.node == me.node && earlier != *me => {
            Some(earlier.process != me.process)
        }
        _ => None,
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
