//! The rows of the secure mode (migration `0004_secure_models.sql`): secure models with their
//! grants, and tenants' evaluation keys. Plain SQL over [`Db`]'s pool, with its own error type
//! ([`StoreError`]): HTTP statuses are chosen at the route edge (`more-server`).
//!
//! Visibility is one rule, applied in SQL: a model is seen by its owner tenant and by the tenants
//! it is granted to; anyone else is told "not found" (never "forbidden": existence is not
//! revealed). Changes (grants, delete) are the owner's only.
//!
//! Blobs (the model JSON, the key bytes) are referenced in `blob_refs` in the same transaction
//! that inserts their row and unreferenced in the one that deletes it; the garbage collector
//! (`crate::gc`) removes them afterwards.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::db::Db;
use crate::error::{StoreError, StoreResult};
use crate::records::valid_id;

/// Evaluation keys a tenant keeps at most: uploading one more removes its oldest.
pub const MAX_KEYS_PER_TENANT: usize = 16;

/// Tenants one model may be granted to at most.
pub const MAX_GRANTS: usize = 256;

/// What a model listing shows besides names and ids (the `summary` column, JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFacts {
    /// One sample's input shape (e.g. `[1, 28, 28]`).
    pub input_shape: Vec<usize>,
    /// Output values per sample (logits).
    pub outputs: usize,
    /// Names of the outputs (may be empty).
    pub class_names: Vec<String>,
    /// Bits of the largest worst-case |value| of any layer (`more_secure` bounds).
    pub bound_bits: u32,
}

/// A secure model's row, with its grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecureModelRow {
    /// 32 lowercase hex digits.
    pub id: String,
    /// The owner tenant.
    pub tenant: String,
    /// Free text.
    pub name: String,
    /// The BFV parameter set it was checked against.
    pub parameter_set: String,
    /// SHA-256 of the model JSON blob.
    pub model_sha256: String,
    /// Shapes, class names, bound.
    pub facts: ModelFacts,
    /// Unix seconds.
    pub created_at: u64,
    /// Tenants it is granted to (sorted, without the owner).
    pub grants: Vec<String>,
    /// Samples each granted tenant may score per rolling 24 hours (`None`: the node's default;
    /// `crate::secure::quota`).
    pub samples_per_day: Option<u64>,
}

/// An evaluation key's row (the bytes are a blob).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvaluationKeyRow {
    /// 32 lowercase hex digits.
    pub id: String,
    /// The tenant that uploaded it.
    pub tenant: String,
    /// The BFV parameter set it was parsed under.
    pub parameter_set: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Its size, bytes.
    pub bytes: u64,
    /// Microseconds since the Unix epoch (orders a tenant's keys).
    pub created_micros: i64,
}

impl EvaluationKeyRow {
    /// Unix seconds of its upload.
    pub fn created_at(&self) -> u64 {
        (self.created_micros.max(0) / 1_000_000) as u64
    }
}

fn model_owner(id: &str) -> String {
    format!("secure_model:{id}")
}

fn key_owner(id: &str) -> String {
    format!("evaluation_key:{id}")
}

/// `grants` sorted, deduplicated and without `owner` (a model is always its owner's).
pub fn normalise_grants(owner: &str, grants: &[String]) -> Vec<String> {
    let mut out: Vec<String> = grants.iter().filter(|g| *g != owner).cloned().collect();
    out.sort();
    out.dedup();
    out
}

const MODEL_COLUMNS: &str =
    "id, tenant, name, parameter_set, model_sha256, summary, created_at, samples_per_day";

async fn begin(db: &Db) -> StoreResult<Transaction<'static, Any>> {
    Ok(db.pool().begin().await?)
}

async fn add_ref(tx: &mut Transaction<'static, Any>, owner: &str, sha: &str) -> StoreResult<()> {
    sqlx::query("INSERT INTO blob_refs (owner, sha256) VALUES ($1, $2)")
        .bind(owner)
        .bind(sha)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn drop_refs(tx: &mut Transaction<'static, Any>, owner: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM blob_refs WHERE owner = $1")
        .bind(owner)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_grants(
    tx: &mut Transaction<'static, Any>,
    model: &str,
    grants: &[String],
) -> StoreResult<()> {
    for tenant in grants {
        sqlx::query("INSERT INTO secure_model_grants (model_id, tenant) VALUES ($1, $2)")
            .bind(model)
            .bind(tenant)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The first of `tenants` that is not registered, if any.
///
/// # Errors
/// On a database error.
pub async fn unknown_tenant(db: &Db, tenants: &[String]) -> StoreResult<Option<String>> {
    for t in tenants {
        let found = sqlx::query("SELECT 1 AS one FROM tenants WHERE name = $1")
            .bind(t)
            .fetch_optional(db.pool())
            .await?;
        if found.is_none() {
            return Ok(Some(t.clone()));
        }
    }
    Ok(None)
}

/// Inserts a published model with its grants and its blob reference (one transaction; the blob
/// must be durable already).
///
/// # Errors
/// [`StoreError::UnknownTenant`] for a grant to an unregistered tenant; a database error.
pub async fn insert_model(db: &Db, m: &SecureModelRow) -> StoreResult<()> {
    if let Some(t) = unknown_tenant(db, &m.grants).await? {
        return Err(StoreError::UnknownTenant(t));
    }
    let facts = serde_json::to_string(&m.facts).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut tx = begin(db).await?;
    sqlx::query(
        "INSERT INTO secure_models (id, tenant, name, parameter_set, model_sha256, summary, \
         created_at, samples_per_day) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&m.id)
    .bind(&m.tenant)
    .bind(&m.name)
    .bind(&m.parameter_set)
    .bind(&m.model_sha256)
    .bind(facts)
    .bind(m.created_at as i64)
    .bind(m.samples_per_day.map(|n| n as i64))
    .execute(&mut *tx)
    .await?;
    insert_grants(&mut tx, &m.id, &m.grants).await?;
    add_ref(&mut tx, &model_owner(&m.id), &m.model_sha256).await?;
    tx.commit().await?;
    Ok(())
}

fn model_of(row: &AnyRow, grants: Vec<String>) -> StoreResult<SecureModelRow> {
    let summary: String = row.try_get("summary")?;
    Ok(SecureModelRow {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        name: row.try_get("name")?,
        parameter_set: row.try_get("parameter_set")?,
        model_sha256: row.try_get("model_sha256")?,
        facts: serde_json::from_str(&summary).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: row.try_get::<i64, _>("created_at")?.max(0) as u64,
        grants,
        samples_per_day: row
            .try_get::<Option<i64>, _>("samples_per_day")?
            .map(|n| n.max(0) as u64),
    })
}

/// The tenants a model is granted to, sorted.
///
/// # Errors
/// On a database error.
pub async fn grants(db: &Db, model: &str) -> StoreResult<Vec<String>> {
    sqlx::query("SELECT tenant FROM secure_model_grants WHERE model_id = $1 ORDER BY tenant")
        .bind(model)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| Ok(r.try_get::<String, _>("tenant")?))
        .collect()
}

/// A model `tenant` may see: its own or one granted to it.
///
/// # Errors
/// [`StoreError::NotFound`] otherwise (also for a malformed id); a database error.
pub async fn visible_model(db: &Db, tenant: &str, id: &str) -> StoreResult<SecureModelRow> {
    if !valid_id(id) {
        return Err(StoreError::not_found("secure model", id));
    }
    let sql = format!(
        "SELECT {MODEL_COLUMNS} FROM secure_models WHERE id = $1 AND (tenant = $2 OR EXISTS \
         (SELECT 1 FROM secure_model_grants g WHERE g.model_id = $1 AND g.tenant = $2))"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(tenant)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("secure model", id))?;
    model_of(&row, grants(db, id).await?)
}

/// A model of `owner` (the owner's operations: grants, delete).
///
/// # Errors
/// [`StoreError::NotFound`] when absent or not `owner`'s (granted tenants included); a
/// database error.
pub async fn owned_model(db: &Db, owner: &str, id: &str) -> StoreResult<SecureModelRow> {
    let m = visible_model(db, owner, id).await?;
    if m.tenant != owner {
        return Err(StoreError::not_found("secure model", id));
    }
    Ok(m)
}

/// Every model `tenant` may see (its own, then granted ones; oldest first within each).
///
/// # Errors
/// On a database error.
pub async fn visible_models(db: &Db, tenant: &str) -> StoreResult<Vec<SecureModelRow>> {
    let sql = format!(
        "SELECT {MODEL_COLUMNS} FROM secure_models WHERE tenant = $1 OR id IN \
         (SELECT model_id FROM secure_model_grants WHERE tenant = $1) \
         ORDER BY CASE WHEN tenant = $1 THEN 0 ELSE 1 END, created_at, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .fetch_all(db.pool())
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get("id")?;
        out.push(model_of(row, grants(db, &id).await?)?);
    }
    Ok(out)
}

/// Replaces the grants of `owner`'s model `id` and, when `samples_per_day` is `Some`, their
/// quota (`Some(None)`: the node's default); returns the model as it is now.
///
/// # Errors
/// [`StoreError::NotFound`] unless `owner` owns it; [`StoreError::UnknownTenant`]; a
/// database error.
pub async fn set_grants(
    db: &Db,
    owner: &str,
    id: &str,
    grants: &[String],
    samples_per_day: Option<Option<u64>>,
) -> StoreResult<SecureModelRow> {
    owned_model(db, owner, id).await?;
    if let Some(t) = unknown_tenant(db, grants).await? {
        return Err(StoreError::UnknownTenant(t));
    }
    let mut tx = begin(db).await?;
    // The owner's row, locked on PostgreSQL, so that concurrent updates of the grants apply one
    // after the other (SQLite runs one writer at a time).
    let lock = if db.is_postgres() { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT id FROM secure_models WHERE id = $1 AND tenant = $2{lock}");
    let still = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(owner)
        .fetch_optional(&mut *tx)
        .await?;
    if still.is_none() {
        return Err(StoreError::not_found("secure model", id));
    }
    sqlx::query("DELETE FROM secure_model_grants WHERE model_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    insert_grants(&mut tx, id, grants).await?;
    if let Some(quota) = samples_per_day {
        sqlx::query("UPDATE secure_models SET samples_per_day = $1 WHERE id = $2")
            .bind(quota.map(|n| n as i64))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    owned_model(db, owner, id).await
}

/// Deletes `owner`'s model `id`, its grants, its quota use and its blob reference.
///
/// # Errors
/// [`StoreError::NotFound`] unless `owner` owns it; a database error.
pub async fn delete_model(db: &Db, owner: &str, id: &str) -> StoreResult<()> {
    if !valid_id(id) {
        return Err(StoreError::not_found("secure model", id));
    }
    let mut tx = begin(db).await?;
    let done = sqlx::query("DELETE FROM secure_models WHERE id = $1 AND tenant = $2")
        .bind(id)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if done != 1 {
        return Err(StoreError::not_found("secure model", id));
    }
    sqlx::query("DELETE FROM secure_model_grants WHERE model_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM secure_usage WHERE model_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    drop_refs(&mut tx, &model_owner(id)).await?;
    tx.commit().await?;
    Ok(())
}

/// Inserts an evaluation key (its blob durable already) and removes the tenant's oldest keys
/// beyond [`MAX_KEYS_PER_TENANT`]; returns the ids removed.
///
/// # Errors
/// On a database error.
pub async fn insert_key(db: &Db, k: &EvaluationKeyRow) -> StoreResult<Vec<String>> {
    let mut tx = begin(db).await?;
    sqlx::query(
        "INSERT INTO evaluation_keys (id, tenant, parameter_set, sha256, bytes, created_micros) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&k.id)
    .bind(&k.tenant)
    .bind(&k.parameter_set)
    .bind(&k.sha256)
    .bind(k.bytes as i64)
    .bind(k.created_micros)
    .execute(&mut *tx)
    .await?;
    add_ref(&mut tx, &key_owner(&k.id), &k.sha256).await?;
    let older: Vec<String> = sqlx::query(
        "SELECT id FROM evaluation_keys WHERE tenant = $1 AND id <> $2 \
         ORDER BY created_micros DESC, id DESC",
    )
    .bind(&k.tenant)
    .bind(&k.id)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|r| r.try_get::<String, _>("id"))
    .collect::<Result<_, _>>()?;
    let evicted: Vec<String> = older.into_iter().skip(MAX_KEYS_PER_TENANT - 1).collect();
    for id in &evicted {
        sqlx::query("DELETE FROM evaluation_keys WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        drop_refs(&mut tx, &key_owner(id)).await?;
    }
    tx.commit().await?;
    Ok(evicted)
}

/// `tenant`'s evaluation key `id`.
///
/// # Errors
/// [`StoreError::NotFound`] when absent, expired, another tenant's or malformed; a database
/// error.
pub async fn tenant_key(db: &Db, tenant: &str, id: &str) -> StoreResult<EvaluationKeyRow> {
    if !valid_id(id) {
        return Err(StoreError::not_found("evaluation key", id));
    }
    let row = sqlx::query(
        "SELECT id, tenant, parameter_set, sha256, bytes, created_micros FROM evaluation_keys \
         WHERE id = $1 AND tenant = $2",
    )
    .bind(id)
    .bind(tenant)
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| StoreError::not_found("evaluation key", id))?;
    Ok(EvaluationKeyRow {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        parameter_set: row.try_get("parameter_set")?,
        sha256: row.try_get("sha256")?,
        bytes: row.try_get::<i64, _>("bytes")?.max(0) as u64,
        created_micros: row.try_get("created_micros")?,
    })
}

/// Deletes the evaluation keys made before `cutoff_micros` (microseconds since the Unix epoch)
/// and their blob references (the collector removes the blobs after its grace period); returns
/// how many.
///
/// # Errors
/// On a database error.
pub async fn expire_keys(db: &Db, cutoff_micros: i64) -> StoreResult<u64> {
    let cutoff = cutoff_micros;
    let mut tx = begin(db).await?;
    sqlx::query(
        "DELETE FROM blob_refs WHERE owner IN \
         (SELECT 'evaluation_key:' || id FROM evaluation_keys WHERE created_micros < $1)",
    )
    .bind(cutoff)
    .execute(&mut *tx)
    .await?;
    let done = sqlx::query("DELETE FROM evaluation_keys WHERE created_micros < $1")
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(done)
}
