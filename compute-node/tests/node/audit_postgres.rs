//! The audit log's hash chain on PostgreSQL (a throwaway server of the test), changed with
//! `psql` the way a database user would: `more-node audit verify` finds a forged insert, a
//! deleted row and a rewritten row; two nodes writing at once keep one linear chain; `audit
//! prune` leaves a chain that verifies.

use crate::audit_common;

use crate::audit_common::{assert_broken, db_args, export, psql, psql_refused, verify};
use crate::server_common::{settings, start, TestServer};
use crate::services::Postgres;

/// A database of its own on `pg` for one case: its URL.
fn database(pg: &Postgres, name: &str) -> String {
    psql(&pg.url(), &format!("CREATE DATABASE {name}"));
    let url = pg.url();
    let base = url.rsplit_once('/').expect("a database in the URL").0;
    format!("{base}/{name}")
}

fn node(dir: &std::path::Path, url: &str) -> TestServer {
    start(more_server::Settings {
        db_url: Some(url.to_string()),
        ..settings(dir)
    })
}

/// A database whose log holds the chain's start and `n` requests.
fn logged(pg: &Postgres, name: &str, n: usize) -> (tempfile::TempDir, String) {
    let url = database(pg, name);
    let dir = tempfile::tempdir().unwrap();
    let srv = node(dir.path(), &url);
    for _ in 0..n {
        assert_eq!(srv.get_json("/v1/models").0, 200);
    }
    srv.stop();
    (dir, url)
}

#[test]
fn verify_finds_what_psql_changed() {
    let Some(pg) = Postgres::start() else {
        return;
    };

    let (dir, url) = logged(&pg, "intact", 4);
    let db = db_args(dir.path(), Some(&url));
    let (ok, out) = verify(&db, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("5 rows verified (seq 1 to 5)"), "{out}");
    // The triggers refuse changes from other clients.
    for sql in [
        "UPDATE audit_log SET status = 200",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        assert!(psql_refused(&url, sql).contains("append-only"), "{sql}");
    }

    let (dir, url) = logged(&pg, "forged", 4);
    psql(
        &url,
        "INSERT INTO audit_log (id, at_micros, method, route, status, request_id) \
         VALUES ('f00d', 1, 'DELETE', '/v1/models/{id}', 204, 'x')",
    );
    assert_broken(
        &db_args(dir.path(), Some(&url)),
        "forged insert",
        "a row without seq",
    );

    let (dir, url) = logged(&pg, "deleted", 4);
    psql(
        &url,
        "DROP TRIGGER audit_log_no_change ON audit_log; DELETE FROM audit_log WHERE seq = 3",
    );
    assert_broken(&db_args(dir.path(), Some(&url)), "deleted rows", "seq 3");

    let (dir, url) = logged(&pg, "rewritten", 4);
    psql(
        &url,
        "ALTER TABLE audit_log DISABLE TRIGGER USER; \
         UPDATE audit_log SET subject = 'apikey:someone-else' WHERE seq = 4",
    );
    assert_broken(&db_args(dir.path(), Some(&url)), "rewritten row", "seq 4");
}

#[test]
fn two_nodes_keep_one_chain_and_prune_keeps_it_verifiable() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let url = database(&pg, "shared");
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let nodes: Vec<TestServer> = dirs.iter().map(|d| node(d.path(), &url)).collect();
    let db = db_args(dirs[0].path(), Some(&url));
    std::thread::scope(|s| {
        for srv in &nodes {
            for _ in 0..2 {
                s.spawn(move || {
                    for _ in 0..25 {
                        assert_eq!(srv.get_json("/v1/models").0, 200);
                    }
                });
            }
        }
        // While both nodes append: one snapshot, no false alarm.
        for _ in 0..3 {
            let (ok, out) = verify(&db, &[]);
            assert!(ok, "verify during appends: {out}");
        }
    });
    for srv in nodes {
        srv.stop();
    }
    let (ok, out) = verify(&db, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("101 rows verified (seq 1 to 101)"), "{out}");
    let rows = export(&db);
    let mut prefixes: Vec<&str> = rows
        .iter()
        .filter(|r| r["kind"] == "request")
        .map(|r| {
            r["request_id"]
                .as_str()
                .unwrap()
                .rsplit_once('-')
                .unwrap()
                .0
        })
        .collect();
    prefixes.sort();
    prefixes.dedup();
    assert_eq!(
        prefixes.len(),
        2,
        "each node's ids carry its name: {prefixes:?}"
    );

    let cut = rows[60]["at"].as_str().unwrap().to_string();
    let mut args = vec!["audit", "prune", "--before", &cut];
    let dbr: Vec<&str> = db.iter().map(String::as_str).collect();
    args.extend(&dbr);
    let (ok, out, err) = audit_common::more_node(&args);
    assert!(ok, "{err}");
    // "pruned N rows (through seq S)": a prefix of the chain (two nodes' clocks may interleave).
    let through: i64 = out
        .split("through seq ")
        .nth(1)
        .and_then(|t| t.split(')').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!((40..=61).contains(&through), "{out}");
    assert!(out.contains(&format!("pruned {through} rows")), "{out}");
    let (ok, out) = verify(&db, &[]);
    assert!(ok, "{out}");
    let expected = format!(
        "{} rows verified (seq {} to 102)",
        102 - through,
        through + 1
    );
    assert!(out.contains(&expected), "{out}");
    // The triggers are back after the prune.
    assert!(psql_refused(&url, "DELETE FROM audit_log WHERE seq = 70").contains("append-only"));
}
