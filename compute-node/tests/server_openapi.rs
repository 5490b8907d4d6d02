//! The OpenAPI document and the registered routes agree, both ways; the static page is served.

mod server_common;

use more_server::routes::ROUTES;
use server_common::{settings, start};

#[test]
fn openapi_matches_routes() {
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
    for (method, path) in ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    for (path, item) in paths {
        for method in item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "parameters")
        {
            assert!(
                ROUTES.contains(&(method.as_str(), path.as_str())),
                "documented {method} {path} is not registered"
            );
        }
    }
    // Every listed route is really registered: no "no route" answer.
    let zero = "0".repeat(32);
    for (method, path) in ROUTES {
        let url = srv.url(&path.replace("{id}", &zero));
        let resp = match *method {
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
        .unwrap();
        let body = resp.into_body().read_to_string().unwrap_or_default();
        assert!(!body.contains("no route"), "{method} {path}: {body}");
    }
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
