//! Retention (`more-node audit prune --before T`): removes the oldest rows, a prefix of the chain
//! (every row up to the last one before the first row at or after `T`), in one transaction that
//! also appends a checkpoint row naming the seq and hash of the last removed row and how many were
//! removed. `verify` then accepts a chain that starts right after that row. A broken chain is
//! not pruned (that would remove the evidence).

use sqlx::Row;

use super::chain::{Fields, Kind};
use super::store;
use super::verify::{self, Checkpoint};
use crate::db::Db;

/// What a prune did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pruned {
    /// Rows removed (0: nothing was older than `before`; no checkpoint then).
    pub rows: i64,
    /// The checkpoint written: the last removed row's seq, hash and the count.
    pub checkpoint: Option<Checkpoint>,
}

/// Prunes the rows from before `before_micros` (microseconds since the Unix epoch);
/// `checkpoint_row` makes the checkpoint's row from its JSON `detail`.
///
/// # Errors
/// When the chain does not verify (nothing is removed then), or the database's.
pub async fn prune(
    db: &Db,
    before_micros: i64,
    checkpoint_row: impl Fn(String, i64) -> Fields,
) -> anyhow::Result<Pruned> {
    let report = verify::verify(db, None).await?;
    if let Some(p) = report.problem {
        anyhow::bail!(
            "the audit chain is broken ({}: {}); nothing pruned, so that the evidence stays",
            p.breakage.as_str(),
            p.message
        );
    }
    let mut tx = store::begin_maintenance(db).await?;
    let head: i64 = sqlx::query("SELECT seq FROM audit_head WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?
        .try_get("seq")?;
    let kept: Option<i64> =
        sqlx::query("SELECT MIN(seq) AS s FROM audit_log WHERE at_micros >= $1")
            .bind(before_micros)
            .fetch_one(&mut *tx)
            .await?
            .try_get("s")?;
    let through = kept.map_or(head, |s| s - 1);
    let last = sqlx::query("SELECT row_hash FROM audit_log WHERE seq = $1")
        .bind(through)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(last) = last else {
        // Nothing left before `before` (already pruned, or an empty log).
        tx.rollback().await?;
        return Ok(Pruned {
            rows: 0,
            checkpoint: None,
        });
    };
    let rows = sqlx::query("DELETE FROM audit_log WHERE seq <= $1")
        .bind(through)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
    let checkpoint = Checkpoint {
        pruned_through_seq: through,
        pruned_through_hash: last.try_get("row_hash")?,
        pruned_rows: rows,
        before: humantime::format_rfc3339_micros(
            std::time::UNIX_EPOCH + std::time::Duration::from_micros(before_micros.max(0) as u64),
        )
        .to_string(),
    };
    let fields = checkpoint_row(serde_json::to_string(&checkpoint)?, rows);
    debug_assert_eq!(fields.kind, Kind::Checkpoint.as_str());
    store::append_in(&mut tx, &fields).await?;
    store::end_maintenance(db, tx).await?;
    Ok(Pruned {
        rows,
        checkpoint: Some(checkpoint),
    })
}
