//! The store's error type: what went wrong, never how to answer it. The HTTP layer
//! (`more-server`'s `error.rs`) picks the status; the job runner retries the transient ones
//! ([`StoreError::is_transient`]). Messages name objects by their ids and hashes, never server
//! paths, addresses or store URLs; the details behind a database or object-store failure are
//! logged where the failure is converted, not carried in the message.

use more_core::nn::NnError;

/// Why the object store refused an operation, when it may accept it later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFault {
    /// No space left or quota exceeded (ENOSPC, EDQUOT).
    Full,
    /// A read-only file system (EROFS).
    ReadOnly,
    /// A server that does not answer, or answers a server error, after retries.
    Unreachable,
}

impl StoreFault {
    /// The words that end the message of an object-store failure.
    fn suffix(fault: &Option<Self>) -> &'static str {
        match fault {
            Some(StoreFault::Full) => ": the store is full",
            Some(StoreFault::ReadOnly) => ": the store is read-only",
            Some(StoreFault::Unreachable) => ": the store is unavailable",
            None => "",
        }
    }
}

/// A failed storage operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such record that the caller may see: absent, another tenant's, or a malformed id.
    #[error("{what} {id:?} not found")]
    NotFound {
        /// The kind of record ("dataset", "model", "job", "secure model", "evaluation key").
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// An upload to a dataset that jobs use (datasets are immutable once trained on).
    #[error("dataset {id} is used by a job and cannot change; upload to a new dataset instead")]
    DatasetLocked {
        /// The dataset's id.
        id: String,
    },
    /// A second active job for one model (one of several concurrent creates or resumes wins).
    #[error("model {model_id} already has a queued or running job")]
    ModelBusy {
        /// The model's id.
        model_id: String,
    },
    /// A delete of a dataset or model that a queued or running job uses.
    #[error("{what} {id} is used by a queued or running job")]
    InUse {
        /// "dataset" or "model".
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A cancel of a job that is neither queued nor running.
    #[error("job {id} is {state}, not queued or running")]
    JobNotActive {
        /// The job's id.
        id: String,
        /// Its state now (`completed`, `failed`, ...).
        state: &'static str,
    },
    /// A grant names a tenant that is not registered on this node.
    #[error("tenant {0:?} is not registered on this node")]
    UnknownTenant(String),
    /// The database cannot be reached now (no connection in time, a broken connection, a server
    /// shutting down or starting up, SQLite busy): retry later.
    #[error("the database is unavailable; retry later")]
    Unavailable(#[source] sqlx::Error),
    /// The database refused a query.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// A stored row could not be read back or a record not written (the text says which).
    #[error("{0}")]
    Corrupt(String),
    /// The job queue (apalis) failed.
    #[error("job queue error")]
    Queue(String),
    /// The object store failed: `what` names the operation (`put`, `read blob {sha256}`).
    #[error("object store: {what} failed{}", StoreFault::suffix(.fault))]
    ObjectStore {
        /// The operation.
        what: String,
        /// Whether waiting may help (full, read-only, unreachable), `None` when it will not.
        fault: Option<StoreFault>,
        /// The store's error (holds paths and addresses: logged, never sent).
        #[source]
        source: object_store::Error,
    },
    /// A blob whose bytes do not match its content address.
    #[error("stored blob {sha256} is corrupt (its SHA-256 is {actual})")]
    CorruptBlob {
        /// The address it was read from.
        sha256: String,
        /// The SHA-256 of the bytes read.
        actual: String,
    },
    /// A stored tensor or bundle (weights, checkpoint, losses, dataset) does not decode or does
    /// not fit what reads it; the text names which and why.
    #[error("{0}")]
    MalformedTensor(String),
    /// Stored weights of another representation or key than the input's.
    #[error("{0}")]
    BasisMismatch(String),
    /// The engine refused to build a model (its spec).
    #[error(transparent)]
    Engine(#[from] NnError),
    /// A local file operation of the store failed (sweeping partial files); the text says which.
    #[error("{0}")]
    Io(String),
}

impl StoreError {
    /// Whether the error is one of a service that may come back (the database unreachable, the
    /// object store unreachable, read-only or full): a job retries it.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::ObjectStore { fault: Some(_), .. }
        )
    }

    /// Whether the error refuses a change because of another record's state.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            StoreError::DatasetLocked { .. }
                | StoreError::ModelBusy { .. }
                | StoreError::InUse { .. }
                | StoreError::JobNotActive { .. }
        )
    }

    /// A record that cannot be found.
    pub fn not_found(what: &'static str, id: &str) -> Self {
        StoreError::NotFound {
            what,
            id: id.to_string(),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    /// `Unavailable` when the database cannot be reached, else `Database`; the details logged.
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "database");
        metrics::counter!("more_db_errors_total").increment(1);
        if is_unreachable(&e) {
            StoreError::Unavailable(e)
        } else {
            StoreError::Database(e)
        }
    }
}

/// Whether an error says the database cannot be reached now (rather than refusing a query).
pub fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL's connection exceptions (08…) and operator intervention (57P01 admin
        // shutdown, 57P02 crash shutdown, 57P03 cannot connect now); SQLite's busy and locked.
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c == "5" || c == "6"),
        _ => false,
    }
}

/// Result of a storage operation.
pub type StoreResult<T> = Result<T, StoreError>;
