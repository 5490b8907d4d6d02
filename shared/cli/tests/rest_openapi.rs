//! The REST client against the OpenAPI document a running node serves: every route of
//! `more_data_owner::rest::routes::ROUTES` (the table the command line, Python and, through
//! `web/api_routes.js`, the page call) must be documented with its method, path parameters,
//! query parameters, body media type, answer media type and public/bearer security, and every
//! JSON body the clients build must be accepted by the operation's schema. The checker itself
//! is shown to refuse an unknown route and a body the schema refuses.

mod common;

use more_data_owner::rest::routes::{AnswerKind, BodyKind, Route, ROUTES};
use more_data_owner::rest::{
    CreateDataset, CreateJob, CreateModel, PublishSecureModel, SetGrants, Sgd,
};
use serde_json::{json, Value};

/// The document as the node serves it.
fn served_document() -> (common::Node, Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::Node::start(&dir.path().join("node"));
    let url = format!("{}/v1/openapi.json", node.url);
    let text = ureq::get(&url)
        .call()
        .expect("GET /v1/openapi.json")
        .into_body()
        .read_to_string()
        .expect("body");
    std::mem::forget(dir); // the node's files live until the process ends
    (node, serde_json::from_str(&text).expect("JSON"))
}

fn operation<'a>(doc: &'a Value, route: &Route) -> Result<&'a Value, String> {
    let method = route.method.as_str().to_ascii_lowercase();
    doc["paths"]
        .get(route.openapi_path())
        .and_then(|item| item.get(&method))
        .ok_or_else(|| {
            format!(
                "{} {} is not in the served document",
                method,
                route.openapi_path()
            )
        })
}

/// The names of the operation's parameters `in` path or query.
fn parameters(op: &Value, place: &str) -> Vec<String> {
    let list = op["parameters"].as_array().cloned().unwrap_or_default();
    list.iter()
        .filter(|p| p["in"] == place)
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect()
}

/// Everything the table says about `route`, checked against the document.
fn check_route(doc: &Value, route: &Route) -> Result<(), String> {
    let op = operation(doc, route)?;
    let name = format!("{} {}", route.method.as_str(), route.path);
    let (path_part, query) = route.path.split_once('?').unwrap_or((route.path, ""));
    let wanted = |s: &str| -> Vec<String> {
        s.split('{')
            .skip(1)
            .filter_map(|p| p.split_once('}'))
            .map(|(n, _)| n.to_string())
            .collect()
    };
    if parameters(op, "path") != wanted(path_part) {
        return Err(format!(
            "{name}: path parameters {:?}",
            parameters(op, "path")
        ));
    }
    let query_names = query
        .split('&')
        .filter_map(|pair| pair.split_once('=').map(|(n, _)| n));
    for q in query_names {
        if !parameters(op, "query").iter().any(|p| p == q) {
            return Err(format!("{name}: query parameter {q} is not documented"));
        }
    }
    let content = &op["requestBody"]["content"];
    let media = match route.body {
        BodyKind::None => None,
        BodyKind::Json => Some("application/json"),
        BodyKind::Bytes | BodyKind::LargeBytes => Some("application/octet-stream"),
    };
    match media {
        None if op["requestBody"]["required"] == true => {
            return Err(format!(
                "{name}: the node requires a body the client does not send"
            ))
        }
        Some(m) if content.get(m).is_none() => {
            return Err(format!("{name}: the node takes no {m} body ({content})"))
        }
        _ => {}
    }
    check_answer(op, route, &name)?;
    let public = op["security"] == json!([{}]);
    if public != route.public {
        return Err(format!(
            "{name}: public in the table {} but {public} in the document",
            route.public
        ));
    }
    Ok(())
}

fn check_answer(op: &Value, route: &Route, name: &str) -> Result<(), String> {
    let responses = op["responses"]
        .as_object()
        .ok_or(format!("{name}: no responses"))?;
    let ok: Vec<(&String, &Value)> = responses
        .iter()
        .filter(|(s, _)| s.starts_with('2'))
        .collect();
    let has = |m: &str| ok.iter().any(|(_, r)| r["content"].get(m).is_some());
    let fine = match route.answer {
        AnswerKind::Json => has("application/json"),
        AnswerKind::Bytes => has("application/octet-stream"),
        AnswerKind::Empty => ok.iter().any(|(s, _)| s.as_str() == "204"),
    };
    if fine {
        Ok(())
    } else {
        Err(format!(
            "{name}: no success answer of kind {:?} ({ok:?})",
            route.answer
        ))
    }
}

/// Validates `body` against the JSON schema of `route`'s request body.
fn check_body(doc: &Value, route: &Route, body: &Value) -> Result<(), String> {
    let op = operation(doc, route)?;
    let mut schema = op["requestBody"]["content"]["application/json"]["schema"].clone();
    if schema.is_null() {
        return Err(format!("{}: no JSON schema", route.path));
    }
    // `#/components/schemas/...` resolves against the schema document itself.
    schema["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&schema).map_err(|e| e.to_string())?;
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} refuses {body}: {}",
            route.path,
            errors.join("; ")
        ))
    }
}

/// The bodies the clients send, built by the library's own types.
fn client_bodies() -> Vec<(Route, Value)> {
    use more_data_owner::rest::routes as r;
    vec![
        (
            r::CREATE_DATASET,
            v(&CreateDataset {
                name: "t".into(),
                task: "classification".into(),
                num_classes: Some(3),
            }),
        ),
        (
            r::CREATE_DATASET,
            v(&CreateDataset {
                name: "t".into(),
                task: "regression".into(),
                num_classes: None,
            }),
        ),
        (
            r::CREATE_MODEL,
            v(&CreateModel {
                name: "m".into(),
                preset: "table_mlp".into(),
                input_shape: vec![4],
                outputs: 3,
                seed: 0,
            }),
        ),
        (
            r::START_JOB,
            v(&CreateJob {
                model_id: "a".repeat(32),
                dataset_id: "b".repeat(32),
                epochs: 3,
                batch_size: 32,
                optimizer: Sgd::new(0.1, 0.0),
                seed: 7,
                ranks: 1,
                loss: Some("mse".into()),
                validation_dataset_id: Some("c".repeat(32)),
            }),
        ),
        (
            r::START_JOB,
            v(&CreateJob {
                model_id: "a".repeat(32),
                dataset_id: "b".repeat(32),
                epochs: 1,
                batch_size: 8,
                optimizer: Sgd::new(0.05, 0.0),
                seed: 0,
                ranks: 2,
                loss: None,
                validation_dataset_id: None,
            }),
        ),
        (
            r::SECURE_PUBLISH,
            v(&PublishSecureModel {
                name: "s".into(),
                model: json!({"layers": []}),
                grants: vec!["b".into()],
                samples_per_day: Some(100),
            }),
        ),
        (
            r::SECURE_PUBLISH,
            v(&PublishSecureModel {
                name: "s".into(),
                model: json!({}),
                grants: vec![],
                samples_per_day: None,
            }),
        ),
        (
            r::SECURE_SET_GRANTS,
            v(&SetGrants {
                grants: vec!["b".into()],
                samples_per_day: Some(5),
            }),
        ),
        (
            r::SECURE_SET_GRANTS,
            v(&SetGrants {
                grants: vec![],
                samples_per_day: None,
            }),
        ),
    ]
}

fn v<T: serde::Serialize>(body: &T) -> Value {
    serde_json::to_value(body).expect("serialisable")
}

#[test]
fn every_client_route_and_body_is_in_the_served_document() {
    let (_node, doc) = served_document();
    let mut failures: Vec<String> = ROUTES
        .iter()
        .filter_map(|r| check_route(&doc, r).err())
        .collect();
    let bodies = client_bodies();
    for kind in ROUTES.iter().filter(|r| r.body == BodyKind::Json) {
        assert!(
            bodies.iter().any(|(r, _)| r == kind),
            "no body checked for {}",
            kind.name
        );
    }
    for (route, body) in &bodies {
        failures.extend(check_body(&doc, route, body).err());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The checks refuse what the node would refuse: planted once each.
    let unknown = Route {
        path: "/datasets/{id}/labels",
        ..more_data_owner::rest::routes::PUT_TARGETS
    };
    assert!(
        check_route(&doc, &unknown).is_err(),
        "an unknown route passed"
    );
    let wrong_method = Route {
        method: more_data_owner::rest::routes::Method::Put,
        ..more_data_owner::rest::routes::START_JOB
    };
    assert!(
        check_route(&doc, &wrong_method).is_err(),
        "a wrong method passed"
    );
    let mut bad = client_bodies()[3].1.clone();
    bad["epochs"] = json!("three");
    assert!(
        check_body(&doc, &more_data_owner::rest::routes::START_JOB, &bad).is_err(),
        "a string epoch count passed"
    );
    let mut bad = client_bodies()[0].1.clone();
    bad["classes"] = json!(3);
    assert!(
        check_body(&doc, &more_data_owner::rest::routes::CREATE_DATASET, &bad).is_err(),
        "an unknown field passed (the node denies unknown fields)"
    );
    let mut bad = client_bodies()[0].1.clone();
    bad.as_object_mut().expect("object").remove("task");
    assert!(
        check_body(&doc, &more_data_owner::rest::routes::CREATE_DATASET, &bad).is_err(),
        "a dataset without task passed"
    );
}
