//! The PostgreSQL side, with the server's own tools: `pg_dump --format=custom` (one consistent
//! snapshot of every schema: the node's tables, the audit chain and its triggers, apalis's
//! queue), `pg_restore` to list the blobs a dump references and to restore it into an empty
//! database. The password of the URL goes to the tools in `PGPASSWORD`, not on their command
//! line (where `ps` would show it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sqlx::postgres::PgConnection;
use sqlx::Connection;
use tokio::process::Command;

use super::BackupError;

fn db_error(what: &str, e: impl std::fmt::Display) -> BackupError {
    BackupError::Database(format!("PostgreSQL: {what}: {e}"))
}

/// `pg_dump`/`pg_restore` from `bin` (a directory such as `/usr/lib/postgresql/15/bin`), else
/// from `PATH`; the URL without its password, the password in `PGPASSWORD`.
fn tool(bin: Option<&Path>, name: &str, url: &str) -> Result<Command, BackupError> {
    let program = bin.map_or_else(|| PathBuf::from(name), |d| d.join(name));
    let mut cmd = Command::new(program);
    let mut parsed = url::Url::parse(url).map_err(|e| db_error("URL", e))?;
    if let Some(password) = parsed.password() {
        let password = percent_decode(password);
        cmd.env("PGPASSWORD", password);
        let _ = parsed.set_password(None);
    }
    cmd.arg(format!("--dbname={parsed}"));
    cmd.stdin(std::process::Stdio::null());
    Ok(cmd)
}

/// `%XX` escapes of a URL's password decoded.
fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Runs a tool; its standard output, or its standard error as the error.
async fn run(mut cmd: Command, what: &str) -> Result<Vec<u8>, BackupError> {
    let out = cmd
        .output()
        .await
        .map_err(|e| db_error(what, format!("cannot start it ({e}); see --pg-bin")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(db_error(what, format!("{}: {}", out.status, err.trim())));
    }
    Ok(out.stdout)
}

/// Writes a `pg_dump --format=custom` archive of the database at `url` to `to`.
///
/// # Errors
/// [`BackupError::Database`] when `pg_dump` fails (unreachable, refused, older than the server).
pub async fn snapshot(url: &str, bin: Option<&Path>, to: &Path) -> Result<(), BackupError> {
    let mut cmd = tool(bin, "pg_dump", url)?;
    cmd.args(["--format=custom", "--compress=6", "--file"])
        .arg(to);
    run(cmd, "pg_dump").await.map(|_| ())
}

/// The SHA-256 of every blob the dump's `blob_refs` rows reference (read with `pg_restore`,
/// no server needed).
///
/// # Errors
/// [`BackupError::Database`] when `pg_restore` cannot read the archive.
pub async fn referenced_blobs(
    bin: Option<&Path>,
    file: &Path,
) -> Result<BTreeSet<String>, BackupError> {
    let program = bin.map_or_else(|| PathBuf::from("pg_restore"), |d| d.join("pg_restore"));
    let mut cmd = Command::new(program);
    cmd.args(["--data-only", "--table=blob_refs", "--file=-"])
        .arg(file);
    let sql = run(cmd, "pg_restore (reading the dump)").await?;
    parse_blob_refs(&String::from_utf8_lossy(&sql))
}

/// The `sha256` column of the `COPY … blob_refs (owner, sha256) FROM stdin;` block of a
/// plain-text dump.
fn parse_blob_refs(sql: &str) -> Result<BTreeSet<String>, BackupError> {
    let mut lines = sql.lines();
    let header = lines
        .by_ref()
        .find(|l| l.starts_with("COPY ") && l.contains("blob_refs (owner, sha256)"))
        .ok_or_else(|| db_error("dump", "it holds no blob_refs table"))?;
    debug_assert!(header.ends_with("FROM stdin;"));
    let mut refs = BTreeSet::new();
    for line in lines.take_while(|l| *l != "\\.") {
        let sha = line
            .split('\t')
            .nth(1)
            .ok_or_else(|| db_error("dump", "a blob_refs row without a sha256"))?;
        refs.insert(sha.to_string());
    }
    Ok(refs)
}

/// Refuses a database that already holds tables (outside PostgreSQL's own schemas).
///
/// # Errors
/// [`BackupError::NotEmpty`] when it does; [`BackupError::Database`] when it cannot be reached.
pub async fn ensure_empty(url: &str) -> Result<(), BackupError> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| db_error("connect", e))?;
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_catalog.pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(|e| db_error("list tables", e))?;
    conn.close().await.map_err(|e| db_error("close", e))?;
    if tables > 0 {
        return Err(BackupError::NotEmpty(format!(
            "the target database holds {tables} tables; restore into an empty database"
        )));
    }
    Ok(())
}

/// Restores the dump `file` into the empty database at `url` in one transaction
/// (`pg_restore --single-transaction --exit-on-error --no-owner --no-privileges`). Comments on
/// extensions are left out: only the extension's owner may set them, and they carry nothing.
///
/// # Errors
/// [`BackupError::Database`] when `pg_restore` fails (nothing is restored then).
pub async fn restore(
    url: &str,
    bin: Option<&Path>,
    file: &Path,
    work: &Path,
) -> Result<(), BackupError> {
    let program = bin.map_or_else(|| PathBuf::from("pg_restore"), |d| d.join("pg_restore"));
    let mut list = Command::new(program);
    list.arg("--list").arg(file);
    let toc = run(list, "pg_restore --list").await?;
    let toc: String = String::from_utf8_lossy(&toc)
        .lines()
        .filter(|l| !l.contains("COMMENT - EXTENSION"))
        .map(|l| format!("{l}\n"))
        .collect();
    let list_file = work.join("restore.list");
    std::fs::write(&list_file, toc).map_err(|e| db_error("restore list", e))?;
    let mut cmd = tool(bin, "pg_restore", url)?;
    cmd.args([
        "--single-transaction",
        "--exit-on-error",
        "--no-owner",
        "--no-privileges",
    ])
    .arg(format!("--use-list={}", list_file.display()))
    .arg(file);
    run(cmd, "pg_restore").await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_refs_are_read_from_a_plain_dump() {
        let sql = "SET x = 1;\nCOPY public.blob_refs (owner, sha256) FROM stdin;\n\
                   dataset:a\taa\nmodel:b\tbb\njob:c\taa\n\\.\n\nCOPY public.other (a) FROM stdin;\nzz\n\\.\n";
        let refs = parse_blob_refs(sql).expect("parsed");
        assert_eq!(refs.into_iter().collect::<Vec<_>>(), ["aa", "bb"]);
        assert!(parse_blob_refs("SET x = 1;\n").is_err());
    }

    #[test]
    fn a_password_is_decoded() {
        assert_eq!(percent_decode("p%40ss%2Fw+rd"), "p@ss/w+rd");
    }
}
