//! Every error class over HTTP; after each, the server still answers and existing data is intact.

use std::time::Duration;

use crate::server_common::{settings, start, upload_dataset, TestServer};
use more_core::tensor::PlanarTensor;
use more_core::wire;
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::{Array2, ArrayD};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

fn data(n: usize, f: usize, k: usize, rng: &mut ChaCha8Rng) -> (ArrayD<f32>, ArrayD<f32>) {
    let x = Array2::from_shape_fn((n, f), |_| rng.random_range(-1.0f32..1.0)).into_dyn();
    let y =
        Array2::from_shape_fn((n, k), |(i, j)| if i % k == j { 1.0f32 } else { 0.0 }).into_dyn();
    (x, y)
}

fn enc(key: &SecretKey, a: &ArrayD<f32>, rng: &mut ChaCha8Rng) -> Vec<u8> {
    wire::encode(
        &key.encrypt_compact(a, &ShadowDistribution::default(), rng)
            .unwrap(),
    )
}

fn assert_err(resp: (u16, Value), status: u16, code: &str) -> String {
    let (s, v) = resp;
    assert_eq!(s, status, "{v}");
    assert_eq!(v["error"], code, "{v}");
    v["message"].as_str().expect("message").to_string()
}

/// The server answers and the reference dataset is unchanged.
fn intact(srv: &TestServer, id: &str, before: &Value) {
    srv.healthy();
    let (s, now) = srv.get_json(&format!("/v1/datasets/{id}"));
    assert_eq!(s, 200);
    assert_eq!(&now, before);
}

fn new_dataset(srv: &TestServer) -> String {
    let (s, v) = srv.post_json(
        "/v1/datasets",
        &json!({"name": "e", "task": "classification", "num_classes": 3}),
    );
    assert_eq!(s, 201);
    v["id"].as_str().unwrap().to_string()
}

#[test]
fn error_classes() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (key, other) = (SecretKey::from_seed(1), SecretKey::from_seed(2));
    let (x, y) = data(20, 4, 3, &mut rng);
    let dir = tempfile::tempdir().unwrap();
    let mut st = settings(dir.path());
    st.max_upload_bytes = 64 << 10;
    st.max_predict_batch = 8;
    let srv = start(st);
    let good = upload_dataset(
        &srv,
        "classification",
        Some(3),
        &enc(&key, &x, &mut rng),
        &enc(&key, &y, &mut rng),
    );
    let (_, before) = srv.get_json(&format!("/v1/datasets/{good}"));
    let e = new_dataset(&srv);
    let feat = format!("/v1/datasets/{e}/features");
    let targ = format!("/v1/datasets/{e}/targets");

    // Malformed bytes.
    let m = assert_err(
        srv.put_bytes(&feat, b"this is not a tensor at all, not even close"),
        400,
        "invalid_tensor",
    );
    assert!(m.contains("magic"), "{m}");
    intact(&srv, &good, &before);
    // Truncated upload.
    let ex = enc(&key, &x, &mut rng);
    let m = assert_err(
        srv.put_bytes(&feat, &ex[..ex.len() - 10]),
        400,
        "invalid_tensor",
    );
    assert!(m.contains("truncated"), "{m}");
    intact(&srv, &good, &before);
    // f64 and plaintext are refused.
    let x64 = key
        .encrypt_compact(&x.mapv(f64::from), &ShadowDistribution::default(), &mut rng)
        .unwrap();
    assert_err(
        srv.put_bytes(&feat, &wire::encode(&x64)),
        400,
        "invalid_tensor",
    );
    let m = assert_err(
        srv.put_bytes(&feat, &wire::encode(&PlanarTensor::plain(x.clone()))),
        400,
        "invalid_tensor",
    );
    assert!(m.contains("plaintext"), "{m}");
    intact(&srv, &good, &before);
    // Not ready: a job on a dataset without targets.
    assert_eq!(srv.put_bytes(&feat, &ex).0, 200);
    let (s, model) = srv.post_json("/v1/models", &json!({"name": "m", "spec": {"input_shape": [4], "layers": [{"type": "dense", "units": 8}, {"type": "relu"}, {"type": "dense", "units": 3}]}}));
    assert_eq!(s, 201, "{model}");
    let model = model["id"].as_str().unwrap().to_string();
    let sgd = json!({"type": "sgd", "learning_rate": 0.05, "momentum": 0.5});
    assert_err(srv.post_json("/v1/jobs", &json!({"model_id": model, "dataset_id": e, "epochs": 1, "batch_size": 4, "optimizer": sgd})), 409, "conflict");
    intact(&srv, &good, &before);
    // Shape mismatch: targets with another sample count; wrong class count.
    let (_, y19) = data(19, 4, 3, &mut rng);
    let m = assert_err(
        srv.put_bytes(&targ, &enc(&key, &y19, &mut rng)),
        400,
        "shape_mismatch",
    );
    assert!(m.contains("19"), "{m}");
    let (_, y4) = data(20, 4, 4, &mut rng);
    assert_err(
        srv.put_bytes(&targ, &enc(&key, &y4, &mut rng)),
        400,
        "shape_mismatch",
    );
    intact(&srv, &good, &before);
    // Basis mismatch: targets under another key.
    assert_err(
        srv.put_bytes(&targ, &enc(&other, &y, &mut rng)),
        400,
        "basis_mismatch",
    );
    intact(&srv, &good, &before);
    // Unknown ids.
    let zero = "0".repeat(32);
    for path in [
        format!("/v1/datasets/{zero}"),
        format!("/v1/models/{zero}"),
        format!("/v1/jobs/{zero}"),
        format!("/v1/jobs/{zero}/losses"),
        format!("/v1/models/{zero}/weights"),
        "/v1/datasets/..%2F..%2Fetc".to_string(),
        "/v1/nothing-here".to_string(),
    ] {
        assert_err(srv.get_json(&path), 404, "not_found");
    }
    assert_err(
        srv.put_bytes(&format!("/v1/datasets/{zero}/features"), &ex),
        404,
        "not_found",
    );
    assert_err(
        srv.post_bytes(&format!("/v1/models/{zero}/predict"), &ex)
            .pipe_json(),
        404,
        "not_found",
    );
    assert_err(
        srv.post_empty(&format!("/v1/jobs/{zero}/resume")),
        404,
        "not_found",
    );
    intact(&srv, &good, &before);
    // Oversized upload (limit 64 KiB here): 5,000 x 4 compact f32 is 160 kB.
    let (big, _) = data(5000, 4, 3, &mut rng);
    let m = assert_err(
        srv.put_bytes(&feat, &enc(&key, &big, &mut rng)),
        413,
        "payload_too_large",
    );
    assert!(m.contains("65536"), "{m}");
    intact(&srv, &good, &before);
    // Unknown layer type.
    let m = assert_err(srv.post_json("/v1/models", &json!({"name": "m", "spec": {"input_shape": [4], "layers": [{"type": "transformer", "heads": 8}]}})), 400, "unknown_layer");
    assert!(m.contains("transformer"), "{m}");
    assert_err(
        srv.post_json(
            "/v1/models",
            &json!({"name": "m", "preset": "resnet", "input_shape": [4], "outputs": 3}),
        ),
        400,
        "bad_request",
    );
    assert_err(srv.post_json("/v1/models", &json!({"name": "m", "spec": {"input_shape": [4], "layers": [{"type": "dense", "units": 0}]}})), 400, "bad_request");
    // Absurd sizes computed from a request: a clear 400, never an overflow, a panic or an
    // allocation (debug test builds check overflow, so unchecked arithmetic would panic here).
    let huge = usize::MAX / 2 + 1;
    for layers in [
        json!([{"type": "conv2d", "filters": 1, "kernel": 3, "stride": 1, "padding": huge}]),
        json!([{"type": "conv2d", "filters": 2, "kernel": huge, "stride": 1, "padding": 0}]),
        json!([{"type": "conv2d", "filters": huge, "kernel": 3, "stride": 1, "padding": 0}]),
        json!([{"type": "flatten"}, {"type": "dense", "units": huge}]),
    ] {
        let spec = json!({"name": "m", "spec": {"input_shape": [huge, 4, 4], "layers": layers}});
        assert_err(srv.post_json("/v1/models", &spec), 400, "bad_request");
    }
    assert_err(
        srv.post_json("/v1/models", &json!({"name": "m"})),
        400,
        "bad_request",
    );
    // Invalid JSON and hyper-parameters.
    let (s, v) = {
        let r = srv
            .agent
            .post(srv.url("/v1/datasets"))
            .header("content-type", "application/json")
            .send("{not json")
            .unwrap();
        let s = r.status().as_u16();
        (
            s,
            serde_json::from_slice::<Value>(&r.into_body().read_to_vec().unwrap()).unwrap(),
        )
    };
    assert_eq!((s, v["error"].as_str()), (400, Some("bad_request")));
    for bad in [
        json!({"model_id": model, "dataset_id": good, "epochs": 1, "batch_size": 4, "optimizer": {"type": "sgd", "learning_rate": -1.0}}),
        json!({"model_id": model, "dataset_id": good, "epochs": 0, "batch_size": 4, "optimizer": sgd}),
        json!({"model_id": model, "dataset_id": good, "epochs": 1, "batch_size": 0, "optimizer": sgd}),
        json!({"model_id": model, "dataset_id": good, "epochs": 1, "batch_size": 4, "optimizer": {"type": "adam", "learning_rate": 0.01, "beta1": 1.5}}),
        json!({"model_id": model, "dataset_id": good, "epochs": 1, "batch_size": 4, "optimizer": {"type": "rmsprop", "learning_rate": 0.01}}),
    ] {
        assert_err(srv.post_json("/v1/jobs", &bad), 400, "bad_request");
    }
    intact(&srv, &good, &before);

    // Train on the good dataset, then predict under another key: basis mismatch.
    let (s, job) = srv.post_json("/v1/jobs", &json!({"model_id": model, "dataset_id": good, "epochs": 1, "batch_size": 4, "optimizer": sgd}));
    assert_eq!(s, 202, "{job}");
    let job = srv.wait_job(job["id"].as_str().unwrap(), Duration::from_secs(60), |j| {
        j["state"] == "completed"
    });
    assert_err(
        srv.post_empty(&format!("/v1/jobs/{}/cancel", job["id"].as_str().unwrap())),
        409,
        "conflict",
    );
    let (xt, _) = data(5, 4, 3, &mut rng);
    assert_err(
        srv.post_bytes(
            &format!("/v1/models/{model}/predict"),
            &enc(&other, &xt, &mut rng),
        )
        .pipe_json(),
        400,
        "basis_mismatch",
    );
    let (s, _) = srv.post_bytes(
        &format!("/v1/models/{model}/predict"),
        &enc(&key, &xt, &mut rng),
    );
    assert_eq!(s, 200);
    // A batch over the limit of 8 whose body fits what 8 samples can need: refused by its header.
    let predict = format!("/v1/models/{model}/predict");
    let (x9, _) = data(9, 4, 3, &mut rng);
    let m = assert_err(
        srv.post_bytes(&predict, &enc(&key, &x9, &mut rng))
            .pipe_json(),
        413,
        "payload_too_large",
    );
    assert!(m.contains("batch of 9"), "{m}");
    // A body past what a full batch can need (8 samples x 4 values x 16 B + 120 B of header =
    // 632 B) is refused while it is read, long before the 64 KiB upload limit.
    let (x64, _) = data(64, 4, 3, &mut rng);
    let m = assert_err(
        srv.post_bytes(&predict, &enc(&key, &x64, &mut rng))
            .pipe_json(),
        413,
        "payload_too_large",
    );
    assert!(m.contains("632 bytes"), "{m}");
    // Wrong input width.
    let (x5, _) = data(5, 5, 3, &mut rng);
    assert_err(
        srv.post_bytes(
            &format!("/v1/models/{model}/predict"),
            &enc(&key, &x5, &mut rng),
        )
        .pipe_json(),
        400,
        "shape_mismatch",
    );
    intact(&srv, &good, &before);

    // A corrupted blob in the store is reported, not used.
    let (_, m) = srv.get_json(&format!("/v1/models/{model}"));
    let sha = m["weights_sha256"].as_str().expect("trained");
    let weights = dir.path().join("blobs").join(sha);
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&weights, bytes).unwrap();
    let m = assert_err(
        srv.get(&format!("/v1/models/{model}/weights")).pipe_json(),
        500,
        "internal",
    );
    assert!(m.contains("corrupt"), "{m}");
    assert!(
        !m.contains(&dir.path().display().to_string()),
        "no server path: {m}"
    );
    intact(&srv, &good, &before);
}

trait PipeJson {
    fn pipe_json(self) -> (u16, Value);
}
impl PipeJson for (u16, Vec<u8>) {
    fn pipe_json(self) -> (u16, Value) {
        (
            self.0,
            serde_json::from_slice(&self.1).unwrap_or(Value::Null),
        )
    }
}
