//! What the audit log records of requests: refusals of the Host/Origin guard, the client's
//! address (`X-Forwarded-For` only from a trusted proxy), request ids unique per node whatever
//! the client sends, and a flood of refusals from one peer aggregated into one row with a count.

use std::time::Duration;

use crate::audit_common::{db_args, export, verify};
use crate::server_common::{settings, start, Api};
use serde_json::Value;

fn send(api: &Api, req: ureq::RequestBuilder<ureq::typestate::WithoutBody>) -> (u16, String) {
    let _ = api;
    let resp = req.call().expect("request");
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    (resp.status().as_u16(), id)
}

/// GET `path` with `Host: host` over a plain socket: the status.
fn raw_get(api: &Api, path: &str, host: &str) -> u16 {
    use std::io::{Read, Write};
    let addr = api.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{answer}"))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn requests(rows: &[Value]) -> Vec<&Value> {
    rows.iter().filter(|r| r["kind"] == "request").collect()
}

#[test]
fn guard_refusals_are_audited_with_the_peer() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(more_server::Settings {
        audit_refusal_window: Duration::ZERO,
        ..settings(dir.path())
    });
    let a = agent();
    assert_eq!(raw_get(&srv, "/v1/models", "evil.example"), 403);
    let resp = a
        .post(srv.url("/v1/datasets"))
        .header("content-type", "application/json")
        .header("origin", "http://evil.example")
        .send("{}")
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    srv.stop();
    let db = db_args(dir.path(), None);
    let rows = export(&db);
    let refused: Vec<_> = requests(&rows)
        .into_iter()
        .filter(|r| r["status"] == 403)
        .collect();
    assert_eq!(refused.len(), 2, "{rows:?}");
    assert_eq!(refused[0]["method"], "GET");
    assert_eq!(refused[0]["route"], "/v1/models");
    assert!(refused[0]["detail"]
        .as_str()
        .unwrap()
        .contains("evil.example"));
    assert_eq!(refused[1]["method"], "POST");
    assert!(refused[1]["detail"]
        .as_str()
        .unwrap()
        .contains("cross-origin"));
    for r in &refused {
        assert_eq!(r["peer"], "127.0.0.1");
        assert_eq!(r["tenant"], Value::Null);
    }
    assert!(verify(&db, &[]).0);
}

#[test]
fn forwarded_for_is_believed_only_from_trusted_proxies() {
    for (trusted, expected) in [(false, "127.0.0.1"), (true, "203.0.113.9")] {
        let dir = tempfile::tempdir().unwrap();
        let proxies = if trusted {
            vec![more_server::audit::peer::parse_trusted("127.0.0.0/8").unwrap()]
        } else {
            Vec::new()
        };
        let srv = start(more_server::Settings {
            trusted_proxies: proxies,
            ..settings(dir.path())
        });
        let (s, _) = send(
            &srv,
            agent()
                .get(srv.url("/v1/models"))
                .header("x-forwarded-for", "198.51.100.1, 203.0.113.9"),
        );
        assert_eq!(s, 200);
        srv.stop();
        let rows = export(&db_args(dir.path(), None));
        let r = requests(&rows)[0];
        assert_eq!(r["peer"], expected, "trusted {trusted}: {r}");
    }
}

#[test]
fn request_ids_are_the_nodes_whatever_the_client_sends() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(more_server::Settings {
        node_name: Some("ward-3".into()),
        ..settings(dir.path())
    });
    let a = agent();
    let mut answered = Vec::new();
    for _ in 0..2 {
        let (s, id) = send(
            &srv,
            a.get(srv.url("/v1/models"))
                .header("x-request-id", "same-id"),
        );
        assert_eq!(s, 200);
        answered.push(id);
    }
    srv.stop();
    assert_ne!(answered[0], answered[1], "one client id, two requests");
    for id in &answered {
        assert!(id.starts_with("ward-3-"), "{id}");
    }
    let rows = export(&db_args(dir.path(), None));
    let recorded: Vec<_> = requests(&rows);
    assert_eq!(recorded.len(), 2);
    for (r, id) in recorded.iter().zip(&answered) {
        assert_eq!(r["request_id"], id.as_str());
        assert_eq!(r["client_request_id"], "same-id");
    }
}

#[test]
fn a_flood_of_refusals_from_one_peer_is_one_row_with_a_count() {
    const N: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let srv = start(more_server::Settings {
        insecure_no_auth: false,
        ..settings(dir.path())
    });
    for _ in 0..N {
        assert_eq!(srv.get_json("/v1/models").0, 401);
    }
    srv.stop();
    let db = db_args(dir.path(), None);
    let rows = export(&db);
    let refused = requests(&rows);
    // The first at once, the other N - 1 as one row when the window ended (here: at shutdown).
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0]["count"], 1);
    assert_eq!(refused[1]["count"], N as i64 - 1);
    assert!(refused
        .iter()
        .all(|r| r["status"] == 401 && r["peer"] == "127.0.0.1"));
    assert!(verify(&db, &[]).0);

    // Control: with no window every refusal is a row.
    let dir = tempfile::tempdir().unwrap();
    let srv = start(more_server::Settings {
        insecure_no_auth: false,
        audit_refusal_window: Duration::ZERO,
        ..settings(dir.path())
    });
    for _ in 0..5 {
        assert_eq!(srv.get_json("/v1/models").0, 401);
    }
    srv.stop();
    assert_eq!(requests(&export(&db_args(dir.path(), None))).len(), 5);
}
