//! Secure mode on the node (issue #30): tenant `a` publishes a quantized model granted to `b`;
//! `b` uploads its evaluation key and predicts on BFV ciphertexts made with its secret key
//! (`more_secret_key::secure::BfvSecretKey`: tests of `more-node` may link the client, the server
//! crate may not); the decrypted outputs equal the plaintext model's integers exactly. Tenant
//! `c`, never granted, gets 404 on everything; grants, roles and the audit rows are checked, and
//! the node's files hold none of the request's ciphertexts, inputs or outputs.

use crate::server_common;

use crate::secure_common::*;
use serde_json::{json, Value};

#[test]
fn a_granted_tenant_predicts_on_ciphertexts_the_node_cannot_read() {
    let t = tenants();
    let model_json = small_model(1);
    let model = parsed(&model_json);
    let published = publish(&t.a, &model_json, &["b", "a", "b"]);
    let id = published["id"].as_str().unwrap().to_string();
    assert_eq!(published["owner_tenant"], "a");
    assert_eq!(
        published["grants"],
        json!(["b"]),
        "deduplicated, owner left out"
    );
    assert_eq!(published["input_shape"], json!([INPUTS]));
    assert_eq!(published["outputs"], 4);
    assert_eq!(published["parameter_set"], more_secure::PARAMETER_SET);
    let bits = published["bound_bits"].as_u64().unwrap();
    assert!((10..=47).contains(&bits), "{published}");

    // Who sees it: the owner and the grantee; c neither lists nor reads it (404, not 403).
    let listed = |api: &server_common::Api| {
        let (s, v) = api.get_json("/v1/secure/models");
        assert_eq!(s, 200, "{v}");
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(&t.a), vec![id.clone()]);
    assert_eq!(listed(&t.b), vec![id.clone()]);
    assert!(listed(&t.c).is_empty());
    let (s, detail) = t.b.get_json(&format!("/v1/secure/models/{id}"));
    assert_eq!(s, 200, "{detail}");
    assert_eq!(
        parsed(&detail["model"]),
        model,
        "b reads the model as published"
    );
    assert_eq!(detail["grants"], json!(["b"]));
    let (s, v) = t.c.get_json(&format!("/v1/secure/models/{id}"));
    assert_eq!((s, v["error"].as_str()), (404, Some("not_found")), "{v}");

    // b (a viewer) uploads its evaluation key and predicts on 8 encrypted samples.
    let (sk, ek) = client_key(2);
    let key_id = upload_key(&t.b, &ek);
    let inputs = samples(3, 8);
    let body = encrypt(&sk, &model, &inputs, 4);
    let (s, answer) = predict(&t.b, &id, &key_id, &body);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&answer));
    let decrypted = sk.decrypt_outputs(&model, &answer).expect("decrypt");
    let expected = model.forward_plaintext(&inputs, 8).unwrap();
    assert_eq!((decrypted.samples, decrypted.outputs), (8, 4));
    assert_eq!(decrypted.values, expected, "encrypted = plaintext, exactly");
    assert!(decrypted.noise_budget_bits > 0);
    println!(
        "noise budget left: {} bits; request {} bytes, answer {} bytes, evaluation key {} bytes",
        decrypted.noise_budget_bits,
        body.len(),
        answer.len(),
        ek.len()
    );
    // Another key decrypts noise.
    let (other, _) = client_key(9);
    let wrong = other
        .decrypt_outputs(&model, &answer)
        .expect("decrypts to something");
    assert_ne!(wrong.values, expected);

    // c: 404 on predict, with its own key or with b's key id.
    let (_, c_ek) = client_key(5);
    let c_key = upload_key(&t.c, &c_ek);
    for key in [&c_key, &key_id] {
        let (s, v) = predict(&t.c, &id, key, &body);
        assert_eq!((s, error_code(&v)), (404, "not_found".into()));
    }
    // Granted to c too, c still cannot use b's key (a key is its tenant's).
    let (s, v) = t.a.put_json_grants(&id, &["b", "c"]);
    assert_eq!((s, v["grants"].clone()), (200, json!(["b", "c"])), "{v}");
    let (s, v) = predict(&t.c, &id, &key_id, &body);
    assert_eq!((s, error_code(&v)), (404, "not_found".into()));
    // Only the owner's trainers change grants or delete: a grantee's trainer gets 404, the
    // owner's viewer 403.
    assert_eq!(t.b_trainer.put_json_grants(&id, &["b"]).0, 404);
    assert_eq!(
        t.b_trainer.delete(&format!("/v1/secure/models/{id}")).0,
        404
    );
    assert_eq!(t.a_viewer.put_json_grants(&id, &[]).0, 403);
    assert_eq!(
        t.a_viewer
            .post_json(
                "/v1/secure/models",
                &json!({"name": "v", "model": model_json, "grants": []})
            )
            .0,
        403
    );
    // Revoked: b gets 404 at once.
    assert_eq!(t.a.put_json_grants(&id, &["c"]).0, 200);
    assert_eq!(t.b.get(&format!("/v1/secure/models/{id}")).0, 404);
    let (s, _) = predict(&t.b, &id, &key_id, &body);
    assert_eq!(s, 404);

    // The node's files hold none of the request's or the answer's ciphertexts, nor the
    // plaintext inputs or outputs; they do hold the published model (the search finds what is
    // stored).
    let dir = t.data.path();
    let frame = |batch: &[u8], at: usize| batch[at..at + 64].to_vec();
    for (what, needle) in [
        ("request ciphertext (first)", frame(&body, 200)),
        ("request ciphertext (last)", frame(&body, body.len() - 100)),
        ("answer ciphertext (first)", frame(&answer, 200)),
        (
            "answer ciphertext (last)",
            frame(&answer, answer.len() - 100),
        ),
        ("inputs as i64", le_bytes(&inputs[..INPUTS])),
        ("inputs as JSON", json_text(&inputs[..INPUTS])),
        ("outputs as i64", le_bytes(&expected)),
        ("outputs as JSON", json_text(&expected)),
    ] {
        assert_eq!(
            holding(dir, &needle),
            Vec::<std::path::PathBuf>::new(),
            "{what}"
        );
    }
    let weights = model_json["layers"][0]["dense"]["weights"].clone();
    assert!(!holding(dir, &serde_json::to_vec(&weights).unwrap()).is_empty());

    // The audit rows: the publish and the grant changes name the grantees, the predict its
    // samples and key; c's refusals are there too.
    let rows = audit_rows(dir);
    let row = |method: &str, route: &str, tenant: &str, status: u16| -> Vec<Value> {
        rows.iter()
            .filter(|r| r["method"] == method && r["route"] == route)
            .filter(|r| r["tenant"] == tenant && r["status"] == status)
            .cloned()
            .collect()
    };
    let published_row = row("POST", "/v1/secure/models", "a", 201);
    assert_eq!(published_row.len(), 1);
    assert_eq!(published_row[0]["object_id"], id.as_str());
    assert_eq!(published_row[0]["detail"], "grants: [b]");
    let grants = "/v1/secure/models/{id}/grants";
    let details: Vec<_> = row("PUT", grants, "a", 200)
        .iter()
        .map(|r| r["detail"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(details, ["grants: [b, c]", "grants: [c]"]);
    let predicts = row("POST", "/v1/secure/models/{id}/predict", "b", 200);
    assert_eq!(predicts.len(), 1);
    assert_eq!(
        predicts[0]["detail"],
        format!("samples: 8; evaluation key: {key_id}")
    );
    assert_eq!(
        row("POST", "/v1/secure/models/{id}/predict", "c", 404).len(),
        3
    );
    assert_eq!(row("GET", "/v1/secure/models/{id}", "c", 404).len(), 1);
    assert_eq!(row("POST", "/v1/secure/evaluation-keys", "b", 201).len(), 1);

    // Deleted by its owner: gone for everyone.
    assert_eq!(t.a.delete(&format!("/v1/secure/models/{id}")).0, 204);
    assert_eq!(t.a.get(&format!("/v1/secure/models/{id}")).0, 404);
    assert_eq!(t.c.get(&format!("/v1/secure/models/{id}")).0, 404);
    t.srv.healthy();
}

/// `PUT /v1/secure/models/{id}/grants`.
trait Grants {
    fn put_json_grants(&self, id: &str, grants: &[&str]) -> (u16, Value);
}

impl Grants for server_common::Api {
    fn put_json_grants(&self, id: &str, grants: &[&str]) -> (u16, Value) {
        let (s, b) = self
            .agent
            .put(self.url(&format!("/v1/secure/models/{id}/grants")))
            .header(
                "authorization",
                format!("Bearer {}", self.token.as_ref().unwrap()),
            )
            .header("content-type", "application/json")
            .send(json!({ "grants": grants }).to_string())
            .map(|mut r| {
                let s = r.status().as_u16();
                (s, r.body_mut().read_to_vec().unwrap())
            })
            .expect("answer");
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }
}

/// A measurement, not a check of speed (ignored; run by hand): an MNIST-sized model (784 inputs
/// in [0, 15], dense 784 -> 64, x², dense 64 -> 10) on a full batch of 8,192 samples through
/// the HTTP route: bytes, the node's answer time, exact agreement.
/// `cargo test -p more-node --test node -- --ignored --nocapture secure_predict::`
#[test]
#[ignore]
fn a_full_mnist_sized_batch_through_the_route() {
    use rand::{Rng, SeedableRng};
    let t = tenants();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(51);
    let mut ints =
        |n: usize, r: i64| -> Vec<i64> { (0..n).map(|_| rng.random_range(-r..=r)).collect() };
    let model_json = json!({
        "input_shape": [1, 28, 28],
        "input": {"offset": [0.0], "scale": [1.0], "min": 0, "max": 15},
        "layers": [
            {"dense": {"inputs": 784, "outputs": 64, "weights": ints(784 * 64, 7), "bias": ints(64, 7)}},
            "square",
            {"dense": {"inputs": 64, "outputs": 10, "weights": ints(640, 7), "bias": ints(10, 7)}}
        ],
        "output_scale": 1.0
    });
    let model = parsed(&model_json);
    let id = publish(&t.a, &model_json, &["b"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (sk, ek) = client_key(52);
    let key = upload_key(&t.b, &ek);
    let samples = 8192;
    let inputs: Vec<i64> = ints(samples * 784, 15).iter().map(|v| v.abs()).collect();
    let started = std::time::Instant::now();
    let body = encrypt(&sk, &model, &inputs, 53);
    let encrypted = started.elapsed();
    let started = std::time::Instant::now();
    let (s, answer) = predict(&t.b, &id, &key, &body);
    let node = started.elapsed();
    assert_eq!(s, 200, "{}", error_code(&answer));
    let decrypted = sk.decrypt_outputs(&model, &answer).unwrap();
    assert_eq!(
        decrypted.values,
        model.forward_plaintext(&inputs, samples).unwrap()
    );
    println!(
        "{samples} samples: request {} MB ({} bytes/sample), answer {} MB, encrypt {:.2} s, \
         node (upload + decode + evaluate + answer) {:.2} s = {:.0} samples/s, noise budget {} bits",
        body.len() / 1_000_000,
        body.len() / samples,
        answer.len() / 1_000_000,
        encrypted.as_secs_f64(),
        node.as_secs_f64(),
        samples as f64 / node.as_secs_f64(),
        decrypted.noise_budget_bits
    );
}
