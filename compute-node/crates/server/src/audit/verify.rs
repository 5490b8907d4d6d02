//! Checking the chain (`more-node audit verify`): every row's hash over its contents, every
//! link to the row before, no gap in `seq`, the start (`seq` 1 after 64 zeros, or the rows a
//! prune checkpoint accounts for), the end against `audit_head`, and an anchored head if given.
//! The first broken link is reported. Reads the head and the rows in one snapshot (a read
//! transaction; REPEATABLE READ on PostgreSQL), so a live node's appends are not mistaken for
//! forged rows, and the rows in `seq` order as a stream (constant memory).

use futures_util::TryStreamExt as _;
use serde::Deserialize;
use sqlx::Row as _;

use super::chain::{self, Kind, Linked};
use super::store::Head;
use crate::db::Db;

/// What is wrong at the first broken link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Breakage {
    /// A row the node did not write: no seq, a seq twice, a row after the recorded head, or a
    /// row that hashes right but does not link to the row before it.
    ForgedInsert,
    /// Rows missing: a gap in `seq`, a start no checkpoint accounts for, an end before the head.
    DeletedRows,
    /// A row whose contents no longer match its hash, or the chain differs from an anchor.
    RewrittenRow,
}

impl Breakage {
    /// `forged insert`, `deleted rows` or `rewritten row`.
    pub fn as_str(self) -> &'static str {
        match self {
            Breakage::ForgedInsert => "forged insert",
            Breakage::DeletedRows => "deleted rows",
            Breakage::RewrittenRow => "rewritten row",
        }
    }
}

/// The first broken link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where: the seq of the first row concerned (`None` for a row without a seq).
    pub seq: Option<i64>,
    /// What kind of tampering it looks like.
    pub breakage: Breakage,
    /// In words.
    pub message: String,
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Rows whose hash and link were checked.
    pub rows: u64,
    /// The first seq present (after pruned rows).
    pub first_seq: Option<i64>,
    /// The last row's seq and hash (the head to anchor elsewhere).
    pub head: Head,
    /// `None`: the chain is intact.
    pub problem: Option<Problem>,
}

/// A checkpoint's `detail` (written by `audit prune`).
#[derive(Clone, Debug, serde::Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last pruned row's seq.
    pub pruned_through_seq: i64,
    /// Its hash: the `prev_hash` of the first row kept.
    pub pruned_through_hash: String,
    /// How many rows that prune removed.
    pub pruned_rows: i64,
    /// The `--before` time of the prune (RFC 3339).
    pub before: String,
}

/// The walk's state.
struct Walk {
    rows: u64,
    first: Option<(i64, String)>,
    last: Option<Head>,
    checkpoint: Option<Checkpoint>,
}

fn problem(seq: Option<i64>, breakage: Breakage, message: String) -> Option<Problem> {
    Some(Problem {
        seq,
        breakage,
        message,
    })
}

impl Walk {
    /// Checks `row` after the rows seen so far.
    fn step(&mut self, row: Linked) -> Option<Problem> {
        let (Some(seq), Some(prev), Some(hash)) = (row.seq, row.prev_hash, row.row_hash) else {
            return problem(
                row.seq,
                Breakage::ForgedInsert,
                format!(
                    "row {} has no hash: written outside the node",
                    row.fields.id
                ),
            );
        };
        if chain::hash(seq, &prev, &row.fields) != hash {
            return problem(
                Some(seq),
                Breakage::RewrittenRow,
                format!("row {seq} does not match its hash: its contents were changed"),
            );
        }
        if let Some(last) = &self.last {
            if seq == last.seq {
                return problem(
                    Some(seq),
                    Breakage::ForgedInsert,
                    format!("seq {seq} appears twice: one of them was inserted outside the node"),
                );
            }
            if seq > last.seq + 1 {
                return problem(
                    Some(last.seq + 1),
                    Breakage::DeletedRows,
                    format!("rows {} to {} are missing (deleted)", last.seq + 1, seq - 1),
                );
            }
            if prev != last.hash {
                return problem(
                    Some(seq),
                    Breakage::ForgedInsert,
                    format!(
                        "row {seq} does not link to row {}: it was put in place of the row \
                         the node wrote (or row {} was replaced)",
                        last.seq, last.seq
                    ),
                );
            }
        } else {
            self.first = Some((seq, prev.clone()));
            if seq == 1 && prev != chain::START {
                return problem(
                    Some(1),
                    Breakage::RewrittenRow,
                    "row 1 does not start a chain (its previous hash is not zero)".into(),
                );
            }
        }
        if row.fields.kind == Kind::Checkpoint.as_str() {
            match row.fields.detail.as_deref().map(serde_json::from_str) {
                Some(Ok(c)) => self.checkpoint = Some(c),
                _ => {
                    return problem(
                        Some(seq),
                        Breakage::RewrittenRow,
                        format!("checkpoint row {seq} has no readable detail"),
                    )
                }
            }
        }
        self.rows += 1;
        self.last = Some(Head { seq, hash });
        None
    }

    /// Checks the start against the latest checkpoint and the end against `head`.
    fn finish(&self, head: &Head) -> Option<Problem> {
        if let Some((seq, prev)) = &self.first {
            if *seq != 1 {
                let accounted = self.checkpoint.as_ref().is_some_and(|c| {
                    c.pruned_through_seq == seq - 1 && &c.pruned_through_hash == prev
                });
                if !accounted {
                    let from = self
                        .checkpoint
                        .as_ref()
                        .map_or(1, |c| c.pruned_through_seq + 1);
                    return problem(
                        Some(from),
                        Breakage::DeletedRows,
                        format!(
                            "rows {from} to {} are missing and no prune checkpoint accounts for \
                             them (deleted)",
                            seq - 1
                        ),
                    );
                }
            }
        }
        let last = self.last.clone().unwrap_or(Head {
            seq: 0,
            hash: chain::START.into(),
        });
        if last.seq < head.seq {
            return problem(
                Some(last.seq + 1),
                Breakage::DeletedRows,
                format!(
                    "rows {} to {} (the recorded head) are missing (deleted)",
                    last.seq + 1,
                    head.seq
                ),
            );
        }
        if last.seq > head.seq {
            return problem(
                Some(head.seq + 1),
                Breakage::ForgedInsert,
                format!(
                    "rows {} to {} follow the recorded head {}: inserted outside the node",
                    head.seq + 1,
                    last.seq,
                    head.seq
                ),
            );
        }
        if last.hash != head.hash {
            return problem(
                Some(last.seq),
                Breakage::RewrittenRow,
                format!("row {} differs from the recorded head", last.seq),
            );
        }
        None
    }
}

/// Verifies the whole chain; with `anchor` (a seq and hash noted earlier, e.g. from the node's
/// periodic `audit head` log line), also that the row at that seq still has that hash.
///
/// # Errors
/// The database's (a problem of the chain is a [`Report::problem`], not an error).
pub async fn verify(db: &Db, anchor: Option<&Head>) -> Result<Report, sqlx::Error> {
    // One snapshot for the head and the rows: nodes may append meanwhile.
    let mut tx = db.pool().begin().await?;
    if db.is_postgres() {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    let row = sqlx::query("SELECT seq, row_hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    let head = Head {
        seq: row.try_get("seq")?,
        hash: row.try_get("row_hash")?,
    };
    let mut walk = Walk {
        rows: 0,
        first: None,
        last: None,
        checkpoint: None,
    };
    let report = |walk: &Walk, problem| Report {
        rows: walk.rows,
        first_seq: walk.first.as_ref().map(|f| f.0),
        head: walk.last.clone().unwrap_or(Head {
            seq: 0,
            hash: chain::START.into(),
        }),
        problem,
    };
    let unchained = format!(
        "SELECT {} FROM audit_log WHERE seq IS NULL OR row_hash IS NULL OR prev_hash IS NULL LIMIT 1",
        chain::COLUMNS
    );
    if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(unchained))
        .fetch_optional(&mut *tx)
        .await?
    {
        let p = walk.step(chain::read(&row)?);
        return Ok(report(&walk, p));
    }
    let sql = format!("SELECT {} FROM audit_log ORDER BY seq", chain::COLUMNS);
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *tx);
    let mut anchored = false;
    while let Some(row) = rows.try_next().await? {
        let row = chain::read(&row)?;
        if let (Some(a), Some(seq)) = (anchor, row.seq) {
            if a.seq == seq {
                anchored = true;
                if row.row_hash.as_deref() != Some(a.hash.as_str()) {
                    let p = problem(
                        Some(seq),
                        Breakage::RewrittenRow,
                        format!(
                            "row {seq} is not the anchored one: the chain was rewritten from row \
                             {seq} or before"
                        ),
                    );
                    return Ok(report(&walk, p));
                }
            }
        }
        if let Some(p) = walk.step(row) {
            return Ok(report(&walk, Some(p)));
        }
    }
    drop(rows);
    let mut found = walk.finish(&head);
    if let (None, Some(a), false) = (&found, anchor, anchored) {
        let pruned = walk.first.as_ref().is_some_and(|f| a.seq < f.0);
        if !pruned {
            found = problem(
                Some(a.seq),
                Breakage::DeletedRows,
                format!("the anchored row {} is not in the log", a.seq),
            );
        }
    }
    Ok(report(&walk, found))
}

/// Parses `SEQ:HASH` (an anchor).
///
/// # Errors
/// A message when it is not a number, a colon and 64 hex digits.
pub fn parse_anchor(value: &str) -> Result<Head, String> {
    let (seq, hash) = value
        .split_once(':')
        .ok_or_else(|| format!("{value:?} is not SEQ:HASH"))?;
    let seq = seq
        .parse::<i64>()
        .map_err(|_| format!("{seq:?} is not a sequence number"))?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{hash:?} is not a SHA-256 in hex"));
    }
    Ok(Head {
        seq,
        hash: hash.to_ascii_lowercase(),
    })
}
