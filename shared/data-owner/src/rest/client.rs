//! The native transport (ureq, blocking) and one typed call per route of [`super::routes`]:
//! JSON metadata, wire-format tensors as `application/octet-stream`, errors as
//! `{"error", "message"}`, a bearer token when given.

use std::io::Read;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::answer;
use super::bodies::{CreateDataset, CreateJob, CreateModel, PublishSecureModel, SetGrants};
use super::routes::{self as r, Method, Route};
use crate::{CliError, Result};

/// The environment variable read for the bearer token when `--token` is not given.
pub const TOKEN_ENV: &str = "MORE_TOKEN";

/// A compute node at a base URL (`http://host:port`, without `/v1`).
pub struct Node {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// A request body on its way.
enum Payload<'a> {
    None,
    Json(Value),
    Bytes(&'a [u8], &'a mut dyn FnMut(u64)),
}

/// A reader that reports how many bytes have been read (for upload progress bars).
struct Counting<'a, R> {
    inner: R,
    done: u64,
    report: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        (self.report)(self.done);
        Ok(n)
    }
}

type Answer = std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>;

impl Node {
    /// A client for the node at `url` (`http://127.0.0.1:8080`; a trailing `/` or `/v1` is
    /// dropped), sending `Authorization: Bearer <token>` when `token` is given.
    ///
    /// # Errors
    /// [`CliError::Unreachable`] for a URL that is not `http://…` (TLS is not built in: put the
    /// node behind a local tunnel or reverse proxy).
    pub fn new(url: &str, token: Option<String>) -> Result<Self> {
        let base = url
            .trim_end_matches('/')
            .trim_end_matches("/v1")
            .to_string();
        if !base.starts_with("http://") {
            return Err(CliError::Unreachable(format!(
                "{url}: only http:// node URLs are supported by this build"
            )));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        Ok(Node {
            base,
            token: token.filter(|t| !t.is_empty()),
            agent,
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Sends `route` with `args` in its templates; the success body.
    fn call(&self, route: &Route, args: &[&str], payload: Payload<'_>) -> Result<Vec<u8>> {
        let path = route.path_with(args);
        let what = format!("{} {path}", route.method.as_str());
        let url = format!("{}/v1{path}", self.base);
        let mut req = ureq::http::Request::builder()
            .method(route.method.as_str())
            .uri(&url);
        // The token goes with every call, the public ones too (the node ignores it there).
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let build = |e: ureq::http::Error| CliError::Unreachable(format!("{url}: {e}"));
        let answer = match payload {
            Payload::None => self.agent.run(req.body(()).map_err(build)?),
            Payload::Json(v) => {
                let req = req.header("Content-Type", "application/json");
                self.agent.run(req.body(v.to_string()).map_err(build)?)
            }
            Payload::Bytes(bytes, report) => {
                let req = req
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Length", bytes.len().to_string());
                let mut reader = Counting {
                    inner: bytes,
                    done: 0,
                    report,
                };
                let body = ureq::SendBody::from_reader(&mut reader);
                self.agent.run(req.body(body).map_err(build)?)
            }
        };
        self.finish(&what, answer)
    }

    fn finish(&self, what: &str, answer: Answer) -> Result<Vec<u8>> {
        let unreachable =
            |e: ureq::Error| CliError::Unreachable(format!("{} ({what}): {e}", self.base));
        let mut resp = answer.map_err(unreachable)?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 33)
            .read_to_vec()
            .map_err(unreachable)?;
        if status >= 400 {
            return Err(answer::rejection(status, &body, what));
        }
        Ok(body)
    }

    fn json(&self, route: &Route, args: &[&str], payload: Payload<'_>) -> Result<Value> {
        let body = self.call(route, args, payload)?;
        answer::json(&body, route.path)
    }

    fn send_json(&self, route: &Route, args: &[&str], body: &impl Serialize) -> Result<Value> {
        let v = serde_json::to_value(body).map_err(|e| CliError::Io(e.to_string()))?;
        self.json(route, args, Payload::Json(v))
    }

    fn get(&self, route: &Route, args: &[&str]) -> Result<Value> {
        debug_assert_eq!(route.method, Method::Get);
        self.json(route, args, Payload::None)
    }
}

/// One method per route. Errors of each: [`CliError::Unreachable`] (no connection),
/// [`CliError::Rejected`] (the node's error code and message).
impl Node {
    /// `GET /v1/health`.
    ///
    /// # Errors
    /// See the `impl`.
    pub fn health(&self) -> Result<Value> {
        self.get(&r::HEALTH, &[])
    }

    /// `GET /v1/whoami`: the caller's tenant and role.
    ///
    /// # Errors
    /// See the `impl`.
    pub fn whoami(&self) -> Result<Value> {
        self.get(&r::WHOAMI, &[])
    }

    /// `GET /v1/datasets`, `/v1/models` or `/v1/jobs` (the caller tenant's records), by route.
    ///
    /// # Errors
    /// See the `impl`.
    pub fn list(&self, route: &Route) -> Result<Value> {
        self.get(route, &[])
    }

    /// `GET /v1/datasets/{id}`.
    ///
    /// # Errors
    /// See the `impl`.
    pub fn dataset(&self, id: &str) -> Result<Value> {
        self.get(&r::DATASET, &[id])
    }

    /// `POST /v1/datasets`: the new data set's record (`id`, `state` `"created"`).
    ///
    /// # Errors
    /// See the `impl`.
    pub fn create_dataset(&self, body: &CreateDataset) -> Result<Value> {
        self.send_json(&r::CREATE_DATASET, &[], body)
    }

    /// `PUT /v1/datasets/{id}/features` (or `targets` with [`r::PUT_TARGETS`]) with wire bytes,
    /// `progress(sent_bytes)` while they stream.
    ///
    /// # Errors
    /// See the `impl`.
    pub fn put_tensor(
        &self,
        route: &Route,
        id: &str,
        bytes: &[u8],
        progress: &mut dyn FnMut(u64),
    ) -> Result<Value> {
        self.json(route, &[id], Payload::Bytes(bytes, progress))
    }

    /// `POST /v1/datasets/{id}/shards?index={index}` with one shard (a wire bundle of
    /// `features` and `targets`): the dataset's record with its shard list.
    ///
    /// # Errors
    /// See the `impl`; 409 `conflict` when `index` is not the dataset's next shard.
    pub fn append_shard(&self, id: &str, index: usize, bundle: &[u8]) -> Result<Value> {
        let index = index.to_string();
        let payload = Payload::Bytes(bundle, &mut |_| {});
        self.json(&r::APPEND_SHARD, &[id, &index], payload)
    }

    /// `DELETE /v1/datasets/{id}`, `/v1/models/{id}` or `/v1/secure/models/{id}`, by route.
    ///
    /// # Errors
    /// See the `impl`.
    pub fn delete(&self, route: &Route, id: &str) -> Result<()> {
        self.call(route, &[id], Payload::None).map(drop)
    }

    /// `GET /v1/models/{id}`.
    ///
    /// # Errors
    /// See the `impl`.
    pub fn model(&self, id: &str) -> Result<Value> {
        self.get(&r::MODEL, &[id])
    }

    /// `POST /v1/models`: the new model's record.
    ///
    /// # Errors
    /// See the `impl`.
    pub fn create_model(&self, body: &CreateModel) -> Result<Value> {
        self.send_json(&r::CREATE_MODEL, &[], body)
    }

    /// `GET /v1/models/{id}/weights`: the encrypted model bundle.
    ///
    /// # Errors
    /// See the `impl`.
    pub fn weights(&self, id: &str) -> Result<Vec<u8>> {
        self.call(&r::WEIGHTS, &[id], Payload::None)
    }

    /// `POST /v1/models/{id}/predict` with an encrypted batch: the encrypted outputs.
    ///
    /// # Errors
    /// See the `impl`.
    pub fn predict(&self, id: &str, batch: &[u8]) -> Result<Vec<u8>> {
        self.call(&r::PREDICT, &[id], Payload::Bytes(batch, &mut |_| {}))
    }

    /// `POST /v1/models/{id}/predict/{dataset_id}`: encrypted outputs `(samples, outputs)` of the
    /// model on every sample of the stored dataset, in its order.
    ///
    /// # Errors
    /// See the `impl`.
    pub fn predict_dataset(&self, id: &str, dataset_id: &str) -> Result<Vec<u8>> {
        self.call(&r::PREDICT_DATASET, &[id, dataset_id], Payload::None)
    }

    /// `POST /v1/jobs`: the new job's record.
    ///
    /// # Errors
    /// See the `impl`.
    pub fn start_job(&self, body: &CreateJob) -> Result<Value> {
        self.send_json(&r::START_JOB, &[], body)
    }

    /// `GET /v1/jobs/{id}`: state, `epoch`, `epochs`, `batches_done`, `batches_total`, ...
    ///
    /// # Errors
    /// See the `impl`.
    pub fn job(&self, id: &str) -> Result<Value> {
        self.get(&r::JOB, &[id])
    }

    /// `GET /v1/jobs/{id}/losses`: the encrypted per-epoch losses (a wire tensor).
    ///
    /// # Errors
    /// See the `impl`.
    pub fn losses(&self, id: &str) -> Result<Vec<u8>> {
        self.call(&r::LOSSES, &[id], Payload::None)
    }

    /// `POST /v1/jobs/{id}/cancel` or `/resume`, by route: the job's record.
    ///
    /// # Errors
    /// See the `impl`.
    pub fn job_action(&self, route: &Route, id: &str) -> Result<Value> {
        self.json(route, &[id], Payload::None)
    }
}

/// Secure mode (BFV): models published to other tenants, evaluation keys, prediction.
impl Node {
    /// `GET /v1/secure/models`: the caller tenant's own secure models, then those granted to
    /// it (summaries without weights).
    ///
    /// # Errors
    /// As the other calls.
    pub fn secure_models(&self) -> Result<Value> {
        self.get(&r::SECURE_MODELS, &[])
    }

    /// `GET /v1/secure/models/{id}`: the summary and the quantized model (`"model"`); 404 for a
    /// model that is neither the caller tenant's nor granted to it.
    ///
    /// # Errors
    /// As the other calls.
    pub fn secure_model(&self, id: &str) -> Result<Value> {
        self.get(&r::SECURE_MODEL, &[id])
    }

    /// `POST /v1/secure/models`: the summary with `bound_bits`, or the node's refusal (422
    /// `may_overflow` when a layer's worst case could wrap around the plaintext modulus).
    ///
    /// # Errors
    /// As the other calls.
    pub fn secure_publish(&self, body: &PublishSecureModel) -> Result<Value> {
        self.send_json(&r::SECURE_PUBLISH, &[], body)
    }

    /// `PUT /v1/secure/models/{id}/grants` (owner only): the summary.
    ///
    /// # Errors
    /// As the other calls.
    pub fn secure_set_grants(&self, id: &str, body: &SetGrants) -> Result<Value> {
        self.send_json(&r::SECURE_SET_GRANTS, &[id], body)
    }

    /// `POST /v1/secure/evaluation-keys`: the answer holds the key's `id` for
    /// [`Node::secure_predict`].
    ///
    /// # Errors
    /// As the other calls.
    pub fn upload_evaluation_key(&self, key: &[u8]) -> Result<Value> {
        self.json(
            &r::UPLOAD_EVALUATION_KEY,
            &[],
            Payload::Bytes(key, &mut |_| {}),
        )
    }

    /// `POST /v1/secure/models/{id}/predict?evaluation_key={key}` with an encrypted batch
    /// (`progress(sent_bytes)` while it streams): the encrypted outputs batch.
    ///
    /// # Errors
    /// As the other calls.
    pub fn secure_predict(
        &self,
        id: &str,
        evaluation_key: &str,
        batch: &[u8],
        progress: &mut dyn FnMut(u64),
    ) -> Result<Vec<u8>> {
        let payload = Payload::Bytes(batch, progress);
        self.call(&r::SECURE_PREDICT, &[id, evaluation_key], payload)
    }
}
