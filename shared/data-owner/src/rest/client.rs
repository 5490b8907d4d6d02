//! The compute node's REST API as the page calls it (`web/api.js`, `compute-node/API.md`): JSON
//! metadata, wire-format tensors as `application/octet-stream`, errors as
//! `{"error", "message"}`. A bearer token is sent when given.

use std::io::Read;
use std::time::Duration;

use serde_json::Value;

use crate::{CliError, Result};

/// The environment variable read for the bearer token when `--token` is not given.
pub const TOKEN_ENV: &str = "MORE_TOKEN";

/// A compute node at a base URL (`http://host:port`, without `/v1`).
pub struct Node {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
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

    fn finish(
        &self,
        what: &str,
        resp: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(Vec<u8>, bool)> {
        let mut resp =
            resp.map_err(|e| CliError::Unreachable(format!("{} ({what}): {e}", self.base)))?;
        let status = resp.status().as_u16();
        let is_json = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 33)
            .read_to_vec()
            .map_err(|e| CliError::Unreachable(format!("{} ({what}): {e}", self.base)))?;
        if status >= 400 {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            return Err(CliError::Rejected {
                status,
                code: v["error"].as_str().unwrap_or("http").to_string(),
                message: v["message"]
                    .as_str()
                    .map_or_else(|| format!("{what} failed"), |m| format!("{what}: {m}")),
            });
        }
        Ok((body, is_json))
    }

    fn auth<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => req.header("Authorization", format!("Bearer {t}")),
            None => req,
        }
    }

    fn json_of(body: &[u8], what: &str) -> Result<Value> {
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(body).map_err(|e| CliError::Rejected {
            status: 200,
            code: "invalid_response".into(),
            message: format!("{what}: the node's answer is not JSON ({e})"),
        })
    }

    /// `GET /v1{path}` answering JSON.
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::Rejected`].
    pub fn get_json(&self, path: &str) -> Result<Value> {
        let url = format!("{}/v1{path}", self.base);
        let (body, _) = self.finish(
            &format!("GET {path}"),
            self.auth(self.agent.get(&url)).call(),
        )?;
        Self::json_of(&body, path)
    }

    /// `GET /v1{path}` answering bytes (a wire tensor or bundle).
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::Rejected`].
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let url = format!("{}/v1{path}", self.base);
        Ok(self
            .finish(
                &format!("GET {path}"),
                self.auth(self.agent.get(&url)).call(),
            )?
            .0)
    }

    /// `POST /v1{path}` with a JSON body, answering JSON.
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::Rejected`].
    pub fn post_json(&self, path: &str, body: &Value) -> Result<Value> {
        let url = format!("{}/v1{path}", self.base);
        let req = self
            .auth(self.agent.post(&url))
            .header("Content-Type", "application/json");
        let (body, _) = self.finish(&format!("POST {path}"), req.send(body.to_string()))?;
        Self::json_of(&body, path)
    }

    /// Sends wire bytes (`PUT` or `POST`) with `progress(sent_bytes)` while streaming; the answer
    /// as JSON when the node answers JSON, else `Err` carrying the bytes in `Ok` of the caller's
    /// choice (see [`Node::post_tensor`]).
    fn send_bytes(
        &self,
        method: &str,
        path: &str,
        bytes: &[u8],
        progress: &mut dyn FnMut(u64),
    ) -> Result<(Vec<u8>, bool)> {
        let url = format!("{}/v1{path}", self.base);
        let req = match method {
            "PUT" => self.agent.put(&url),
            _ => self.agent.post(&url),
        };
        let req = self
            .auth(req)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", bytes.len().to_string());
        let mut reader = Counting {
            inner: bytes,
            done: 0,
            report: progress,
        };
        self.finish(
            &format!("{method} {path}"),
            req.send(ureq::SendBody::from_reader(&mut reader)),
        )
    }

    /// `PUT /v1{path}` with wire bytes, answering JSON.
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::Rejected`].
    pub fn put_tensor(
        &self,
        path: &str,
        bytes: &[u8],
        progress: &mut dyn FnMut(u64),
    ) -> Result<Value> {
        let (body, _) = self.send_bytes("PUT", path, bytes, progress)?;
        Self::json_of(&body, path)
    }

    /// `POST /v1{path}` with wire bytes, answering wire bytes (predict).
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::Rejected`].
    pub fn post_tensor(&self, path: &str, bytes: &[u8]) -> Result<Vec<u8>> {
        Ok(self.send_bytes("POST", path, bytes, &mut |_| {})?.0)
    }
}

impl Node {
    /// `PUT /v1{path}` with a JSON body, answering JSON.
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::Rejected`].
    pub fn put_json(&self, path: &str, body: &Value) -> Result<Value> {
        let url = format!("{}/v1{path}", self.base);
        let req = self
            .auth(self.agent.put(&url))
            .header("Content-Type", "application/json");
        let (body, _) = self.finish(&format!("PUT {path}"), req.send(body.to_string()))?;
        Self::json_of(&body, path)
    }

    /// `DELETE /v1{path}`.
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::Rejected`].
    pub fn delete(&self, path: &str) -> Result<()> {
        let url = format!("{}/v1{path}", self.base);
        self.finish(
            &format!("DELETE {path}"),
            self.auth(self.agent.delete(&url)).call(),
        )?;
        Ok(())
    }

    // ------------------------------------------------------------ secure mode (issue #30)

    /// `GET /v1/secure/models`: the caller tenant's own secure models, then those granted to
    /// it (summaries without weights).
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::Rejected`].
    pub fn secure_models(&self) -> Result<Value> {
        self.get_json("/secure/models")
    }

    /// `GET /v1/secure/models/{id}`: the summary and the quantized model (`"model"`); 404 for a
    /// model that is neither the caller tenant's nor granted to it.
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::Rejected`].
    pub fn secure_model(&self, id: &str) -> Result<Value> {
        self.get_json(&format!("/secure/models/{id}"))
    }

    /// `POST /v1/secure/models`: publishes `model` (a `QuantizedModel` as JSON) under `name`,
    /// granted to `grants`, each granted tenant limited to `samples_per_day` samples per rolling
    /// 24 hours when given (else the node's default); the node answers the summary with
    /// `bound_bits`, or refuses (422 `may_overflow` when a layer's worst case could wrap around the
    /// plaintext modulus).
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::Rejected`].
    pub fn secure_publish(
        &self,
        name: &str,
        model: &Value,
        grants: &[String],
        samples_per_day: Option<u64>,
    ) -> Result<Value> {
        let mut body = serde_json::json!({"name": name, "model": model, "grants": grants});
        if let Some(n) = samples_per_day {
            body["samples_per_day"] = n.into();
        }
        self.post_json("/secure/models", &body)
    }

    /// `PUT /v1/secure/models/{id}/grants`: replaces the model's grants (owner only), and its
    /// per-tenant quota when `samples_per_day` is given (else the quota stays as it is).
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::Rejected`].
    pub fn secure_set_grants(
        &self,
        id: &str,
        grants: &[String],
        samples_per_day: Option<u64>,
    ) -> Result<Value> {
        let mut body = serde_json::json!({ "grants": grants });
        if let Some(n) = samples_per_day {
            body["samples_per_day"] = n.into();
        }
        self.put_json(&format!("/secure/models/{id}/grants"), &body)
    }

    /// `DELETE /v1/secure/models/{id}` (owner only).
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::Rejected`].
    pub fn secure_delete(&self, id: &str) -> Result<()> {
        self.delete(&format!("/secure/models/{id}"))
    }

    /// `POST /v1/secure/evaluation-keys`: uploads an evaluation (relinearization) key; the
    /// answer holds its `id` for [`Node::secure_predict`].
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::Rejected`].
    pub fn upload_evaluation_key(&self, key: &[u8]) -> Result<Value> {
        let (body, _) = self.send_bytes("POST", "/secure/evaluation-keys", key, &mut |_| {})?;
        Self::json_of(&body, "/secure/evaluation-keys")
    }

    /// `POST /v1/secure/models/{id}/predict?evaluation_key={key}` with an encrypted batch
    /// (`progress(sent_bytes)` while it streams); the answer is the encrypted outputs batch.
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::Rejected`].
    pub fn secure_predict(
        &self,
        id: &str,
        evaluation_key: &str,
        batch: &[u8],
        progress: &mut dyn FnMut(u64),
    ) -> Result<Vec<u8>> {
        let path = format!("/secure/models/{id}/predict?evaluation_key={evaluation_key}");
        Ok(self.send_bytes("POST", &path, batch, progress)?.0)
    }
}

/// A JSON field as a string id.
///
/// # Errors
/// [`CliError::Rejected`] when the node's answer lacks it.
pub fn id_of(v: &Value) -> Result<String> {
    v["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| CliError::Rejected {
            status: 200,
            code: "invalid_response".into(),
            message: format!("the node's answer has no id: {v}"),
        })
}
