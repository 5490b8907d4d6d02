// @ts-check
// Encrypts the loaded training data in the key worker and uploads it as a dataset in shards, by
// the rule of the data owner's library (more_data_owner::rest::shards, which the command line
// and Python use): the rows are cut into shards of about "shard size" MiB of ciphertext, each
// shard is encrypted alone in the worker (features with the part's shadow, targets with the
// task's) into a wire bundle and appended with POST /v1/datasets/{id}/shards?index=K.
// Resume: the dataset id is kept in localStorage until the last shard is confirmed; the next
// "Encrypt and upload" of the same data (name, rows, shard size) under the same key reads the
// node's shard list and skips every index it confirmed: a confirmed shard is never sent again
// (a re-encryption draws new shadows, so indices, not bytes, say what is done).
import { call } from './client.js';
import { api } from './api.js';
import { $, progressBar } from './dom.js';
import { state } from './state.js';
import { updateButtons } from './controls.js';
/** @typedef {import('./state.js').DataPart} DataPart */

/**
 * The shadow distribution a tensor is encrypted with (the worker's `encrypt`: its ShadowDistribution).
 * @typedef {{ kind: 'gaussian', std: number } | { kind: 'moment_matched', mean: number[], std: number[] }
 *   | { kind: 'simplex' }} Shadow
 */

/** How rows are cut into shards (`shardPlan`). @typedef {{ rows: number, perShard: number, shards: number }} ShardPlan */

/** What an upload is of: it resumes only the same data (name, rows, shard size) under the same key.
 * @typedef {{ fingerprint: string | null, name: string, rows: number, shardBytes: number }} UploadWhat */
/** An unfinished upload (localStorage). @typedef {UploadWhat & { datasetId: string }} SavedUpload */

/** Bytes of one encrypted value: compact form, two f32 planes. */
const BYTES_PER_VALUE = 8;
const RESUME_KEY = 'more-upload-resume';

/** The features' shadow: Gaussian, or matched to the part's per-column moments.
 * @param {DataPart} part
 * @returns {Shadow} */
function shadowFor(part) {
  if ($('shadow').value !== 'matched') return { kind: 'gaussian', std: 0.1 };
  const width = part.x.length / part.rows;
  const mean = Array.from({ length: width }, () => 0), sq = Array.from({ length: width }, () => 0);
  for (let r = 0; r < part.rows; r++) for (let j = 0; j < width; j++) { const v = part.x[r * width + j]; mean[j] += v / part.rows; sq[j] += v * v / part.rows; }
  return { kind: 'moment_matched', mean, std: mean.map((m, j) => Math.sqrt(Math.max(sq[j] - m * m, 0)) || 0.1) };
}

/**
 * Encrypts `x` of `shape` in the key worker; the wire tensor's bytes.
 * @param {Float32Array} x row-major
 * @param {number[]} shape
 * @param {Shadow} shadow
 * @param {(fraction: number) => void} [onProgress]
 * @returns {Promise<Uint8Array>}
 */
export async function encrypt(x, shape, shadow, onProgress) {
  return call('encrypt', { data: x, shape, shadow }, { onProgress });
}

/**
 * How `rows` rows of `width` features and `targetDim` targets are cut into shards of at most
 * `shardBytes` bytes of ciphertext (at least one row each), as ShardPlan::new does.
 * @param {number} rows
 * @param {number} width
 * @param {number} targetDim
 * @param {number} shardBytes
 * @returns {ShardPlan}
 */
export function shardPlan(rows, width, targetDim, shardBytes) {
  const rowBytes = Math.max(width + targetDim, 1) * BYTES_PER_VALUE;
  const perShard = Math.min(Math.max(Math.floor(shardBytes / rowBytes), 1), Math.max(rows, 1));
  return { rows, perShard, shards: Math.ceil(rows / perShard) };
}

/** The upload this page left unfinished, or null.
 * @returns {SavedUpload | null} */
function savedUpload() {
  try { return JSON.parse(localStorage.getItem(RESUME_KEY) ?? 'null'); } catch { return null; }
}
function saveUpload(/** @type {SavedUpload} */ entry) {
  try { localStorage.setItem(RESUME_KEY, JSON.stringify(entry)); } catch { /* storage unavailable: no resume */ }
}
function forgetUpload() {
  try { localStorage.removeItem(RESUME_KEY); } catch { /* nothing kept */ }
}

/** Shards of `id` the node confirmed, if they follow `plan`; else null (start a new dataset).
 * @param {string} id
 * @param {ShardPlan} plan */
async function confirmedShards(id, plan) {
  /** GET /v1/datasets/{id} (its shard list). @type {{ shards?: { index: number, samples: number }[] }} */
  let ds;
  try { ds = await api.dataset(id); } catch { return null; }
  const list = ds.shards ?? [];
  const fits = list.length <= plan.shards && list.every((s, i) => s.index === i
    && s.samples === Math.min(plan.perShard, plan.rows - i * plan.perShard));
  return fits ? list.length : null;
}

/** The dataset to append to and how many shards it has: a resumed one, or a new one.
 * @param {DataPart} train
 * @param {ShardPlan} plan
 * @param {number} shardBytes
 * @returns {Promise<{ id: string, confirmed: number }>} */
async function startOrResume(train, plan, shardBytes) {
  /** @type {UploadWhat} */
  const what = { fingerprint: state.fingerprint, name: train.name, rows: train.rows, shardBytes };
  const saved = savedUpload();
  if (saved && Object.entries(what).every(([k, v]) => saved[/** @type {keyof UploadWhat} */ (k)] === v)) {
    const confirmed = await confirmedShards(saved.datasetId, plan);
    if (confirmed !== null) return { id: saved.datasetId, confirmed };
  }
  const ds = await api.createDataset({ name: train.name, task: train.task,
    ...(train.task === 'classification' ? { num_classes: train.targetDim } : {}) });
  saveUpload({ ...what, datasetId: ds.id });
  return { id: ds.id, confirmed: 0 };
}

/** Encrypts and appends every shard the node has not confirmed; (dataset id, counts).
 * @param {DataPart} train
 * @param {HTMLElement} status
 * @param {HTMLProgressElement} bar */
async function uploadShards(train, status, bar) {
  const shardBytes = Math.max(1, Math.round(Number($('shard-mb').value || 64) * (1 << 20)));
  const width = train.x.length / train.rows;
  const plan = shardPlan(train.rows, width, train.targetDim, shardBytes);
  const { id, confirmed } = await startOrResume(train, plan, shardBytes);
  const shadow = shadowFor(train);
  // One-hot targets get probability-vector shadows, so the shadow run's cross-entropy is
  // well-posed (Gaussian target shadows make it unbounded below and it diverges).
  const targetShadow = train.task === 'classification' ? { kind: 'simplex' } : { kind: 'gaussian', std: 0.1 };
  let bytes = 0;
  for (let k = confirmed; k < plan.shards; k++) {
    const a = k * plan.perShard, b = Math.min(a + plan.perShard, train.rows);
    status.textContent = `Encrypting and uploading shard ${k + 1} of ${plan.shards}`
      + (confirmed ? ` (${confirmed} already on the node)…` : '…');
    const body = await call('encryptShard', { x: train.x.slice(a * width, b * width),
      y: train.y.slice(a * train.targetDim, b * train.targetDim), featureShape: train.featureShape,
      targetDim: train.targetDim, shadow, targetShadow });
    await api.appendShard(id, String(k), body);
    bytes += body.length;
    bar.value = (k + 1) / plan.shards;
  }
  forgetUpload();
  return { id, shards: plan.shards, confirmed, bytes };
}

$('data-upload').onclick = async () => {
  const bar = progressBar('encrypt-progress');
  const status = $('upload-status');
  // `data-state` (uploaded | failed) is set only once this upload has ended, so a reader (or a
  // test) never takes the previous upload's status for this one's.
  delete status.dataset.state;
  delete status.dataset.datasetId;
  if (!state.fingerprint || !state.data) {
    status.textContent = state.fingerprint ? 'Nothing to upload: load data first.' : 'No key yet: generate or import a key first.';
    status.dataset.state = 'failed';
    return;
  }
  const { train } = state.data;
  $('data-upload').disabled = true;
  try {
    const t0 = performance.now();
    bar.value = 0;
    const done = await uploadShards(train, status, bar);
    const secs = (performance.now() - t0) / 1000;
    state.datasetId = done.id;
    $('data-summary').textContent = $('data-summary').textContent.replace('Not uploaded yet.', 'Uploaded encrypted.');
    status.textContent = `Uploaded encrypted dataset "${train.name}" (${train.rows} samples in ${done.shards} shards`
      + (done.confirmed ? `, ${done.confirmed} of them confirmed before and not sent again` : '')
      + `; ${(done.bytes / 1e6).toFixed(1)} MB in ${secs.toFixed(2)} s).`;
    status.dataset.state = 'uploaded';
    status.dataset.datasetId = done.id; // for scripts and tests; people read the name
  } catch (err) {
    status.textContent = `Upload failed: ${err.message}. Encrypt and upload again to resume: the shards the node confirmed are not sent again.`;
    status.dataset.state = 'failed';
  }
  updateButtons();
};
