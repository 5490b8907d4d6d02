//! What one audit row costs on SQLite (WAL, `synchronous = FULL`, as the node opens it): the
//! plain one-statement INSERT the node wrote before the hash chain, and the chained append (the
//! head row locked and moved, the SHA-256 link, the INSERT: one transaction, one commit), each
//! `ROWS` times into the same file. Prints the median and p95 in microseconds.
//!
//! `cargo run --release -p more-server --example audit_insert_cost -- [ROWS]` (default 2000).

use std::time::Instant;

use more_server::audit::{self, chain::Kind, store};
use more_server::db::Db;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("rows"))
        .unwrap_or(2000);
    let dir = std::env::temp_dir().join(format!("audit-insert-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}?mode=rwc", dir.join("more.db").display());
    let db = Db::connect(&url).await?;
    audit::prepare(&db, "bench").await?;
    // The same file through a second pool with the node's settings, for the plain INSERT.
    let plain = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            url.parse::<sqlx::sqlite::SqliteConnectOptions>()?
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full),
        )
        .await?;
    sqlx::query(
        "CREATE TABLE plain_log (id TEXT PRIMARY KEY, at_micros BIGINT NOT NULL, tenant TEXT, \
         subject TEXT, auth_method TEXT, method TEXT NOT NULL, route TEXT NOT NULL, \
         object_id TEXT, status INTEGER NOT NULL, request_id TEXT NOT NULL)",
    )
    .execute(&plain)
    .await?;
    let row = || audit::own_row("bench", Kind::Request, "GET", "/v1/models", "x".into());
    let mut before = Vec::with_capacity(rows);
    for _ in 0..rows {
        let f = row();
        let t = Instant::now();
        sqlx::query(
            "INSERT INTO plain_log (id, at_micros, tenant, subject, auth_method, method, route, \
             object_id, status, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&f.id)
        .bind(f.at_micros)
        .bind(&f.tenant)
        .bind(&f.subject)
        .bind(&f.auth_method)
        .bind(&f.method)
        .bind(&f.route)
        .bind(&f.object_id)
        .bind(f.status)
        .bind(&f.request_id)
        .execute(&plain)
        .await?;
        before.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let mut after = Vec::with_capacity(rows);
    for _ in 0..rows {
        let f = row();
        let t = Instant::now();
        store::append(&db, &f).await?;
        after.push(t.elapsed().as_secs_f64() * 1e6);
    }
    println!(
        "{rows} rows: plain INSERT median {:.0} us p95 {:.0} us; chained append median {:.0} us \
         p95 {:.0} us",
        percentile(&before, 0.5),
        percentile(&before, 0.95),
        percentile(&after, 0.5),
        percentile(&after, 0.95)
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}
