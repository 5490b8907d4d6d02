//! Access control: API keys made by the admin CLI, roles, tenant isolation on every documented
//! route (another tenant's object is a 404), and the append-only audit log with its export.

use std::path::Path;
use std::time::Duration;

use crate::server_common::process::more_node;
use crate::server_common::{settings, start, upload_dataset, Api, TestServer};
use more_core::wire;
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::{Array2, ArrayD};
use serde_json::{json, Value};

/// Runs `more-node ARGS --data-dir DATA`: (success, stdout, stderr).
fn cli(data: &Path, args: &[&str]) -> (bool, String, String) {
    let data = data.display().to_string();
    more_node(&[args, &["--data-dir", &data]].concat())
}

/// Creates `tenant` (unless it exists) and a key with `role`: the key, alone on the last line.
fn new_key(data: &Path, tenant: &str, role: &str) -> String {
    let (ok, _, err) = cli(data, &["tenant", "create", tenant]);
    assert!(ok || err.contains("exists"), "{err}");
    let (ok, out, err) = cli(
        data,
        &["apikey", "create", "--tenant", tenant, "--role", role],
    );
    assert!(ok, "{err}");
    let key = out.lines().last().expect("a last line").to_string();
    assert!(
        key.len() == 69
            && key.starts_with("more_")
            && key[5..].bytes().all(|b| b.is_ascii_hexdigit()),
        "the last line is the key alone: {out:?}"
    );
    key
}

/// A node that needs tokens.
fn authenticated_node(data: &Path) -> TestServer {
    start(more_server::Settings {
        insecure_no_auth: false,
        ..settings(data)
    })
}

fn code(resp: &(u16, Value)) -> (u16, &str) {
    (resp.0, resp.1["error"].as_str().unwrap_or(""))
}

#[test]
fn api_keys_made_by_the_cli_sign_requests_in() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_key(dir.path(), "st-mary", "trainer");
    let srv = authenticated_node(dir.path());

    // Public routes need nothing; every other route needs a token.
    for public in ["/v1/health", "/v1/openapi.json", "/v1/auth"] {
        assert_eq!(srv.get(public).0, 200, "{public}");
    }
    assert_eq!(srv.get_json("/v1/auth").1["anonymous"], false);
    let resp = srv
        .agent
        .get(srv.url("/v1/datasets"))
        .call()
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    for header in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"] {
        let resp = srv
            .agent
            .get(srv.url("/v1/datasets"))
            .header("authorization", header)
            .call()
            .expect("answer");
        assert_eq!(resp.status().as_u16(), 401, "{header}");
    }
    for bad in [
        "more_".to_string() + &"0".repeat(64),
        "not-a-jwt".into(),
        key[..key.len() - 1].to_string(),
    ] {
        let r = srv.with_token(&bad).get_json("/v1/datasets");
        assert_eq!(code(&r), (401, "unauthorized"), "{bad}: {}", r.1);
    }

    let user = srv.with_token(&key);
    let (s, me) = user.get_json("/v1/whoami");
    assert_eq!(s, 200, "{me}");
    assert_eq!(
        (&me["tenant"], &me["role"], &me["method"]),
        (&json!("st-mary"), &json!("trainer"), &json!("api_key"))
    );
    let (s, ds) = user.post_json("/v1/datasets", &json!({"name": "x", "task": "regression"}));
    assert_eq!(s, 201, "{ds}");

    // Only the key's hash is stored.
    for file in ["more.db", "more.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&key[5..]), "{file} holds the key itself");
    }

    // Revoked with the CLI: refused from then on.
    let (ok, list, err) = cli(dir.path(), &["apikey", "list", "--tenant", "st-mary"]);
    assert!(ok, "{err}");
    let id = list.split('\t').next().expect("key id").to_string();
    let (ok, _, err) = cli(dir.path(), &["apikey", "revoke", &id]);
    assert!(ok, "{err}");
    let r = user.get_json("/v1/datasets");
    assert_eq!(code(&r), (401, "unauthorized"));
    assert!(
        r.1["message"].as_str().unwrap().contains("revoked"),
        "{}",
        r.1
    );

    let (ok, _, err) = cli(dir.path(), &["tenant", "create", "st-mary"]);
    assert!(!ok && err.contains("exists"), "{err}");
    let (ok, _, err) = cli(
        dir.path(),
        &["apikey", "create", "--tenant", "nobody", "--role", "admin"],
    );
    assert!(!ok && err.contains("not found"), "{err}");
}

#[test]
fn roles_limit_what_a_key_may_do() {
    let dir = tempfile::tempdir().unwrap();
    let srv = authenticated_node(dir.path());
    let viewer = srv.with_token(&new_key(dir.path(), "a", "viewer"));
    let trainer = srv.with_token(&new_key(dir.path(), "a", "trainer"));
    let admin = srv.with_token(&new_key(dir.path(), "a", "admin"));
    let other_admin = srv.with_token(&new_key(dir.path(), "b", "admin"));

    let (s, model) = trainer.post_json(
        "/v1/models",
        &json!({"name": "m", "preset": "regression_mlp", "input_shape": [3], "outputs": 1}),
    );
    assert_eq!(s, 201, "{model}");
    let model = model["id"].as_str().unwrap();

    // A viewer reads and predicts, and changes nothing.
    assert_eq!(viewer.get_json("/v1/models").0, 200);
    assert_eq!(viewer.get(&format!("/v1/models/{model}/weights")).0, 200);
    let (s, _) = viewer.post_bytes(&format!("/v1/models/{model}/predict"), b"not a tensor");
    assert_eq!(s, 400, "a viewer may predict (this body is not a tensor)");
    let ds = json!({"name": "x", "task": "regression"});
    assert_eq!(
        code(&viewer.post_json("/v1/datasets", &ds)),
        (403, "forbidden")
    );
    assert_eq!(
        code(&viewer.delete(&format!("/v1/models/{model}"))),
        (403, "forbidden")
    );

    // A trainer changes data, not keys.
    assert_eq!(trainer.post_json("/v1/datasets", &ds).0, 201);
    assert_eq!(code(&trainer.get_json("/v1/apikeys")), (403, "forbidden"));
    assert_eq!(
        code(&trainer.post_json("/v1/apikeys", &json!({"role": "admin"}))),
        (403, "forbidden")
    );

    // An admin manages the tenant's keys.
    let (s, keys) = admin.get_json("/v1/apikeys");
    assert_eq!(s, 200);
    assert_eq!(keys.as_array().unwrap().len(), 3, "{keys}");
    let (s, new) = admin.post_json("/v1/apikeys", &json!({"role": "viewer"}));
    assert_eq!(s, 201, "{new}");
    let fresh = srv.with_token(new["key"].as_str().unwrap());
    assert_eq!(fresh.get_json("/v1/whoami").1["role"], "viewer");
    let id = new["id"].as_str().unwrap();
    assert_eq!(
        code(&other_admin.delete(&format!("/v1/apikeys/{id}"))),
        (404, "not_found")
    );
    assert_eq!(fresh.get_json("/v1/whoami").0, 200, "still valid");
    assert_eq!(admin.delete(&format!("/v1/apikeys/{id}")).0, 200);
    assert_eq!(code(&fresh.get_json("/v1/whoami")), (401, "unauthorized"));
}

fn enc(key: &SecretKey, a: &ArrayD<f32>, seed: u64) -> Vec<u8> {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    wire::encode(
        &key.encrypt_compact(a, &ShadowDistribution::default(), &mut rng)
            .unwrap(),
    )
}

/// Tenant A's objects: a ready dataset, a trained model, its completed job and an API key.
struct Objects {
    dataset: String,
    model: String,
    job: String,
    apikey: String,
    /// A secure model (issue #30), granted to nobody.
    secure_model: String,
    x: Vec<u8>,
}

fn tenant_a_objects(a: &Api, a_key_id: &str) -> Objects {
    let key = SecretKey::from_seed(7);
    let x = Array2::from_shape_fn((8, 3), |(i, j)| (i + j) as f32 / 10.0).into_dyn();
    let y = Array2::from_shape_fn((8, 1), |(i, _)| i as f32 / 8.0).into_dyn();
    let (x, y) = (enc(&key, &x, 1), enc(&key, &y, 2));
    let dataset = upload_dataset(a, "regression", None, &x, &y);
    let (s, m) = a.post_json(
        "/v1/models",
        &json!({"name": "m", "preset": "regression_mlp", "input_shape": [3], "outputs": 1}),
    );
    assert_eq!(s, 201, "{m}");
    let model = m["id"].as_str().unwrap().to_string();
    let (s, job) = a.post_json(
        "/v1/jobs",
        &json!({"model_id": model, "dataset_id": dataset, "epochs": 1, "batch_size": 4,
                "optimizer": {"type": "sgd", "learning_rate": 0.01}}),
    );
    assert_eq!(s, 202, "{job}");
    let job = job["id"].as_str().unwrap().to_string();
    a.wait_job(&job, Duration::from_secs(120), |j| {
        j["state"] == "completed"
    });
    let secure = json!({"input_shape": [2], "output_scale": 1.0,
        "input": {"offset": [0.0], "scale": [1.0], "min": -4, "max": 4},
        "layers": [{"dense": {"inputs": 2, "outputs": 1, "weights": [1, 2], "bias": [0]}}]});
    let (s, sm) = a.post_json(
        "/v1/secure/models",
        &json!({"name": "s", "model": secure, "grants": []}),
    );
    assert_eq!(s, 201, "{sm}");
    Objects {
        dataset,
        model,
        job,
        apikey: a_key_id.to_string(),
        secure_model: sm["id"].as_str().unwrap().to_string(),
        x,
    }
}

/// Sends `method path` with a body fitting the route.
fn call(api: &Api, method: &str, path: &str, objects: &Objects) -> (u16, Value) {
    let tensor = path.ends_with("/features")
        || path.ends_with("/targets")
        || path.ends_with("/predict")
        || path.contains("/predict/")
        || path.contains("/shards");
    match method {
        "get" => {
            let (s, b) = api.get(path);
            (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
        }
        "delete" => api.delete(path),
        "put" if path.ends_with("/grants") => {
            let request = api.agent.put(api.url(path));
            let request = match &api.token {
                Some(t) => request.header("authorization", format!("Bearer {t}")),
                None => request,
            };
            let mut r = request
                .header("content-type", "application/json")
                .send(json!({"grants": []}).to_string())
                .expect("answer");
            let body = r.body_mut().read_to_vec().unwrap_or_default();
            (
                r.status().as_u16(),
                serde_json::from_slice(&body).unwrap_or(Value::Null),
            )
        }
        "put" => api.put_bytes(path, &objects.x),
        "post" if tensor => {
            let (s, b) = api.post_bytes(path, &objects.x);
            (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
        }
        "post" => api.post_json(path, &json!({})),
        other => panic!("method {other} is not in this test"),
    }
}

/// The documented operations on one object (`{id}` in the path), deletes last.
fn object_operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.contains("{id}"))
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(|m| (m.clone(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    ops.sort_by_key(|(m, p)| (m == "delete", p.clone()));
    ops
}

fn with_id(template: &str, o: &Objects) -> String {
    let id = match template.split('/').nth(2) {
        Some("datasets") => &o.dataset,
        Some("models") => &o.model,
        Some("jobs") => &o.job,
        Some("apikeys") => &o.apikey,
        Some("secure") => &o.secure_model,
        _ => panic!("{template}: a new kind of object; add it to this test"),
    };
    // A shard names its index; a stored dataset's prediction names tenant A's dataset too.
    let path = template
        .replace("{id}", id)
        .replace("{dataset_id}", &o.dataset);
    if path.ends_with("/shards") {
        format!("{path}?index=0")
    } else {
        path
    }
}

#[test]
fn another_tenants_objects_are_not_found_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let srv = authenticated_node(dir.path());
    let a = srv.with_token(&new_key(dir.path(), "a", "admin"));
    let b = srv.with_token(&new_key(dir.path(), "b", "admin"));
    let (s, other_key) = a.post_json("/v1/apikeys", &json!({"role": "viewer"}));
    assert_eq!(s, 201, "{other_key}");
    let objects = tenant_a_objects(&a, other_key["id"].as_str().unwrap());
    let (_, doc) = srv.get_json("/v1/openapi.json");
    let operations = object_operations(&doc);
    assert!(operations.len() >= 13, "{operations:?}");

    // B sees none of A's objects, by id or in a list, and cannot train on them.
    for (method, template) in &operations {
        let path = with_id(template, &objects);
        let r = call(&b, method, &path, &objects);
        assert_eq!(
            code(&r),
            (404, "not_found"),
            "{method} {path} as B: {}",
            r.1
        );
    }
    for list in [
        "/v1/datasets",
        "/v1/models",
        "/v1/jobs",
        "/v1/apikeys",
        "/v1/secure/models",
    ] {
        let (s, items) = b.get_json(list);
        assert_eq!(s, 200);
        let text = items.to_string();
        for id in [
            &objects.dataset,
            &objects.model,
            &objects.job,
            &objects.apikey,
            &objects.secure_model,
        ] {
            assert!(!text.contains(id.as_str()), "{list} as B shows {id}");
        }
    }
    let job = json!({"model_id": objects.model, "dataset_id": objects.dataset, "epochs": 1,
                     "batch_size": 4, "optimizer": {"type": "sgd", "learning_rate": 0.01}});
    assert_eq!(code(&b.post_json("/v1/jobs", &job)), (404, "not_found"));

    // Control: the same requests as A find every object (so a 404 above is isolation).
    for (method, template) in &operations {
        let path = with_id(template, &objects);
        let r = call(&a, method, &path, &objects);
        assert_ne!(r.0, 404, "{method} {path} as A: {}", r.1);
    }
}

#[test]
fn the_audit_log_records_who_did_what_and_cannot_be_changed() {
    let dir = tempfile::tempdir().unwrap();
    let srv = authenticated_node(dir.path());
    let a = srv.with_token(&new_key(dir.path(), "a", "trainer"));
    let b = srv.with_token(&new_key(dir.path(), "b", "trainer"));
    let (s, ds) = a.post_json("/v1/datasets", &json!({"name": "x", "task": "regression"}));
    assert_eq!(s, 201);
    let id = ds["id"].as_str().unwrap();
    assert_eq!(b.get_json(&format!("/v1/datasets/{id}")).0, 404);
    assert_eq!(srv.get_json(&format!("/v1/datasets/{id}")).0, 401);
    let a_viewer = srv.with_token(&new_key(dir.path(), "a", "viewer"));
    assert_eq!(a_viewer.delete(&format!("/v1/datasets/{id}")).0, 403);
    srv.healthy();

    let (ok, out, err) = cli(dir.path(), &["audit", "export"]);
    assert!(ok, "{err}");
    let entries: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |tenant: Value, method: &str, status: u16| {
        entries
            .iter()
            .find(|e| e["tenant"] == tenant && e["method"] == method && e["status"] == status)
            .unwrap_or_else(|| panic!("no {tenant} {method} {status} entry in {out}"))
    };
    let created = find(json!("a"), "POST", 201);
    assert_eq!(created["route"], "/v1/datasets");
    assert_eq!(created["object_id"], id);
    assert_eq!(created["auth_method"], "api_key");
    assert!(created["subject"].as_str().unwrap().starts_with("apikey:"));
    assert!(created["at"].as_str().unwrap().ends_with('Z'));
    let refused = find(json!("b"), "GET", 404);
    assert_eq!(refused["route"], "/v1/datasets/{id}");
    assert_eq!(refused["object_id"], id);
    let anonymous = find(Value::Null, "GET", 401);
    assert_eq!(anonymous["object_id"], id);
    let beyond_role = find(json!("a"), "DELETE", 403);
    assert_eq!(beyond_role["object_id"], id);
    assert!(beyond_role["subject"]
        .as_str()
        .unwrap()
        .starts_with("apikey:"));
    assert!(
        entries.iter().all(|e| e["route"] != "/v1/health"),
        "health is not audited"
    );
    let (_, only_b, _) = cli(dir.path(), &["audit", "export", "--tenant", "b"]);
    assert_eq!(only_b.lines().count(), 1, "{only_b}");
    let (_, later, _) = cli(
        dir.path(),
        &["audit", "export", "--since", "2999-01-01T00:00:00Z"],
    );
    assert_eq!(later, "");

    // Append-only, for any client of the database.
    drop(srv);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}?mode=rw", dir.path().join("more.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        for sql in ["UPDATE audit_log SET status = 200", "DELETE FROM audit_log"] {
            let e = sqlx::query(sql).execute(&pool).await.expect_err(sql);
            assert!(e.to_string().contains("append-only"), "{sql}: {e}");
        }
    });
}
