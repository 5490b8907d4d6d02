//! The hash chain: a row's hash is SHA-256 over an unambiguous encoding of its place (`seq`),
//! the hash of the row before it and every column, so changing, removing or inserting any row
//! breaks a link that [`super::verify`] finds.
//!
//! Encoding (version 1): the tag `more-audit-v1\0`, then the fields in a fixed order; an integer
//! is 8 bytes big-endian, a text is `0x01`, its length (8 bytes big-endian) and its UTF-8 bytes,
//! an absent text is `0x00`.

use sha2::{Digest, Sha256};
use sqlx::Row;

/// The `prev_hash` of the first row of a chain (64 zeros).
pub const START: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a row records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An answered request (or refusals aggregated from one peer).
    Request,
    /// An event of the node itself (the chain started, triggers found missing).
    Notice,
    /// Written by `audit prune`: the rows before it were removed (`detail` says which).
    Checkpoint,
}

impl Kind {
    /// Its name in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Notice => "notice",
            Kind::Checkpoint => "checkpoint",
        }
    }
}

/// The columns of one row, but for its place in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fields {
    /// Random row id (32 hex digits).
    pub id: String,
    /// When, microseconds since the Unix epoch.
    pub at_micros: i64,
    /// `request`, `notice` or `checkpoint` ([`Kind::as_str`]).
    pub kind: String,
    /// The caller's tenant.
    pub tenant: Option<String>,
    /// The caller.
    pub subject: Option<String>,
    /// How it authenticated.
    pub auth_method: Option<String>,
    /// HTTP method (or `NODE`/`CLI` for notices and checkpoints).
    pub method: String,
    /// The matched route, or the path.
    pub route: String,
    /// The object named or created.
    pub object_id: Option<String>,
    /// HTTP status (0 for notices and checkpoints).
    pub status: i32,
    /// The node's request id.
    pub request_id: String,
    /// The id the client sent in `X-Request-Id`, if any.
    pub client_request_id: Option<String>,
    /// The client's address.
    pub peer: Option<String>,
    /// How many requests the row stands for (1 but for aggregated refusals).
    pub count: i64,
    /// Free text: the refusal's reason, a notice, a checkpoint's JSON.
    pub detail: Option<String>,
}

/// A row as stored: its fields and its links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Linked {
    /// Its place, from 1 (`None`: written outside the node).
    pub seq: Option<i64>,
    /// The hash of the row before it.
    pub prev_hash: Option<String>,
    /// Its own hash.
    pub row_hash: Option<String>,
    /// The rest.
    pub fields: Fields,
}

/// The hash of the row with `fields` at `seq` after a row hashing to `prev_hash` (64 lowercase
/// hex digits).
pub fn hash(seq: i64, prev_hash: &str, f: &Fields) -> String {
    let mut h = Sha256::new();
    h.update(b"more-audit-v1\0");
    h.update(seq.to_be_bytes());
    text(&mut h, Some(prev_hash));
    text(&mut h, Some(&f.id));
    h.update(f.at_micros.to_be_bytes());
    text(&mut h, Some(&f.kind));
    text(&mut h, f.tenant.as_deref());
    text(&mut h, f.subject.as_deref());
    text(&mut h, f.auth_method.as_deref());
    text(&mut h, Some(&f.method));
    text(&mut h, Some(&f.route));
    text(&mut h, f.object_id.as_deref());
    h.update(i64::from(f.status).to_be_bytes());
    text(&mut h, Some(&f.request_id));
    text(&mut h, f.client_request_id.as_deref());
    text(&mut h, f.peer.as_deref());
    h.update(f.count.to_be_bytes());
    text(&mut h, f.detail.as_deref());
    crate::blobs::hex(&h.finalize())
}

fn text(h: &mut Sha256, value: Option<&str>) {
    match value {
        None => h.update([0u8]),
        Some(s) => {
            h.update([1u8]);
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        }
    }
}

/// The columns of [`Fields`] and the links, in the order of [`INSERT`]'s values.
pub const COLUMNS: &str = "id, at_micros, kind, tenant, subject, auth_method, method, route, \
    object_id, status, request_id, client_request_id, peer, count, detail, seq, prev_hash, row_hash";

/// `INSERT INTO audit_log (COLUMNS) VALUES ($1 .. $18)`.
pub const INSERT: &str = "INSERT INTO audit_log (id, at_micros, kind, tenant, subject, \
    auth_method, method, route, object_id, status, request_id, client_request_id, peer, count, \
    detail, seq, prev_hash, row_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
    $13, $14, $15, $16, $17, $18)";

/// A row read with `SELECT COLUMNS`.
///
/// # Errors
/// A column missing or of another type.
pub fn read(row: &sqlx::any::AnyRow) -> Result<Linked, sqlx::Error> {
    Ok(Linked {
        seq: row.try_get("seq")?,
        prev_hash: row.try_get("prev_hash")?,
        row_hash: row.try_get("row_hash")?,
        fields: Fields {
            id: row.try_get("id")?,
            at_micros: row.try_get("at_micros")?,
            kind: row.try_get("kind")?,
            tenant: row.try_get("tenant")?,
            subject: row.try_get("subject")?,
            auth_method: row.try_get("auth_method")?,
            method: row.try_get("method")?,
            route: row.try_get("route")?,
            object_id: row.try_get("object_id")?,
            status: row.try_get("status")?,
            request_id: row.try_get("request_id")?,
            client_request_id: row.try_get("client_request_id")?,
            peer: row.try_get("peer")?,
            count: row.try_get("count")?,
            detail: row.try_get("detail")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields {
        Fields {
            id: "a".into(),
            at_micros: 1,
            kind: "request".into(),
            tenant: Some("t".into()),
            subject: None,
            auth_method: None,
            method: "GET".into(),
            route: "/v1/models".into(),
            object_id: None,
            status: 200,
            request_id: "n-1".into(),
            client_request_id: None,
            peer: Some("127.0.0.1".into()),
            count: 1,
            detail: None,
        }
    }

    #[test]
    fn every_field_and_the_links_change_the_hash() {
        let f = fields();
        let base = hash(1, START, &f);
        assert_eq!(base.len(), 64);
        assert_eq!(base, hash(1, START, &f.clone()));
        assert_ne!(base, hash(2, START, &f));
        assert_ne!(base, hash(1, &"1".repeat(64), &f));
        let variants: Vec<Fields> = vec![
            Fields {
                status: 201,
                ..f.clone()
            },
            Fields {
                count: 2,
                ..f.clone()
            },
            Fields {
                subject: Some(String::new()),
                ..f.clone()
            },
            Fields {
                peer: None,
                ..f.clone()
            },
            Fields {
                detail: Some("x".into()),
                ..f.clone()
            },
        ];
        for v in variants {
            assert_ne!(base, hash(1, START, &v), "{v:?}");
        }
        // Moving characters between neighbouring fields is a different row.
        let shifted = Fields {
            method: "GET/".into(),
            route: "v1/models".into(),
            ..f.clone()
        };
        assert_ne!(base, hash(1, START, &shifted));
    }
}
