//! Request bodies are bounded (issue #27, findings 2 and 5): a declared length over the limit is
//! answered 413 at once with `Connection: close`; a body that never comes, or trickles, gets 408;
//! the bytes of bodies in memory are a node-wide budget, reserved before a body is read (a body
//! that does not fit waits, then gets 503 with `Retry-After`), across predicts and uploads.
//!
//! Raw TCP clients: what matters is what the node answers while a body is still (not) arriving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::server_common::{settings, start, TestServer};
use more_core::tensor::PlanarTensor;
use more_core::wire;
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::ArrayD;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

/// A connection that has sent a request head declaring `length` body bytes.
fn open(srv: &TestServer, method: &str, path: &str, length: usize) -> TcpStream {
    let port = srv.base.rsplit(':').next().unwrap();
    let mut s = TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
    )
    .unwrap();
    s
}

/// Reads an answer's head and body (up to its Content-Length); panics after the read timeout.
fn answer(s: &mut TcpStream) -> (u16, String, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("an answer before the timeout");
        assert_eq!(n, 1, "connection closed without an answer");
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_lowercase();
    let status = head[9..12].parse().expect("status");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).expect("body");
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

fn dataset(srv: &TestServer) -> String {
    let (s, v) = srv.post_json(
        "/v1/datasets",
        &json!({"name": "d", "task": "classification", "num_classes": 2}),
    );
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

/// A model whose predict limit is above the test's upload limit (input 1,000 values).
fn wide_model(srv: &TestServer) -> String {
    let spec = json!({"input_shape": [1000], "layers": [{"type": "dense", "units": 2}]});
    let (s, v) = srv.post_json("/v1/models", &json!({"name": "m", "spec": spec}));
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

fn plain_batch(n: usize) -> Vec<u8> {
    let x = ArrayD::from_shape_fn(ndarray::IxDyn(&[n, 1000]), |i| (i[1] % 7) as f32 * 0.1);
    wire::encode(&PlanarTensor::plain(x))
}

/// A declared length over the limit is answered at once, before the body is read: with no body
/// byte sent at all, and, for a client that sends at about 64 MB/s, after a few MiB at most
/// (socket buffers); then the node closes. (Before: the node drained up to 64 MiB of the body
/// first, and never answered a client that waits for the answer before sending.)
#[test]
fn declared_oversize_is_refused_at_once_with_connection_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = settings(dir.path());
    st.max_upload_bytes = 1 << 20;
    let srv = start(st);
    let ds = dataset(&srv);
    let model = wide_model(&srv);
    for path in [
        format!("/v1/datasets/{ds}/features"),
        format!("/v1/models/{model}/predict"),
    ] {
        let declared = 600 << 20;
        let method = if path.ends_with("predict") {
            "POST"
        } else {
            "PUT"
        };
        // No body byte sent: the answer comes anyway.
        let mut s = open(&srv, method, &path, declared);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (status, head, _) = answer(&mut s);
        assert_eq!(status, 413, "{head}");
        assert!(head.contains("connection: close"), "{head}");
        drop(s);
        // A client that sends: few bytes taken before the answer.
        let mut s = open(&srv, method, &path, declared);
        let sent = Arc::new(AtomicUsize::new(0));
        let answered = Arc::new(AtomicBool::new(false));
        let writer = {
            let (mut w, sent, answered) = (s.try_clone().unwrap(), sent.clone(), answered.clone());
            std::thread::spawn(move || {
                let chunk = vec![0u8; 64 << 10];
                while !answered.load(Ordering::SeqCst) && sent.load(Ordering::SeqCst) < declared {
                    match w.write(&chunk) {
                        Ok(n) => sent.fetch_add(n, Ordering::SeqCst),
                        Err(_) => break,
                    };
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        let start = Instant::now();
        let (status, head, body) = answer(&mut s);
        let at_answer = sent.load(Ordering::SeqCst);
        answered.store(true, Ordering::SeqCst);
        let elapsed = start.elapsed();
        writer.join().unwrap();
        eprintln!("{path}: 413 after {elapsed:?}, {at_answer} bytes of the body sent by then");
        assert_eq!(status, 413, "{head}{body}");
        assert!(body.contains("payload_too_large"), "{body}");
        assert!(head.contains("connection: close"), "{head}");
        assert!(
            at_answer < 16 << 20,
            "{at_answer} bytes were taken before the 413 (the node read the body)"
        );
        // The node closes the connection (after discarding for at most a second).
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = [0u8; 1024];
        let closed = loop {
            match s.read(&mut rest) {
                Ok(0) | Err(_) => break true,
                Ok(_) => continue,
            }
        };
        assert!(closed);
    }
    srv.healthy();
}

/// A body that never comes, or trickles, gets 408 and the connection is closed; a head that
/// never completes gets actix's 408. (Before: the connection was held with no timeout.)
#[test]
fn absent_and_trickling_bodies_get_408() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = settings(dir.path());
    st.body_idle_timeout = Duration::from_secs(1);
    st.body_timeout = Duration::from_secs(3);
    st.request_head_timeout = Duration::from_secs(1);
    let srv = start(st);
    let ds = dataset(&srv);
    let model = wide_model(&srv);
    // Absent: the head declares 1,000 bytes, none follows.
    for (method, path) in [
        ("PUT", format!("/v1/datasets/{ds}/features")),
        ("POST", format!("/v1/models/{model}/predict")),
    ] {
        let mut s = open(&srv, method, &path, 1000);
        let start = Instant::now();
        let (status, head, body) = answer(&mut s);
        assert_eq!(status, 408, "{path}: {head}{body}");
        assert!(body.contains("request_timeout"), "{body}");
        assert!(head.contains("connection: close"), "{head}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }
    // A JSON body that never comes: the same 408 (every body of the API is read under the
    // timeouts, not only the tensors).
    let port = srv.base.rsplit(':').next().unwrap();
    let mut s = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /v1/models HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\""
    )
    .unwrap();
    let (status, head, body) = answer(&mut s);
    assert_eq!(status, 408, "JSON: {head}{body}");
    assert!(body.contains("request_timeout"), "{body}");
    // Trickling: a byte every 0.5 s never trips the idle timeout, the total one ends it.
    let mut s = open(&srv, "POST", &format!("/v1/models/{model}/predict"), 1000);
    let mut w = s.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..30 {
            if w.write_all(b"M").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    let start = Instant::now();
    let (status, _, body) = answer(&mut s);
    let elapsed = start.elapsed();
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("within 3 s"), "{body}");
    assert!(elapsed >= Duration::from_millis(2500) && elapsed < Duration::from_secs(10));
    drop(s);
    trickle.join().unwrap();
    // An incomplete head: actix's client_request_timeout.
    let port = srv.base.rsplit(':').next().unwrap();
    let mut s = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let (status, _, _) = answer(&mut s);
    assert_eq!(status, 408);
    srv.healthy();
    // The dataset is untouched by the refused uploads.
    let (_, v) = srv.get_json(&format!("/v1/datasets/{ds}"));
    assert!(v["features_sha256"].is_null(), "{v}");
}

/// The body budget: while a stalled predict holds most of it, another predict and an upload
/// wait, then get 503 with Retry-After (their bodies unread); once the stalled client is gone,
/// the same requests succeed. (Before: every body was read into memory at once, whatever the
/// number of connections.)
#[test]
fn body_budget_is_reserved_before_reading_and_answers_503() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = settings(dir.path());
    st.max_upload_bytes = 1 << 20;
    st.max_body_bytes_in_flight = 1 << 20;
    st.body_budget_wait = Duration::from_secs(1);
    let srv = start(st);
    let ds = dataset(&srv);
    let model = wide_model(&srv);
    let predict = format!("/v1/models/{model}/predict");
    let batch = plain_batch(20); // 80 kB
    let key = SecretKey::from_seed(7);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let x = ArrayD::from_shape_fn(ndarray::IxDyn(&[2000, 4]), |i| i[1] as f32); // 64 kB
    let upload = wire::encode(
        &key.encrypt_compact(&x, &ShadowDistribution::default(), &mut rng)
            .unwrap(),
    );
    // Holds 1,000 KiB of the 1,024 KiB: declares it, sends a tenth, stalls.
    let mut hog = open(&srv, "POST", &predict, 1000 << 10);
    hog.write_all(&vec![0u8; 100 << 10]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let (s, v) = srv.post_bytes(&predict, &batch);
    let waited = start.elapsed();
    let v = String::from_utf8_lossy(&v);
    assert_eq!(s, 503, "{v}");
    assert!(v.contains("\"busy\""), "{v}");
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    let (s, v) = srv.put_bytes(&format!("/v1/datasets/{ds}/features"), &upload);
    assert_eq!(s, 503, "{v}");
    // Retry-After on the raw answer.
    let mut raw = open(&srv, "POST", &predict, batch.len());
    raw.write_all(&batch).unwrap();
    let (s, head, _) = answer(&mut raw);
    assert_eq!(s, 503);
    assert!(head.contains("retry-after: "), "{head}");
    // The stalled client leaves: its share returns to the budget.
    drop(hog);
    std::thread::sleep(Duration::from_millis(300));
    let (s, v) = srv.post_bytes(&predict, &batch);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&v));
    let (s, v) = srv.put_bytes(&format!("/v1/datasets/{ds}/features"), &upload);
    assert_eq!(s, 200, "{v}");
}

/// A budget smaller than the upload limit is refused at start-up (such an upload could never
/// be read).
#[test]
fn budget_below_the_upload_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = settings(dir.path());
    st.max_upload_bytes = 2 << 20;
    st.max_body_bytes_in_flight = 1 << 20;
    let err = more_server::startup::check_body_budget(&st).unwrap_err();
    assert!(err.to_string().contains("--max-upload-mb"), "{err}");
}
