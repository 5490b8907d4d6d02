//! `GET /v1/openapi.json`: the OpenAPI 3.0 description, written by hand and kept in sync with the
//! registered routes ([`super::ROUTES`]) by the `server_openapi` test.

use actix_web::HttpResponse;
use serde_json::{json, Value};

fn op(
    summary: &str,
    request: Option<Value>,
    status: &str,
    response: Value,
    errors: &[&str],
) -> Value {
    let mut responses = serde_json::Map::new();
    responses.insert(status.to_string(), response);
    for e in errors {
        responses.insert(
            (*e).to_string(),
            json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    let mut o = json!({"summary": summary, "responses": responses});
    if let Some(r) = request {
        o["requestBody"] = json!({"required": true, "content": r});
    }
    o
}

fn id_param() -> Value {
    json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}])
}

fn schema_json(name: &str) -> Value {
    json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}})
}

fn ok_json(desc: &str, name: &str) -> Value {
    json!({"description": desc, "content": schema_json(name)})
}

fn ok_list(desc: &str, name: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": format!("#/components/schemas/{name}")}}}}})
}

fn wire() -> Value {
    json!({"application/octet-stream": {"schema": {"type": "string", "format": "binary", "description": "MORE wire format v1 (shared/WIRE_FORMAT.md)"}}})
}

fn ok_wire(desc: &str) -> Value {
    json!({"description": desc, "content": wire()})
}

/// The document.
pub fn document() -> Value {
    let nullable_shape = json!({"type": "array", "items": {"type": "integer"}, "nullable": true});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "MORE compute node",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Trains and runs neural networks on MORE ciphertexts. Tensors travel in the binary wire format; every error is {\"error\": code, \"message\": text, \"request_id\": id} (the id is also in the X-Request-Id header and in the node's log lines for that request). Codes: bad_request, invalid_tensor, shape_mismatch, basis_mismatch, not_found, payload_too_large, unknown_layer, conflict, forbidden, unsupported_media_type, internal."
        },
        "paths": {
            "/v1/health": {"get": op("Liveness and version", None, "200", json!({"description": "ok", "content": {"application/json": {"schema": {"type": "object", "properties": {"status": {"type": "string"}, "version": {"type": "string"}}}}}}), &[])},
            "/v1/openapi.json": {"get": op("This document", None, "200", json!({"description": "OpenAPI 3"}), &[])},
            "/v1/datasets": {
                "get": op("List datasets", None, "200", ok_list("datasets", "Dataset"), &["500"]),
                "post": op("Create a dataset (then upload features and targets)", Some(schema_json("CreateDataset")), "201", ok_json("created", "Dataset"), &["400"])
            },
            "/v1/datasets/{id}": {
                "parameters": id_param(),
                "get": op("Get a dataset", None, "200", ok_json("dataset", "Dataset"), &["404", "500"]),
                "delete": op("Delete a dataset", None, "204", json!({"description": "deleted"}), &["404", "409"])
            },
            "/v1/datasets/{id}/features": {
                "parameters": id_param(),
                "put": op("Upload the encrypted features (samples, ...): f32, compact or matrix form; streamed to disk", Some(wire()), "200", ok_json("stored", "Dataset"), &["400", "404", "413"])
            },
            "/v1/datasets/{id}/targets": {
                "parameters": id_param(),
                "put": op("Upload the encrypted targets (samples, outputs), one-hot for classification; same representation and basis as the features", Some(wire()), "200", ok_json("stored", "Dataset"), &["400", "404", "413"])
            },
            "/v1/models": {
                "get": op("List models", None, "200", ok_list("models", "Model"), &["500"]),
                "post": op("Create a model from a spec or a preset", Some(schema_json("CreateModel")), "201", ok_json("created", "Model"), &["400"])
            },
            "/v1/models/{id}": {
                "parameters": id_param(),
                "get": op("Get a model", None, "200", ok_json("model", "Model"), &["404"]),
                "delete": op("Delete a model", None, "204", json!({"description": "deleted"}), &["404", "409"])
            },
            "/v1/models/{id}/weights": {
                "parameters": id_param(),
                "get": op("The model's parameters as a wire bundle (encrypted once trained; the public initial weights before)", None, "200", ok_wire("bundle"), &["404", "500"])
            },
            "/v1/models/{id}/predict": {
                "parameters": id_param(),
                "post": op("Run the model on a wire tensor (batch, input_shape...) under the training data's key; returns the outputs (logits for classification)", Some(wire()), "200", ok_wire("outputs"), &["400", "404", "413"])
            },
            "/v1/jobs": {
                "get": op("List jobs", None, "200", ok_list("jobs", "Job"), &["500"]),
                "post": op("Train a model on a ready dataset", Some(schema_json("CreateJob")), "202", ok_json("queued", "Job"), &["400", "404", "409"])
            },
            "/v1/jobs/{id}": {
                "parameters": id_param(),
                "get": op("Get a job and its progress", None, "200", ok_json("job", "Job"), &["404"])
            },
            "/v1/jobs/{id}/losses": {
                "parameters": id_param(),
                "get": op("Encrypted mean loss of each completed epoch: wire tensor (epochs_done,)", None, "200", ok_wire("losses"), &["404", "409"])
            },
            "/v1/jobs/{id}/cancel": {
                "parameters": id_param(),
                "post": op("Cancel a queued or running job (stops at the next mini-batch)", None, "200", ok_json("job", "Job"), &["404", "409"])
            },
            "/v1/jobs/{id}/resume": {
                "parameters": id_param(),
                "post": op("Resume an interrupted or cancelled job from its last checkpoint", None, "202", ok_json("job", "Job"), &["404", "409"])
            }
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error", "message"], "properties": {
                "error": {"type": "string", "enum": ["bad_request", "invalid_tensor", "shape_mismatch", "basis_mismatch", "not_found", "payload_too_large", "unknown_layer", "conflict", "forbidden", "unsupported_media_type", "internal"]},
                "message": {"type": "string"},
                "request_id": {"type": "string", "description": "The request's id (X-Request-Id), also on its log lines"}}},
            "CreateDataset": {"type": "object", "required": ["name", "task"], "additionalProperties": false, "properties": {
                "name": {"type": "string"}, "task": {"type": "string", "enum": ["classification", "regression"]},
                "num_classes": {"type": "integer", "minimum": 1}}},
            "Dataset": {"type": "object", "properties": {
                "id": {"type": "string"}, "name": {"type": "string"},
                "task": {"type": "string", "enum": ["classification", "regression"]},
                "num_classes": {"type": "integer", "nullable": true},
                "samples": {"type": "integer", "nullable": true},
                "feature_shape": nullable_shape, "target_shape": nullable_shape,
                "representation": {"type": "string", "enum": ["compact", "matrix"], "nullable": true},
                "basis": {"type": "array", "items": {"type": "number"}, "nullable": true, "description": "public compact basis C0, row-major"},
                "state": {"type": "string", "enum": ["created", "ready"]},
                "created_at": {"type": "integer", "description": "Unix seconds"},
                "features_sha256": {"type": "string", "nullable": true}, "targets_sha256": {"type": "string", "nullable": true},
                "features_bytes": {"type": "integer", "nullable": true}, "targets_bytes": {"type": "integer", "nullable": true}}},
            "CreateModel": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"},
                "spec": {"$ref": "#/components/schemas/ModelSpec"},
                "preset": {"type": "string", "enum": ["mnist_mlp", "mnist_cnn", "regression_mlp", "image_cnn"]},
                "input_shape": {"type": "array", "items": {"type": "integer"}},
                "outputs": {"type": "integer", "minimum": 1},
                "seed": {"type": "integer", "description": "seed of the initial weights (default 0)"}}},
            "ModelSpec": {"type": "object", "required": ["input_shape", "layers"], "properties": {
                "input_shape": {"type": "array", "items": {"type": "integer"}},
                "layers": {"type": "array", "items": {"type": "object", "required": ["type"], "properties": {
                    "type": {"type": "string", "enum": ["dense", "conv2d", "avg_pool2d", "max_pool2d", "flatten", "dropout", "relu", "sigmoid", "tanh", "square", "polynomial"]}}}}}},
            "Model": {"type": "object", "properties": {
                "id": {"type": "string"}, "name": {"type": "string"},
                "spec": {"$ref": "#/components/schemas/ModelSpec"},
                "preset": {"type": "string", "nullable": true},
                "parameters": {"type": "integer"}, "seed": {"type": "integer"},
                "trained_epochs": {"type": "integer"},
                "representation": {"type": "string", "nullable": true}, "basis": {"type": "array", "items": {"type": "number"}, "nullable": true},
                "weights_sha256": {"type": "string", "nullable": true},
                "output_shape": {"type": "array", "items": {"type": "integer"}},
                "created_at": {"type": "integer"}}},
            "Optimizer": {"oneOf": [
                {"type": "object", "required": ["type", "learning_rate"], "properties": {"type": {"type": "string", "enum": ["sgd"]}, "learning_rate": {"type": "number"}, "momentum": {"type": "number"}}},
                {"type": "object", "required": ["type", "learning_rate"], "properties": {"type": {"type": "string", "enum": ["adam"]}, "learning_rate": {"type": "number"}, "beta1": {"type": "number"}, "beta2": {"type": "number"}, "epsilon": {"type": "number"}}}]},
            "CreateJob": {"type": "object", "required": ["model_id", "dataset_id", "epochs", "batch_size", "optimizer"], "additionalProperties": false, "properties": {
                "model_id": {"type": "string"}, "dataset_id": {"type": "string"},
                "epochs": {"type": "integer", "minimum": 1, "maximum": 10000},
                "batch_size": {"type": "integer", "minimum": 1, "maximum": 65536},
                "optimizer": {"$ref": "#/components/schemas/Optimizer"},
                "loss": {"type": "string", "enum": ["mse", "cross_entropy"]},
                "seed": {"type": "integer"},
                "divergence_limit": {"type": "number"}}},
            "Job": {"type": "object", "properties": {
                "id": {"type": "string"}, "model_id": {"type": "string"}, "dataset_id": {"type": "string"},
                "state": {"type": "string", "enum": ["queued", "running", "completed", "failed", "cancelled", "interrupted"]},
                "epoch": {"type": "integer", "description": "epochs completed"}, "epochs": {"type": "integer"},
                "batches_done": {"type": "integer", "description": "in the current epoch"}, "batches_total": {"type": "integer"},
                "elapsed_seconds": {"type": "number"}, "error": {"type": "string"},
                "config": {"type": "object"}, "base_epochs": {"type": "integer"}, "created_at": {"type": "integer"},
                "checkpoint_sha256": {"type": "string", "nullable": true}, "losses_sha256": {"type": "string", "nullable": true}}}
        }}
    })
}

/// `GET /v1/openapi.json`.
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(document())
}
