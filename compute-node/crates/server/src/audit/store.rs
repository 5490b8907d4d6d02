//! Writing the chain: appends under the lock of the one-row `audit_head` table (so that several
//! nodes on one PostgreSQL keep one linear chain), the append-only triggers, and the controlled
//! way around them that `audit prune` and the chaining of rows from before the chain use.

use sqlx::{Any, Row, Transaction};

use super::chain::{self, Fields};
use crate::db::Db;

/// The last row of the chain: its seq (0 for an empty chain) and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Its place (0: nothing appended yet).
    pub seq: i64,
    /// Its hash ([`chain::START`] for an empty chain).
    pub hash: String,
}

/// Appends `fields` in `tx`: takes the head's lock (the first statement writes, so SQLite takes
/// its write lock at once and PostgreSQL locks the head row), links the row and moves the head.
///
/// # Errors
/// The database's.
pub async fn append_in(
    tx: &mut Transaction<'static, Any>,
    fields: &Fields,
) -> Result<Head, sqlx::Error> {
    let row =
        sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, row_hash")
            .fetch_one(&mut **tx)
            .await?;
    let seq: i64 = row.try_get("seq")?;
    let prev: String = row.try_get("row_hash")?;
    let hash = chain::hash(seq, &prev, fields);
    let f = fields;
    sqlx::query(chain::INSERT)
        .bind(&f.id)
        .bind(f.at_micros)
        .bind(&f.kind)
        .bind(&f.tenant)
        .bind(&f.subject)
        .bind(&f.auth_method)
        .bind(&f.method)
        .bind(&f.route)
        .bind(&f.object_id)
        .bind(f.status)
        .bind(&f.request_id)
        .bind(&f.client_request_id)
        .bind(&f.peer)
        .bind(f.count)
        .bind(&f.detail)
        .bind(seq)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE audit_head SET row_hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
    Ok(Head { seq, hash })
}

/// Appends one row in a transaction of its own (one commit, one fsync).
///
/// # Errors
/// The database's.
pub async fn append(db: &Db, fields: &Fields) -> Result<Head, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    let head = append_in(&mut tx, fields).await?;
    tx.commit().await?;
    Ok(head)
}

/// The head as `audit_head` records it.
///
/// # Errors
/// The database's.
pub async fn head(db: &Db) -> Result<Head, sqlx::Error> {
    let row = sqlx::query("SELECT seq, row_hash FROM audit_head WHERE id = 1")
        .fetch_one(db.pool())
        .await?;
    Ok(Head {
        seq: row.try_get("seq")?,
        hash: row.try_get("row_hash")?,
    })
}

const SQLITE_TRIGGERS: [&str; 2] = [
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log \
     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log \
     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
];

/// PostgreSQL: the function refuses every change but inside a transaction of [`begin_maintenance`]
/// (the transaction-local setting `more.audit_maintenance`).
const POSTGRES_TRIGGERS: [&str; 3] = [
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       IF TG_LEVEL = 'ROW' AND current_setting('more.audit_maintenance', true) = 'on' THEN \
         IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; \
         RETURN NEW; \
       END IF; \
       RAISE EXCEPTION 'audit_log is append-only'; \
     END $$",
    "CREATE OR REPLACE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log \
     FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log \
     FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
];

/// Creates the triggers that refuse `UPDATE` and `DELETE` on `audit_log` (and `TRUNCATE` on
/// PostgreSQL), unless they exist.
///
/// # Errors
/// When the database refuses to create them.
pub async fn make_append_only(db: &Db) -> anyhow::Result<()> {
    let statements: &[&str] = if db.is_postgres() {
        &POSTGRES_TRIGGERS
    } else {
        &SQLITE_TRIGGERS
    };
    for sql in statements {
        if let Err(e) = sqlx::query(*sql).execute(db.pool()).await {
            // Nodes starting together on PostgreSQL race to replace the same triggers; one wins.
            if !(db.is_postgres() && triggers_present(db).await) {
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// Whether both append-only triggers exist.
pub async fn triggers_present(db: &Db) -> bool {
    let sql = if db.is_postgres() {
        "SELECT COUNT(*) AS n FROM pg_trigger WHERE tgname IN \
         ('audit_log_no_change', 'audit_log_no_truncate')"
    } else {
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'trigger' AND name IN \
         ('audit_log_no_update', 'audit_log_no_delete')"
    };
    sqlx::query(sql)
        .fetch_one(db.pool())
        .await
        .and_then(|r| r.try_get::<i64, _>("n"))
        .is_ok_and(|n| n == 2)
}

/// A transaction in which the node may update and delete audit rows (`audit prune`, chaining
/// the rows from before the chain): on SQLite the triggers are dropped inside it (and made
/// again by [`end_maintenance`]; a rollback restores them), on PostgreSQL a setting local to it
/// lets the trigger function pass.
///
/// # Errors
/// The database's.
pub async fn begin_maintenance(db: &Db) -> Result<Transaction<'static, Any>, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    if db.is_postgres() {
        sqlx::query("SELECT set_config('more.audit_maintenance', 'on', true)")
            .execute(&mut *tx)
            .await?;
    } else {
        for name in ["audit_log_no_update", "audit_log_no_delete"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP TRIGGER IF EXISTS {name}"
            )))
            .execute(&mut *tx)
            .await?;
        }
    }
    // Holds the head's lock until the end (SQLite holds its write lock already).
    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Makes the triggers again (SQLite) and commits.
///
/// # Errors
/// The database's.
pub async fn end_maintenance(
    db: &Db,
    mut tx: Transaction<'static, Any>,
) -> Result<(), sqlx::Error> {
    if !db.is_postgres() {
        for sql in SQLITE_TRIGGERS {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
    }
    tx.commit().await
}

/// Chains the rows written before the chain existed, once: when the head is still at 0, every
/// row without a seq is linked in `(at_micros, id)` order, and a notice saying how many follows.
/// Afterwards (head above 0) a row without a seq is never chained: `verify` reports it.
///
/// # Errors
/// The database's.
pub async fn start_chain(db: &Db, notice: impl Fn(String) -> Fields) -> Result<(), sqlx::Error> {
    if head(db).await?.seq > 0 {
        return Ok(());
    }
    let mut tx = begin_maintenance(db).await?;
    let current: i64 = sqlx::query("SELECT seq FROM audit_head WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?
        .try_get("seq")?;
    if current > 0 {
        // Another node started the chain meanwhile.
        return end_maintenance(db, tx).await;
    }
    let sql = format!(
        "SELECT {} FROM audit_log WHERE seq IS NULL ORDER BY at_micros, id",
        chain::COLUMNS
    );
    let legacy = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *tx)
        .await?;
    let mut prev = chain::START.to_string();
    for (i, row) in legacy.iter().enumerate() {
        let fields = chain::read(row)?.fields;
        let seq = i as i64 + 1;
        let hash = chain::hash(seq, &prev, &fields);
        sqlx::query("UPDATE audit_log SET seq = $1, prev_hash = $2, row_hash = $3 WHERE id = $4")
            .bind(seq)
            .bind(&prev)
            .bind(&hash)
            .bind(&fields.id)
            .execute(&mut *tx)
            .await?;
        prev = hash;
    }
    sqlx::query("UPDATE audit_head SET seq = $1, row_hash = $2 WHERE id = 1")
        .bind(legacy.len() as i64)
        .bind(&prev)
        .execute(&mut *tx)
        .await?;
    let text = format!(
        "audit chain started; {} earlier rows chained in time order",
        legacy.len()
    );
    append_in(&mut tx, &notice(text)).await?;
    end_maintenance(db, tx).await
}
