//! The audit log: who (tenant, subject), from where (peer), what (method, route, object id),
//! when and with which result, one row per `/v1` request that touches a tenant's data, fails to
//! authenticate or is refused by the Host/Origin guard (written by [`crate::auth::authenticate`]
//! and [`crate::guard::same_site`] through an [`Auditor`]).
//!
//! Tamper-evident: the rows form a hash chain ([`chain`]; appended under a lock, [`store`]), so
//! `more-node audit verify` ([`verify`]) finds a row inserted, deleted or changed by anyone but
//! the node, unless the whole chain after it was rewritten too; the node logs the head (seq and
//! hash) at start-up, every 10 minutes and at shutdown so that an operator can keep it elsewhere
//! and catch that as well (`verify --anchor`). Triggers refuse UPDATE and DELETE from other
//! clients; a start that finds them gone says so in the log and in the chain. Refusals of
//! unidentified callers are aggregated per peer ([`refusals`]); `audit prune` ([`prune`])
//! removes old rows and leaves a checkpoint. `more-node audit export` writes it out for
//! auditors.

pub mod chain;
pub mod peer;
pub mod prune;
pub mod refusals;
pub mod store;
pub mod verify;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServiceResponse;
use actix_web::{HttpMessage, HttpRequest};
use ipnet::IpNet;
use serde::Serialize;

use crate::auth::Caller;
use crate::db::Db;
use crate::error::{db_error, ApiResult};
use crate::records::new_id;
use chain::{Fields, Kind};
use refusals::{Decision, Refusals};

/// How often a running node logs the head of the chain.
pub const HEAD_LOG_INTERVAL: Duration = Duration::from_secs(600);

/// Longest refusal reason kept in a row, characters.
const MAX_DETAIL: usize = 200;

/// One row of the log, as exported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Its place in the chain, from 1.
    pub seq: Option<i64>,
    /// The hash of the row before it (64 zeros for the first).
    pub prev_hash: Option<String>,
    /// Its hash ([`chain::hash`]).
    pub row_hash: Option<String>,
    /// `request`, `notice` (an event of the node) or `checkpoint` (written by `audit prune`).
    pub kind: String,
    /// When the answer was sent, RFC 3339 UTC with microseconds.
    pub at: String,
    /// The caller's tenant (none when authentication failed).
    pub tenant: Option<String>,
    /// The caller (`apikey:{id}`, `oidc:{sub}`, `anonymous`; none when authentication failed).
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
    /// The node's id of the request (`{node}-{16 hex digits}`, in `X-Request-Id` and the logs).
    pub request_id: String,
    /// The `X-Request-Id` the client sent, if any.
    pub client_request_id: Option<String>,
    /// The client's address (`X-Forwarded-For` only from `--trusted-proxy` peers).
    pub peer: Option<String>,
    /// How many requests the row stands for (repeated refusals of one peer are aggregated).
    pub count: i64,
    /// A refusal's reason, a notice's text, a checkpoint's JSON.
    pub detail: Option<String>,
}

/// The id of an object a request created, for its audit entry (set by the create handlers).
#[derive(Clone, Debug)]
pub struct CreatedObject(pub String);

/// Notes the id of the object `req` created.
pub fn created(req: &HttpRequest, id: &str) {
    req.extensions_mut().insert(CreatedObject(id.to_string()));
}

/// What a handler adds to its request's audit entry (e.g. the tenants a secure model is granted
/// to), kept in the row's `detail` up to [`MAX_HANDLER_DETAIL`] characters.
#[derive(Clone, Debug)]
pub struct Detail(pub String);

/// Longest detail a handler adds to its row, characters (64 grantee names of 64 characters).
pub const MAX_HANDLER_DETAIL: usize = 4400;

/// Notes `text` for the audit entry of `req` (a refusal's reason takes its place).
pub fn detail(req: &HttpRequest, text: &str) {
    let text = text.chars().take(MAX_HANDLER_DETAIL).collect();
    req.extensions_mut().insert(Detail(text));
}

/// The node's writer of audit rows.
#[derive(Clone)]
pub struct Auditor {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    node: String,
    trusted: Vec<IpNet>,
    refusals: Mutex<Refusals>,
    /// One append at a time from this node (no SQLite busy-waits between its own writers).
    writing: tokio::sync::Mutex<()>,
}

impl Auditor {
    /// Writes to `db` for the node `node`; `X-Forwarded-For` is believed from `trusted` peers
    /// only; refusals of unidentified callers are aggregated per peer over `refusal_window`
    /// (zero: each is written).
    pub fn new(db: Db, node: &str, trusted: Vec<IpNet>, refusal_window: Duration) -> Self {
        Auditor {
            inner: Arc::new(Inner {
                db,
                node: node.to_string(),
                trusted,
                refusals: Mutex::new(Refusals::new(refusal_window)),
                writing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Appends the entry of an answered request of `caller` (`None`: not identified), with the
    /// refusal's `reason`. A refusal of an unidentified caller may only be counted (see
    /// [`refusals`]). A failed write is logged as an error (the request has taken effect).
    pub async fn record<B>(
        &self,
        caller: Option<&Caller>,
        response: &ServiceResponse<B>,
        reason: Option<&str>,
    ) {
        let status = response.status().as_u16();
        let fields = self.fields(caller, response.request(), status, reason);
        if caller.is_none() && matches!(status, 401 | 403) {
            let decision = self
                .inner
                .refusals
                .lock()
                .map(|mut r| r.note(&fields, Instant::now()))
                .unwrap_or(Decision::Write);
            if decision == Decision::Counted {
                return;
            }
        }
        self.write(&fields).await;
    }

    fn fields(
        &self,
        caller: Option<&Caller>,
        req: &HttpRequest,
        status: u16,
        reason: Option<&str>,
    ) -> Fields {
        let pattern = req.match_pattern();
        let object_id = req
            .extensions()
            .get::<CreatedObject>()
            .map(|c| c.0.clone())
            .or_else(|| pattern.as_deref().and_then(|p| path_id(p, req.path())));
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let peer = peer::client(
            req.peer_addr().map(|a| a.ip()),
            forwarded,
            &self.inner.trusted,
        );
        Fields {
            id: new_id(),
            at_micros: now_micros(),
            kind: Kind::Request.as_str().into(),
            tenant: caller.map(|c| c.tenant.clone()),
            subject: caller.map(|c| c.subject.clone()),
            auth_method: caller.map(|c| c.method.as_str().to_string()),
            method: req.method().as_str().to_string(),
            route: pattern.unwrap_or_else(|| req.path().chars().take(200).collect()),
            object_id,
            status: i32::from(status),
            request_id: crate::request_id::current()
                .unwrap_or_else(|| crate::request_id::fresh(&self.inner.node)),
            client_request_id: crate::request_id::client(),
            peer: peer.map(|ip| ip.to_string()),
            count: 1,
            detail: reason
                .map(|r| r.chars().take(MAX_DETAIL).collect())
                .or_else(|| req.extensions().get::<Detail>().map(|d| d.0.clone())),
        }
    }

    async fn write(&self, fields: &Fields) {
        let _turn = self.inner.writing.lock().await;
        if let Err(e) = store::append(&self.inner.db, fields).await {
            tracing::error!(error = %e, "audit log write failed");
        }
    }

    /// Writes the aggregated rows of the refusal windows that ended.
    pub async fn flush_due(&self) {
        let rows = self
            .inner
            .refusals
            .lock()
            .map(|mut r| r.due(Instant::now()))
            .unwrap_or_default();
        for row in rows {
            self.write(&row).await;
        }
    }

    /// At shutdown: writes every open refusal window and logs the head.
    pub async fn shutdown(&self) {
        let rows = self
            .inner
            .refusals
            .lock()
            .map(|mut r| r.drain())
            .unwrap_or_default();
        for row in rows {
            self.write(&row).await;
        }
        log_head(&self.inner.db, "shutdown").await;
    }

    /// Flushes ended refusal windows every second and logs the head every `head_every` (and
    /// once now), until aborted.
    pub fn spawn_maintenance(&self, head_every: Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            log_head(&me.inner.db, "start-up").await;
            let mut logged = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                me.flush_due().await;
                if logged.elapsed() >= head_every {
                    log_head(&me.inner.db, "periodic").await;
                    logged = Instant::now();
                }
            }
        })
    }
}

/// Logs `audit head seq=… hash=…` (info): the value to keep elsewhere and give to
/// `audit verify --anchor SEQ:HASH`.
pub async fn log_head(db: &Db, when: &str) {
    match store::head(db).await {
        Ok(h) => tracing::info!(when, seq = h.seq, hash = %h.hash, "audit head"),
        Err(e) => tracing::error!(error = %e, "cannot read the audit head"),
    }
}

/// A row of the node (or the operator's CLI) itself, not of a request.
pub fn own_row(node: &str, kind: Kind, method: &str, route: &str, detail: String) -> Fields {
    Fields {
        id: new_id(),
        at_micros: now_micros(),
        kind: kind.as_str().into(),
        tenant: None,
        subject: None,
        auth_method: None,
        method: method.into(),
        route: route.into(),
        object_id: None,
        status: 0,
        request_id: crate::request_id::fresh(node),
        client_request_id: None,
        peer: None,
        count: 1,
        detail: Some(detail),
    }
}

/// Makes the log ready at start-up (node or CLI, `who` naming it in rows): warns, and notes in
/// the chain, when the append-only triggers are missing though rows exist (someone dropped
/// them); makes the triggers; chains rows from before the chain (once). Whether the triggers
/// were found missing (the CLI, which has no log, prints it).
///
/// # Errors
/// When the database refuses.
pub async fn prepare(db: &Db, who: &str) -> anyhow::Result<bool> {
    let had_triggers = store::triggers_present(db).await;
    let used = store::head(db).await?.seq > 0;
    store::make_append_only(db).await?;
    store::start_chain(db, |text| {
        own_row(who, Kind::Notice, "NODE", "start-up", text)
    })
    .await?;
    let missing = !had_triggers && used;
    if missing {
        tracing::warn!("{TRIGGERS_MISSING}");
        let row = own_row(
            who,
            Kind::Notice,
            "NODE",
            "start-up",
            TRIGGERS_MISSING.into(),
        );
        store::append(db, &row).await?;
    }
    Ok(missing)
}

/// The warning (and notice row) when the append-only triggers were dropped.
pub const TRIGGERS_MISSING: &str = "the audit log's append-only triggers were missing at start-up \
    (dropped by a database client) and were made again; run `more-node audit verify`";

/// The path segment in the place of `{id}` in `pattern` (at most 64 characters), if any.
fn path_id(pattern: &str, path: &str) -> Option<String> {
    pattern
        .split('/')
        .zip(path.split('/'))
        .find(|(p, _)| *p == "{id}")
        .map(|(_, id)| id.chars().take(64).collect())
}

pub use more_store::records::now_micros;

/// The entries of `tenant` (every tenant's when `None`) from `since` on, in chain order.
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
    let filter = match tenant {
        Some(_) => " AND tenant = $2",
        None => "",
    };
    let sql = format!(
        "SELECT {} FROM audit_log WHERE at_micros >= $1{filter} ORDER BY seq, at_micros, id",
        chain::COLUMNS
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(since);
    if let Some(t) = tenant {
        query = query.bind(t);
    }
    query
        .fetch_all(db.pool())
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| chain::read(row).map(entry).map_err(db_error))
        .collect()
}

fn entry(row: chain::Linked) -> AuditEntry {
    let f = row.fields;
    let at = UNIX_EPOCH + Duration::from_micros(f.at_micros.max(0) as u64);
    AuditEntry {
        seq: row.seq,
        prev_hash: row.prev_hash,
        row_hash: row.row_hash,
        kind: f.kind,
        at: humantime::format_rfc3339_micros(at).to_string(),
        tenant: f.tenant,
        subject: f.subject,
        auth_method: f.auth_method,
        method: f.method,
        route: f.route,
        object_id: f.object_id,
        status: f.status as u16,
        request_id: f.request_id,
        client_request_id: f.client_request_id,
        peer: f.peer,
        count: f.count,
        detail: f.detail,
    }
}
