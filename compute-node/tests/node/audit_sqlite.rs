//! The audit log's hash chain on SQLite, changed the way an intruder with the database file
//! would change it (the `sqlite3` command line): `more-node audit verify` finds a forged insert,
//! a deleted row and a rewritten row, and with an anchored head even a rewrite of the whole
//! chain after a row; a restart that finds the append-only triggers dropped says so; `audit
//! prune` leaves a chain that verifies.

use crate::audit_common;

use std::path::Path;

use crate::audit_common::{assert_broken, db_args, export, fields, insert_sql, sqlite3, verify};
use crate::server_common::process::{NodeConfig, NodeProcess};
use crate::server_common::{settings, start};
use more_server::audit::chain;

/// A data dir whose log holds the chain's start and `n` requests (a node ran and stopped).
fn logged(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    for _ in 0..n {
        assert_eq!(srv.get_json("/v1/models").0, 200);
    }
    srv.stop();
    dir
}

fn db_file(dir: &Path) -> std::path::PathBuf {
    dir.join("more.db")
}

#[test]
fn verify_accepts_the_chain_the_node_wrote() {
    let dir = logged(5);
    let db = db_args(dir.path(), None);
    let (ok, out) = verify(&db, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("6 rows verified (seq 1 to 6)"), "{out}");
    let rows = export(&db);
    assert_eq!(rows.len(), 6);
    assert_eq!(
        rows[0]["kind"], "notice",
        "the chain starts with the node's notice"
    );
    assert_eq!(rows[0]["prev_hash"], chain::START);
    for pair in rows.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["row_hash"]);
        assert_eq!(
            pair[1]["seq"].as_i64().unwrap(),
            pair[0]["seq"].as_i64().unwrap() + 1
        );
    }
    let head = rows[5]["row_hash"].as_str().unwrap();
    assert!(out.contains(&format!("head 6:{head}")), "{out}");
}

#[test]
fn rows_from_before_the_chain_are_chained_once_at_the_first_start() {
    // A database as the previous release left it: rows without seq or hashes, the head at 0.
    let dir = logged(3);
    let file = db_file(dir.path());
    sqlite3(
        &file,
        "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; \
         DELETE FROM audit_log WHERE kind = 'notice'; \
         UPDATE audit_log SET seq = NULL, prev_hash = NULL, row_hash = NULL; \
         UPDATE audit_head SET seq = 0, row_hash = '0000000000000000000000000000000000000000000000000000000000000000'",
    );
    let srv = start(settings(dir.path()));
    assert_eq!(srv.get_json("/v1/models").0, 200);
    srv.stop();
    let db = db_args(dir.path(), None);
    let (ok, out) = verify(&db, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("5 rows verified (seq 1 to 5)"), "{out}");
    let rows = export(&db);
    assert_eq!(rows[3]["kind"], "notice");
    assert!(rows[3]["detail"]
        .as_str()
        .unwrap()
        .contains("3 earlier rows chained"));
    // Once: a row without seq afterwards is not taken into the chain by a restart.
    sqlite3(
        &file,
        "INSERT INTO audit_log (id, at_micros, method, route, status, request_id) \
         VALUES ('f00d', 1, 'GET', '/v1/models', 200, 'x')",
    );
    start(settings(dir.path())).stop();
    assert_broken(&db, "forged insert", "a row without seq");
}

#[test]
fn a_forged_insert_is_found() {
    // Naive: a row in the node's format but without a place in the chain.
    let dir = logged(3);
    let db = db_args(dir.path(), None);
    sqlite3(
        &db_file(dir.path()),
        "INSERT INTO audit_log (id, at_micros, method, route, status, request_id) \
         VALUES ('f00d', 1, 'DELETE', '/v1/models/{id}', 204, 'x')",
    );
    assert_broken(&db, "forged insert", "a row without seq");

    // A forger who knows the hash: a well-formed row after the last one.
    let dir = logged(3);
    let db = db_args(dir.path(), None);
    let rows = export(&db);
    let last = rows.last().unwrap();
    let forged = chain::Fields {
        method: "DELETE".into(),
        status: 204,
        ..fields(last, 1)
    };
    let prev = last["row_hash"].as_str().unwrap();
    let seq = last["seq"].as_i64().unwrap() + 1;
    let hash = chain::hash(seq, prev, &forged);
    sqlite3(&db_file(dir.path()), &insert_sql(&forged, seq, prev, &hash));
    assert_broken(&db, "forged insert", &format!("seq {seq}"));
}

#[test]
fn a_deleted_row_is_found() {
    let dir = logged(5);
    let db = db_args(dir.path(), None);
    let file = db_file(dir.path());
    // The trigger holds as long as it exists.
    let refused = std::process::Command::new("sqlite3")
        .args(["-cmd", ".timeout 10000"])
        .arg(&file)
        .arg("DELETE FROM audit_log WHERE seq = 3")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("append-only"));
    sqlite3(
        &file,
        "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 3",
    );
    assert_broken(&db, "deleted rows", "seq 3");

    // The newest row, the oldest rows: found against the head and the start.
    let dir = logged(5);
    let db = db_args(dir.path(), None);
    sqlite3(
        &db_file(dir.path()),
        "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 6",
    );
    assert_broken(&db, "deleted rows", "seq 6");
    let dir = logged(5);
    let db = db_args(dir.path(), None);
    sqlite3(
        &db_file(dir.path()),
        "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq <= 2",
    );
    assert_broken(&db, "deleted rows", "seq 1");
}

#[test]
fn a_rewritten_row_is_found() {
    let dir = logged(5);
    let db = db_args(dir.path(), None);
    sqlite3(
        &db_file(dir.path()),
        "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET status = 404 WHERE seq = 2",
    );
    assert_broken(&db, "rewritten row", "seq 2");
}

#[test]
fn a_rewrite_of_the_whole_chain_after_a_row_is_found_only_with_an_anchor() {
    let dir = logged(4);
    let db = db_args(dir.path(), None);
    let rows = export(&db);
    let anchor = format!("{}:{}", 5, rows[4]["row_hash"].as_str().unwrap());
    let (ok, out) = verify(&db, &["--anchor", &anchor]);
    assert!(ok, "{out}");
    // Rewrite row 3 and re-hash it, every row after it and the head: self-consistent.
    let file = db_file(dir.path());
    let mut prev = rows[1]["row_hash"].as_str().unwrap().to_string();
    let mut sql = String::from("DROP TRIGGER audit_log_no_update; ");
    for row in &rows[2..] {
        let seq = row["seq"].as_i64().unwrap();
        let at: i64 = sqlite3(
            &file,
            &format!("SELECT at_micros FROM audit_log WHERE seq = {seq}"),
        )
        .parse()
        .unwrap();
        let mut f = fields(row, at);
        f.id = sqlite3(
            &file,
            &format!("SELECT id FROM audit_log WHERE seq = {seq}"),
        );
        if seq == 3 {
            f.status = 500;
        }
        let hash = chain::hash(seq, &prev, &f);
        sql.push_str(&format!(
            "UPDATE audit_log SET status = {}, prev_hash = '{prev}', row_hash = '{hash}' WHERE seq = {seq}; ",
            f.status
        ));
        prev = hash;
    }
    sql.push_str(&format!(
        "UPDATE audit_head SET row_hash = '{prev}' WHERE id = 1;"
    ));
    sqlite3(&file, &sql);
    let (ok, out) = verify(&db, &[]);
    assert!(ok, "without an anchor the rewrite cannot be told: {out}");
    let (ok, out) = verify(&db, &["--anchor", &anchor]);
    assert!(!ok, "{out}");
    assert!(out.contains("BROKEN at seq 5: rewritten row"), "{out}");
}

#[test]
fn a_restart_remakes_dropped_triggers_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = NodeConfig::new(dir.path());
    let node = NodeProcess::start(&config);
    assert_eq!(node.get_json("/v1/models").0, 200);
    let log = node.log_text();
    assert!(log.contains("audit head"), "the head at start-up: {log}");
    node.terminate();
    let file = db_file(dir.path());
    sqlite3(
        &file,
        "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete",
    );
    let node = NodeProcess::start(&config);
    let log = node.log_text();
    assert!(
        log.contains("append-only triggers were missing"),
        "a warning: {log}"
    );
    node.terminate();
    assert_eq!(
        sqlite3(
            &file,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit_log_no_%'"
        ),
        "2"
    );
    let db = db_args(dir.path(), None);
    let notices: Vec<_> = export(&db)
        .into_iter()
        .filter(|r| r["kind"] == "notice")
        .collect();
    assert!(
        notices.iter().any(|r| r["detail"]
            .as_str()
            .unwrap()
            .contains("triggers were missing")),
        "a notice in the chain: {notices:?}"
    );
    let (ok, out) = verify(&db, &[]);
    assert!(ok, "{out}");
}

#[test]
fn prune_leaves_a_chain_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    for _ in 0..4 {
        srv.get_json("/v1/models");
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    let cut = rfc3339_now();
    std::thread::sleep(std::time::Duration::from_millis(20));
    for _ in 0..3 {
        srv.get_json("/v1/datasets");
    }
    srv.stop();
    let db = db_args(dir.path(), None);
    let mut args = vec!["audit", "prune", "--before", &cut];
    let dbr: Vec<&str> = db.iter().map(String::as_str).collect();
    args.extend(&dbr);
    let (ok, out, err) = audit_common::more_node(&args);
    assert!(ok, "{err}");
    assert!(out.contains("pruned 5 rows (through seq 5)"), "{out}");
    let (ok, out) = verify(&db, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("4 rows verified (seq 6 to 9)"), "{out}");
    let rows = export(&db);
    let checkpoint = rows.last().unwrap();
    assert_eq!(checkpoint["kind"], "checkpoint");
    assert_eq!(checkpoint["count"], 5);
    // Everything, the checkpoint included: a chain of one checkpoint still verifies.
    let mut all = vec!["audit", "prune", "--before", "2999-01-01T00:00:00Z"];
    all.extend(&dbr);
    assert!(audit_common::more_node(&all).0);
    let (ok, out) = verify(&db, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("1 rows verified (seq 10 to 10)"), "{out}");
    // A deletion beyond what the checkpoint accounts for is still found.
    let dir = logged(5);
    let db = db_args(dir.path(), None);
    let mut args = vec!["audit", "prune", "--before", "2999-01-01T00:00:00Z"];
    let dbr: Vec<&str> = db.iter().map(String::as_str).collect();
    args.extend(&dbr);
    assert!(audit_common::more_node(&args).0);
    let srv = start(settings(dir.path()));
    for _ in 0..3 {
        srv.get_json("/v1/models");
    }
    srv.stop();
    // Seq 7 is the checkpoint; without it nothing accounts for rows 1 to 6.
    sqlite3(
        &db_file(dir.path()),
        "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 7",
    );
    assert_broken(&db, "deleted rows", "seq 1");
}

/// Now, RFC 3339 UTC with microseconds (what `--before` takes).
fn rfc3339_now() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.%6NZ"])
        .output()
        .expect("date");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
