//! The OIDC access-token verifier against a real provider (oauth2-mock-server, see
//! `oidc_provider`): discovery, the accepted token, each refusal, key rotation and the JWKS
//! refetch rate limit.

mod oidc_provider;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use more_server::auth::oidc::{OidcIdentity, OidcSettings, OidcVerifier, TokenError};
use oidc_provider::OidcProvider;
use serde_json::{json, Value};

const AUDIENCE: &str = "more-node";

fn settings(provider: &OidcProvider) -> OidcSettings {
    OidcSettings {
        issuer: provider.issuer().to_string(),
        audience: AUDIENCE.to_string(),
        tenant_claim: "tenant".to_string(),
        role_claim: "role".to_string(),
        client_id: Some("more-web".to_string()),
    }
}

/// The claims of a token this node accepts.
fn good_claims() -> Value {
    json!({"sub": "alice", "tenant": "hospital-a", "role": "trainer", "aud": AUDIENCE})
}

/// `good_claims` with `changes` over them (a `null` removes the claim).
fn claims_with(changes: Value) -> Value {
    let mut claims = good_claims();
    for (name, value) in changes.as_object().expect("object") {
        match value {
            Value::Null => claims.as_object_mut().unwrap().remove(name),
            v => claims
                .as_object_mut()
                .unwrap()
                .insert(name.clone(), v.clone()),
        };
    }
    claims
}

/// A provider and a verifier discovered from it; `None` when the provider is unavailable.
async fn setup() -> Option<(OidcProvider, OidcVerifier)> {
    let provider = OidcProvider::start()?;
    let verifier = OidcVerifier::discover(settings(&provider))
        .await
        .expect("discover");
    Some((provider, verifier))
}

async fn refusal(verifier: &OidcVerifier, token: &str) -> TokenError {
    let error = verifier.verify(token).await.expect_err("token accepted");
    let shown = token.len() > 8 && error.to_string().contains(token);
    assert!(!shown, "the message shows the token");
    error
}

fn alice() -> OidcIdentity {
    OidcIdentity {
        subject: "alice".into(),
        tenant: "hospital-a".into(),
        role: "trainer".into(),
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Claims that pass every check but the signature's: right `iss`, `aud`, `exp`.
fn unsigned_claims(provider: &OidcProvider) -> Value {
    claims_with(json!({"iss": provider.issuer(), "iat": now(), "exp": now() + 600}))
}

#[tokio::test]
async fn a_valid_token_names_its_subject_tenant_and_role() {
    let Some((provider, verifier)) = setup().await else {
        return;
    };
    let token = provider.token(good_claims(), 300);
    assert_eq!(verifier.verify(&token).await.expect("valid token"), alice());
    let several = provider.token(claims_with(json!({"aud": ["other", AUDIENCE]})), 300);
    assert_eq!(verifier.verify(&several).await.expect("aud array"), alice());
    let issuer = provider.issuer();
    let authorize = format!("{issuer}/authorize");
    assert_eq!(verifier.authorization_endpoint(), Some(authorize.as_str()));
    assert_eq!(
        verifier.token_endpoint(),
        Some(format!("{issuer}/token").as_str())
    );
    assert_eq!(verifier.settings().client_id.as_deref(), Some("more-web"));
}

#[tokio::test]
async fn the_claim_names_come_from_the_settings() {
    let Some(provider) = OidcProvider::start() else {
        return;
    };
    let verifier = OidcVerifier::discover(OidcSettings {
        tenant_claim: "hospital".into(),
        role_claim: "more_role".into(),
        ..settings(&provider)
    })
    .await
    .expect("discover");
    let claims = json!({"sub": "bob", "hospital": "h", "more_role": "viewer", "aud": AUDIENCE});
    let identity = verifier.verify(&provider.token(claims, 300)).await;
    let expected = OidcIdentity {
        subject: "bob".into(),
        tenant: "h".into(),
        role: "viewer".into(),
    };
    assert_eq!(identity.expect("valid token"), expected);
    let error = refusal(&verifier, &provider.token(good_claims(), 300)).await;
    assert!(
        matches!(&error, TokenError::MissingClaim(c) if c == "hospital"),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let Some((provider, verifier)) = setup().await else {
        return;
    };
    let error = refusal(&verifier, &provider.token(good_claims(), -120)).await;
    assert!(matches!(error, TokenError::Expired), "{error:?}");
    assert_eq!(error.to_string(), "token expired");
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    let Some((provider, verifier)) = setup().await else {
        return;
    };
    let token = provider.token(claims_with(json!({"nbf": now() + 600})), 1200);
    let error = refusal(&verifier, &token).await;
    assert!(matches!(error, TokenError::NotYetValid), "{error:?}");
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let Some((provider, verifier)) = setup().await else {
        return;
    };
    let token = provider.token(claims_with(json!({"aud": "another-node"})), 300);
    let error = refusal(&verifier, &token).await;
    assert!(matches!(error, TokenError::Audience), "{error:?}");
    assert_eq!(error.to_string(), "token audience is not this node's");
    let without = provider.token(claims_with(json!({"aud": null})), 300);
    let error = refusal(&verifier, &without).await;
    assert!(
        matches!(&error, TokenError::MissingClaim(c) if c == "aud"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let Some((provider, verifier)) = setup().await else {
        return;
    };
    let token = provider.token(claims_with(json!({"iss": "http://127.0.0.1:1/evil"})), 300);
    let error = refusal(&verifier, &token).await;
    assert!(matches!(error, TokenError::Issuer), "{error:?}");
}

#[tokio::test]
async fn a_token_signed_by_an_unknown_key_is_refused() {
    let Some((provider, verifier)) = setup().await else {
        return;
    };
    let error = refusal(&verifier, &provider.foreign_token(good_claims())).await;
    assert!(matches!(error, TokenError::UnknownKey), "{error:?}");
    assert_eq!(error.to_string(), "token signed by an unknown key");
}

#[tokio::test]
async fn a_tampered_signature_is_refused() {
    let Some((provider, verifier)) = setup().await else {
        return;
    };
    let token = provider.token(good_claims(), 300);
    let (message, signature) = token.rsplit_once('.').expect("three parts");
    // A character in the middle: the signature stays valid base64url, only its bytes change.
    let mut bytes = signature.as_bytes().to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{message}.{}", String::from_utf8(bytes).expect("ascii"));
    assert_ne!(tampered, token);
    let error = refusal(&verifier, &tampered).await;
    assert!(matches!(error, TokenError::Signature), "{error:?}");
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let Some((provider, verifier)) = setup().await else {
        return;
    };
    let token = provider.token(good_claims(), 300);
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .expect("payload"),
    )
    .expect("claims");
    claims["role"] = json!("admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    );
    let error = refusal(&verifier, &forged).await;
    assert!(matches!(error, TokenError::Signature), "{error:?}");
}

#[tokio::test]
async fn missing_or_non_string_identity_claims_are_refused() {
    let Some((provider, verifier)) = setup().await else {
        return;
    };
    let token = provider.token(claims_with(json!({"tenant": null})), 300);
    let error = refusal(&verifier, &token).await;
    assert!(
        matches!(&error, TokenError::MissingClaim(c) if c == "tenant"),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "token lacks the claim \"tenant\"");
    let token = provider.token(claims_with(json!({"role": ["trainer"]})), 300);
    let error = refusal(&verifier, &token).await;
    assert!(
        matches!(&error, TokenError::InvalidClaim(c) if c == "role"),
        "{error:?}"
    );
}

#[tokio::test]
async fn unsigned_and_symmetric_tokens_are_refused() {
    let Some((provider, verifier)) = setup().await else {
        return;
    };
    let claims = unsigned_claims(&provider);
    let header = json!({"alg": "none", "typ": "JWT", "kid": provider.first_kid()});
    let none = format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let error = refusal(&verifier, &none).await;
    assert!(
        matches!(&error, TokenError::Algorithm(a) if a == "none"),
        "{error:?}"
    );

    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(provider.first_kid().to_string());
    let key = jsonwebtoken::EncodingKey::from_secret(b"a secret the node never had").expect("key");
    let hs256 = jsonwebtoken::encode(&header, &claims, &key).expect("HS256 token");
    let error = refusal(&verifier, &hs256).await;
    assert!(
        matches!(&error, TokenError::Algorithm(a) if a == "HS256"),
        "{error:?}"
    );

    for garbage in ["", "abc", "a.b.c", "a.b.c.d"] {
        let error = refusal(&verifier, garbage).await;
        assert!(
            matches!(error, TokenError::Malformed),
            "{garbage:?}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_and_the_old_one_still_works() {
    let Some((provider, verifier)) = setup().await else {
        return;
    };
    let old = provider.token(good_claims(), 300);
    assert_eq!(verifier.verify(&old).await.expect("old key"), alice());
    let fetched = provider.requests("/jwks");
    let new_kid = provider.rotate();
    assert_ne!(new_kid, provider.first_kid());
    let new = provider.token(good_claims(), 300);
    let header = jsonwebtoken::decode_header(&new).expect("header");
    assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
    assert_eq!(verifier.verify(&new).await.expect("new key"), alice());
    assert_eq!(provider.requests("/jwks"), fetched + 1, "one JWKS refetch");
    assert_eq!(
        verifier
            .verify(&old)
            .await
            .expect("old key still published"),
        alice()
    );
    let another = provider.token(good_claims(), 300);
    assert_eq!(verifier.verify(&another).await.expect("new key"), alice());
    assert_eq!(provider.requests("/jwks"), fetched + 1, "keys cached");
}

#[tokio::test]
async fn a_flood_of_unknown_key_ids_refetches_the_jwks_once() {
    let Some((provider, verifier)) = setup().await else {
        return;
    };
    let fetched = provider.requests("/jwks");
    for _ in 0..20 {
        let error = refusal(&verifier, &provider.foreign_token(good_claims())).await;
        assert!(matches!(error, TokenError::UnknownKey), "{error:?}");
    }
    assert_eq!(provider.requests("/jwks"), fetched + 1);
}

#[tokio::test]
async fn discovery_refuses_another_issuer_and_an_unreachable_one() {
    let Some(provider) = OidcProvider::start() else {
        return;
    };
    let other = OidcSettings {
        issuer: format!("{}/", provider.issuer()),
        ..settings(&provider)
    };
    let error = OidcVerifier::discover(other)
        .await
        .expect_err("issuer differs");
    assert!(
        format!("{error:#}").contains("not the configured"),
        "{error:#}"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let gone = OidcSettings {
        issuer: format!("http://127.0.0.1:{port}"),
        ..settings(&provider)
    };
    assert!(OidcVerifier::discover(gone).await.is_err());
}
