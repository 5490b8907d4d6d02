//! A model's public initial weights are built once, at creation, and stored as a referenced blob
//! (issue #27, finding 3): `GET /weights` and predict of an untrained model serve that blob
//! instead of rebuilding the weights per request; models made before are backfilled once.

use std::time::Duration;

use crate::server_common::{settings, start, TestServer};
use more_core::nn::{Model, ModelSpec};
use more_core::tensor::{Plain, PlanarTensor};
use more_core::wire::{self, DecodeLimits};
use more_server::blobs::sha256_hex;
use ndarray::ArrayD;
use serde_json::{json, Value};

fn spec() -> Value {
    json!({"input_shape": [6], "layers": [
        {"type": "dense", "units": 5}, {"type": "relu"}, {"type": "dense", "units": 3}]})
}

fn create(srv: &TestServer) -> Value {
    let (s, m) = srv.post_json(
        "/v1/models",
        &json!({"name": "m", "spec": spec(), "seed": 11}),
    );
    assert_eq!(s, 201, "{m}");
    m
}

fn weights(srv: &TestServer, id: &str) -> (u16, Vec<u8>) {
    srv.get(&format!("/v1/models/{id}/weights"))
}

/// The blob exists after creation under the SHA-256 the row names; a GET serves exactly its
/// bytes, read from the store (a tampered blob is reported corrupt, not rebuilt); the garbage
/// collector keeps it; predict of the untrained model is what `Model::new` computes, bit for bit.
#[test]
fn initial_weights_are_stored_at_creation_and_served_from_the_blob() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = settings(dir.path());
    st.gc_interval = Duration::from_secs(1);
    st.gc_grace = Duration::ZERO;
    let srv = start(st);
    let m = create(&srv);
    let id = m["id"].as_str().unwrap();
    let sha = m["initial_weights_sha256"]
        .as_str()
        .unwrap_or_else(|| panic!("no initial weights recorded: {m}"));
    let path = dir.path().join("blobs").join(sha);
    let stored = std::fs::read(&path).expect("the initial weights blob exists after creation");
    assert_eq!(sha256_hex(&stored), sha);
    // Served from the blob: tampered, it is refused as corrupt instead of being rebuilt.
    let mut bad = stored.clone();
    *bad.last_mut().unwrap() ^= 0x55;
    std::fs::write(&path, &bad).unwrap();
    let (s, body) = weights(&srv, id);
    assert_eq!(s, 500, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("corrupt"));
    std::fs::write(&path, &stored).unwrap();
    let (s, first) = weights(&srv, id);
    assert_eq!(s, 200);
    let (_, second) = weights(&srv, id);
    assert_eq!(first, stored);
    assert_eq!(second, stored);
    // The bundle is the seed's initial weights.
    let spec: ModelSpec = serde_json::from_value(spec()).unwrap();
    let model = Model::<f32, Plain>::new(&spec, Plain, 11).unwrap();
    let bundle = wire::decode_bundle(&first, &DecodeLimits::default()).unwrap();
    assert_eq!(bundle.metadata["trained_epochs"], 0);
    for ((name, t), (want_name, want)) in bundle.tensors.into_iter().zip(model.parameters()) {
        assert_eq!(name, want_name);
        let t = t.into_typed::<f32, Plain>().unwrap();
        assert_eq!(t.values(), want.values(), "{name}");
    }
    // Predict runs the stored weights: the same bits as the model built from the seed.
    let x = ArrayD::from_shape_fn(ndarray::IxDyn(&[4, 6]), |i| (i[0] * 6 + i[1]) as f32 * 0.1);
    let want = model.forward(&PlanarTensor::plain(x.clone())).unwrap();
    let (s, out) = srv.post_bytes(
        &format!("/v1/models/{id}/predict"),
        &wire::encode(&PlanarTensor::plain(x)),
    );
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&out));
    let got = wire::decode(&out, &DecodeLimits::default())
        .unwrap()
        .into_typed::<f32, Plain>()
        .unwrap();
    assert_eq!(got.values(), want.values());
    // Referenced: the collector (grace 0, every second) removes an unreferenced blob, not it.
    let stray = dir.path().join("blobs").join("0".repeat(64));
    std::fs::write(&stray, b"unreferenced").unwrap();
    let start = std::time::Instant::now();
    while stray.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the collector did not run"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(path.exists(), "the initial weights were collected");
    assert_eq!(weights(&srv, id).1, stored);
}

/// A model made before initial weights were stored (no `initial_weights_sha256`, no blob) gets
/// them built once, stored and recorded at its first GET; later GETs serve that blob.
#[test]
fn models_made_before_get_their_initial_weights_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    let m = create(&srv);
    let id = m["id"].as_str().unwrap().to_string();
    let sha = m["initial_weights_sha256"].as_str().unwrap().to_string();
    // Make it an old model: the field, its reference and its blob gone.
    let db = format!("sqlite://{}?mode=rw", dir.path().join("more.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&db).await.unwrap();
        sqlx::query("UPDATE models SET record = json_remove(record, '$.initial_weights_sha256')")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("DELETE FROM blob_refs WHERE owner LIKE 'model:%'")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    std::fs::remove_file(dir.path().join("blobs").join(&sha)).unwrap();
    let (_, old) = srv.get_json(&format!("/v1/models/{id}"));
    assert!(old.get("initial_weights_sha256").is_none(), "{old}");
    // Concurrent first requests: one build, one row update, identical bytes.
    let bodies: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| weights(&srv, &id))).collect();
        handles
            .into_iter()
            .map(|h| {
                let (s, b) = h.join().unwrap();
                assert_eq!(s, 200);
                b
            })
            .collect()
    });
    assert!(bodies.iter().all(|b| sha256_hex(b) == sha));
    let (_, now) = srv.get_json(&format!("/v1/models/{id}"));
    assert_eq!(now["initial_weights_sha256"], sha.as_str(), "{now}");
    assert!(dir.path().join("blobs").join(&sha).exists());
}

/// A download whose blob does not fit the weights cache is a copy per request: its bytes count
/// in the body budget while it is sent, so with the budget held by a stalled predict it waits,
/// then gets 503 `busy`; once the budget is free it is served.
#[test]
fn downloads_too_large_for_the_cache_count_in_the_body_budget() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut st = settings(dir.path());
    st.model_cache_bytes = 1 << 10;
    st.max_upload_bytes = 1 << 20;
    st.max_body_bytes_in_flight = 1 << 20;
    st.body_budget_wait = Duration::from_secs(1);
    let srv = start(st);
    // 100,100 parameters: a 400 kB blob, over the 1 KiB cache.
    let spec = json!({"input_shape": [1000], "layers": [{"type": "dense", "units": 100}]});
    let (s, m) = srv.post_json("/v1/models", &json!({"name": "m", "spec": spec}));
    assert_eq!(s, 201, "{m}");
    let id = m["id"].as_str().unwrap();
    // A predict that declares 900 KiB, sends 1 KiB and stalls: 124 KiB of the budget are left.
    let port = srv.base.rsplit(':').next().unwrap();
    let mut hog = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    write!(
        hog,
        "POST /v1/models/{id}/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        900 << 10
    )
    .unwrap();
    hog.write_all(&[0u8; 1024]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (s, body) = weights(&srv, id);
    assert_eq!(
        s,
        503,
        "{}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    assert!(String::from_utf8_lossy(&body).contains("busy"));
    drop(hog);
    std::thread::sleep(Duration::from_millis(300));
    let (s, body) = weights(&srv, id);
    assert_eq!(s, 200);
    assert_eq!(
        sha256_hex(&body),
        m["initial_weights_sha256"].as_str().unwrap()
    );
}
