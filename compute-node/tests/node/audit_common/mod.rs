//! Helpers of the audit tests: the `more-node audit` commands, the `sqlite3` and `psql` command
//! lines (how an operator or intruder with database access would change the log), and a forger
//! who knows the chain's hash.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

pub use crate::server_common::process::more_node;

/// `--data-dir DIR` (and `--db URL`) for the CLI.
pub fn db_args(dir: &Path, db: Option<&str>) -> Vec<String> {
    let mut v = vec!["--data-dir".to_string(), dir.display().to_string()];
    if let Some(url) = db {
        v.push("--db".into());
        v.push(url.into());
    }
    v
}

fn with(command: &[&str], db: &[String]) -> Vec<String> {
    command
        .iter()
        .map(|s| s.to_string())
        .chain(db.iter().cloned())
        .collect()
}

/// `audit verify`: (exit success, stdout).
pub fn verify(db: &[String], extra: &[&str]) -> (bool, String) {
    let mut args = with(&["audit", "verify"], db);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = more_node(&refs);
    (ok, format!("{out}{err}"))
}

/// `audit export`, parsed.
pub fn export(db: &[String]) -> Vec<Value> {
    let args = with(&["audit", "export"], db);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = more_node(&refs);
    assert!(ok, "export: {err}");
    out.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Asserts that verify fails with `breakage` at `seq` (e.g. `"seq 3"`).
pub fn assert_broken(db: &[String], breakage: &str, at: &str) {
    let (ok, out) = verify(db, &[]);
    assert!(!ok, "verify passed a tampered log: {out}");
    assert!(
        out.contains(&format!("BROKEN at {at}: {breakage}")),
        "expected {breakage} at {at}: {out}"
    );
}

/// Runs SQL with the `sqlite3` command line on the node's database file.
pub fn sqlite3(db: &Path, sql: &str) -> String {
    // Waits for the lock like the node does (a stopped node's connections close in the
    // background).
    let out = Command::new("sqlite3")
        .args(["-cmd", ".timeout 10000"])
        .arg(db)
        .arg(sql)
        .output()
        .expect("the sqlite3 command line (apt install sqlite3)");
    assert!(
        out.status.success(),
        "sqlite3 {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn psql_output(url: &str, sql: &str) -> std::process::Output {
    let exe = ["/usr/lib/postgresql/15/bin/psql", "/usr/bin/psql"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("psql");
    Command::new(exe)
        .args([
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .expect("psql")
}

/// Runs SQL with `psql` on `url` that must fail: its error output.
pub fn psql_refused(url: &str, sql: &str) -> String {
    let out = psql_output(url, sql);
    assert!(!out.status.success(), "psql {sql} was taken");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs SQL with `psql` on `url`.
pub fn psql(url: &str, sql: &str) -> String {
    let out = psql_output(url, sql);
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// SQL text literal.
pub fn lit(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => panic!("not a column value: {other}"),
    }
}

/// The chain's fields of an exported row, with `at_micros` as stored.
pub fn fields(row: &Value, at_micros: i64) -> more_server::audit::chain::Fields {
    let s = |k: &str| row[k].as_str().map(str::to_string);
    more_server::audit::chain::Fields {
        id: format!("{:032x}", rand_id(row)),
        at_micros,
        kind: s("kind").unwrap(),
        tenant: s("tenant"),
        subject: s("subject"),
        auth_method: s("auth_method"),
        method: s("method").unwrap(),
        route: s("route").unwrap(),
        object_id: s("object_id"),
        status: row["status"].as_i64().unwrap() as i32,
        request_id: s("request_id").unwrap(),
        client_request_id: s("client_request_id"),
        peer: s("peer"),
        count: row["count"].as_i64().unwrap(),
        detail: s("detail"),
    }
}

fn rand_id(row: &Value) -> u128 {
    // A new id for a forged copy, derived from the copied row's seq.
    0xf0f0_0000_0000_0000_0000_0000_0000_0000 + row["seq"].as_i64().unwrap_or(0) as u128
}

/// An INSERT of `f` at `seq` after `prev` with hash `hash` (the columns the node writes).
pub fn insert_sql(
    f: &more_server::audit::chain::Fields,
    seq: i64,
    prev: &str,
    hash: &str,
) -> String {
    let t = |v: &Option<String>| {
        v.as_ref()
            .map_or("NULL".into(), |s| lit(&Value::from(s.as_str())))
    };
    format!(
        "INSERT INTO audit_log ({}) VALUES ('{}', {}, '{}', {}, {}, {}, '{}', '{}', {}, {}, '{}', {}, {}, {}, {}, {seq}, '{prev}', '{hash}')",
        more_server::audit::chain::COLUMNS,
        f.id,
        f.at_micros,
        f.kind,
        t(&f.tenant),
        t(&f.subject),
        t(&f.auth_method),
        f.method,
        f.route,
        t(&f.object_id),
        f.status,
        f.request_id,
        t(&f.client_request_id),
        t(&f.peer),
        f.count,
        t(&f.detail),
    )
}
