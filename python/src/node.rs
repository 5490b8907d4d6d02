//! `NodeClient`: the node's REST calls and the data owner's steps, through the library's one
//! REST client (`more_data_owner::rest`). JSON answers travel as text (the Python half parses
//! them), tensors as bytes; the GIL is released while encrypting and waiting on the network.

use std::sync::Mutex;

use more_data_owner::data::Task;
use more_data_owner::rest::flows::{self, JobFollower, ModelChoice};
use more_data_owner::rest::shards::{self, ShardOptions, Start, TrainingRows};
use more_data_owner::rest::{routes, CreateJob, Node, PublishSecureModel, SetGrants, Sgd};
use more_data_owner::CliError;
use numpy::{IntoPyArray, PyArray2, PyArrayDyn, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::ciphertext::bytes_of;
use crate::errors::{to_py, DataError};
use crate::key::{shadow_of, SecretKey};
use crate::secure;

/// The arguments of an upload's Python callbacks.
enum Args<'a> {
    /// `on_dataset(id)`.
    Id(&'a str),
    /// `progress(index, shards, skipped, sent_bytes)`.
    Shard(usize, usize, bool, u64),
}

/// The node's REST calls (`more_data_owner::rest::Node`); JSON travels as text, tensors as bytes.
#[pyclass(module = "more_client", frozen)]
pub(crate) struct NodeClient(Node);

fn json_text(v: serde_json::Value) -> String {
    v.to_string()
}

fn task_of(task: &str) -> PyResult<Task> {
    match task {
        "classification" => Ok(Task::Classification),
        "regression" => Ok(Task::Regression),
        other => Err(DataError::new_err(format!(
            "task must be \"classification\" or \"regression\", not {other:?}"
        ))),
    }
}

/// A float32 array's shape and row-major values.
fn f32_values(a: &Bound<'_, PyArrayDyn<f32>>) -> (Vec<usize>, Vec<f32>) {
    let view = a.readonly();
    let view = view.as_array();
    (view.shape().to_vec(), view.iter().copied().collect())
}

#[pymethods]
impl NodeClient {
    #[new]
    #[pyo3(signature = (url, token = None))]
    fn new(py: Python<'_>, url: &str, token: Option<String>) -> PyResult<Self> {
        Node::new(url, token)
            .map(NodeClient)
            .map_err(|e| to_py(py, e))
    }

    /// The base URL.
    #[getter]
    fn url(&self) -> String {
        self.0.url().to_string()
    }

    /// `GET /v1/health` → JSON text.
    fn health(&self, py: Python<'_>) -> PyResult<String> {
        let n = &self.0;
        py.allow_threads(|| n.health().map(json_text))
            .map_err(|e| to_py(py, e))
    }

    /// `GET /v1/{kind}/{id}` for `kind` in `datasets`, `models`, `jobs` → JSON text.
    fn record(&self, py: Python<'_>, kind: &str, id: &str) -> PyResult<String> {
        let n = &self.0;
        let call = match kind {
            "datasets" => Node::dataset,
            "models" => Node::model,
            "jobs" => Node::job,
            other => {
                return Err(PyValueError::new_err(format!(
                    "no records of kind {other:?}"
                )))
            }
        };
        py.allow_threads(|| call(n, id).map(json_text))
            .map_err(|e| to_py(py, e))
    }

    /// Encrypts `x` (float32 `(samples, ...)`) with `shadow` and `y` (float32 `(samples,
    /// outputs)`) with the task's target shadow and uploads them in shards of about
    /// `shard_bytes` bytes of ciphertext (default 64 MiB), one shard encrypted at a time
    /// (`more_data_owner::rest::shards`). With `resume` (a dataset id) the shards the node
    /// confirmed are skipped, never sent again; else a new dataset named `name` is created.
    /// `on_dataset(id)` is called once the id is known (keep it to resume), `progress(index,
    /// shards, skipped, sent_bytes)` after each shard. Returns the dataset id.
    #[pyo3(signature = (key, x, y, task, name, shadow = None, shard_bytes = None, resume = None, on_dataset = None, progress = None))]
    #[allow(clippy::too_many_arguments)]
    fn upload(
        &self,
        py: Python<'_>,
        key: &SecretKey,
        x: &Bound<'_, PyArrayDyn<f32>>,
        y: &Bound<'_, PyArrayDyn<f32>>,
        task: &str,
        name: &str,
        shadow: Option<&Bound<'_, PyAny>>,
        shard_bytes: Option<u64>,
        resume: Option<String>,
        on_dataset: Option<PyObject>,
        progress: Option<PyObject>,
    ) -> PyResult<String> {
        let task = task_of(task)?;
        let feature_shadow = shadow_of(py, shadow)?;
        let ((x_shape, x), (y_shape, y)) = (f32_values(x), f32_values(y));
        if x_shape.len() < 2 || y_shape.len() != 2 || x_shape[0] != y_shape[0] || x_shape[0] == 0 {
            return Err(DataError::new_err(format!(
                "x must be (samples, ...) and y (samples, outputs) with the same samples; got \
                 {x_shape:?} and {y_shape:?}"
            )));
        }
        let start = match resume {
            Some(id) => Start::Resume(id),
            None => Start::Create(flows::dataset_meta(name, task, y_shape[1])),
        };
        let rows = TrainingRows {
            task,
            feature_shape: &x_shape[1..],
            x: &x,
            y: &y,
            target_dim: y_shape[1],
        };
        let options = ShardOptions {
            shard_bytes: shard_bytes.unwrap_or(shards::DEFAULT_SHARD_BYTES).max(1),
            feature_shadow,
        };
        let (k, n) = (&key.0, &self.0);
        // A callback that raises (KeyboardInterrupt included) stops the upload; its exception
        // is raised here, the shards confirmed so far stay on the node (resume with the id).
        let raised: Mutex<Option<PyErr>> = Mutex::new(None);
        let call = |f: &Option<PyObject>, args: Args<'_>| -> more_data_owner::Result<()> {
            let Some(f) = f else { return Ok(()) };
            Python::with_gil(|py| {
                let r = match args {
                    Args::Id(id) => f.call1(py, (id,)),
                    Args::Shard(i, n, skipped, sent) => f.call1(py, (i, n, skipped, sent)),
                };
                r.map(drop).map_err(|e| {
                    raised.lock().expect("lock").get_or_insert(e);
                    CliError::Io("the upload was stopped by its callback".into())
                })
            })
        };
        let done = py.allow_threads(|| {
            shards::upload_sharded(
                n,
                k,
                &rows,
                start,
                &options,
                &mut |id| call(&on_dataset, Args::Id(id)),
                &mut |p| call(&progress, Args::Shard(p.index, p.shards, p.skipped, p.sent)),
            )
        });
        if let Some(e) = raised.into_inner().expect("lock") {
            return Err(e);
        }
        let done = done.map_err(|e| to_py(py, e))?;
        Ok(done.dataset_id)
    }

    /// Creates a model (`more_data_owner::rest::flows::create_model`); its id.
    #[pyo3(signature = (dataset_id = None, preset = None, input_shape = None, outputs = None, seed = 0, name = None))]
    #[allow(clippy::too_many_arguments)]
    fn create_model(
        &self,
        py: Python<'_>,
        dataset_id: Option<String>,
        preset: Option<String>,
        input_shape: Option<Vec<usize>>,
        outputs: Option<usize>,
        seed: u64,
        name: Option<String>,
    ) -> PyResult<String> {
        let choice = ModelChoice {
            dataset_id,
            preset,
            input_shape,
            outputs,
            seed,
            name,
        };
        let n = &self.0;
        py.allow_threads(|| flows::create_model(n, &choice))
            .map_err(|e| to_py(py, e))
    }

    /// Starts training (SGD); the job's id.
    #[pyo3(signature = (model_id, dataset_id, epochs, batch_size, learning_rate, momentum, loss, seed, ranks))]
    #[allow(clippy::too_many_arguments)]
    fn start_job(
        &self,
        py: Python<'_>,
        model_id: String,
        dataset_id: String,
        epochs: usize,
        batch_size: usize,
        learning_rate: f64,
        momentum: f64,
        loss: Option<String>,
        seed: u64,
        ranks: usize,
    ) -> PyResult<String> {
        let body = CreateJob {
            model_id,
            dataset_id,
            epochs,
            batch_size,
            optimizer: Sgd::new(learning_rate, momentum),
            seed,
            ranks,
            loss,
            validation_dataset_id: None,
        };
        let n = &self.0;
        py.allow_threads(|| {
            n.start_job(&body)
                .and_then(|v| more_data_owner::rest::id_of(&v))
        })
        .map_err(|e| to_py(py, e))
    }

    /// The decrypted per-epoch mean losses of a job, float32 `(epochs_done,)`.
    fn losses<'py>(
        &self,
        py: Python<'py>,
        job_id: &str,
        key: &SecretKey,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (n, k) = (&self.0, &key.0);
        let l = py
            .allow_threads(|| flows::losses(n, job_id, k))
            .map_err(|e| to_py(py, e))?;
        Ok(l.into_pyarray(py).into_any())
    }

    /// Encrypts float32 `x` `(samples, *input_shape)`, predicts in batches, decrypts:
    /// float32 `(samples, outputs)`.
    fn predict<'py>(
        &self,
        py: Python<'py>,
        key: &SecretKey,
        model_id: &str,
        x: &Bound<'_, PyArrayDyn<f32>>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (shape, values) = f32_values(x);
        let (n, k) = (&self.0, &key.0);
        let p = py
            .allow_threads(|| flows::predict(n, k, model_id, &values, &shape[1..], &mut |_, _| {}))
            .map_err(|e| to_py(py, e))?;
        let out = ndarray::Array2::from_shape_vec((p.rows, p.outputs), p.values)
            .map_err(|e| DataError::new_err(e.to_string()))?;
        Ok(out.into_pyarray(py))
    }

    /// The model's weights: decrypted safetensors bytes with `key`, else the encrypted bundle.
    #[pyo3(signature = (model_id, key = None))]
    fn weights<'py>(
        &self,
        py: Python<'py>,
        model_id: &str,
        key: Option<&SecretKey>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let (n, k) = (&self.0, key.map(|k| &k.0));
        let b = py
            .allow_threads(|| flows::weights(n, model_id, k))
            .map_err(|e| to_py(py, e))?;
        Ok(PyBytes::new(py, &b))
    }

    /// `GET /v1/secure/models` → JSON text.
    fn secure_models(&self, py: Python<'_>) -> PyResult<String> {
        let n = &self.0;
        py.allow_threads(|| n.secure_models().map(json_text))
            .map_err(|e| to_py(py, e))
    }

    /// `GET /v1/secure/models/{id}` → JSON text.
    fn secure_model(&self, py: Python<'_>, model_id: &str) -> PyResult<String> {
        let n = &self.0;
        py.allow_threads(|| n.secure_model(model_id).map(json_text))
            .map_err(|e| to_py(py, e))
    }

    /// `POST /v1/secure/models` (the model as JSON text) → the summary as JSON text.
    #[pyo3(signature = (name, model, grants, samples_per_day = None))]
    fn secure_publish(
        &self,
        py: Python<'_>,
        name: String,
        model: &str,
        grants: Vec<String>,
        samples_per_day: Option<u64>,
    ) -> PyResult<String> {
        let model =
            serde_json::from_str(model).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let body = PublishSecureModel {
            name,
            model,
            grants,
            samples_per_day,
        };
        let n = &self.0;
        py.allow_threads(|| n.secure_publish(&body).map(json_text))
            .map_err(|e| to_py(py, e))
    }

    /// `PUT /v1/secure/models/{id}/grants` → the summary as JSON text.
    #[pyo3(signature = (model_id, grants, samples_per_day = None))]
    fn secure_set_grants(
        &self,
        py: Python<'_>,
        model_id: &str,
        grants: Vec<String>,
        samples_per_day: Option<u64>,
    ) -> PyResult<String> {
        let body = SetGrants {
            grants,
            samples_per_day,
        };
        let n = &self.0;
        py.allow_threads(|| n.secure_set_grants(model_id, &body).map(json_text))
            .map_err(|e| to_py(py, e))
    }

    /// `DELETE /v1/secure/models/{id}`.
    fn secure_delete(&self, py: Python<'_>, model_id: &str) -> PyResult<()> {
        let n = &self.0;
        py.allow_threads(|| n.delete(&routes::SECURE_DELETE, model_id))
            .map_err(|e| to_py(py, e))
    }

    /// `POST /v1/secure/evaluation-keys` → JSON text (with the key's `id`).
    fn upload_evaluation_key(&self, py: Python<'_>, key: Vec<u8>) -> PyResult<String> {
        let n = &self.0;
        py.allow_threads(|| n.upload_evaluation_key(&key).map(json_text))
            .map_err(|e| to_py(py, e))
    }

    /// `POST /v1/secure/models/{id}/predict?evaluation_key=...` with one encrypted batch →
    /// the encrypted outputs.
    fn secure_predict_batch<'py>(
        &self,
        py: Python<'py>,
        model_id: &str,
        evaluation_key: &str,
        batch: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let batch = bytes_of(batch)?;
        let n = &self.0;
        let b = py
            .allow_threads(|| n.secure_predict(model_id, evaluation_key, &batch, &mut |_| {}))
            .map_err(|e| to_py(py, e))?;
        Ok(PyBytes::new(py, &b))
    }

    /// Secure prediction with the secure model `model_id` on `values` (float32 samples,
    /// quantized with the model's input quantizer, or int64 quantized): a fresh BFV key, its
    /// evaluation key uploaded, encrypted batches of up to 8192 samples, decrypted outputs.
    fn secure_predict(
        &self,
        py: Python<'_>,
        model_id: &str,
        values: &Bound<'_, PyAny>,
    ) -> PyResult<secure::SecureOutputs> {
        secure::predict(py, &self.0, model_id, values)
    }
}

/// Follows a training job (`more_data_owner::rest::flows::JobFollower`).
#[pyclass(module = "more_client", frozen)]
pub(crate) struct JobWatch(Mutex<JobFollower>);

#[pymethods]
impl JobWatch {
    #[new]
    fn new(job_id: &str) -> Self {
        JobWatch(Mutex::new(JobFollower::new(job_id)))
    }

    /// One look at the job: JSON text of its record with `fraction` (0..1), `finished`,
    /// `losses` (decrypted with `key`) and, for a job that ended failed, cancelled or
    /// interrupted, `failure` (the message of `JobFailed`).
    #[pyo3(signature = (node, key = None))]
    fn poll(&self, py: Python<'_>, node: &NodeClient, key: Option<&SecretKey>) -> PyResult<String> {
        let (n, k) = (&node.0, key.map(|k| &k.0));
        let p = py
            .allow_threads(|| -> Result<flows::JobProgress, CliError> {
                let mut f = self.0.lock().unwrap_or_else(|e| e.into_inner());
                f.poll(n, k)
            })
            .map_err(|e| to_py(py, e))?;
        let mut v = p.record.clone();
        v["fraction"] = p.fraction.into();
        v["finished"] = p.finished.into();
        v["losses"] = p
            .losses
            .iter()
            .map(|&l| f64::from(l))
            .collect::<Vec<_>>()
            .into();
        let job = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .job()
            .to_string();
        if let Err(e) = p.outcome(&job) {
            v["failure"] = e.to_string().into();
        }
        Ok(v.to_string())
    }
}
