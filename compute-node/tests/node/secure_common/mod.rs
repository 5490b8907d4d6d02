//! Helpers of the secure-mode tests (issue #30): a node that needs tokens with three tenants
//! (`a` owns models, `b` is granted them, `c` is not), small random quantized models, BFV
//! batches made with the client's secret key, and a search of the node's files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use more_secret_key::secure::BfvSecretKey;
use more_secure::QuantizedModel;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};

use crate::server_common::{operator_command, settings, start, Api, TestServer};

/// Inputs of [`small_model`] per sample.
pub const INPUTS: usize = 16;

/// A node with tokens and the tenants' clients: `a` (trainer, owner), `a_viewer`, `b` (viewer,
/// granted), `b_trainer`, `c` (trainer, never granted).
pub struct Tenants {
    pub srv: TestServer,
    pub a: Api,
    pub a_viewer: Api,
    pub b: Api,
    pub b_trainer: Api,
    pub c: Api,
    pub data: tempfile::TempDir,
}

/// Starts the node on a fresh data dir (SQLite) with the three tenants.
pub fn tenants() -> Tenants {
    tenants_on(None, |_| {})
}

/// Starts the node on a fresh data dir with the three tenants, on the database `db` (default:
/// SQLite in the data dir), its settings changed by `tweak`.
pub fn tenants_on(db: Option<&str>, tweak: impl FnOnce(&mut more_server::Settings)) -> Tenants {
    let data = tempfile::tempdir().unwrap();
    let db_args: Vec<&str> = db.map(|url| vec!["--db", url]).unwrap_or_default();
    let command = |args: &[&str]| operator_command(data.path(), &[args, &db_args].concat());
    for t in ["a", "b", "c"] {
        command(&["tenant", "create", t]);
    }
    let key = |t: &str, role: &str| {
        let out = command(&["apikey", "create", "--tenant", t, "--role", role]);
        out.lines().last().expect("the key").to_string()
    };
    let keys = [
        key("a", "trainer"),
        key("a", "viewer"),
        key("b", "viewer"),
        key("b", "trainer"),
        key("c", "trainer"),
    ];
    let mut settings = more_server::Settings {
        insecure_no_auth: false,
        db_url: db.map(str::to_string),
        ..settings(data.path())
    };
    tweak(&mut settings);
    let srv = start(settings);
    let api = |k: &str| srv.api.with_token(k);
    Tenants {
        a: api(&keys[0]),
        a_viewer: api(&keys[1]),
        b: api(&keys[2]),
        b_trainer: api(&keys[3]),
        c: api(&keys[4]),
        srv,
        data,
    }
}

/// A small model of random integer weights: 16 inputs in [-8, 8], dense 16 -> 8, x², dense
/// 8 -> 4 (worst case about 2^23, far below t/2), as the JSON a client publishes.
pub fn small_model(seed: u64) -> Value {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut ints =
        |n: usize, r: i64| -> Vec<i64> { (0..n).map(|_| rng.random_range(-r..=r)).collect() };
    json!({
        "input_shape": [INPUTS],
        "input": {"offset": [0.0], "scale": [1.0], "min": -8, "max": 8},
        "layers": [
            {"dense": {"inputs": INPUTS, "outputs": 8, "weights": ints(INPUTS * 8, 4), "bias": ints(8, 16)}},
            "square",
            {"dense": {"inputs": 8, "outputs": 4, "weights": ints(32, 4), "bias": ints(4, 16)}}
        ],
        "output_scale": 0.01,
        "class_names": ["w", "x", "y", "z"]
    })
}

/// The model JSON as the library's type.
pub fn parsed(model: &Value) -> QuantizedModel {
    serde_json::from_value(model.clone()).expect("a QuantizedModel")
}

/// `samples` random quantized samples of [`small_model`] (`samples x 16`, in [-8, 8]).
pub fn samples(seed: u64, samples: usize) -> Vec<i64> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..samples * INPUTS)
        .map(|_| rng.random_range(-8..=8))
        .collect()
}

/// A fresh BFV secret key (deterministic per seed) and its evaluation key bytes.
pub fn client_key(seed: u64) -> (BfvSecretKey, Vec<u8>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let sk = BfvSecretKey::generate(&mut rng);
    let ek = sk.evaluation_key(&mut rng).expect("evaluation key");
    (sk, ek)
}

/// The encrypted batch of `inputs` under `sk`.
pub fn encrypt(sk: &BfvSecretKey, model: &QuantizedModel, inputs: &[i64], seed: u64) -> Vec<u8> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let n = inputs.len() / model.input_len();
    sk.encrypt_batch(model, inputs, n, &mut rng)
        .expect("encrypt")
}

/// Publishes `model` as `api`'s tenant, granted to `grants`: the summary.
pub fn publish(api: &Api, model: &Value, grants: &[&str]) -> Value {
    let (s, v) = api.post_json(
        "/v1/secure/models",
        &json!({"name": "secure test", "model": model, "grants": grants}),
    );
    assert_eq!(s, 201, "{v}");
    v
}

/// Uploads an evaluation key as `api`'s tenant: its id.
pub fn upload_key(api: &Api, bytes: &[u8]) -> String {
    let (s, v) = api.post_bytes("/v1/secure/evaluation-keys", bytes);
    let v: Value = serde_json::from_slice(&v).unwrap_or(Value::Null);
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

/// `POST /v1/secure/models/{model}/predict?evaluation_key={key}` with `body`.
pub fn predict(api: &Api, model: &str, key: &str, body: &[u8]) -> (u16, Vec<u8>) {
    api.post_bytes(
        &format!("/v1/secure/models/{model}/predict?evaluation_key={key}"),
        body,
    )
}

/// The error code of a JSON error body.
pub fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| {
            let start = &body[..body.len().min(16)];
            format!("(not JSON: {} bytes, {start:?}...)", body.len())
        })
}

/// Every file under `dir`.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The files under `dir` whose bytes contain `needle`.
pub fn holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|f| {
            std::fs::read(f).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}

/// Values as little-endian i64 bytes.
pub fn le_bytes(values: &[i64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Values as a JSON array's text.
pub fn json_text(values: &[i64]) -> Vec<u8> {
    serde_json::to_vec(values).unwrap()
}

/// The audit log's rows (`more-node audit export`).
pub fn audit_rows(data: &Path) -> Vec<Value> {
    operator_command(data, &["audit", "export"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Settings for [`keys_are_capped_and_expire`]: keys live 6 s, the collector sweeps every second
/// and removes blobs unreferenced for 2 s.
pub fn short_lived_keys(s: &mut more_server::Settings) {
    s.evaluation_key_ttl = std::time::Duration::from_secs(6);
    s.gc_interval = std::time::Duration::from_secs(1);
    s.gc_grace = std::time::Duration::from_secs(2);
}

/// On a node with [`short_lived_keys`]: a tenant's 17th evaluation key removes its oldest, and
/// keys expire: predicting with an expired one is 404, and its blob leaves the store.
pub fn keys_are_capped_and_expire(t: &Tenants) {
    use std::time::{Duration, Instant};
    let model_json = small_model(11);
    let model = parsed(&model_json);
    let id = publish(&t.a, &model_json, &["b"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (sk, ek) = client_key(12);
    let inputs = samples(13, 2);
    let body = encrypt(&sk, &model, &inputs, 14);
    let ids: Vec<String> = (0..17).map(|_| upload_key(&t.b, &ek)).collect();
    let (s, _) = predict(&t.b, &id, &ids[0], &body);
    assert_eq!(s, 404, "the oldest of 17 keys is gone");
    for newer in [&ids[1], &ids[16]] {
        let (s, answer) = predict(&t.b, &id, newer, &body);
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&answer));
        let decrypted = sk.decrypt_outputs(&model, &answer).unwrap();
        assert_eq!(
            decrypted.values,
            model.forward_plaintext(&inputs, 2).unwrap()
        );
    }
    let blob = t
        .data
        .path()
        .join("blobs")
        .join(more_server::blobs::sha256_hex(&ek));
    assert!(blob.exists(), "the key is a blob of the store");
    let start = Instant::now();
    while predict(&t.b, &id, &ids[16], &body).0 != 404 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the key never expired"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    while blob.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the expired key's blob stays"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `POST path` with a body sent as the HTTP/1.1 chunks `pieces` (no `Content-Length`), each
/// written and flushed on its own, over a raw connection: `(status, body)`.
pub fn post_chunked(api: &Api, path: &str, pieces: &[&[u8]]) -> (u16, Vec<u8>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let address = api.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let token = api.token.as_deref().expect("a token");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    for piece in pieces {
        let framed = [format!("{:x}\r\n", piece.len()).as_bytes(), piece, b"\r\n"].concat();
        if stream
            .write_all(&framed)
            .and_then(|_| stream.flush())
            .is_err()
        {
            break; // answered and closed before the end: read the answer
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut answer = vec![0; length];
    reader.read_exact(&mut answer).unwrap();
    (status, answer)
}

/// Batches sent at once by one granted tenant share its quota: a model of `samples_per_day` 8,
/// six concurrent batches of 2 samples (each with its own connection and database
/// transaction, as requests on several nodes of one database would be): exactly four pass
/// and the use is 8, however they interleave.
pub fn concurrent_batches_share_one_quota(t: &Tenants) {
    let model_json = small_model(9);
    let model = parsed(&model_json);
    let (s, v) = t.a.post_json(
        "/v1/secure/models",
        &json!({"name": "q", "model": model_json, "grants": ["b"], "samples_per_day": 8}),
    );
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let (sk, ek) = client_key(90);
    let key = upload_key(&t.b, &ek);
    let bodies: Vec<Vec<u8>> = (0..6)
        .map(|i| encrypt(&sk, &model, &samples(91 + i, 2), i))
        .collect();
    let start = std::sync::Arc::new(std::sync::Barrier::new(bodies.len()));
    let threads: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let (api, id, key, start) = (t.b.clone(), id.clone(), key.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                predict(&api, &id, &key, &body)
            })
        })
        .collect();
    let mut statuses: Vec<u16> = threads.into_iter().map(|h| h.join().unwrap().0).collect();
    statuses.sort();
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);
    let (s, v) = t.b.get_json(&format!("/v1/secure/models/{id}"));
    assert_eq!((s, v["samples_used_24h"].clone()), (200, json!(8)), "{v}");
}

/// Two connection pools on the database `url` (as two nodes sharing it) race 16 reservations of
/// one sample each for `b` on one model of `samples_per_day` 5: exactly 5 are admitted.
pub fn racing_reservations_admit_exactly_the_quota(t: &Tenants, url: &str) {
    use more_server::secure::quota;
    let id = publish(&t.a, &small_model(5), &["b"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let admitted = runtime.block_on(async {
        let nodes = [
            more_server::db::Db::connect(url).await.unwrap(),
            more_server::db::Db::connect(url).await.unwrap(),
        ];
        let now = more_server::audit::now_micros();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (db, id) = (nodes[i % 2].clone(), id.clone());
                tokio::spawn(async move {
                    let r = quota::reserve(&db, &id, "b", 1, 5, now).await.unwrap();
                    r.map(quota::Reservation::keep).is_ok()
                })
            })
            .collect();
        let mut admitted = 0;
        for task in tasks {
            admitted += usize::from(task.await.unwrap());
        }
        admitted
    });
    assert_eq!(admitted, 5);
    let (s, v) = t.b.get_json(&format!("/v1/secure/models/{id}"));
    assert_eq!((s, v["samples_used_24h"].clone()), (200, json!(5)), "{v}");
}
