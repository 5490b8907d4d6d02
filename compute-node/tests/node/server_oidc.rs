//! OIDC access tokens through the node's HTTP API, against a real provider started by the test
//! (npm oauth2-mock-server, `web/tests/oidc-provider.mjs`): a valid token signs in as the tenant
//! and role of its claims; expired, wrong audience, wrong issuer, unknown key id and tampered
//! signature are 401; an unregistered tenant or unknown role is 403; a rotated key is picked up.
//! The verifier's own cases are in `crates/server/tests/oidc_tokens.rs`.

#[path = "../../crates/server/tests/oidc_provider/mod.rs"]
mod oidc_provider;

use crate::server_common::{settings, start, Api};
use serde_json::{json, Value};

fn claims(tenant: &str, role: &str) -> Value {
    json!({"sub": "dr-jones", "tenant": tenant, "role": role, "aud": "more-node"})
}

fn status(api: &Api, token: &str) -> (u16, Value) {
    api.with_token(token).get_json("/v1/whoami")
}

/// A copy of `token` with one signature character changed (still base64url).
fn tampered(token: &str) -> String {
    let (head, signature) = token.rsplit_once('.').expect("a JWT");
    let mut sig: Vec<char> = signature.chars().collect();
    let middle = sig.len() / 2;
    sig[middle] = if sig[middle] == 'A' { 'B' } else { 'A' };
    format!("{head}.{}", sig.into_iter().collect::<String>())
}

#[test]
fn oidc_tokens_sign_in_as_their_tenant_and_role() {
    let Some(provider) = oidc_provider::OidcProvider::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let srv = start(more_server::Settings {
        insecure_no_auth: false,
        oidc: Some(more_server::auth::oidc::OidcSettings {
            issuer: provider.issuer().to_string(),
            audience: "more-node".into(),
            tenant_claim: "tenant".into(),
            role_claim: "role".into(),
            client_id: Some("more-web".into()),
        }),
        ..settings(dir.path())
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = more_server::db::Db::connect(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("more.db").display()
        ))
        .await
        .unwrap();
        more_server::auth::api_keys::create_tenant(&db, "st-mary")
            .await
            .unwrap();
    });

    let (_, info) = srv.get_json("/v1/auth");
    assert_eq!(info["oidc"]["issuer"], provider.issuer());
    assert_eq!(info["oidc"]["client_id"], "more-web");
    assert!(info["oidc"]["authorization_endpoint"]
        .as_str()
        .unwrap()
        .starts_with("http"));

    let valid = provider.token(claims("st-mary", "trainer"), 300);
    let (s, me) = status(&srv, &valid);
    assert_eq!(s, 200, "{me}");
    assert_eq!(
        me,
        json!({"tenant": "st-mary", "subject": "oidc:dr-jones", "role": "trainer", "method": "oidc"})
    );
    // A token's `sub` cannot pass for an API key's subject (`apikey:{id}`), in the audit log
    // or anywhere: an OIDC subject always reads `oidc:{sub}`.
    let mut mimic = claims("st-mary", "viewer");
    mimic["sub"] = json!("apikey:0123456789abcdef");
    let (s, me) = status(&srv, &provider.token(mimic, 300));
    assert_eq!(s, 200, "{me}");
    assert_eq!(me["subject"], "oidc:apikey:0123456789abcdef");
    let audited = rt.block_on(async {
        let db = more_server::db::Db::connect(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("more.db").display()
        ))
        .await
        .unwrap();
        more_server::audit::export(&db, Some("st-mary"), None)
            .await
            .unwrap()
    });
    assert!(audited.iter().any(
        |e| e.subject.as_deref() == Some("oidc:apikey:0123456789abcdef")
            && e.auth_method.as_deref() == Some("oidc")
    ));
    assert!(
        !audited.iter().any(|e| e
            .subject
            .as_deref()
            .is_some_and(|s| s.starts_with("apikey:"))),
        "no OIDC row reads as an API key's"
    );
    let user = srv.with_token(&valid);
    let (s, ds) = user.post_json("/v1/datasets", &json!({"name": "x", "task": "regression"}));
    assert_eq!(s, 201, "{ds}");

    let mut wrong_issuer = claims("st-mary", "trainer");
    wrong_issuer["iss"] = json!("https://attacker.example");
    let mut wrong_audience = claims("st-mary", "trainer");
    wrong_audience["aud"] = json!("another-service");
    let refused = [
        (
            "expired",
            provider.token(claims("st-mary", "trainer"), -120),
        ),
        ("wrong audience", provider.token(wrong_audience, 300)),
        ("wrong issuer", provider.token(wrong_issuer, 300)),
        (
            "unknown key id",
            provider.foreign_token(claims("st-mary", "trainer")),
        ),
        ("tampered signature", tampered(&valid)),
    ];
    for (what, token) in &refused {
        let (s, body) = status(&srv, token);
        assert_eq!(
            (s, body["error"].as_str()),
            (401, Some("unauthorized")),
            "{what}: {body}"
        );
    }
    let (s, body) = status(
        &srv,
        &provider.token(claims("other-hospital", "admin"), 300),
    );
    assert_eq!(s, 403, "an unregistered tenant: {body}");
    let (s, body) = status(&srv, &provider.token(claims("st-mary", "superuser"), 300));
    assert_eq!(s, 403, "an unknown role: {body}");
    let viewer = provider.token(claims("st-mary", "viewer"), 300);
    let (s, _) = srv
        .with_token(&viewer)
        .post_json("/v1/datasets", &json!({"name": "x", "task": "regression"}));
    assert_eq!(s, 403, "the role comes from the token");

    // Rotation: a token signed by the provider's new key is accepted (JWKS read again). The
    // unknown key id above already made the node read the JWKS; reads are at most one per
    // MIN_REFETCH_INTERVAL (so a flood of bogus key ids cannot hammer the provider).
    std::thread::sleep(more_server::auth::oidc::MIN_REFETCH_INTERVAL);
    provider.rotate();
    let rotated = provider.token(claims("st-mary", "trainer"), 300);
    assert_eq!(status(&srv, &rotated).0, 200);
    assert_eq!(
        status(&srv, &valid).0,
        200,
        "the old key is still published"
    );
}
