//! Every route of the compute node that a data owner's client calls, defined once. The native
//! client ([`super::Node`]) builds its requests from this table, the page's `web/api.js` builds
//! its `api` object from `web/api_routes.js`, which [`routes_js`] writes from the same table
//! (a test fails when the committed file is stale), and a test checks every route against the
//! OpenAPI document a running node serves (`shared/cli/tests/rest_openapi.rs`).

/// An HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method's name, upper case (`"GET"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// What a request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// Nothing.
    None,
    /// A JSON document (`application/json`).
    Json,
    /// Wire-format bytes (`application/octet-stream`).
    Bytes,
    /// Wire-format bytes of ~150 MB (an encrypted secure-mode batch): the page streams them
    /// from a `Blob`.
    LargeBytes,
}

/// What the node answers on success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerKind {
    /// A JSON document.
    Json,
    /// Wire-format bytes (a tensor or a model bundle).
    Bytes,
    /// Nothing (204).
    Empty,
}

/// One route: `method /v1{path}`. `path` is an OpenAPI path template relative to `/v1`
/// (`/datasets/{id}/features`), optionally with a query of templated values
/// (`?evaluation_key={evaluation_key}`); the arguments fill the templates in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The call's name in `web/api.js` (`createDataset`).
    pub name: &'static str,
    /// The HTTP method.
    pub method: Method,
    /// The path template relative to `/v1`, with the query if any.
    pub path: &'static str,
    /// The request body.
    pub body: BodyKind,
    /// The success answer.
    pub answer: AnswerKind,
    /// Whether it is served without a token (`auth::PUBLIC_PATHS` of the node); the page sends
    /// no token there (a 401 cannot sign it out), the native client sends it everywhere.
    pub public: bool,
}

const fn route(
    name: &'static str,
    method: Method,
    path: &'static str,
    body: BodyKind,
    answer: AnswerKind,
) -> Route {
    Route {
        name,
        method,
        path,
        body,
        answer,
        public: false,
    }
}

use AnswerKind as A;
use BodyKind as B;
use Method as M;

/// `GET /v1/health` (public).
pub const HEALTH: Route = Route {
    public: true,
    ..route("health", M::Get, "/health", B::None, A::Json)
};
/// `GET /v1/auth`: how to sign in (public).
pub const AUTH: Route = Route {
    public: true,
    ..route("auth", M::Get, "/auth", B::None, A::Json)
};
/// `GET /v1/whoami`: the caller's tenant and role.
pub const WHOAMI: Route = route("whoami", M::Get, "/whoami", B::None, A::Json);
/// `GET /v1/datasets`.
pub const DATASETS: Route = route("datasets", M::Get, "/datasets", B::None, A::Json);
/// `POST /v1/datasets` with a [`super::CreateDataset`].
pub const CREATE_DATASET: Route = route("createDataset", M::Post, "/datasets", B::Json, A::Json);
/// `GET /v1/datasets/{id}`.
pub const DATASET: Route = route("dataset", M::Get, "/datasets/{id}", B::None, A::Json);
/// `PUT /v1/datasets/{id}/features` with the encrypted features.
pub const PUT_FEATURES: Route = route(
    "putFeatures",
    M::Put,
    "/datasets/{id}/features",
    B::Bytes,
    A::Json,
);
/// `PUT /v1/datasets/{id}/targets` with the encrypted targets.
pub const PUT_TARGETS: Route = route(
    "putTargets",
    M::Put,
    "/datasets/{id}/targets",
    B::Bytes,
    A::Json,
);
/// `POST /v1/datasets/{id}/shards?index={index}` with one shard: a wire bundle of the encrypted
/// `features` and `targets` (appends at the dataset's shard count; a confirmed index re-sent with
/// the same bytes answers the dataset unchanged).
pub const APPEND_SHARD: Route = route(
    "appendShard",
    M::Post,
    "/datasets/{id}/shards?index={index}",
    B::Bytes,
    A::Json,
);
/// `DELETE /v1/datasets/{id}`.
pub const DELETE_DATASET: Route = route(
    "deleteDataset",
    M::Delete,
    "/datasets/{id}",
    B::None,
    A::Empty,
);
/// `GET /v1/models`.
pub const MODELS: Route = route("models", M::Get, "/models", B::None, A::Json);
/// `POST /v1/models` with a [`super::CreateModel`].
pub const CREATE_MODEL: Route = route("createModel", M::Post, "/models", B::Json, A::Json);
/// `GET /v1/models/{id}`.
pub const MODEL: Route = route("model", M::Get, "/models/{id}", B::None, A::Json);
/// `GET /v1/models/{id}/weights`: the encrypted model bundle.
pub const WEIGHTS: Route = route("weights", M::Get, "/models/{id}/weights", B::None, A::Bytes);
/// `POST /v1/models/{id}/predict` with encrypted inputs; answers encrypted outputs.
pub const PREDICT: Route = route(
    "predict",
    M::Post,
    "/models/{id}/predict",
    B::Bytes,
    A::Bytes,
);
/// `POST /v1/models/{id}/predict/{dataset_id}`: the model on every sample of a stored dataset
/// (streamed from its shards on the node); answers encrypted outputs in the dataset's order.
pub const PREDICT_DATASET: Route = route(
    "predictDataset",
    M::Post,
    "/models/{id}/predict/{dataset_id}",
    B::None,
    A::Bytes,
);
/// `DELETE /v1/models/{id}`.
pub const DELETE_MODEL: Route = route("deleteModel", M::Delete, "/models/{id}", B::None, A::Empty);
/// `GET /v1/jobs`.
pub const JOBS: Route = route("jobs", M::Get, "/jobs", B::None, A::Json);
/// `POST /v1/jobs` with a [`super::CreateJob`].
pub const START_JOB: Route = route("startJob", M::Post, "/jobs", B::Json, A::Json);
/// `GET /v1/jobs/{id}`: state and progress.
pub const JOB: Route = route("job", M::Get, "/jobs/{id}", B::None, A::Json);
/// `GET /v1/jobs/{id}/losses`: the encrypted per-epoch losses.
pub const LOSSES: Route = route("losses", M::Get, "/jobs/{id}/losses", B::None, A::Bytes);
/// `POST /v1/jobs/{id}/cancel`.
pub const CANCEL: Route = route("cancel", M::Post, "/jobs/{id}/cancel", B::None, A::Json);
/// `POST /v1/jobs/{id}/resume`.
pub const RESUME: Route = route("resume", M::Post, "/jobs/{id}/resume", B::None, A::Json);
/// `GET /v1/jobs/{id}/validation_losses`: the encrypted per-epoch losses over the job's
/// validation dataset.
pub const VALIDATION_LOSSES: Route = route(
    "validationLosses",
    M::Get,
    "/jobs/{id}/validation_losses",
    B::None,
    A::Bytes,
);
/// `POST /v1/jobs/{id}/keep`: a cancelled job's model takes the weights of its last completed
/// epoch.
pub const KEEP_JOB: Route = route("keepJob", M::Post, "/jobs/{id}/keep", B::None, A::Json);
/// `GET /v1/secure/models`: the caller's secure models, then those granted to it.
pub const SECURE_MODELS: Route = route("secureModels", M::Get, "/secure/models", B::None, A::Json);
/// `POST /v1/secure/models` with a [`super::PublishSecureModel`].
pub const SECURE_PUBLISH: Route =
    route("securePublish", M::Post, "/secure/models", B::Json, A::Json);
/// `GET /v1/secure/models/{id}`: the summary and the quantized model.
pub const SECURE_MODEL: Route = route(
    "secureModel",
    M::Get,
    "/secure/models/{id}",
    B::None,
    A::Json,
);
/// `PUT /v1/secure/models/{id}/grants` with a [`super::SetGrants`].
pub const SECURE_SET_GRANTS: Route = route(
    "secureSetGrants",
    M::Put,
    "/secure/models/{id}/grants",
    B::Json,
    A::Json,
);
/// `DELETE /v1/secure/models/{id}`.
pub const SECURE_DELETE: Route = route(
    "secureDelete",
    M::Delete,
    "/secure/models/{id}",
    B::None,
    A::Empty,
);
/// `POST /v1/secure/evaluation-keys` with an evaluation (relinearization) key.
pub const UPLOAD_EVALUATION_KEY: Route = route(
    "uploadEvaluationKey",
    M::Post,
    "/secure/evaluation-keys",
    B::Bytes,
    A::Json,
);
/// `POST /v1/secure/models/{id}/predict?evaluation_key={evaluation_key}` with an encrypted
/// batch; answers the encrypted outputs.
pub const SECURE_PREDICT: Route = route(
    "securePredict",
    M::Post,
    "/secure/models/{id}/predict?evaluation_key={evaluation_key}",
    B::LargeBytes,
    A::Bytes,
);

/// Every route the clients call.
pub const ROUTES: &[Route] = &[
    HEALTH,
    AUTH,
    WHOAMI,
    DATASETS,
    CREATE_DATASET,
    DATASET,
    PUT_FEATURES,
    PUT_TARGETS,
    APPEND_SHARD,
    DELETE_DATASET,
    MODELS,
    CREATE_MODEL,
    MODEL,
    WEIGHTS,
    PREDICT,
    PREDICT_DATASET,
    DELETE_MODEL,
    JOBS,
    START_JOB,
    JOB,
    LOSSES,
    CANCEL,
    RESUME,
    VALIDATION_LOSSES,
    KEEP_JOB,
    SECURE_MODELS,
    SECURE_PUBLISH,
    SECURE_MODEL,
    SECURE_SET_GRANTS,
    SECURE_DELETE,
    UPLOAD_EVALUATION_KEY,
    SECURE_PREDICT,
];

impl Route {
    /// The names of the templated values, in order (`["id", "evaluation_key"]`).
    pub fn params(&self) -> Vec<&'static str> {
        self.path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(name, _)| name))
            .collect()
    }

    /// The path of the OpenAPI document: `/v1` and the template without the query.
    pub fn openapi_path(&self) -> String {
        let path = self.path.split_once('?').map_or(self.path, |(p, _)| p);
        format!("/v1{path}")
    }

    /// The path relative to `/v1` with `args` in the templates, in order, each percent-encoded
    /// as JavaScript's `encodeURIComponent` does (so an id cannot change the path). A missing
    /// argument is left empty (the node answers 404).
    pub fn path_with(&self, args: &[&str]) -> String {
        let mut out = String::with_capacity(self.path.len() + 40);
        let mut rest = self.path;
        let mut args = args.iter();
        while let Some((before, after)) = rest.split_once('{') {
            out.push_str(before);
            let (_, tail) = after.split_once('}').unwrap_or(("", ""));
            out.push_str(&encode_component(args.next().copied().unwrap_or("")));
            rest = tail;
        }
        out.push_str(rest);
        out
    }
}

/// Percent-encodes everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` (`encodeURIComponent`).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `web/api_routes.js`: the table as a JavaScript module (`export const ROUTES = [...]`), for
/// the page's `api.js`.
pub fn routes_js() -> String {
    let mut out = String::from(
        "// GENERATED from shared/data-owner/src/rest/routes.rs by\n\
         // `cargo run -p more-data-owner --example write_api_routes`; do not edit (a test fails\n\
         // when this file differs from the table).\n\
         // Every route of the compute node the page calls: `body` none | json | bytes | large\n\
         // (streamed from a Blob), `answer` json | bytes | empty, `public` served without a token.\n\
         export const ROUTES = [\n",
    );
    for r in ROUTES {
        let body = match r.body {
            BodyKind::None => "none",
            BodyKind::Json => "json",
            BodyKind::Bytes => "bytes",
            BodyKind::LargeBytes => "large",
        };
        let answer = match r.answer {
            AnswerKind::Json => "json",
            AnswerKind::Bytes => "bytes",
            AnswerKind::Empty => "empty",
        };
        out.push_str(&format!(
            "  {{ name: '{}', method: '{}', path: '{}', body: '{body}', answer: '{answer}', public: {} }},\n",
            r.name,
            r.method.as_str(),
            r.path,
            r.public
        ));
    }
    out.push_str("];\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_in_order_and_encode() {
        assert_eq!(DATASET.path_with(&["abc"]), "/datasets/abc");
        assert_eq!(
            SECURE_PREDICT.path_with(&["m1", "k/2"]),
            "/secure/models/m1/predict?evaluation_key=k%2F2"
        );
        assert_eq!(PREDICT.path_with(&["../x"]), "/models/..%2Fx/predict");
        assert_eq!(SECURE_PREDICT.params(), ["id", "evaluation_key"]);
        assert_eq!(
            SECURE_PREDICT.openapi_path(),
            "/v1/secure/models/{id}/predict"
        );
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(
                ROUTES[i + 1..].iter().all(|b| b.name != a.name),
                "{}",
                a.name
            );
        }
    }

    /// `web/api_routes.js` is what [`routes_js`] writes (regenerate with
    /// `cargo run -p more-data-owner --example write_api_routes`).
    #[test]
    fn web_api_routes_js_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/api_routes.js");
        let committed = std::fs::read_to_string(path).expect("web/api_routes.js");
        assert!(
            committed == routes_js(),
            "web/api_routes.js is stale: run cargo run -p more-data-owner --example write_api_routes"
        );
    }
}
