//! Small holes of the HTTP surface (issue #27, findings 13 and 14): a `Host` of `[::1]evil` is
//! not loopback; the `Bearer` scheme in any case; `HEAD` on every `GET` route answers like `GET`
//! without a body; security headers (CSP, `nosniff`, no framing, no referrer) on the page and on
//! the API, errors included; an admin API key cannot revoke itself.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::server_common::{operator_command, settings, start, Api, TestServer};
use serde_json::{json, Value};

/// A raw HTTP/1.1 answer.
struct Raw {
    status: u16,
    /// Header names in lower case.
    headers: HashMap<String, String>,
    /// Every byte after the header block (the connection is closed by the request).
    body: Vec<u8>,
}

/// Sends `method path` with `Host: host` and `headers` on a fresh connection (closed after the
/// answer) and reads everything the node sends.
fn raw(api: &Api, method: &str, path: &str, host: &str, headers: &[(&str, &str)]) -> Raw {
    let addr = api.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&answer[..end]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Raw {
        status,
        headers,
        body: answer[end + 4..].to_vec(),
    }
}

/// The `Host` header of the test node's own address.
fn own_host(api: &Api) -> String {
    api.base.trim_start_matches("http://").to_string()
}

/// The repository's web page (`web/`).
fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web")
}

/// A new API key of tenant `t` with `role` (the tenant is made when missing).
fn new_key(data: &Path, role: &str) -> String {
    let _ = Command::new(env!("CARGO_BIN_EXE_more-node"))
        .args(["tenant", "create", "t", "--data-dir"])
        .arg(data)
        .output();
    let out = operator_command(data, &["apikey", "create", "--tenant", "t", "--role", role]);
    out.lines().last().expect("the key").to_string()
}

/// A node that needs tokens, serving the repository's page.
fn authenticated_node(data: &Path) -> TestServer {
    start(more_server::Settings {
        insecure_no_auth: false,
        web_dir: web_dir(),
        ..settings(data)
    })
}

#[test]
fn a_host_with_anything_after_the_bracketed_address_is_not_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    let port = srv.base.rsplit(':').next().unwrap().to_string();
    for host in [
        "[::1]evil",
        "[::1]evil.example",
        "[::1].evil.example:80",
        "[localhost]",
    ] {
        let answer = raw(&srv, "GET", "/v1/datasets", host, &[]);
        assert_eq!(answer.status, 403, "Host: {host}");
    }
    for host in ["[::1]".to_string(), format!("[::1]:{port}"), own_host(&srv)] {
        let answer = raw(&srv, "GET", "/v1/datasets", &host, &[]);
        assert_eq!(answer.status, 200, "Host: {host}");
    }
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_key(dir.path(), "viewer");
    let srv = authenticated_node(dir.path());
    let host = own_host(&srv);
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let auth = format!("{scheme} {key}");
        let answer = raw(
            &srv,
            "GET",
            "/v1/whoami",
            &host,
            &[("Authorization", &auth)],
        );
        assert_eq!(answer.status, 200, "{scheme}");
    }
    let two_spaces = format!("bearer  {key}");
    let answer = raw(
        &srv,
        "GET",
        "/v1/whoami",
        &host,
        &[("Authorization", &two_spaces)],
    );
    assert_eq!(answer.status, 200, "1*SP after the scheme (RFC 7235)");
    for wrong in [
        format!("Basic {key}"),
        format!("Bearerx {key}"),
        "bearer".into(),
    ] {
        let answer = raw(
            &srv,
            "GET",
            "/v1/whoami",
            &host,
            &[("Authorization", &wrong)],
        );
        assert_eq!(answer.status, 401, "{wrong}");
    }
}

#[test]
fn head_answers_like_get_without_a_body() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_key(dir.path(), "viewer");
    let srv = authenticated_node(dir.path());
    let host = own_host(&srv);
    let auth = format!("Bearer {key}");
    for path in ["/", "/app.js", "/v1/health", "/v1/datasets", "/v1/whoami"] {
        let get = raw(&srv, "GET", path, &host, &[("Authorization", &auth)]);
        let head = raw(&srv, "HEAD", path, &host, &[("Authorization", &auth)]);
        assert_eq!(get.status, 200, "GET {path}");
        assert_eq!(head.status, 200, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} sent a body");
        assert!(!get.body.is_empty(), "GET {path}");
        assert_eq!(
            head.headers.get("content-type"),
            get.headers.get("content-type"),
            "{path}"
        );
        if let Some(length) = head.headers.get("content-length") {
            assert_eq!(length, &get.body.len().to_string(), "{path}");
        }
    }
    // HEAD is a read: it needs a token like GET.
    assert_eq!(raw(&srv, "HEAD", "/v1/datasets", &host, &[]).status, 401);
}

#[test]
fn security_headers_on_the_page_and_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_key(dir.path(), "viewer");
    let srv = authenticated_node(dir.path());
    let host = own_host(&srv);
    let auth = format!("Bearer {key}");
    let answers = [
        ("GET /", raw(&srv, "GET", "/", &host, &[])),
        ("GET /worker.js", raw(&srv, "GET", "/worker.js", &host, &[])),
        ("GET /v1/health", raw(&srv, "GET", "/v1/health", &host, &[])),
        (
            "GET /v1/datasets",
            raw(
                &srv,
                "GET",
                "/v1/datasets",
                &host,
                &[("Authorization", &auth)],
            ),
        ),
        ("401", raw(&srv, "GET", "/v1/datasets", &host, &[])),
        ("404", raw(&srv, "GET", "/v1/nothing", &host, &[])),
        ("403", raw(&srv, "GET", "/v1/health", "evil.example", &[])),
    ];
    for (what, answer) in &answers {
        let h = |name: &str| answer.headers.get(name).map(String::as_str);
        assert_eq!(h("x-content-type-options"), Some("nosniff"), "{what}");
        assert_eq!(h("x-frame-options"), Some("DENY"), "{what}");
        assert_eq!(h("referrer-policy"), Some("no-referrer"), "{what}");
        let csp = h("content-security-policy").unwrap_or_else(|| panic!("{what}: no CSP"));
        for directive in [
            "default-src 'none'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "worker-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{what}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    }
    assert_eq!(answers[0].1.status, 200);
    assert_eq!(answers[6].1.status, 403);
}

#[test]
fn the_page_has_no_inline_script_or_style_that_the_policy_would_block() {
    let page = std::fs::read_to_string(web_dir().join("index.html")).expect("web/index.html");
    let lower = page.to_ascii_lowercase();
    for script in lower.split("<script").skip(1) {
        let tag = &script[..script.find('>').expect("tag end")];
        let body = &script[script.find('>').unwrap() + 1..];
        assert!(
            tag.contains("src=") && body.trim_start().starts_with("</script>"),
            "inline script: <script{tag}>"
        );
    }
    assert!(!lower.contains("<style"), "inline <style>");
    assert!(!lower.contains(" style=\""), "inline style attribute");
    for handler in [
        " onclick=",
        " onload=",
        " onsubmit=",
        " onchange=",
        " oninput=",
    ] {
        assert!(!lower.contains(handler), "inline handler {handler}");
    }
}

#[test]
fn an_admin_key_cannot_revoke_itself() {
    let dir = tempfile::tempdir().unwrap();
    let first = new_key(dir.path(), "admin");
    let srv = authenticated_node(dir.path());
    let admin = srv.with_token(&first);
    let (s, me) = admin.get_json("/v1/whoami");
    assert_eq!(s, 200);
    let own = me["subject"]
        .as_str()
        .and_then(|s| s.strip_prefix("apikey:"))
        .expect("an API key's subject")
        .to_string();

    let (s, body) = admin.delete(&format!("/v1/apikeys/{own}"));
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"], "conflict");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("another admin key") && message.contains("more-node apikey revoke"),
        "{message}"
    );
    assert_eq!(admin.get_json("/v1/whoami").0, 200, "the key still works");

    // Another admin key may revoke it.
    let (s, second) = admin.post_json("/v1/apikeys", &json!({"role": "admin"}));
    assert_eq!(s, 201, "{second}");
    let second = srv.with_token(second["key"].as_str().unwrap());
    let (s, revoked): (u16, Value) = second.delete(&format!("/v1/apikeys/{own}"));
    assert_eq!(s, 200, "{revoked}");
    assert_eq!(admin.get_json("/v1/whoami").0, 401, "revoked");
}

#[test]
fn bearer_values() {
    use more_server::auth::parse_bearer;
    assert_eq!(parse_bearer("Bearer more_ab12"), Some("more_ab12"));
    assert_eq!(
        parse_bearer("bearer a.b-c_d~e+f/g=="),
        Some("a.b-c_d~e+f/g==")
    );
    assert_eq!(parse_bearer("BEARER   tok"), Some("tok"));
    for bad in [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Basic abc",
        "Bearer ===",
        "Bearer a\"b",
    ] {
        assert_eq!(parse_bearer(bad), None, "{bad:?}");
    }
}
