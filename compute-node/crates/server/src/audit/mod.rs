//! The append-only audit log: who (tenant, subject), what (method, route, object id), when and
//! with which result, one row per `/v1` request that touches a tenant's data or fails to
//! authenticate (written by [`crate::auth::authenticate`]). The node only inserts; triggers made
//! at start-up ([`make_append_only`]) refuse updates and deletes, also from other clients of the
//! database. `more-node audit export` writes it out for auditors.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::{HttpMessage, HttpRequest};
use serde::Serialize;
use sqlx::Row;

use crate::auth::Caller;
use crate::db::{db_error, Db};
use crate::error::ApiResult;
use crate::records::new_id;

/// One audited request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// When the answer was sent, RFC 3339 UTC with microseconds.
    pub at: String,
    /// The caller's tenant (none when authentication failed).
    pub tenant: Option<String>,
    /// The caller (`apikey:{id}`, the token's `sub`, `anonymous`; none when authentication
    /// failed).
    pub subject: Option<String>,
    /// `api_key`, `oidc` or `anonymous`.
    pub auth_method: Option<String>,
    /// HTTP method.
    pub method: String,
    /// The route (`/v1/datasets/{id}`), or the path when no route matched.
    pub route: String,
    /// The object the request named or created.
    pub object_id: Option<String>,
    /// HTTP status of the answer.
    pub status: u16,
    /// The request's id (`X-Request-Id`, and on the node's log lines).
    pub request_id: String,
}

/// The id of an object a request created, for its audit entry (set by the create handlers).
#[derive(Clone, Debug)]
pub struct CreatedObject(pub String);

/// Notes the id of the object `req` created.
pub fn created(req: &HttpRequest, id: &str) {
    req.extensions_mut().insert(CreatedObject(id.to_string()));
}

/// Appends the entry of an answered request. A failed write is logged as an error (the request
/// has already taken effect).
pub async fn record(db: &Db, caller: Option<&Caller>, response: &ServiceResponse<BoxBody>) {
    let req = response.request();
    let pattern = req.match_pattern();
    let object_id = req
        .extensions()
        .get::<CreatedObject>()
        .map(|c| c.0.clone())
        .or_else(|| pattern.as_deref().and_then(|p| path_id(p, req.path())));
    let route = pattern.unwrap_or_else(|| req.path().chars().take(200).collect());
    let written = sqlx::query(
        "INSERT INTO audit_log (id, at_micros, tenant, subject, auth_method, method, route, \
         object_id, status, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(new_id())
    .bind(now_micros())
    .bind(caller.map(|c| c.tenant.clone()))
    .bind(caller.map(|c| c.subject.clone()))
    .bind(caller.map(|c| c.method.as_str()))
    .bind(req.method().as_str().to_string())
    .bind(route)
    .bind(object_id)
    .bind(i32::from(response.status().as_u16()))
    .bind(crate::request_id::current().unwrap_or_default())
    .execute(db.pool())
    .await;
    if let Err(e) = written {
        tracing::error!(error = %e, "audit log write failed");
    }
}

/// The path segment in the place of `{id}` in `pattern` (at most 64 characters), if any.
fn path_id(pattern: &str, path: &str) -> Option<String> {
    pattern
        .split('/')
        .zip(path.split('/'))
        .find(|(p, _)| *p == "{id}")
        .map(|(_, id)| id.chars().take(64).collect())
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Creates the triggers that refuse `UPDATE` and `DELETE` on `audit_log` (and `TRUNCATE` on
/// PostgreSQL), unless they exist.
///
/// # Errors
/// When the database refuses to create them.
pub async fn make_append_only(db: &Db) -> anyhow::Result<()> {
    let statements: &[&str] = if db.is_postgres() {
        &[
            "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql \
             AS $$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
            "CREATE OR REPLACE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
            "CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log \
             FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
        ]
    } else {
        &[
            "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
            "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
        ]
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

async fn triggers_present(db: &Db) -> bool {
    sqlx::query("SELECT COUNT(*) AS n FROM pg_trigger WHERE tgname LIKE 'audit_log_no_%'")
        .fetch_one(db.pool())
        .await
        .and_then(|r| r.try_get::<i64, _>("n"))
        .is_ok_and(|n| n == 2)
}

/// The entries of `tenant` (every tenant's when `None`) from `since` on, oldest first.
///
/// # Errors
/// 500 on a database error.
pub async fn export(
    db: &Db,
    tenant: Option<&str>,
    since: Option<SystemTime>,
) -> ApiResult<Vec<AuditEntry>> {
    let since = since
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_micros() as i64);
    let sql = match tenant {
        Some(_) => {
            "SELECT * FROM audit_log WHERE at_micros >= $1 AND tenant = $2 ORDER BY at_micros, id"
        }
        None => "SELECT * FROM audit_log WHERE at_micros >= $1 ORDER BY at_micros, id",
    };
    let mut query = sqlx::query(sql).bind(since);
    if let Some(t) = tenant {
        query = query.bind(t);
    }
    query
        .fetch_all(db.pool())
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| entry(row).map_err(db_error))
        .collect()
}

fn entry(row: &sqlx::any::AnyRow) -> Result<AuditEntry, sqlx::Error> {
    let micros: i64 = row.try_get("at_micros")?;
    let at = UNIX_EPOCH + Duration::from_micros(micros.max(0) as u64);
    Ok(AuditEntry {
        at: humantime::format_rfc3339_micros(at).to_string(),
        tenant: row.try_get("tenant")?,
        subject: row.try_get("subject")?,
        auth_method: row.try_get("auth_method")?,
        method: row.try_get("method")?,
        route: row.try_get("route")?,
        object_id: row.try_get("object_id")?,
        status: row.try_get::<i32, _>("status")? as u16,
        request_id: row.try_get("request_id")?,
    })
}
