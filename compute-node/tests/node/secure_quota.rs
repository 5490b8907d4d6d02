//! Secure mode's sample quota (issue #30; `more_server::secure::quota`): a model's owner limits
//! how many samples each granted tenant scores per rolling 24 hours, against model extraction
//! by queries (SECURITY.md). Over it a predict gets 429 `quota_exceeded` with `Retry-After`
//! as soon as its batch header is in, before anything is evaluated; the owner's tenant is never
//! limited; each granted tenant has its own count; the node's default applies to models without
//! their own limit.

use crate::server_common;

use crate::secure_common::*;
use serde_json::{json, Value};

/// `(status, Retry-After, body)` of a predict sent with a `Content-Length`.
fn predict_with_headers(
    api: &server_common::Api,
    model: &str,
    key: &str,
    body: &[u8],
) -> (u16, Option<String>, Vec<u8>) {
    let path = format!("/v1/secure/models/{model}/predict?evaluation_key={key}");
    let mut r = api
        .agent
        .post(api.url(&path))
        .header(
            "authorization",
            format!("Bearer {}", api.token.as_ref().unwrap()),
        )
        .header("content-type", "application/octet-stream")
        .send(body)
        .expect("answer");
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let status = r.status().as_u16();
    let bytes = r
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap();
    (status, retry, bytes)
}

/// `PUT /v1/secure/models/{id}/grants` with `body`.
fn put_grants(api: &server_common::Api, id: &str, body: &Value) -> (u16, Value) {
    let mut r = api
        .agent
        .put(api.url(&format!("/v1/secure/models/{id}/grants")))
        .header(
            "authorization",
            format!("Bearer {}", api.token.as_ref().unwrap()),
        )
        .header("content-type", "application/json")
        .send(body.to_string())
        .expect("answer");
    let s = r.status().as_u16();
    (
        s,
        serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap(),
    )
}

/// The model as `api`'s tenant sees it: `(samples_per_day, samples_used_24h)`.
fn quota_of(api: &server_common::Api, id: &str) -> (Value, Value) {
    let (s, v) = api.get_json(&format!("/v1/secure/models/{id}"));
    assert_eq!(s, 200, "{v}");
    (v["samples_per_day"].clone(), v["samples_used_24h"].clone())
}

/// The 12-byte header of an encrypted batch of `samples` samples and `count` ciphertexts.
fn header(samples: u32, count: u32) -> Vec<u8> {
    [&b"MSB1"[..], &samples.to_le_bytes(), &count.to_le_bytes()].concat()
}

#[test]
fn a_granted_tenant_scores_at_most_its_quota_per_day_and_the_owner_is_not_limited() {
    let t = tenants();
    let model_json = small_model(3);
    let model = parsed(&model_json);
    let (s, published) = t.a.post_json(
        "/v1/secure/models",
        &json!({"name": "q", "model": model_json, "grants": ["b", "c"], "samples_per_day": 20}),
    );
    assert_eq!(s, 201, "{published}");
    assert_eq!(published["samples_per_day"], 20);
    let id = published["id"].as_str().unwrap().to_string();
    assert_eq!(quota_of(&t.b, &id), (json!(20), json!(0)));
    assert_eq!(quota_of(&t.a, &id), (json!(20), Value::Null));

    // b: 8 + 8 samples pass (exact answers), the third 8 would make 24 > 20.
    let (sk, ek) = client_key(30);
    let b_key = upload_key(&t.b, &ek);
    for round in 0..2u64 {
        let inputs = samples(40 + round, 8);
        let (s, _, answer) =
            predict_with_headers(&t.b, &id, &b_key, &encrypt(&sk, &model, &inputs, round));
        assert_eq!(s, 200, "{}", error_code(&answer));
        let decrypted = sk.decrypt_outputs(&model, &answer).expect("decrypt");
        assert_eq!(
            decrypted.values,
            model.forward_plaintext(&inputs, 8).unwrap()
        );
    }
    assert_eq!(quota_of(&t.b, &id), (json!(20), json!(16)));
    let third = encrypt(&sk, &model, &samples(42, 8), 2);
    let (s, retry, body) = predict_with_headers(&t.b, &id, &b_key, &third);
    assert_eq!(s, 429, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"], "quota_exceeded");
    assert_eq!(
        (v["samples_per_day"].clone(), v["samples_used_24h"].clone()),
        (json!(20), json!(16))
    );
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    // The first batch leaves the window 24 hours after it came: a little less than a day.
    assert!((86_000..=86_400).contains(&retry), "Retry-After {retry}");
    assert_eq!(v["retry_after_seconds"], retry);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("20 samples per 24 hours"),
        "{v}"
    );
    // Refused at the header: a batch whose frames are garbage gets the same 429, not a 400 for
    // its frames (nothing after the 12 bytes was decoded, let alone evaluated).
    let garbage = vec![0xA5u8; 4096];
    let (s, body) = post_chunked(
        &t.b,
        &format!("/v1/secure/models/{id}/predict?evaluation_key={b_key}"),
        &[&header(8, INPUTS as u32), &garbage],
    );
    assert_eq!((s, error_code(&body)), (429, "quota_exceeded".to_string()));
    // A batch larger than the whole quota can never pass: 413.
    let (s, body) = post_chunked(
        &t.b,
        &format!("/v1/secure/models/{id}/predict?evaluation_key={b_key}"),
        &[&header(21, INPUTS as u32)],
    );
    assert_eq!(
        (s, error_code(&body)),
        (413, "payload_too_large".to_string())
    );
    // Refusals do not count.
    assert_eq!(quota_of(&t.b, &id), (json!(20), json!(16)));

    // c, granted too, has its own count.
    let (sk_c, ek_c) = client_key(31);
    let c_key = upload_key(&t.c, &ek_c);
    let inputs = samples(50, 8);
    let (s, _, answer) =
        predict_with_headers(&t.c, &id, &c_key, &encrypt(&sk_c, &model, &inputs, 5));
    assert_eq!(s, 200, "{}", error_code(&answer));
    assert_eq!(quota_of(&t.c, &id), (json!(20), json!(8)));

    // The owner is not limited: one batch of 24 samples (more than the quota) passes, exact.
    let (sk_a, ek_a) = client_key(32);
    let a_key = upload_key(&t.a, &ek_a);
    let inputs = samples(60, 24);
    let (s, _, answer) =
        predict_with_headers(&t.a, &id, &a_key, &encrypt(&sk_a, &model, &inputs, 6));
    assert_eq!(s, 200, "{}", error_code(&answer));
    let decrypted = sk_a.decrypt_outputs(&model, &answer).expect("decrypt");
    assert_eq!(
        decrypted.values,
        model.forward_plaintext(&inputs, 24).unwrap()
    );

    // The owner raises the quota with the grants: b's third batch passes now.
    let (s, v) = put_grants(
        &t.a,
        &id,
        &json!({"grants": ["b", "c"], "samples_per_day": 40}),
    );
    assert_eq!((s, v["samples_per_day"].clone()), (200, json!(40)), "{v}");
    let (s, v) = put_grants(&t.a, &id, &json!({"grants": ["b"], "samples_per_day": 0}));
    assert_eq!((s, v["error"].as_str()), (400, Some("bad_request")), "{v}");
    // Grants changed without the field (as an older client does) keep the quota.
    let (s, v) = put_grants(&t.a, &id, &json!({"grants": ["b", "c"]}));
    assert_eq!((s, v["samples_per_day"].clone()), (200, json!(40)), "{v}");
    let (s, _, answer) = predict_with_headers(&t.b, &id, &b_key, &third);
    assert_eq!(s, 200, "{}", error_code(&answer));
    assert_eq!(quota_of(&t.b, &id), (json!(40), json!(24)));

    // Audited: the publish's quota, the refusals with the limit and the use.
    let rows = audit_rows(t.data.path());
    let route = "/v1/secure/models/{id}/predict";
    let of = |tenant: &str, status: u64| -> Vec<String> {
        rows.iter()
            .filter(|r| r["route"] == route && r["tenant"] == tenant && r["status"] == status)
            .map(|r| r["detail"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let refused = of("b", 429);
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|d| d == "quota exceeded: samples: 8; samples_per_day: 20; used: 16"),
        "{refused:?}"
    );
    assert_eq!(of("b", 200).len(), 3);
    let published_row = rows
        .iter()
        .find(|r| r["route"] == "/v1/secure/models" && r["status"] == 201)
        .unwrap();
    assert_eq!(
        published_row["detail"],
        "grants: [b, c]; samples_per_day: 20"
    );
    t.srv.healthy();
}

#[test]
fn the_nodes_default_limits_models_without_their_own() {
    let t = tenants_on(None, |s| s.secure_samples_per_day = 8);
    let model_json = small_model(4);
    let model = parsed(&model_json);
    let id = publish(&t.a, &model_json, &["b"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(quota_of(&t.b, &id), (json!(8), json!(0)));
    let (sk, ek) = client_key(33);
    let key = upload_key(&t.b, &ek);
    // A batch refused after its header was admitted (garbage frames) gives its samples back.
    let (s, body) = post_chunked(
        &t.b,
        &format!("/v1/secure/models/{id}/predict?evaluation_key={key}"),
        &[&header(8, INPUTS as u32), &[0xA5u8; 4096]],
    );
    assert_eq!((s, error_code(&body)), (400, "bad_request".to_string()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while quota_of(&t.b, &id).1 != json!(0) {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            quota_of(&t.b, &id)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (s, _, answer) =
        predict_with_headers(&t.b, &id, &key, &encrypt(&sk, &model, &samples(70, 8), 7));
    assert_eq!(s, 200, "{}", error_code(&answer));
    let one = encrypt(&sk, &model, &samples(71, 1), 8);
    let (s, retry, body) = predict_with_headers(&t.b, &id, &key, &one);
    assert_eq!((s, error_code(&body)), (429, "quota_exceeded".to_string()));
    assert!(retry.is_some());
    // The model's own limit replaces the default; null on the grants goes back to the node's
    // default (8), not to unlimited.
    let (s, v) = put_grants(&t.a, &id, &json!({"grants": ["b"], "samples_per_day": 9}));
    assert_eq!((s, v["samples_per_day"].clone()), (200, json!(9)), "{v}");
    assert_eq!(predict_with_headers(&t.b, &id, &key, &one).0, 200);
    let (s, v) = put_grants(
        &t.a,
        &id,
        &json!({"grants": ["b"], "samples_per_day": null}),
    );
    assert_eq!((s, v["samples_per_day"].clone()), (200, json!(8)), "{v}");
    assert_eq!(predict_with_headers(&t.b, &id, &key, &one).0, 429);
}

#[test]
fn concurrent_batches_of_one_tenant_share_its_quota() {
    concurrent_batches_share_one_quota(&tenants());
}

#[test]
fn racing_reservations_on_one_sqlite_file_admit_exactly_the_quota() {
    let t = tenants();
    let url = server_common::settings(t.data.path()).db_url().unwrap();
    racing_reservations_admit_exactly_the_quota(&t, &url);
}
