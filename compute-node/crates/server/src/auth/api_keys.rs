//! Tenants and their API keys. A key is `more_` followed by 64 hex digits (256 random bits from
//! the operating system); the database stores only its SHA-256, so a leaked database does not
//! leak usable keys, and a key is shown once, when it is made.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{AuthMethod, Caller, Role};
use crate::db::{is_unique_violation, Db};
use crate::error::{db_error, ApiError, ApiResult};
use crate::records::{new_id, now};

/// The prefix of every API key (tells keys from OIDC tokens, and makes leaked keys searchable).
pub const KEY_PREFIX: &str = "more_";

/// A tenant's API key as listed (never the key itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApiKeyInfo {
    /// The key's public id (to revoke it).
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// What it may do.
    pub role: Role,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds of its revocation, if revoked.
    pub revoked_at: Option<u64>,
}

/// A new key: its listing and the key, shown once.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NewApiKey {
    /// The key's listing.
    #[serde(flatten)]
    pub info: ApiKeyInfo,
    /// The key (`more_` and 64 hex digits). Not stored: keep it now.
    pub key: String,
}

/// Whether a bearer token is shaped like an API key.
pub fn looks_like_key(token: &str) -> bool {
    token.starts_with(KEY_PREFIX)
}

fn key_hash(key: &str) -> String {
    format!("{:x}", Sha256::digest(key.as_bytes()))
}

/// Tenant names: 1 to 64 of `a-z 0-9 - _ .`, starting with a letter or digit.
pub fn valid_tenant_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// Whether `name` is a tenant.
///
/// # Errors
/// 500 on a database error.
pub async fn tenant_exists(db: &Db, name: &str) -> ApiResult<bool> {
    Ok(sqlx::query("SELECT 1 AS one FROM tenants WHERE name = $1")
        .bind(name)
        .fetch_optional(db.pool())
        .await
        .map_err(db_error)?
        .is_some())
}

/// Creates a tenant.
///
/// # Errors
/// 400 for a malformed name, 409 when it exists, 500 on a database error.
pub async fn create_tenant(db: &Db, name: &str) -> ApiResult<()> {
    if !valid_tenant_name(name) {
        return Err(ApiError::bad_request(format!(
            "tenant name {name:?}: 1 to 64 of a-z, 0-9, '-', '_', '.', starting with a letter or digit"
        )));
    }
    let inserted = sqlx::query("INSERT INTO tenants (name, created_at) VALUES ($1, $2)")
        .bind(name)
        .bind(now() as i64)
        .execute(db.pool())
        .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => {
            Err(ApiError::conflict(format!("tenant {name:?} exists")))
        }
        Err(e) => Err(db_error(e)),
        Ok(_) => Ok(()),
    }
}

/// Every tenant's name, sorted.
///
/// # Errors
/// 500 on a database error.
pub async fn tenants(db: &Db) -> ApiResult<Vec<String>> {
    sqlx::query("SELECT name FROM tenants ORDER BY name")
        .fetch_all(db.pool())
        .await
        .map_err(db_error)?
        .iter()
        .map(|r| r.try_get::<String, _>("name").map_err(db_error))
        .collect()
}

/// Makes a key for `tenant` with `role`; only its hash is stored.
///
/// # Errors
/// 404 when the tenant does not exist, 500 on a database error.
pub async fn create_key(db: &Db, tenant: &str, role: Role) -> ApiResult<NewApiKey> {
    if !tenant_exists(db, tenant).await? {
        return Err(ApiError::not_found("tenant", tenant));
    }
    let key = format!(
        "{KEY_PREFIX}{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    let info = ApiKeyInfo {
        id: new_id()[..16].to_string(),
        tenant: tenant.to_string(),
        role,
        created_at: now(),
        revoked_at: None,
    };
    sqlx::query(
        "INSERT INTO api_keys (id, tenant, role, key_sha256, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&info.id)
    .bind(tenant)
    .bind(role.as_str())
    .bind(key_hash(&key))
    .bind(info.created_at as i64)
    .execute(db.pool())
    .await
    .map_err(db_error)?;
    Ok(NewApiKey { info, key })
}

/// Revokes a key of `tenant` (any tenant's when `None`: the operator's CLI). Revoking twice is
/// harmless.
///
/// # Errors
/// 404 when no such key (of that tenant) exists, 500 on a database error.
pub async fn revoke_key(db: &Db, tenant: Option<&str>, id: &str) -> ApiResult<ApiKeyInfo> {
    let key = keys(db, tenant)
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| ApiError::not_found("API key", id))?;
    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now() as i64)
        .bind(id)
        .execute(db.pool())
        .await
        .map_err(db_error)?;
    keys(db, tenant)
        .await?
        .into_iter()
        .find(|k| k.id == key.id)
        .ok_or_else(|| ApiError::not_found("API key", id))
}

/// The keys of `tenant` (every tenant's when `None`), oldest first.
///
/// # Errors
/// 500 on a database error.
pub async fn keys(db: &Db, tenant: Option<&str>) -> ApiResult<Vec<ApiKeyInfo>> {
    let sql = match tenant {
        Some(_) => "SELECT id, tenant, role, created_at, revoked_at FROM api_keys WHERE tenant = $1 ORDER BY created_at, id",
        None => "SELECT id, tenant, role, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
    };
    let mut query = sqlx::query(sql);
    if let Some(t) = tenant {
        query = query.bind(t);
    }
    query
        .fetch_all(db.pool())
        .await
        .map_err(db_error)?
        .iter()
        .map(key_info)
        .collect()
}

fn key_info(row: &sqlx::any::AnyRow) -> ApiResult<ApiKeyInfo> {
    let role: String = row.try_get("role").map_err(db_error)?;
    Ok(ApiKeyInfo {
        id: row.try_get("id").map_err(db_error)?,
        tenant: row.try_get("tenant").map_err(db_error)?,
        role: Role::parse(&role)
            .ok_or_else(|| ApiError::internal(format!("unknown role {role:?} in api_keys")))?,
        created_at: row.try_get::<i64, _>("created_at").map_err(db_error)? as u64,
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")
            .map_err(db_error)?
            .map(|t| t as u64),
    })
}

/// The caller a key stands for.
///
/// # Errors
/// 401 for an unknown or revoked key, 500 on a database error.
pub async fn caller(db: &Db, key: &str) -> ApiResult<Caller> {
    let row = sqlx::query(
        "SELECT id, tenant, role, created_at, revoked_at FROM api_keys WHERE key_sha256 = $1",
    )
    .bind(key_hash(key))
    .fetch_optional(db.pool())
    .await
    .map_err(db_error)?
    .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
    let info = key_info(&row)?;
    if info.revoked_at.is_some() {
        return Err(ApiError::unauthorized("this API key was revoked"));
    }
    Ok(Caller {
        tenant: info.tenant,
        subject: format!("apikey:{}", info.id),
        role: info.role,
        method: AuthMethod::ApiKey,
    })
}
