//! What a web page on another site can make the node do: nothing. JSON routes take only
//! `application/json` and tensor routes only `application/octet-stream` (415, so an HTML form or a
//! "simple" cross-site `fetch` cannot send a valid body); a state-changing request a browser marks
//! as cross-origin gets 403; a `Host` that is not a loopback name (DNS rebinding) gets 403. Each
//! refused request leaves the node unchanged.

use crate::server_common;

use std::io::{Read, Write};

use crate::server_common::{settings, start, Api};
use serde_json::{json, Value};

/// A raw HTTP/1.1 request (to set `Host` freely); returns the status.
fn raw(api: &Api, request: &str) -> u16 {
    let addr = api.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn send(
    api: &Api,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let mut req = match method {
        "POST" => api.agent.post(api.url(path)),
        "PUT" => api.agent.put(api.url(path)),
        m => panic!("{m}"),
    };
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.send(body).expect("request");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_vec().unwrap_or_default();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn count(api: &Api, what: &str) -> usize {
    let (s, v) = api.get_json(&format!("/v1/{what}"));
    assert_eq!(s, 200, "{v}");
    v.as_array().expect("list").len()
}

#[test]
fn cross_site_requests_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    let dataset = json!({"name": "d", "task": "classification", "num_classes": 2}).to_string();

    // A form or a simple fetch posts text/plain: 415, nothing created.
    let (s, v) = send(
        &srv,
        "POST",
        "/v1/datasets",
        &[("content-type", "text/plain")],
        dataset.as_bytes(),
    );
    assert_eq!(
        (s, v["error"].as_str()),
        (415, Some("unsupported_media_type")),
        "{v}"
    );
    assert_eq!(count(&srv, "datasets"), 0);

    // The right content type from another origin: 403, nothing created.
    let evil = [
        ("content-type", "application/json"),
        ("origin", "http://evil.example:8000"),
    ];
    let (s, v) = send(&srv, "POST", "/v1/datasets", &evil, dataset.as_bytes());
    assert_eq!((s, v["error"].as_str()), (403, Some("forbidden")), "{v}");
    let other_port = [
        ("content-type", "application/json"),
        ("origin", "http://127.0.0.1:1"),
    ];
    let (s, _) = send(
        &srv,
        "POST",
        "/v1/datasets",
        &other_port,
        dataset.as_bytes(),
    );
    assert_eq!(s, 403, "another port is another origin");
    let (s, _) = send(
        &srv,
        "POST",
        "/v1/datasets",
        &[
            ("content-type", "application/json"),
            ("sec-fetch-site", "cross-site"),
        ],
        dataset.as_bytes(),
    );
    assert_eq!(s, 403);
    assert_eq!(count(&srv, "datasets"), 0);

    // The page itself (same origin) and clients that are not browsers work.
    let own = [
        ("content-type", "application/json"),
        ("origin", srv.base.as_str()),
    ];
    let (s, ds) = send(&srv, "POST", "/v1/datasets", &own, dataset.as_bytes());
    assert_eq!(s, 201, "{ds}");
    let (s, _) = srv.post_json(
        "/v1/datasets",
        &json!({"name": "cli", "task": "regression"}),
    );
    assert_eq!(s, 201);
    assert_eq!(count(&srv, "datasets"), 2);

    // Tensor routes take only application/octet-stream.
    let id = ds["id"].as_str().unwrap();
    let (s, v) = send(
        &srv,
        "PUT",
        &format!("/v1/datasets/{id}/features"),
        &[("content-type", "text/plain")],
        b"MORE",
    );
    assert_eq!(
        (s, v["error"].as_str()),
        (415, Some("unsupported_media_type")),
        "{v}"
    );
    let (_, after) = srv.get_json(&format!("/v1/datasets/{id}"));
    assert_eq!(after, ds, "the refused upload left the dataset as it was");
}

#[test]
fn dns_rebinding_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    let get = |host: &str| {
        raw(
            &srv,
            &format!("GET /v1/datasets HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
    };
    assert_eq!(
        get("evil.example"),
        403,
        "a foreign name re-pointed at 127.0.0.1"
    );
    assert_eq!(get("evil.example:8080"), 403);
    assert_eq!(get("localhost"), 200);
    assert_eq!(get(srv.base.trim_start_matches("http://")), 200);
    assert_eq!(get("[::1]:8080"), 200);
    srv.stop();

    // A name given with --allowed-host is served.
    let mut s = settings(dir.path());
    s.allowed_hosts = vec!["node.hospital.example".into()];
    let srv = start(s);
    let get = |host: &str| {
        raw(
            &srv,
            &format!("GET /v1/datasets HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
    };
    assert_eq!(get("node.hospital.example:443"), 200);
    assert_eq!(get("evil.example"), 403);
}

/// `OPTIONS` preflight as a browser sends it before a cross-origin JSON `POST`.
fn preflight(api: &Api, origin: &str) -> (u16, Option<String>) {
    let resp = api
        .agent
        .options(api.url("/v1/datasets"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .call()
        .expect("preflight");
    let allowed = resp
        .headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (resp.status().as_u16(), allowed)
}

#[test]
fn cors_only_for_listed_origins() {
    let dir = tempfile::tempdir().unwrap();
    let portal = "https://portal.hospital.example";
    let mut st = settings(dir.path());
    st.cors_origins = vec![portal.to_string()];
    let srv = start(st);
    let dataset = json!({"name": "d", "task": "regression"}).to_string();

    let (_, allowed) = preflight(&srv, portal);
    assert_eq!(allowed.as_deref(), Some(portal));
    let (_, allowed) = preflight(&srv, "https://evil.example");
    assert_eq!(allowed, None, "no CORS grant for an unlisted origin");

    let from = |origin: &str| {
        let headers = [("content-type", "application/json"), ("origin", origin)];
        send(&srv, "POST", "/v1/datasets", &headers, dataset.as_bytes()).0
    };
    assert_eq!(from("https://evil.example"), 403);
    assert_eq!(count(&srv, "datasets"), 0);
    assert_eq!(from(portal), 201);
    assert_eq!(count(&srv, "datasets"), 1);

    // Without the flag: no CORS grant even for that origin.
    let dir = tempfile::tempdir().unwrap();
    let plain = start(settings(dir.path()));
    assert_eq!(preflight(&plain, portal).1, None);
}

#[test]
fn every_error_carries_the_request_id_of_its_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let node = server_common::process::NodeProcess::start(
        &server_common::process::NodeConfig::new(dir.path()),
    );
    // A fresh id: in the header, the JSON body and the node's log lines of that request.
    let resp = node
        .agent
        .post(node.url("/v1/datasets"))
        .header("content-type", "application/json")
        .header("origin", "http://evil.example")
        .send("{}")
        .expect("request");
    let header = resp.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: Value = serde_json::from_reader(resp.into_body().into_reader()).expect("json");
    assert_eq!(body["error"], "forbidden", "{body}");
    assert_eq!(body["request_id"], header.as_str(), "{body}");
    // The node's own id, `{node}-{16 hex digits}`, whatever the client sends: a caller's (a
    // proxy's) id is kept beside it (audit log, log lines), never in its place.
    let hex = header.rsplit_once('-').map_or("", |(_, h)| h);
    assert!(
        hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{header}"
    );
    let (id, body) = missing_model(&node, "proxy-7f3a.1");
    assert_ne!(id, "proxy-7f3a.1");
    assert_eq!(body["request_id"].as_str(), Some(id.as_str()));
    let (id, _) = missing_model(&node, "<script>");
    assert_ne!(id, "<script>");
    let log = wait_for_log(&node, &header);
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(&header)).collect();
    assert!(
        lines.iter().any(|l| l.contains("request refused")),
        "the guard's warning: {log}"
    );
    assert!(
        lines.iter().any(|l| l.contains("POST /v1/datasets")),
        "the access log line: {log}"
    );
}

/// GET of a model that does not exist, with `X-Request-Id: id`: (the id answered, the body).
fn missing_model(api: &Api, id: &str) -> (String, Value) {
    let resp = api
        .agent
        .get(api.url(&format!("/v1/models/{}", "0".repeat(32))))
        .header("x-request-id", id)
        .call()
        .expect("request");
    assert_eq!(resp.status().as_u16(), 404);
    let answered = resp.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body = serde_json::from_reader(resp.into_body().into_reader()).expect("json");
    (answered, body)
}

fn wait_for_log(node: &server_common::process::NodeProcess, needle: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        let log = node.log_text();
        if log.matches(needle).count() >= 2 || start.elapsed().as_secs() > 10 {
            return log;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
