//! The sample quota of secure predicts (migration `0005_secure_quota.sql`): a granted tenant may
//! score at most `samples_per_day` samples of one model per rolling 24 hours — a brake on model
//! extraction by queries (a granted tenant gets exact outputs for inputs it chooses;
//! `SECURITY.md`). The limit is the model's own (set by its owner at publish or with the grants)
//! or the node's default; the owner's own tenant is never limited.
//!
//! Use is counted in the `secure_usage` table, not from the audit log: a predict's samples are
//! RESERVED (a row written) before the node evaluates it, atomically with the check, so that
//! several nodes sharing one database never admit more than the quota between them (the audit
//! row is written after the answer, too late to stop a concurrent request on another node). A
//! predict that fails before its answer withdraws its reservation ([`Reservation`]'s drop).

use sqlx::Row;

use crate::db::Db;
use crate::error::StoreResult;
use crate::records::new_id;

/// The quota's window, microseconds (24 hours).
pub const WINDOW_MICROS: i64 = 24 * 3600 * 1_000_000;

/// Largest `samples_per_day` an owner may set.
pub const MAX_SAMPLES_PER_DAY: u64 = 1 << 40;

/// Why a reservation was refused: the tenant's use and when enough of it frees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverQuota {
    /// The limit, samples per 24 hours.
    pub limit: u64,
    /// Samples the tenant scored with the model within the last 24 hours.
    pub used: u64,
    /// Samples asked for.
    pub asked: u64,
    /// Microseconds since the Unix epoch at which `asked` more samples fit again.
    pub frees_at_micros: i64,
}

/// An admitted predict's samples, counted in the quota. Dropped without [`Reservation::keep`]
/// (the predict failed before its answer), it is withdrawn in the background (on the tokio
/// runtime it is dropped in; outside one it stays counted).
pub struct Reservation {
    db: Db,
    id: Option<String>,
}

impl Reservation {
    /// Keeps the reservation: the samples were scored.
    pub fn keep(mut self) {
        self.id = None;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if let Some(id) = self.id.take() {
            let db = self.db.clone();
            runtime.spawn(async move {
                let done = sqlx::query("DELETE FROM secure_usage WHERE id = $1")
                    .bind(&id)
                    .execute(db.pool())
                    .await;
                if let Err(e) = done {
                    tracing::warn!(error = %e, "withdrawing a secure quota reservation failed");
                }
            });
        }
    }
}

/// The limit that applies to `tenant` on a model of `owner` whose own limit is `model_limit`,
/// with the node's default `node_default` (0: unlimited): `None` when unlimited.
pub fn effective_limit(
    owner: &str,
    tenant: &str,
    model_limit: Option<u64>,
    node_default: u64,
) -> Option<u64> {
    if owner == tenant {
        return None;
    }
    model_limit.or((node_default > 0).then_some(node_default))
}

/// The (at, samples) rows of `tenant` on `model` since `since` (oldest first).
async fn window<'e, E>(ex: E, model: &str, tenant: &str, since: i64) -> StoreResult<Vec<(i64, u64)>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows = sqlx::query(
        "SELECT at_micros, samples FROM secure_usage WHERE model_id = $1 AND tenant = $2 \
         AND at_micros > $3 ORDER BY at_micros, id",
    )
    .bind(model)
    .bind(tenant)
    .bind(since)
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            let at: i64 = r.try_get("at_micros")?;
            let n: i64 = r.try_get("samples")?;
            Ok((at, n.max(0) as u64))
        })
        .collect()
}

/// Samples `tenant` scored with `model` within the 24 hours before `now_micros`.
///
/// # Errors
/// On a database error.
pub async fn used(db: &Db, model: &str, tenant: &str, now_micros: i64) -> StoreResult<u64> {
    let rows = window(db.pool(), model, tenant, now_micros - WINDOW_MICROS).await?;
    Ok(rows.iter().map(|(_, n)| n).sum())
}

/// When `asked` more samples fit under `limit`, given the window's rows (oldest first): the
/// moment enough of the oldest rows have left the window.
fn frees_at(rows: &[(i64, u64)], limit: u64, asked: u64, now_micros: i64) -> i64 {
    let mut used: u64 = rows.iter().map(|(_, n)| n).sum();
    for (at, n) in rows {
        used -= n;
        if used + asked <= limit {
            return at + WINDOW_MICROS;
        }
    }
    now_micros
}

/// Reserves `asked` samples of `tenant` on `model` under `limit` per 24 hours, at `now_micros`:
/// the check and the insert are one transaction under a lock (the model's row on PostgreSQL;
/// SQLite's single writer, taken by the first statement, a delete of the tenant's rows that
/// left the window), so concurrent predicts, on any node of the database, see each other.
///
/// # Errors
/// `Ok(Err(OverQuota))` when they do not fit; a database error.
pub async fn reserve(
    db: &Db,
    model: &str,
    tenant: &str,
    asked: u64,
    limit: u64,
    now_micros: i64,
) -> StoreResult<Result<Reservation, OverQuota>> {
    let since = now_micros - WINDOW_MICROS;
    let mut tx = db.pool().begin().await?;
    if db.is_postgres() {
        sqlx::query("SELECT id FROM secure_models WHERE id = $1 FOR UPDATE")
            .bind(model)
            .fetch_optional(&mut *tx)
            .await?;
    }
    sqlx::query("DELETE FROM secure_usage WHERE model_id = $1 AND tenant = $2 AND at_micros <= $3")
        .bind(model)
        .bind(tenant)
        .bind(since)
        .execute(&mut *tx)
        .await?;
    let rows = window(&mut *tx, model, tenant, since).await?;
    let used: u64 = rows.iter().map(|(_, n)| n).sum();
    if used.saturating_add(asked) > limit {
        tx.rollback().await?;
        return Ok(Err(OverQuota {
            limit,
            used,
            asked,
            frees_at_micros: frees_at(&rows, limit, asked, now_micros),
        }));
    }
    let id = new_id();
    sqlx::query(
        "INSERT INTO secure_usage (id, model_id, tenant, samples, at_micros) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(model)
    .bind(tenant)
    .bind(asked as i64)
    .bind(now_micros)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(Reservation {
        db: db.clone(),
        id: Some(id),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_the_models_then_the_nodes_and_never_the_owners() {
        assert_eq!(effective_limit("a", "a", Some(5), 7), None);
        assert_eq!(effective_limit("a", "b", Some(5), 7), Some(5));
        assert_eq!(effective_limit("a", "b", None, 7), Some(7));
        assert_eq!(effective_limit("a", "b", None, 0), None);
    }

    #[test]
    fn enough_frees_when_the_oldest_rows_leave_the_window() {
        let rows = [(100, 8), (200, 8)];
        assert_eq!(frees_at(&rows, 20, 8, 300), 100 + WINDOW_MICROS);
        assert_eq!(frees_at(&rows, 20, 16, 300), 200 + WINDOW_MICROS);
    }
}
