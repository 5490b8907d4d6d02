//! `POST /v1/datasets/{id}/shards?index=K`: appends one shard to a dataset.
//!
//! The body is a wire-format bundle of two tensors, `features` `(samples, features...)` and
//! `targets` `(samples, outputs)`. It is split as it arrives (`super::bundle_split`); each tensor
//! is validated like a `PUT …/features` upload (header, limits, every value finite, exact
//! length) and streamed into its own blob, a standalone wire tensor, so that a row sits at a
//! computable byte offset for the streaming readers. Only then does one compare-and-swap
//! transaction append the shard to the dataset.
//!
//! Shards are immutable and the list is append-only: `K` must be the dataset's shard count; a
//! shard re-sent at a confirmed index with the same bytes (same SHA-256s) answers 200 with the
//! dataset unchanged (an interrupted upload resumes), anything else is 409. Appending is allowed
//! while jobs train on the dataset: each job trains on the shard list it pinned when created.

use actix_web::{post, web, HttpRequest, HttpResponse};
use more_core::wire::{DecodeLimits, Header, StreamValidator};
use serde::Deserialize;

use super::body::{self, BodyStream, Share, UPLOAD_MEMORY};
use super::bundle_split::{BundleSplitter, Piece};
use super::datasets::{check_header, check_same_key, same_basis};
use crate::auth::Caller;
use crate::blobs::{BlobRef, BlobWriter};
use crate::db::Scope;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::fault;
use crate::guard::require_content_type;
use crate::records::{Dataset, DatasetState, Shard};
use crate::state::AppState;
use crate::weights::kind_name;

/// The query of `POST …/shards`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShardQuery {
    /// The shard's position: the dataset's shard count to append, lower to re-send.
    index: usize,
}

/// `POST /v1/datasets/{id}/shards?index=K` → 200 dataset.
#[utoipa::path(tag = "datasets", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits"), ("index" = usize, Query, description = "The shard's position: the dataset's shard count to append; a lower index re-sends a confirmed shard (200 when its bytes are the same)")), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "A bundle in the MORE wire format v1 (shared/WIRE_FORMAT.md) with two tensors: features (samples, features...) and targets (samples, outputs), same representation, basis and per-sample shapes as the dataset's other shards"), responses((status = 200, description = "Appended (or the same shard re-sent): the dataset with its shards", body = Dataset), (status = 400, description = "invalid request", body = ErrorBody), (status = 403, description = "refused host or origin", body = ErrorBody), (status = 404, description = "no such object", body = ErrorBody), (status = 408, description = "the body stopped arriving or was too slow", body = ErrorBody), (status = 409, description = "an index past the end (a gap), other bytes at a confirmed index, or a dataset being uploaded by PUT", body = ErrorBody), (status = 413, description = "body too large", body = ErrorBody), (status = 415, description = "wrong content type", body = ErrorBody), (status = 503, description = "the node holds its limit of request bodies in memory (retry after Retry-After seconds), or the database or store is unavailable", body = ErrorBody)))]
#[post("/datasets/{id}/shards")]
pub async fn append(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let limit = state.settings.max_upload_bytes;
    body::check_declared(&req, limit)?;
    require_content_type(&req, "application/octet-stream")?;
    let index = web::Query::<ShardQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request(format!("index: {e}")))?
        .index;
    let (ds, _) = state.db.get::<Dataset>(caller.scope(), &id).await?;
    check_index(&ds, index)?;
    let mut share = Share::default();
    let window = body::content_length(&req).map_or(UPLOAD_MEMORY, |n| n.min(UPLOAD_MEMORY));
    state.bodies.reserve(&mut share, window).await?;
    let mut receiver = Receiver::new(&state, &ds);
    let received = receiver.run(&mut BodyStream::new(payload)).await;
    let (features, targets) = match received {
        Ok(pair) => pair,
        Err(e) => {
            receiver.abort().await;
            return Err(e);
        }
    };
    fault::point(fault::UPLOAD_STORED);
    let shard = Shard {
        index,
        samples: features.0.shape[0],
        features_sha256: features.1.sha256.clone(),
        targets_sha256: targets.1.sha256.clone(),
        bytes: features.1.bytes + targets.1.bytes,
    };
    let ds = commit(&state, &id, shard, &features.0, &targets.0).await?;
    tracing::info!(dataset = %id, index, shards = ds.shards.len(), "shard stored");
    Ok(HttpResponse::Ok().json(ds))
}

/// Refuses, before the body is read, a shard that cannot be stored at `index`: past the end
/// (a gap), or on a dataset half uploaded by `PUT …/features`/`…/targets`.
fn check_index(ds: &Dataset, index: usize) -> ApiResult<()> {
    if ds.shards.is_empty() && (ds.features_sha256.is_some() || ds.targets_sha256.is_some()) {
        return Err(ApiError::conflict(format!(
            "dataset {} is being uploaded by PUT …/features and …/targets: finish that, or use a \
             new dataset for shards",
            ds.id
        )));
    }
    if index > ds.shards.len() {
        return Err(ApiError::conflict(format!(
            "dataset {} has {} shards: the next is index {} (got {index}; shards are appended in \
             order)",
            ds.id,
            ds.shards.len(),
            ds.shards.len()
        )));
    }
    Ok(())
}

/// A shard's tensor as stored: its header and blob.
type Stored = (Header, BlobRef);

/// Which tensor of a shard.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Part {
    Features,
    Targets,
}

/// The tensor being received: its validator and, once its header passed, its blob writer.
struct Entry {
    part: Part,
    validator: StreamValidator,
    /// Bytes before the header was complete.
    pending: Vec<u8>,
    writer: Option<BlobWriter>,
}

/// Receives one shard body: splits the bundle, validates and stores each tensor.
struct Receiver<'a> {
    state: &'a AppState,
    ds: &'a Dataset,
    entry: Option<Entry>,
    features: Option<Stored>,
    targets: Option<Stored>,
}

impl<'a> Receiver<'a> {
    fn new(state: &'a AppState, ds: &'a Dataset) -> Self {
        Receiver {
            state,
            ds,
            entry: None,
            features: None,
            targets: None,
        }
    }

    /// Reads the whole body; returns the stored features and targets.
    async fn run(&mut self, payload: &mut BodyStream) -> ApiResult<(Stored, Stored)> {
        let mut splitter = BundleSplitter::new(self.state.settings.max_upload_bytes as u64);
        while let Some(chunk) = payload.next().await? {
            for piece in splitter.feed(&chunk)? {
                match piece {
                    Piece::Start(name, _) => self.start(&name)?,
                    Piece::Bytes(range) => self.bytes(&chunk[range]).await?,
                    Piece::End => self.end().await?,
                }
            }
        }
        splitter.finish()?;
        let (Some(features), Some(targets)) = (self.features.take(), self.targets.take()) else {
            return Err(ApiError::invalid_tensor(
                "a shard is a bundle of two tensors, features and targets; one is missing",
            ));
        };
        let (f, t) = (&features.0, &targets.0);
        let same_key = match (&f.basis, &t.basis) {
            (Some(a), Some(b)) => same_basis(Some(a.c0), b.c0),
            (a, b) => a.is_none() && b.is_none(),
        };
        if f.kind != t.kind || !same_key {
            return Err(ApiError::basis_mismatch(
                "the shard's features and targets differ in representation or compact basis",
            ));
        }
        if features.0.shape[0] != targets.0.shape[0] {
            return Err(ApiError::shape_mismatch(format!(
                "the shard's features have {} samples, its targets {}",
                features.0.shape[0], targets.0.shape[0]
            )));
        }
        Ok((features, targets))
    }

    fn start(&mut self, name: &str) -> ApiResult<()> {
        let part = match name {
            "features" => Part::Features,
            "targets" => Part::Targets,
            other => {
                return Err(ApiError::invalid_tensor(format!(
                    "a shard's tensors are named features and targets, got {other:?}"
                )))
            }
        };
        let limits = DecodeLimits {
            max_bytes: self.state.settings.max_upload_bytes,
            max_rank: 8,
        };
        self.entry = Some(Entry {
            part,
            validator: StreamValidator::new(limits),
            pending: Vec::new(),
            writer: None,
        });
        Ok(())
    }

    /// Validates bytes of the current tensor and stores them (its blob is started once the
    /// header passed every check, so a refused tensor stores nothing).
    async fn bytes(&mut self, bytes: &[u8]) -> ApiResult<()> {
        let entry = self
            .entry
            .as_mut()
            .ok_or_else(|| ApiError::internal("no entry"))?;
        entry.validator.feed(bytes)?;
        if let Some(w) = &mut entry.writer {
            return Ok(w.write(bytes).await?);
        }
        entry.pending.extend_from_slice(bytes);
        if let Some(header) = entry.validator.header() {
            check_header(header)?;
            check_fits(self.ds, header, entry.part)?;
            let mut w = self.state.blobs.writer().await?;
            w.write(&std::mem::take(&mut entry.pending)).await?;
            entry.writer = Some(w);
        }
        Ok(())
    }

    /// Ends the current tensor: exact length checked, its blob completed.
    async fn end(&mut self) -> ApiResult<()> {
        let entry = self
            .entry
            .take()
            .ok_or_else(|| ApiError::internal("no entry"))?;
        let header = match entry.validator.finish() {
            Ok(h) => h,
            Err(e) => {
                if let Some(w) = entry.writer {
                    w.abort().await;
                }
                return Err(e.into());
            }
        };
        let writer = entry
            .writer
            .ok_or_else(|| ApiError::internal("a tensor without a writer"))?;
        let blob = writer.finish().await?;
        match entry.part {
            Part::Features => self.features = Some((header, blob)),
            Part::Targets => self.targets = Some((header, blob)),
        }
        Ok(())
    }

    /// Abandons the tensor in progress (completed blobs are collected as unreferenced).
    async fn abort(&mut self) {
        if let Some(w) = self.entry.take().and_then(|e| e.writer) {
            w.abort().await;
        }
    }
}

/// A shard's tensor must fit the dataset: ranks, classes, and (once the dataset has data) the
/// representation, compact basis and per-sample shape of its other shards.
fn check_fits(ds: &Dataset, t: &Header, part: Part) -> ApiResult<()> {
    let shape = &t.shape;
    let (rest, stored) = match part {
        Part::Features if shape.len() < 2 => {
            return Err(ApiError::shape_mismatch(format!(
                "features must be (samples, features...), got {shape:?}"
            )))
        }
        Part::Targets if shape.len() != 2 => {
            return Err(ApiError::shape_mismatch(format!(
                "targets must be (samples, outputs), got {shape:?}"
            )))
        }
        Part::Features => (&shape[1..], &ds.feature_shape),
        Part::Targets => (&shape[1..], &ds.target_shape),
    };
    if let (Part::Targets, Some(k)) = (part, ds.num_classes) {
        if shape[1] != k {
            return Err(ApiError::shape_mismatch(format!(
                "targets have {} columns, the dataset has {k} classes (one-hot expected)",
                shape[1]
            )));
        }
    }
    if ds.shards.is_empty() {
        return Ok(());
    }
    check_same_key(ds, t, "this shard")?;
    if stored.as_deref() != Some(rest) {
        return Err(ApiError::shape_mismatch(format!(
            "this shard's samples are {rest:?}, the dataset's are {:?}",
            stored.as_deref().unwrap_or(&[])
        )));
    }
    Ok(())
}

/// Appends the stored shard (re-checked against the current record; retried when another
/// append came first), or answers a re-sent one.
async fn commit(
    state: &AppState,
    id: &str,
    shard: Shard,
    features: &Header,
    targets: &Header,
) -> ApiResult<Dataset> {
    for _ in 0..8 {
        // The tenant was checked before the upload; the row is read again for its version.
        let (mut ds, version) = state.db.get::<Dataset>(Scope::Node, id).await?;
        if let Some(confirmed) = ds.shards.get(shard.index) {
            return resent(ds.clone(), confirmed, &shard);
        }
        check_index(&ds, shard.index)?;
        check_fits(&ds, features, Part::Features)?;
        check_fits(&ds, targets, Part::Targets)?;
        push(&mut ds, shard.clone(), features, targets);
        if state.db.append_shard(&ds, version).await? {
            return Ok(ds);
        }
    }
    Err(ApiError::conflict(format!(
        "dataset {id} kept changing during the upload; retry"
    )))
}

/// A shard sent again at a confirmed index: the dataset unchanged when it is the same bytes.
fn resent(ds: Dataset, confirmed: &Shard, sent: &Shard) -> ApiResult<Dataset> {
    if confirmed.features_sha256 == sent.features_sha256
        && confirmed.targets_sha256 == sent.targets_sha256
    {
        return Ok(ds);
    }
    Err(ApiError::conflict(format!(
        "shard {} of dataset {} is stored with other bytes: shards are immutable (append a new \
         one at index {})",
        sent.index,
        ds.id,
        ds.shards.len()
    )))
}

/// The dataset with `shard` appended: totals, shapes, representation and basis, `ready`.
fn push(ds: &mut Dataset, shard: Shard, features: &Header, targets: &Header) {
    ds.feature_shape = Some(features.shape[1..].to_vec());
    ds.target_shape = Some(targets.shape[1..].to_vec());
    ds.representation = Some(kind_name(features.kind).to_string());
    ds.basis = features.basis.as_ref().map(|b| b.c0);
    ds.shards.push(shard);
    ds.samples = Some(ds.shard_samples());
    ds.state = DatasetState::Ready;
}
