//! OAuth 2.0 resource server for OpenID Connect access tokens (signed JWTs).
//!
//! [`OidcVerifier::discover`] reads the provider's discovery document
//! (`{issuer}/.well-known/openid-configuration`) and its JWKS once, at startup.
//! [`OidcVerifier::verify`] then checks a bearer token locally: an asymmetric signature
//! (RS*/PS*/ES256/ES384/EdDSA; `none` and HS* are refused) by the JWKS key named in its `kid`,
//! `iss`, `aud`, `exp` (required) and `nbf` (when present) with [`LEEWAY_SECONDS`] of clock
//! skew, and the `sub`, tenant and role claims (non-empty strings).
//!
//! A `kid` missing from the cached JWKS (the provider rotated its keys) refetches the JWKS, at
//! most once per [`MIN_REFETCH_INTERVAL`] so that tokens with made-up key ids cannot make the
//! node hammer the provider. The cached keys are also refetched when older than
//! [`KEYS_MAX_AGE`], so a key the provider withdraws stops being trusted.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;
/// Least time between two JWKS refetches caused by unknown key ids (the first is immediate).
pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(5);
/// Age after which the cached JWKS is refetched on the next token.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
/// Largest discovery or JWKS document accepted.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// Time limit of one request to the provider.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// `--oidc-*` options.
#[derive(Clone, Debug)]
pub struct OidcSettings {
    /// The `iss` expected, e.g. `https://login.hospital.example/realms/x`; discovery is read
    /// from `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The `aud` expected (this node's identifier at the provider).
    pub audience: String,
    /// The claim naming the caller's tenant.
    pub tenant_claim: String,
    /// The claim naming the caller's role.
    pub role_claim: String,
    /// The public client id the web page uses for its PKCE login (carried, not used to verify).
    pub client_id: Option<String>,
}

/// What a valid token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcIdentity {
    /// The `sub` claim.
    pub subject: String,
    /// The tenant claim ([`OidcSettings::tenant_claim`]).
    pub tenant: String,
    /// The role claim ([`OidcSettings::role_claim`]).
    pub role: String,
}

/// Why a token was refused (each is a 401; `Display` is the message for the client and never
/// contains the token).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts with a JSON header and payload.
    #[error("malformed token")]
    Malformed,
    /// `none`, HS* or an unknown `alg` (the name is kept for logs, not shown).
    #[error("token algorithm not accepted (asymmetric signatures only)")]
    Algorithm(String),
    /// The header names no key (`kid`).
    #[error("token header lacks a key id (kid)")]
    NoKeyId,
    /// No key of the provider's JWKS has the token's `kid`, even after a refetch.
    #[error("token signed by an unknown key")]
    UnknownKey,
    /// The `alg` does not fit the key the `kid` names.
    #[error("token algorithm does not match its key")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("token signature invalid")]
    Signature,
    /// `exp` is past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is ahead (beyond the leeway).
    #[error("token not valid yet")]
    NotYetValid,
    /// `iss` is not [`OidcSettings::issuer`].
    #[error("token issuer is not the configured one")]
    Issuer,
    /// `aud` does not hold [`OidcSettings::audience`].
    #[error("token audience is not this node's")]
    Audience,
    /// A required claim is absent.
    #[error("token lacks the claim {0:?}")]
    MissingClaim(String),
    /// A claim has the wrong type (or is an empty string).
    #[error("token claim {0:?} is not valid")]
    InvalidClaim(String),
}

/// A JWKS key usable for verification, with the `alg` it is restricted to (when published).
struct VerifyingKey {
    key: DecodingKey,
    alg: Option<Algorithm>,
}

/// The provider's keys by `kid`, and when they were fetched.
struct KeySet {
    keys: HashMap<String, Arc<VerifyingKey>>,
    fetched: Instant,
}

/// Checks access tokens of one OIDC provider (`Send + Sync`; share it in an `Arc`).
pub struct OidcVerifier {
    settings: OidcSettings,
    http: reqwest::Client,
    jwks_uri: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    keys: RwLock<Arc<KeySet>>,
    /// When the last refetch was tried; held during a refetch so that they do not pile up.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
}

/// The members of the discovery document used here.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
}

/// The members of a JWS header read before verification.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
}

impl OidcVerifier {
    /// Fetches discovery and the JWKS.
    ///
    /// # Errors
    /// When the issuer is unreachable, its discovery document or JWKS is invalid, the
    /// document's `issuer` differs from the configured one, or no key is usable.
    pub async fn discover(settings: OidcSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(!settings.audience.is_empty(), "the OIDC audience is empty");
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .user_agent("more-node")
            .build()
            .context("HTTP client for OIDC")?;
        let base = settings.issuer.trim_end_matches('/');
        let url = format!("{base}/.well-known/openid-configuration");
        let doc: Discovery = fetch_json(&http, &url).await?;
        anyhow::ensure!(
            doc.issuer == settings.issuer,
            "OIDC discovery at {url} names the issuer {:?}, not the configured {:?}",
            doc.issuer,
            settings.issuer
        );
        let keys = fetch_keys(&http, &doc.jwks_uri).await?;
        anyhow::ensure!(
            !keys.keys.is_empty(),
            "no usable signing key at {}",
            doc.jwks_uri
        );
        tracing::info!(issuer = %settings.issuer, keys = keys.keys.len(), "OIDC provider discovered");
        Ok(Self {
            settings,
            http,
            jwks_uri: doc.jwks_uri,
            authorization_endpoint: doc.authorization_endpoint,
            token_endpoint: doc.token_endpoint,
            keys: RwLock::new(Arc::new(keys)),
            last_refetch: tokio::sync::Mutex::new(None),
        })
    }

    /// Verifies a bearer token and returns whom it names.
    ///
    /// # Errors
    /// The [`TokenError`] saying what is wrong with the token.
    pub async fn verify(&self, token: &str) -> Result<OidcIdentity, TokenError> {
        let (alg, kid) = read_header(token)?;
        let key = self.key(&kid).await?;
        if key.alg.is_some_and(|a| a != alg) {
            return Err(TokenError::KeyMismatch);
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &self.rules(alg))
            .map_err(|e| from_jwt(e.into_kind()))?;
        Ok(OidcIdentity {
            subject: string_claim(&data.claims, "sub")?,
            tenant: string_claim(&data.claims, &self.settings.tenant_claim)?,
            role: string_claim(&data.claims, &self.settings.role_claim)?,
        })
    }

    /// The settings this verifier was built with.
    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// The provider's authorization endpoint (from discovery), for the page's PKCE login.
    pub fn authorization_endpoint(&self) -> Option<&str> {
        self.authorization_endpoint.as_deref()
    }

    /// The provider's token endpoint (from discovery), for the page's PKCE login.
    pub fn token_endpoint(&self) -> Option<&str> {
        self.token_endpoint.as_deref()
    }

    /// The claims checks for a token signed with `alg`.
    fn rules(&self, alg: Algorithm) -> Validation {
        let mut rules = Validation::new(alg);
        rules.leeway = LEEWAY_SECONDS;
        rules.validate_exp = true;
        rules.validate_nbf = true;
        rules.validate_aud = true;
        rules.set_issuer(&[&self.settings.issuer]);
        rules.set_audience(&[&self.settings.audience]);
        rules.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        rules
    }

    /// The key named `kid`, refetching the JWKS when it is unknown or the cache is old.
    async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, TokenError> {
        let cached = self.cached();
        match cached.keys.get(kid) {
            Some(key) if cached.fetched.elapsed() < KEYS_MAX_AGE => Ok(key.clone()),
            _ => self.refetch(kid).await,
        }
    }

    fn cached(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Refetches the JWKS (rate-limited) and looks `kid` up again.
    async fn refetch(&self, kid: &str) -> Result<Arc<VerifyingKey>, TokenError> {
        let mut last = self.last_refetch.lock().await;
        let cached = self.cached();
        let fresh = cached.fetched.elapsed() < KEYS_MAX_AGE;
        if let Some(key) = cached.keys.get(kid).filter(|_| fresh) {
            return Ok(key.clone()); // refetched by another request meanwhile
        }
        if last.is_some_and(|t| t.elapsed() < MIN_REFETCH_INTERVAL) {
            return cached.keys.get(kid).cloned().ok_or(TokenError::UnknownKey);
        }
        *last = Some(Instant::now());
        match fetch_keys(&self.http, &self.jwks_uri).await {
            Ok(keys) => {
                tracing::info!(jwks_uri = %self.jwks_uri, keys = keys.keys.len(), "OIDC JWKS refetched");
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
            }
            Err(e) => tracing::warn!(jwks_uri = %self.jwks_uri, "OIDC JWKS refetch failed: {e:#}"),
        }
        self.cached()
            .keys
            .get(kid)
            .cloned()
            .ok_or(TokenError::UnknownKey)
    }
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("settings", &self.settings)
            .field("jwks_uri", &self.jwks_uri)
            .finish_non_exhaustive()
    }
}

/// GETs a JSON document of at most [`MAX_DOCUMENT_BYTES`].
async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> anyhow::Result<T> {
    let response = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let response = response
        .error_for_status()
        .with_context(|| format!("GET {url}"))?;
    anyhow::ensure!(
        response.content_length().unwrap_or(0) <= MAX_DOCUMENT_BYTES as u64,
        "GET {url}: document too large"
    );
    let body = response
        .bytes()
        .await
        .with_context(|| format!("GET {url}"))?;
    anyhow::ensure!(
        body.len() <= MAX_DOCUMENT_BYTES,
        "GET {url}: document too large"
    );
    serde_json::from_slice(&body).with_context(|| format!("GET {url}: not the JSON expected"))
}

/// Fetches a JWKS and keeps its usable signature keys (others are skipped).
async fn fetch_keys(http: &reqwest::Client, jwks_uri: &str) -> anyhow::Result<KeySet> {
    #[derive(Deserialize)]
    struct Jwks {
        keys: Vec<Value>,
    }
    let jwks: Jwks = fetch_json(http, jwks_uri).await?;
    let keys = jwks.keys.into_iter().filter_map(verifying_key).collect();
    Ok(KeySet {
        keys,
        fetched: Instant::now(),
    })
}

/// A JWK with a `kid`, meant for signatures, asymmetric, with a signature `alg` if any.
fn verifying_key(jwk: Value) -> Option<(String, Arc<VerifyingKey>)> {
    let jwk: Jwk = serde_json::from_value(jwk).ok()?;
    let for_signing = matches!(
        jwk.common.public_key_use,
        None | Some(PublicKeyUse::Signature)
    );
    let symmetric = matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_));
    if !for_signing || symmetric {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        Some(a) => Some(Algorithm::from_str(&a.to_string()).ok()?),
        None => None,
    };
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some((jwk.common.key_id?, Arc::new(VerifyingKey { key, alg })))
}

/// The header's algorithm (asymmetric only) and key id, read before anything is verified.
fn read_header(token: &str) -> Result<(Algorithm, String), TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed)?;
    let raw: RawHeader = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    let alg = Algorithm::from_str(&raw.alg)
        .ok()
        .filter(|a| a.family() != AlgorithmFamily::Hmac)
        .ok_or(TokenError::Algorithm(raw.alg))?;
    Ok((alg, raw.kid.ok_or(TokenError::NoKeyId)?))
}

/// A claim that must be a non-empty string.
fn string_claim(claims: &Map<String, Value>, name: &str) -> Result<String, TokenError> {
    match claims.get(name) {
        None | Some(Value::Null) => Err(TokenError::MissingClaim(name.to_string())),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(TokenError::InvalidClaim(name.to_string())),
    }
}

/// The [`TokenError`] for a `jsonwebtoken` failure.
fn from_jwt(kind: ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::Signature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::Issuer,
        ErrorKind::InvalidAudience => TokenError::Audience,
        ErrorKind::MissingRequiredClaim(c) => TokenError::MissingClaim(c),
        ErrorKind::InvalidClaimFormat(c) => TokenError::InvalidClaim(c),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::UnsupportedAlgorithm => TokenError::KeyMismatch,
        _ => TokenError::Malformed,
    }
}
