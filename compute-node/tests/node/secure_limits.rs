//! Secure mode's refusals (issue #30): a model whose worst-case value could overflow the
//! plaintext modulus is refused at publish with 422 naming the layer and the bound; malformed
//! models, grants, evaluation keys and encrypted batches get 400, oversized ones 413, before the
//! node evaluates anything; afterwards the node still answers a valid predict exactly.

use crate::server_common;

use crate::secure_common::*;
use serde_json::json;

#[test]
fn publishing_refuses_a_model_that_could_overflow_and_malformed_requests() {
    let t = tenants();
    // Inputs up to 2^20, a dense layer of weights 2^20 (2^41), then x²: 2^82 > t/2 ≈ 2^47.
    let overflowing = json!({
        "input_shape": [2],
        "input": {"offset": [0.0], "scale": [1.0], "min": -1048576, "max": 1048576},
        "layers": [
            {"dense": {"inputs": 2, "outputs": 1, "weights": [1048576, 1048576], "bias": [0]}},
            "square"
        ],
        "output_scale": 1.0
    });
    let body = json!({"name": "too wide", "model": overflowing, "grants": ["b"]});
    let (s, v) = t.a.post_json("/v1/secure/models", &body);
    assert_eq!((s, v["error"].as_str()), (422, Some("may_overflow")), "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("layer 1"), "{message}");
    assert!(message.contains(&(1u128 << 82).to_string()), "{message}");
    // One layer less fits: the bound is computed, not a blanket refusal.
    let mut fits = overflowing.clone();
    fits["layers"].as_array_mut().unwrap().pop();
    publish(&t.a, &fits, &[]);

    let mut model = small_model(1);
    let refused = |api: &server_common::Api, body: serde_json::Value| {
        let (s, v) = api.post_json("/v1/secure/models", &body);
        (s, v["error"].as_str().unwrap_or("").to_string())
    };
    let bad_request = (400, "bad_request".to_string());
    let ok = json!({"name": "m", "model": model, "grants": []});
    for (what, change) in [
        ("unknown tenant", json!({"grants": ["nobody"]})),
        ("malformed tenant", json!({"grants": ["Not A Tenant"]})),
        ("blank name", json!({"name": "  "})),
        ("unknown field", json!({"owner": "c"})),
    ] {
        let mut body = ok.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        assert_eq!(refused(&t.a, body), bad_request, "{what}");
    }
    model["layers"][0]["dense"]["weights"]
        .as_array_mut()
        .unwrap()
        .pop();
    let body = json!({"name": "m", "model": model, "grants": []});
    assert_eq!(
        refused(&t.a, body),
        bad_request,
        "weights of the wrong length"
    );
    let (s, _) = t.a.post_bytes("/v1/secure/models", b"{}");
    assert_eq!(s, 415, "JSON only");
    let (s, v) = t.a.get_json("/v1/secure/models");
    assert_eq!(
        (s, v.as_array().unwrap().len()),
        (200, 1),
        "only the fitting model"
    );
}

#[test]
fn malformed_and_oversized_keys_and_batches_are_refused_without_harm() {
    let t = tenants();
    let model_json = small_model(7);
    let model = parsed(&model_json);
    let id = publish(&t.a, &model_json, &["b"])["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Evaluation keys: garbage is 400, more than 2 MiB is 413, another content type 415.
    let (s, v) = t.b.post_bytes("/v1/secure/evaluation-keys", &[7u8; 5000]);
    assert_eq!((s, error_code(&v)), (400, "bad_request".into()));
    let (s, v) =
        t.b.post_bytes("/v1/secure/evaluation-keys", &vec![0u8; (2 << 20) + 1]);
    assert_eq!((s, error_code(&v)), (413, "payload_too_large".into()));
    let (s, _) =
        t.b.post_json("/v1/secure/evaluation-keys", &json!({"key": "x"}));
    assert_eq!(s, 415);

    let (sk, ek) = client_key(8);
    let key = upload_key(&t.b, &ek);
    let inputs = samples(9, 4);
    let good = encrypt(&sk, &model, &inputs, 10);
    let header = |samples: u32, count: u32| {
        let mut h = b"MSB1".to_vec();
        h.extend_from_slice(&samples.to_le_bytes());
        h.extend_from_slice(&count.to_le_bytes());
        h
    };
    let with_header = |h: Vec<u8>| [h, good[12..].to_vec()].concat();
    let max_body = 12 + INPUTS * (4 + more_secure::wire::max_ciphertext_bytes());
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("garbage", vec![1u8; 4096], 400, "bad_request"),
        ("empty", Vec::new(), 400, "bad_request"),
        ("header only", header(4, INPUTS as u32), 400, "bad_request"),
        (
            "zero samples",
            with_header(header(0, 16)),
            400,
            "bad_request",
        ),
        (
            "more samples than slots",
            with_header(header(8193, 16)),
            400,
            "bad_request",
        ),
        (
            "too few ciphertexts",
            with_header(header(4, 15)),
            400,
            "shape_mismatch",
        ),
        (
            "too many ciphertexts",
            with_header(header(4, 17)),
            400,
            "bad_request",
        ),
        (
            "truncated",
            good[..good.len() - 100].to_vec(),
            400,
            "bad_request",
        ),
        (
            "a byte too many",
            [good.clone(), vec![0]].concat(),
            400,
            "bad_request",
        ),
        (
            "a frame over the largest ciphertext",
            [header(4, 16), u32::MAX.to_le_bytes().to_vec(), vec![0; 100]].concat(),
            400,
            "bad_request",
        ),
        (
            "a frame of garbage",
            [
                header(4, 16),
                1000u32.to_le_bytes().to_vec(),
                vec![3u8; 1000],
            ]
            .concat(),
            400,
            "bad_request",
        ),
        (
            "over the model's largest batch",
            vec![0u8; max_body + 1],
            413,
            "payload_too_large",
        ),
    ];
    for (what, body, status, code) in cases {
        let (s, v) = predict(&t.b, &id, &key, &body);
        assert_eq!((s, error_code(&v)), (status, code.to_string()), "{what}");
    }
    // A missing or unknown key, another content type.
    let (s, v) =
        t.b.post_bytes(&format!("/v1/secure/models/{id}/predict"), &good);
    assert_eq!((s, error_code(&v)), (400, "bad_request".into()));
    let unknown = "0".repeat(32);
    let (s, v) = predict(&t.b, &id, &unknown, &good);
    assert_eq!((s, error_code(&v)), (404, "not_found".into()));
    let (s, _) = t.b.post_json(
        &format!("/v1/secure/models/{id}/predict?evaluation_key={key}"),
        &json!({}),
    );
    assert_eq!(s, 415);

    // No harm: the node answers the valid batch exactly.
    let (s, answer) = predict(&t.b, &id, &key, &good);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&answer));
    let decrypted = sk.decrypt_outputs(&model, &answer).unwrap();
    assert_eq!(
        decrypted.values,
        model.forward_plaintext(&inputs, 4).unwrap()
    );
    t.srv.healthy();
}

#[test]
fn evaluation_keys_are_capped_per_tenant_and_expire() {
    let t = tenants_on(None, short_lived_keys);
    keys_are_capped_and_expire(&t);
    t.srv.healthy();
}

#[test]
fn a_batch_over_the_nodes_upload_limit_is_refused_before_it_is_read() {
    let t = tenants_on(None, |s| s.max_upload_bytes = 1 << 20);
    let model_json = small_model(31);
    let model = parsed(&model_json);
    let id = publish(&t.a, &model_json, &["b"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (sk, ek) = client_key(32);
    let key = upload_key(&t.b, &ek);
    // 16 ciphertexts of about 190 KB: 3 MB, over the 1 MiB limit.
    let body = encrypt(&sk, &model, &samples(33, 1), 34);
    assert!(body.len() > 1 << 20);
    let (s, v) = predict(&t.b, &id, &key, &body);
    assert_eq!((s, error_code(&v)), (413, "payload_too_large".into()));
    t.srv.healthy();
}

#[test]
fn a_batch_without_a_declared_length_is_streamed_in_small_chunks() {
    let t = tenants_on(None, |s| s.max_upload_bytes = 2 << 20);
    let model_json = small_model(41);
    let model = parsed(&model_json);
    let id = publish(&t.a, &model_json, &["b"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (sk, ek) = client_key(42);
    let key = upload_key(&t.b, &ek);
    let path = format!("/v1/secure/models/{id}/predict?evaluation_key={key}");
    // Frames cut anywhere: 4093-byte chunks split headers, length prefixes and ciphertexts.
    let inputs = samples(43, 5);
    let body = encrypt(&sk, &model, &inputs, 44);
    assert!(body.len() > 2 << 20, "{}", body.len());
    let (s, v) = post_chunked(&t.b, &path, &chunks(&body, 4093));
    assert_eq!((s, error_code(&v)), (413, "payload_too_large".into()));
    // Under a limit that fits, the same chunks are read into the exact answer.
    drop(t);
    let t = tenants_on(None, |_| {});
    let id = publish(&t.a, &model_json, &["b"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let key = upload_key(&t.b, &ek);
    let path = format!("/v1/secure/models/{id}/predict?evaluation_key={key}");
    let (s, answer) = post_chunked(&t.b, &path, &chunks(&body, 4093));
    assert_eq!(s, 200, "{}", error_code(&answer));
    let decrypted = sk.decrypt_outputs(&model, &answer).unwrap();
    assert_eq!(
        decrypted.values,
        model.forward_plaintext(&inputs, 5).unwrap()
    );
    // Cut inside the header and the first length prefix, then the rest at once.
    let mut pieces = chunks(&body[..40], 3);
    pieces.push(&body[40..]);
    let (s, answer) = post_chunked(&t.b, &path, &pieces);
    assert_eq!(s, 200, "{}", error_code(&answer));
    t.srv.healthy();
}

fn chunks(bytes: &[u8], size: usize) -> Vec<&[u8]> {
    bytes.chunks(size).collect()
}
