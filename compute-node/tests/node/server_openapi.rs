//! The OpenAPI document is generated from the handlers (utoipa): it documents the API's contract,
//! every documented operation is served, no undocumented method is served on a documented path,
//! and every schema reference resolves; the static page is served after the API.

use crate::server_common;

use crate::server_common::{settings, start};
use serde_json::Value;

/// The API's contract (API.md): every one must be documented.
const CONTRACT: &[(&str, &str)] = &[
    ("get", "/v1/health"),
    ("get", "/v1/ready"),
    ("get", "/v1/openapi.json"),
    ("get", "/v1/datasets"),
    ("post", "/v1/datasets"),
    ("get", "/v1/datasets/{id}"),
    ("delete", "/v1/datasets/{id}"),
    ("put", "/v1/datasets/{id}/features"),
    ("put", "/v1/datasets/{id}/targets"),
    ("get", "/v1/models"),
    ("post", "/v1/models"),
    ("get", "/v1/models/{id}"),
    ("delete", "/v1/models/{id}"),
    ("get", "/v1/models/{id}/weights"),
    ("post", "/v1/models/{id}/predict"),
    ("get", "/v1/jobs"),
    ("post", "/v1/jobs"),
    ("get", "/v1/jobs/{id}"),
    ("get", "/v1/jobs/{id}/losses"),
    ("post", "/v1/jobs/{id}/cancel"),
    ("post", "/v1/jobs/{id}/resume"),
    ("get", "/v1/jobs/{id}/validation_losses"),
    ("post", "/v1/jobs/{id}/keep"),
];

const METHODS: [&str; 4] = ["get", "post", "put", "delete"];

/// Whether the server routes `method path`: anything but the catch-all's answers (404 "no route"
/// for an unknown path, 405 `method_not_allowed` for a known path asked with another method).
fn routed(srv: &server_common::TestServer, method: &str, path: &str) -> bool {
    let url = srv.url(&path.replace("{id}", &"0".repeat(32)));
    let resp = match method {
        "get" => srv.agent.get(&url).call(),
        "delete" => srv.agent.delete(&url).call(),
        "post" => srv
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send("{}"),
        "put" => srv.agent.put(&url).send(&b"x"[..]),
        m => panic!("method {m}"),
    }
    .expect("request");
    let status = resp.status().as_u16();
    let body = resp.into_body().read_to_string().unwrap_or_default();
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let no_route = v["error"] == "not_found"
        && v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("no route"));
    let catch_all = no_route || v["error"] == "method_not_allowed";
    assert!(!catch_all || status == 404 || status == 405, "{body}");
    !catch_all
}

/// Every `$ref` in `v` names a schema of `schemas`.
fn check_refs(v: &Value, schemas: &serde_json::Map<String, Value>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let name = r.trim_start_matches("#/components/schemas/");
                assert!(schemas.contains_key(name), "dangling $ref {r}");
            }
            map.values().for_each(|x| check_refs(x, schemas));
        }
        Value::Array(items) => items.iter().for_each(|x| check_refs(x, schemas)),
        _ => {}
    }
}

#[test]
fn openapi_is_generated_from_what_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web");
    std::fs::create_dir_all(web.join("pkg")).unwrap();
    std::fs::write(web.join("index.html"), "<html>hi</html>").unwrap();
    std::fs::write(web.join("pkg/more_wasm_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(web.join("app.js"), "export {}").unwrap();
    let mut st = settings(&dir.path().join("data"));
    st.web_dir = web;
    let srv = start(st);
    let (s, doc) = srv.get_json("/v1/openapi.json");
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in CONTRACT {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    for (path, item) in paths {
        for method in METHODS {
            let documented = item.get(method).is_some();
            assert_eq!(
                routed(&srv, method, path),
                documented,
                "{method} {path}: served and documented must agree"
            );
            if documented {
                let op = &item[method];
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
                if path.contains("{id}") {
                    assert_eq!(op["parameters"][0]["name"], "id", "{method} {path}");
                }
            }
        }
    }
    // A documented path asked with another method: 405 naming the methods it takes.
    let resp = srv
        .agent
        .patch(srv.url("/v1/datasets"))
        .header("content-type", "application/json")
        .send("{}")
        .expect("request");
    assert_eq!(resp.status().as_u16(), 405);
    let allow = resp.headers()["allow"].to_str().expect("ascii").to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "Dataset",
        "Model",
        "Job",
        "CreateDataset",
        "CreateModel",
        "CreateJob",
        "ModelSpec",
        "LayerSpec",
        "OptimizerSpec",
        "TrainConfig",
        "ErrorBody",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    check_refs(&doc, schemas);
    // Static files, registered after /v1.
    let r = srv.agent.get(srv.url("/")).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = srv
        .agent
        .get(srv.url("/pkg/more_wasm_bg.wasm"))
        .call()
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/wasm");
    let r = srv.agent.get(srv.url("/app.js")).call().unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
}
