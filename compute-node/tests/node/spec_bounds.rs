//! Issue #27, findings 1, 4 and the `"preset": null` item of 13: the model specs, hyper-parameters
//! and datasets that the node accepted (and that then aborted it, or answered NaN) are refused
//! with 400 naming the layer and the rule; a predict whose output is not finite is a 400 naming
//! the layer.

use crate::server_common::{settings, start, upload_dataset, TestServer};
use more_core::wire;
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::ArrayD;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// Asserts a 400 with `code` whose message holds every needle; returns the message.
fn refused(resp: (u16, Value), code: &str, needles: &[&str]) -> String {
    let (s, v) = resp;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"], code, "{v}");
    let m = v["message"].as_str().expect("message").to_string();
    for n in needles {
        assert!(m.contains(n), "{n:?} not in {m:?}");
    }
    m
}

fn model(srv: &TestServer, spec: Value) -> (u16, Value) {
    srv.post_json("/v1/models", &json!({"name": "m", "spec": spec}))
}

fn enc(key: &SecretKey, a: &ArrayD<f32>, rng: &mut ChaCha8Rng) -> Vec<u8> {
    wire::encode(
        &key.encrypt_compact(a, &ShadowDistribution::default(), rng)
            .expect("encrypt"),
    )
}

/// The specs of the issue: each was a 201 (the first then aborted the node on a viewer's
/// `GET weights`); now each is a 400 naming the layer and the rule.
#[test]
fn the_issues_model_specs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    let conv =
        |padding: u64| json!({"type": "conv2d", "filters": 1, "kernel": 1, "padding": padding});
    refused(
        model(
            &srv,
            json!({"input_shape": [1, 1, 1], "layers": [conv(1_000_000_000)]}),
        ),
        "bad_request",
        &[
            "layers.0",
            "padding 1000000000 must be smaller than the kernel 1",
        ],
    );
    // The poison job's model: a huge max-pool and flatten make the output small.
    refused(
        model(
            &srv,
            json!({"input_shape": [1, 1, 1], "layers": [conv(20_000),
                {"type": "max_pool2d", "size": 40_001}, {"type": "flatten"}]}),
        ),
        "bad_request",
        &["layers.0", "padding"],
    );
    refused(
        model(
            &srv,
            json!({"input_shape": [1, 100_000, 100_000], "layers": [conv(0)]}),
        ),
        "bad_request",
        &["input_shape", "100000", "limit"],
    );
    refused(
        model(
            &srv,
            json!({"input_shape": [4], "layers": [{"type": "dense", "units": 2},
                {"type": "polynomial", "coefficients": vec![1e30; 50]}]}),
        ),
        "bad_request",
        &["layers.1", "polynomial", "coefficients"],
    );
    refused(
        model(
            &srv,
            json!({"input_shape": [4], "layers": [{"type": "polynomial", "coefficients": [0.0, 1.0, 1e30]}]}),
        ),
        "bad_request",
        &["layers.0", "coefficient 2"],
    );
    // Activations past the per-layer bound: 4096 filters of 512x512.
    refused(
        model(
            &srv,
            json!({"input_shape": [1, 512, 512], "layers": [
                {"type": "conv2d", "filters": 4096, "kernel": 1}]}),
        ),
        "bad_request",
        &["layers.0", "output", "limit"],
    );
    srv.healthy();
}

/// `num_classes` 2^63 was accepted.
#[test]
fn num_classes_past_2_20_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    refused(
        srv.post_json(
            "/v1/datasets",
            &json!({"name": "d", "task": "classification", "num_classes": 1u64 << 63}),
        ),
        "bad_request",
        &["num_classes", "1048576"],
    );
    let (s, v) = srv.post_json(
        "/v1/datasets",
        &json!({"name": "d", "task": "classification", "num_classes": 1 << 20}),
    );
    assert_eq!(s, 201, "{v}");
}

/// Features of shape (3, 0) made a `ready` dataset.
#[test]
fn features_with_a_zero_sized_axis_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let key = SecretKey::from_seed(7);
    let (s, ds) = srv.post_json("/v1/datasets", &json!({"name": "d", "task": "regression"}));
    assert_eq!(s, 201, "{ds}");
    let id = ds["id"].as_str().unwrap();
    let y = ArrayD::from_shape_fn(vec![3, 1], |i| i[0] as f32 * 0.2);
    let (s, v) = srv.put_bytes(
        &format!("/v1/datasets/{id}/targets"),
        &enc(&key, &y, &mut rng),
    );
    assert_eq!(s, 200, "{v}");
    let empty = ArrayD::<f32>::zeros(vec![3, 0]);
    refused(
        srv.put_bytes(
            &format!("/v1/datasets/{id}/features"),
            &enc(&key, &empty, &mut rng),
        ),
        "shape_mismatch",
        &["[3, 0]"],
    );
    let (_, ds) = srv.get_json(&format!("/v1/datasets/{id}"));
    assert_eq!(ds["state"], "created", "{ds}");
}

/// A learning rate of 1e308 was accepted; so was any finite epsilon.
#[test]
fn out_of_range_hyper_parameters_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let key = SecretKey::from_seed(7);
    let x = ArrayD::from_shape_fn(vec![4, 2], |i| i[0] as f32 * 0.1);
    let y = ArrayD::from_shape_fn(vec![4, 1], |i| i[0] as f32 * 0.2);
    let data = upload_dataset(
        &srv,
        "regression",
        None,
        &enc(&key, &x, &mut rng),
        &enc(&key, &y, &mut rng),
    );
    let (s, m) = model(
        &srv,
        json!({"input_shape": [2], "layers": [{"type": "dense", "units": 1}]}),
    );
    assert_eq!(s, 201, "{m}");
    let job = |optimizer: Value| {
        srv.post_json(
            "/v1/jobs",
            &json!({"model_id": m["id"], "dataset_id": data, "epochs": 1, "batch_size": 2,
                "optimizer": optimizer, "loss": "mse"}),
        )
    };
    refused(
        job(json!({"type": "sgd", "learning_rate": 1e308})),
        "bad_request",
        &["learning_rate in (0, 1000000000]"],
    );
    refused(
        job(json!({"type": "adam", "learning_rate": 1e-3, "epsilon": 1e300})),
        "bad_request",
        &["epsilon"],
    );
    let (s, v) = job(json!({"type": "sgd", "learning_rate": 0.1}));
    assert_eq!(s, 202, "{v}");
}

/// Polynomials inside the bounds can still overflow f32 when stacked on large inputs: the
/// predict answered 200 with NaN/∞ values; now a 400 naming the first layer whose output is not
/// finite.
#[test]
fn a_non_finite_predict_is_refused_naming_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    let x8 = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e6];
    let (s, m) = model(
        &srv,
        json!({"input_shape": [2], "layers": [{"type": "relu"},
            {"type": "polynomial", "coefficients": x8},
            {"type": "polynomial", "coefficients": x8}]}),
    );
    assert_eq!(s, 201, "{m}");
    let predict = format!("/v1/models/{}/predict", m["id"].as_str().unwrap());
    let body = |v: f32| {
        wire::encode(&more_core::tensor::PlanarTensor::plain(ArrayD::from_elem(
            vec![3, 2],
            v,
        )))
    };
    let (s, out) = srv.post_bytes(&predict, &body(1e-3));
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&out));
    let (s, out) = srv.post_bytes(&predict, &body(300.0));
    let v: Value = serde_json::from_slice(&out)
        .unwrap_or_else(|_| panic!("{s}: not a JSON error ({} bytes)", out.len()));
    refused(
        (s, v),
        "bad_request",
        &["layers.2 (polynomial)", "non-finite"],
    );
    srv.healthy();
}

/// `"preset": null` beside `spec` was a 400 ("give either"); null counts as absent.
#[test]
fn a_null_preset_beside_spec_counts_as_absent() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    let spec = json!({"input_shape": [2], "layers": [{"type": "dense", "units": 1}]});
    let (s, m) = srv.post_json(
        "/v1/models",
        &json!({"name": "p", "spec": spec, "preset": null, "input_shape": null}),
    );
    assert_eq!(s, 201, "{m}");
    assert_eq!(m["preset"], Value::Null, "{m}");
    let (s, m) = srv.post_json(
        "/v1/models",
        &json!({"name": "p", "spec": null, "preset": "regression_mlp", "input_shape": [2],
            "outputs": 1}),
    );
    assert_eq!(s, 201, "{m}");
}

/// Training that overflows (the same polynomials on data of 300) ends the job `failed` with the
/// trainer's message, once, and the node goes on answering: an error, not a crash.
#[test]
fn a_training_run_that_overflows_fails_the_job_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let key = SecretKey::from_seed(9);
    let x = ArrayD::from_elem(vec![4, 2], 300.0f32);
    let y = ArrayD::from_elem(vec![4, 2], 0.5f32);
    let data = upload_dataset(
        &srv,
        "regression",
        None,
        &enc(&key, &x, &mut rng),
        &enc(&key, &y, &mut rng),
    );
    let x8 = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e6];
    let (s, m) = model(
        &srv,
        json!({"input_shape": [2], "layers": [{"type": "dense", "units": 2},
            {"type": "polynomial", "coefficients": x8},
            {"type": "polynomial", "coefficients": x8}]}),
    );
    assert_eq!(s, 201, "{m}");
    let (s, job) = srv.post_json(
        "/v1/jobs",
        &json!({"model_id": m["id"], "dataset_id": data, "epochs": 1, "batch_size": 2,
            "optimizer": {"type": "sgd", "learning_rate": 0.01}, "loss": "mse"}),
    );
    assert_eq!(s, 202, "{job}");
    let job = srv.wait_job(
        job["id"].as_str().unwrap(),
        std::time::Duration::from_secs(60),
        |j| !matches!(j["state"].as_str(), Some("queued" | "running")),
    );
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(error.contains("NaN or infinite"), "{job}");
    srv.healthy();
}

/// A job whose training batch needs more activation memory than one pass may take is refused
/// when it is made (400 saying how many samples fit), not failed at its first epoch; a batch
/// that fits is queued. The node here never trains (`max_jobs` 0).
#[test]
fn a_training_batch_over_the_activation_budget_is_refused_at_creation() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.max_jobs = 0;
    let srv = start(s);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let key = SecretKey::from_seed(11);
    let samples = 12;
    let x = ArrayD::from_shape_fn(vec![samples, 1, 256, 256], |i| (i[2] % 7) as f32 * 0.1);
    let y = ArrayD::from_shape_fn(vec![samples, 1], |i| i[0] as f32 * 0.1);
    let data = upload_dataset(
        &srv,
        "regression",
        None,
        &enc(&key, &x, &mut rng),
        &enc(&key, &y, &mut rng),
    );
    // About 5 x 9.8 M values per sample kept by a training pass: ~400 MB in compact f32, so
    // about 10 samples fit the 4 GiB of a pass.
    let (s, m) = model(
        &srv,
        json!({"input_shape": [1, 256, 256], "layers": [
            {"type": "conv2d", "filters": 150, "kernel": 1},
            {"type": "relu"},
            {"type": "conv2d", "filters": 1, "kernel": 1},
            {"type": "flatten"},
            {"type": "dense", "units": 1}
        ]}),
    );
    assert_eq!(s, 201, "{m}");
    let job = |batch_size: usize| {
        srv.post_json(
            "/v1/jobs",
            &json!({"model_id": m["id"], "dataset_id": data, "epochs": 1,
                "batch_size": batch_size, "optimizer": {"type": "sgd", "learning_rate": 0.01},
                "loss": "mse"}),
        )
    };
    refused(
        job(samples),
        "bad_request",
        &["training batch of 12 samples", "samples per batch"],
    );
    let (s, v) = job(2);
    assert_eq!(s, 202, "{v}");
}
