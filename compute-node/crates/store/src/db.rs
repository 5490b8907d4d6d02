//! The metadata database: SQLite (one file, the single-machine default) or PostgreSQL (shared by
//! several nodes), through sqlx's `Any` driver with the migrations in `../migrations`.
//!
//! Every change that makes a row point at new blobs is one transaction that also replaces the
//! row's entries in `blob_refs`, and runs only after the blobs are durable in the object store:
//! no crash leaves a row naming a missing or half-written blob. Dataset and model rows carry a
//! `version` for optimistic concurrency (compare-and-swap updates); job rows are guarded by their
//! `state` and `node` columns and the unique index "one active job per model".

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
// Dynamic SQL only interpolates the constant table and column names of `Record` impls.
use sqlx::{Any, AnyPool, AssertSqlSafe, Row, Transaction};

use crate::error::{StoreError, StoreResult};
use crate::records::{valid_id, Dataset, Job, JobState, ModelRecord};

/// The connection pool and the queries.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    /// PostgreSQL (row locks needed: it runs writers concurrently; SQLite runs one at a time).
    postgres: bool,
}

/// Whose rows a query sees: one tenant's (every API request) or every tenant's (the node's own
/// job runner, which works on jobs it was handed by id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Only this tenant's rows: another tenant's id is "not found".
    Tenant(&'a str),
    /// Every row.
    Node,
}

impl Scope<'_> {
    /// ` AND tenant = $n` for a tenant, nothing for the node.
    fn filter(self, n: usize) -> String {
        match self {
            Scope::Tenant(_) => format!(" AND tenant = ${n}"),
            Scope::Node => String::new(),
        }
    }

    /// The tenant to bind for [`Scope::filter`].
    fn tenant(self) -> Option<String> {
        match self {
            Scope::Tenant(t) => Some(t.to_string()),
            Scope::Node => None,
        }
    }
}

/// Binds `scope`'s tenant when it has one (after the other parameters).
macro_rules! bind_scope {
    ($query:expr, $scope:expr) => {{
        let query = $query;
        match $scope.tenant() {
            Some(t) => query.bind(t),
            None => query,
        }
    }};
}

/// A row type with its table and the blobs it uses.
pub trait Record: Serialize + DeserializeOwned + Send + Sync + Unpin {
    /// Table name.
    const TABLE: &'static str;
    /// The word for messages ("dataset").
    const WORD: &'static str;
    /// Its id.
    fn id(&self) -> &str;
    /// Unix seconds of creation.
    fn created_at(&self) -> u64;
    /// SHA-256 of every blob it points at.
    fn blobs(&self) -> Vec<String>;
    /// The record as the API sees it, from its stored JSON (datasets stored before shards
    /// existed get their one shard).
    fn loaded(self) -> Self {
        self
    }
}

impl Record for Dataset {
    const TABLE: &'static str = "datasets";
    const WORD: &'static str = "dataset";
    fn id(&self) -> &str {
        &self.id
    }
    fn created_at(&self) -> u64 {
        self.created_at
    }
    fn blobs(&self) -> Vec<String> {
        let shards = self
            .shards
            .iter()
            .flat_map(|s| [&s.features_sha256, &s.targets_sha256]);
        [&self.features_sha256, &self.targets_sha256]
            .into_iter()
            .flatten()
            .chain(shards)
            .cloned()
            .collect()
    }
    fn loaded(self) -> Self {
        self.with_shards()
    }
}

impl Record for ModelRecord {
    const TABLE: &'static str = "models";
    const WORD: &'static str = "model";
    fn id(&self) -> &str {
        &self.id
    }
    fn created_at(&self) -> u64 {
        self.created_at
    }
    fn blobs(&self) -> Vec<String> {
        self.weights_sha256
            .iter()
            .chain(&self.initial_weights_sha256)
            .cloned()
            .collect()
    }
}

impl Record for Job {
    const TABLE: &'static str = "training_jobs";
    const WORD: &'static str = "job";
    fn id(&self) -> &str {
        &self.id
    }
    fn created_at(&self) -> u64 {
        self.created_at
    }
    fn blobs(&self) -> Vec<String> {
        let mut v = vec![self.features_sha256.clone(), self.targets_sha256.clone()];
        for s in &self.shards {
            v.extend([s.features_sha256.clone(), s.targets_sha256.clone()]);
        }
        v.extend(self.checkpoint_sha256.iter().cloned());
        v.extend(self.losses_sha256.iter().cloned());
        v.extend(self.validation_blobs());
        v
    }
}

/// How long a request waits for a database connection before it gets [`StoreError::Unavailable`]: short, so
/// that during an outage requests fail fast (the job runner retries instead).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A database error: [`StoreError::Unavailable`] when the database cannot be reached (no
/// connection in [`ACQUIRE_TIMEOUT`], a broken connection, a server shutting down or starting up),
/// else [`StoreError::Database`]; details logged, not carried in the message.
pub fn db_error(e: sqlx::Error) -> StoreError {
    StoreError::from(e)
}

pub(crate) fn to_json<R: Serialize>(r: &R) -> StoreResult<String> {
    serde_json::to_string(r).map_err(|e| StoreError::Corrupt(format!("serialise record: {e}")))
}

fn from_json<R: DeserializeOwned>(s: &str) -> StoreResult<R> {
    serde_json::from_str(s).map_err(|e| {
        tracing::error!(error = %e, "corrupt record");
        StoreError::Corrupt("corrupt record in the database".into())
    })
}

fn owner<R: Record>(id: &str) -> String {
    format!("{}:{id}", R::WORD)
}

/// Whether an error is a unique-constraint violation.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// A job row: the JSON record with the authoritative columns applied.
fn job_of(row: &AnyRow) -> StoreResult<Job> {
    let mut job: Job = from_json(&row.try_get::<String, _>("record").map_err(db_error)?)?;
    let state: String = row.try_get("state").map_err(db_error)?;
    job.state = JobState::parse(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown job state {state:?}")))?;
    job.node = row.try_get::<Option<String>, _>("node").map_err(db_error)?;
    Ok(job)
}

/// A job claimed by a node: the record and whether cancellation was requested.
#[derive(Debug)]
pub struct Claimed {
    /// The job (state `running`, `node` this node).
    pub job: Job,
    /// Set by `POST /cancel` before or during the run.
    pub cancel_requested: bool,
}

impl Db {
    /// Connects to `url` (`sqlite://file?mode=rwc` or `postgres://…`) and applies the migrations.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 16 })
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // Readers do not block the writer; writers wait instead of failing.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = FULL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let mut migrator = sqlx::migrate!("./migrations");
        // Not sqlx's default table name: apalis keeps its own migrations in that one (SQLite).
        migrator.dangerous_set_table_name("more_migrations");
        migrator.run(&pool).await?;
        Ok(Db {
            pool,
            postgres: !sqlite,
        })
    }

    /// The connection pool (for the tenant, key and audit queries of the server's `auth` and
    /// `audit` modules, and the secure mode's rows).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Whether the database is PostgreSQL (else SQLite).
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Any>> {
        self.pool.begin().await.map_err(db_error)
    }

    /// On PostgreSQL, locks a row `FOR UPDATE` so that the statements that follow in `tx` (each
    /// with a fresh snapshot) see every job committed by a transaction that held it.
    async fn lock_row(
        &self,
        tx: &mut Transaction<'static, Any>,
        table: &str,
        id: &str,
    ) -> StoreResult<()> {
        if self.postgres {
            let sql = format!("SELECT id FROM {table} WHERE id = $1 FOR UPDATE");
            sqlx::query(AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
        }
        Ok(())
    }

    /// Runs `sql`, an `UPDATE … SET record = $1 … WHERE id = $2 AND version = $3 …` of `r`, in
    /// `tx` (a compare-and-swap on the row's version), and when it changed the row replaces the
    /// row's blob references. `Ok(false)` when no row matched: a version conflict, or the
    /// statement's own condition.
    async fn swap_record<R: Record>(
        tx: &mut Transaction<'static, Any>,
        sql: &'static str,
        r: &R,
        version: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(sql)
            .bind(to_json(r)?)
            .bind(r.id().to_string())
            .bind(version)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        if done != 1 {
            return Ok(false);
        }
        Self::set_refs(tx, r).await?;
        Ok(true)
    }

    /// Makes the row's entries in `blob_refs` exactly `r.blobs()`: deletes the ones it no longer
    /// names and inserts the new ones (a job pinning thousands of shards rewrites nothing when a
    /// checkpoint changes one reference).
    async fn set_refs<R: Record>(tx: &mut Transaction<'static, Any>, r: &R) -> StoreResult<()> {
        use std::collections::BTreeSet;
        let owner = owner::<R>(r.id());
        let wanted: BTreeSet<String> = r.blobs().into_iter().collect();
        let stored: BTreeSet<String> = sqlx::query("SELECT sha256 FROM blob_refs WHERE owner = $1")
            .bind(&owner)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_error)?
            .iter()
            .map(|row| row.try_get::<String, _>("sha256").map_err(db_error))
            .collect::<StoreResult<_>>()?;
        for sha in stored.difference(&wanted) {
            sqlx::query("DELETE FROM blob_refs WHERE owner = $1 AND sha256 = $2")
                .bind(&owner)
                .bind(sha)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
        for sha in wanted.difference(&stored) {
            Self::add_ref(tx, &owner, sha).await?;
        }
        Ok(())
    }

    async fn add_ref(
        tx: &mut Transaction<'static, Any>,
        owner: &str,
        sha: &str,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO blob_refs (owner, sha256) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(owner)
            .bind(sha)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Inserts a new dataset or model (version 1) of `tenant`.
    ///
    /// # Errors
    /// A database error.
    #[tracing::instrument(name = "db.insert", skip_all)]
    pub async fn insert<R: Record>(&self, tenant: &str, r: &R) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "INSERT INTO {} (id, created_at, version, record, tenant) VALUES ($1, $2, 1, $3, $4)",
            R::TABLE
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(r.id())
            .bind(r.created_at() as i64)
            .bind(to_json(r)?)
            .bind(tenant)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        Self::set_refs(&mut tx, r).await?;
        tx.commit().await.map_err(db_error)
    }

    /// A dataset or model and its version ([`StoreError::NotFound`] when absent, another
    /// tenant's, or the id is malformed).
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database error.
    #[tracing::instrument(name = "db.get", skip_all)]
    pub async fn get<R: Record>(&self, scope: Scope<'_>, id: &str) -> StoreResult<(R, i64)> {
        if !valid_id(id) {
            return Err(StoreError::not_found(R::WORD, id));
        }
        let sql = format!(
            "SELECT record, version FROM {} WHERE id = $1{}",
            R::TABLE,
            scope.filter(2)
        );
        let row = bind_scope!(sqlx::query(AssertSqlSafe(sql)).bind(id), scope)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .ok_or_else(|| StoreError::not_found(R::WORD, id))?;
        let record: String = row.try_get("record").map_err(db_error)?;
        Ok((
            from_json::<R>(&record)?.loaded(),
            row.try_get("version").map_err(db_error)?,
        ))
    }

    /// Every dataset or model of `tenant`, oldest first.
    ///
    /// # Errors
    /// A database error.
    #[tracing::instrument(name = "db.list", skip_all, level = "debug")]
    pub async fn list<R: Record>(&self, tenant: &str) -> StoreResult<Vec<R>> {
        let sql = format!(
            "SELECT record FROM {} WHERE tenant = $1 ORDER BY created_at, id",
            R::TABLE
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(tenant)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(|row| {
                from_json::<R>(&row.try_get::<String, _>("record").map_err(db_error)?)
                    .map(R::loaded)
            })
            .collect()
    }

    /// Replaces a dataset's record unless a job uses it (datasets are immutable once trained
    /// on). `Ok(false)` on a version conflict.
    ///
    /// # Errors
    /// [`StoreError::DatasetLocked`] when a job references the dataset; a database error.
    #[tracing::instrument(name = "db.update_dataset", skip_all)]
    pub async fn update_dataset(&self, ds: &Dataset, version: i64) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        self.lock_row(&mut tx, "datasets", &ds.id).await?;
        let sql = "UPDATE datasets SET record = $1, version = version + 1 \
                   WHERE id = $2 AND version = $3 \
                   AND NOT EXISTS (SELECT 1 FROM training_jobs WHERE dataset_id = $2)";
        if !Self::swap_record(&mut tx, sql, ds, version).await? {
            drop(tx);
            return match self.dataset_in_use(&ds.id).await? {
                true => Err(dataset_locked(&ds.id)),
                false => Ok(false),
            };
        }
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    /// Appends a shard: `ds` is the dataset read at `version` with its new last shard pushed.
    /// Unlike [`Db::update_dataset`] it is allowed while jobs use the dataset (each job trains on
    /// the shard list it pinned). A compare-and-swap on `version`; `Ok(false)` when the row
    /// changed or is gone meanwhile (read it again).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a dataset without shards; a database error.
    #[tracing::instrument(name = "db.append_shard", skip_all)]
    pub async fn append_shard(&self, ds: &Dataset, version: i64) -> StoreResult<bool> {
        let shard = ds
            .shards
            .last()
            .ok_or_else(|| StoreError::Corrupt("append_shard without a shard".into()))?;
        let mut tx = self.begin().await?;
        self.lock_row(&mut tx, "datasets", &ds.id).await?;
        let done = sqlx::query(
            "UPDATE datasets SET record = $1, version = version + 1 WHERE id = $2 AND version = $3",
        )
        .bind(to_json(ds)?)
        .bind(&ds.id)
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        if done != 1 {
            return Ok(false);
        }
        let owner = owner::<Dataset>(&ds.id);
        Self::add_ref(&mut tx, &owner, &shard.features_sha256).await?;
        Self::add_ref(&mut tx, &owner, &shard.targets_sha256).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    /// Records the initial weights of a model made before they were stored at creation
    /// (`ModelRecord::initial_weights_sha256`): a compare-and-swap on `version` that also
    /// refuses while a job of the model is queued or running (whose end swaps the row on the
    /// version it read). `Ok(false)` when refused.
    ///
    /// # Errors
    /// A database error.
    #[tracing::instrument(name = "db.record_initial_weights", skip_all)]
    pub async fn record_initial_weights(&self, m: &ModelRecord, version: i64) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        self.lock_row(&mut tx, "models", &m.id).await?;
        let sql = "UPDATE models SET record = $1, version = version + 1 \
                   WHERE id = $2 AND version = $3 AND NOT EXISTS (SELECT 1 FROM training_jobs \
                   WHERE model_id = $2 AND state IN ('queued', 'running'))";
        if !Self::swap_record(&mut tx, sql, m, version).await? {
            return Ok(false);
        }
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    /// Whether any job (in any state) references a dataset.
    ///
    /// # Errors
    /// A database error.
    #[tracing::instrument(name = "db.dataset_in_use", skip_all)]
    pub async fn dataset_in_use(&self, id: &str) -> StoreResult<bool> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM training_jobs WHERE dataset_id = $1 LIMIT 1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?
                .is_some(),
        )
    }

    /// Deletes a dataset (`datasets`) or model (`models`) of `tenant` unless an active job uses
    /// it.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when absent or another tenant's; [`StoreError::InUse`] while a
    /// queued or running job uses it; a database error.
    #[tracing::instrument(name = "db.delete", skip_all)]
    pub async fn delete<R: Record>(&self, tenant: &str, id: &str) -> StoreResult<()> {
        let column = if R::TABLE == "datasets" {
            "dataset_id"
        } else {
            "model_id"
        };
        self.get::<R>(Scope::Tenant(tenant), id).await?;
        let mut tx = self.begin().await?;
        self.lock_row(&mut tx, R::TABLE, id).await?;
        let sql = format!(
            "DELETE FROM {} WHERE id = $1 AND NOT EXISTS \
             (SELECT 1 FROM training_jobs WHERE {column} = $1 AND state IN ('queued', 'running'))",
            R::TABLE
        );
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        if done != 1 {
            return match self.get::<R>(Scope::Tenant(tenant), id).await {
                Ok(_) => Err(StoreError::InUse {
                    what: R::WORD,
                    id: id.to_string(),
                }),
                Err(e) => Err(e),
            };
        }
        sqlx::query("DELETE FROM blob_refs WHERE owner = $1")
            .bind(owner::<R>(id))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    /// Every blob some row references.
    ///
    /// # Errors
    /// A database error.
    #[tracing::instrument(name = "db.referenced_blobs", skip_all)]
    pub async fn referenced_blobs(&self) -> StoreResult<std::collections::HashSet<String>> {
        sqlx::query("SELECT DISTINCT sha256 FROM blob_refs")
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| r.try_get::<String, _>("sha256").map_err(db_error))
            .collect()
    }
}

/// The refusal of an upload to a dataset that jobs use.
pub fn dataset_locked(id: &str) -> StoreError {
    StoreError::DatasetLocked { id: id.to_string() }
}

/// The jobs table: claims, progress, the end of a job, cancel (creation and resume go through
/// [`crate::queue`], which adds the task in the same transaction).
impl Db {
    /// A job with its current state ([`StoreError::NotFound`] when absent or another tenant's).
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database error.
    #[tracing::instrument(name = "db.job", skip_all)]
    pub async fn job(&self, scope: Scope<'_>, id: &str) -> StoreResult<Job> {
        if !valid_id(id) {
            return Err(StoreError::not_found("job", id));
        }
        let sql = format!(
            "SELECT record, state, node FROM training_jobs WHERE id = $1{}",
            scope.filter(2)
        );
        let row = bind_scope!(sqlx::query(AssertSqlSafe(sql)).bind(id), scope)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .ok_or_else(|| StoreError::not_found("job", id))?;
        job_of(&row)
    }

    /// Every job of `tenant`, oldest first.
    ///
    /// # Errors
    /// A database error.
    #[tracing::instrument(name = "db.jobs", skip_all)]
    pub async fn jobs(&self, tenant: &str) -> StoreResult<Vec<Job>> {
        sqlx::query(
            "SELECT record, state, node FROM training_jobs WHERE tenant = $1 \
             ORDER BY created_at, id",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(job_of)
        .collect()
    }

    /// Claims a job for `node` when its task is delivered: a `queued` job, or a `running` one
    /// whose node died (apalis requeued its task), becomes `running` on `node`. `None` when the
    /// job is gone or in another state (cancelled while queued, completed).
    ///
    /// # Errors
    /// A database error.
    #[tracing::instrument(name = "db.claim_job", skip_all)]
    pub async fn claim_job(&self, id: &str, node: &str, now: i64) -> StoreResult<Option<Claimed>> {
        let row = sqlx::query(
            "UPDATE training_jobs SET state = 'running', node = $1, heartbeat_at = $2 \
             WHERE id = $3 AND state IN ('queued', 'running') \
             RETURNING record, state, node, cancel_requested",
        )
        .bind(node)
        .bind(now)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        metrics::counter!("more_jobs_started_total").increment(1);
        Ok(Some(Claimed {
            job: job_of(&row)?,
            cancel_requested: row
                .try_get::<i64, _>("cancel_requested")
                .map_err(db_error)?
                != 0,
        }))
    }

    /// Marks the progress time of every job `node` runs; returns the ids whose cancellation was
    /// requested.
    ///
    /// # Errors
    /// A database error.
    #[tracing::instrument(name = "db.heartbeat", skip_all, level = "debug")]
    pub async fn heartbeat(&self, node: &str, now: i64) -> StoreResult<Vec<String>> {
        sqlx::query(
            "UPDATE training_jobs SET heartbeat_at = $1 WHERE node = $2 AND state = 'running'",
        )
        .bind(now)
        .bind(node)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "SELECT id FROM training_jobs WHERE node = $1 AND state = 'running' AND cancel_requested <> 0",
        )
        .bind(node)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(|r| r.try_get::<String, _>("id").map_err(db_error))
        .collect()
    }

    /// Saves a running job's record (progress, checkpoint) if `node` still owns it. `false` when
    /// it does not (taken over after a missed heartbeat): the caller must stop.
    ///
    /// # Errors
    /// A database error.
    #[tracing::instrument(name = "db.save_running_job", skip_all)]
    pub async fn save_running_job(&self, job: &Job, node: &str) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE training_jobs SET record = $1 WHERE id = $2 AND node = $3 AND state = 'running'",
        )
        .bind(to_json(job)?)
        .bind(&job.id)
        .bind(node)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        if done != 1 {
            return Ok(false);
        }
        Self::set_refs(&mut tx, job).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    /// Ends a running job owned by `node` in `state`; with `model`, also saves the trained
    /// model (compare and swap on `model_version`) in the same transaction. `false` when the
    /// node no longer owns the job or the model changed meanwhile, and, for
    /// [`JobState::Completed`], when a cancel was accepted meanwhile (see
    /// [`Db::cancel_requested`]): an accepted cancel always ends the job `cancelled`.
    ///
    /// # Errors
    /// A database error.
    #[tracing::instrument(name = "db.finish_job", skip_all)]
    pub async fn finish_job(
        &self,
        job: &Job,
        node: &str,
        state: JobState,
        model: Option<(&ModelRecord, i64)>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE training_jobs SET state = $1, record = $2, node = NULL, cancel_requested = 0 \
             WHERE id = $3 AND node = $4 AND state = 'running' \
             AND ($1 <> 'completed' OR cancel_requested = 0)",
        )
        .bind(state.as_str())
        .bind(to_json(job)?)
        .bind(&job.id)
        .bind(node)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        if done != 1 {
            return Ok(false);
        }
        Self::set_refs(&mut tx, job).await?;
        if let Some((m, version)) = model {
            let sql =
                "UPDATE models SET record = $1, version = version + 1 WHERE id = $2 AND version = $3";
            if !Self::swap_record(&mut tx, sql, m, version).await? {
                return Ok(false);
            }
        }
        tx.commit().await.map_err(db_error)?;
        metrics::counter!("more_jobs_finished_total", "state" => state.as_str()).increment(1);
        Ok(true)
    }

    /// Saves a cancelled job that kept its trained epochs (`kept_epochs` set) and its model
    /// switched to the weights of those epochs, in one transaction: `false` when the job is no
    /// longer `cancelled` (resumed meanwhile) or the model changed (compare and swap on
    /// `version`, and no job of the model queued or running).
    ///
    /// # Errors
    /// A database error.
    #[tracing::instrument(name = "db.keep_trained", skip_all)]
    pub async fn keep_trained(
        &self,
        job: &Job,
        model: &ModelRecord,
        version: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        self.lock_row(&mut tx, "models", &model.id).await?;
        let done = sqlx::query(
            "UPDATE training_jobs SET record = $1 WHERE id = $2 AND state = 'cancelled'",
        )
        .bind(to_json(job)?)
        .bind(&job.id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        if done != 1 {
            return Ok(false);
        }
        Self::set_refs(&mut tx, job).await?;
        let sql = "UPDATE models SET record = $1, version = version + 1 \
                   WHERE id = $2 AND version = $3 AND NOT EXISTS (SELECT 1 FROM training_jobs \
                   WHERE model_id = $2 AND state IN ('queued', 'running'))";
        if !Self::swap_record(&mut tx, sql, model, version).await? {
            return Ok(false);
        }
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    /// Whether a cancel was accepted for `id` while `node` runs it (the flag stays until the
    /// job ends).
    ///
    /// # Errors
    /// A database error.
    #[tracing::instrument(name = "db.cancel_requested", skip_all, level = "debug")]
    pub async fn cancel_requested(&self, id: &str, node: &str) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT id FROM training_jobs \
             WHERE id = $1 AND node = $2 AND state = 'running' AND cancel_requested <> 0",
        )
        .bind(id)
        .bind(node)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(row.is_some())
    }

    /// Requests cancellation: a queued job becomes `cancelled` at once; a running one is flagged
    /// for its node (which stops at the next mini-batch after its next heartbeat).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (also for another tenant's job); [`StoreError::JobNotActive`] when
    /// the job is neither queued nor running; a database error.
    #[tracing::instrument(name = "db.cancel_job", skip_all)]
    pub async fn cancel_job(&self, tenant: &str, id: &str) -> StoreResult<Job> {
        let scope = Scope::Tenant(tenant);
        let job = self.job(scope, id).await?;
        let queued = sqlx::query(
            "UPDATE training_jobs SET state = 'cancelled' WHERE id = $1 AND state = 'queued'",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?
        .rows_affected();
        if queued == 0 {
            let running = sqlx::query(
                "UPDATE training_jobs SET cancel_requested = 1 WHERE id = $1 AND state = 'running'",
            )
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_error)?
            .rows_affected();
            if running == 0 {
                let now = self.job(scope, id).await.unwrap_or(job);
                return Err(StoreError::JobNotActive {
                    id: id.to_string(),
                    state: now.state.as_str(),
                });
            }
        }
        self.job(scope, id).await
    }
}

/// The node's own bookkeeping: liveness of the database, superseded blobs.
impl Db {
    /// Whether the database answers a trivial query within `timeout`.
    #[tracing::instrument(name = "db.ping", skip_all, level = "debug")]
    pub async fn ping(&self, timeout: std::time::Duration) -> bool {
        let query = sqlx::query("SELECT 1 AS one").fetch_one(&self.pool);
        matches!(tokio::time::timeout(timeout, query).await, Ok(Ok(_)))
    }

    /// Whether no row references the blob (it may then be deleted: a row names a blob only after
    /// it is durable, see the module's note).
    ///
    /// # Errors
    /// A database error.
    #[tracing::instrument(name = "db.unreferenced", skip_all, level = "debug")]
    pub async fn unreferenced(&self, sha256: &str) -> StoreResult<bool> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM blob_refs WHERE sha256 = $1 LIMIT 1")
                .bind(sha256)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?
                .is_none(),
        )
    }
}

/// The refusal of a second active job for a model.
pub fn model_busy(model_id: &str) -> StoreError {
    StoreError::ModelBusy {
        model_id: model_id.to_string(),
    }
}
