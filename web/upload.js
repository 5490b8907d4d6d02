// @ts-check
// Encrypts the loaded training data in the key worker and uploads the ciphertexts as a dataset.
import { call } from './client.js';
import { api } from './api.js';
import { $, progressBar } from './dom.js';
import { state } from './state.js';
import { updateButtons } from './controls.js';

function shadowFor(part) {
  if ($('shadow').value !== 'matched') return { kind: 'gaussian', std: 0.1 };
  const width = part.x.length / part.rows;
  const mean = Array.from({ length: width }, () => 0), sq = Array.from({ length: width }, () => 0);
  for (let r = 0; r < part.rows; r++) for (let j = 0; j < width; j++) { const v = part.x[r * width + j]; mean[j] += v / part.rows; sq[j] += v * v / part.rows; }
  return { kind: 'moment_matched', mean, std: mean.map((m, j) => Math.sqrt(Math.max(sq[j] - m * m, 0)) || 0.1) };
}

export async function encrypt(x, shape, shadow, onProgress) {
  return call('encrypt', { data: x, shape, shadow }, { onProgress });
}

$('data-upload').onclick = async () => {
  const bar = progressBar('encrypt-progress');
  const status = $('upload-status');
  if (!state.fingerprint || !state.data) {
    status.textContent = state.fingerprint ? 'Nothing to upload: load data first.' : 'No key yet: generate or import a key first.';
    return;
  }
  const { train } = state.data;
  $('data-upload').disabled = true;
  try {
    const t0 = performance.now();
    status.textContent = 'Encrypting features in the worker…';
    const features = await encrypt(train.x, [train.rows, ...train.featureShape], shadowFor(train), (p) => { bar.value = 0.8 * p; });
    // One-hot targets get probability-vector shadows, so the shadow run's cross-entropy is
    // well-posed (Gaussian target shadows make it unbounded below and it diverges).
    const targetShadow = train.task === 'classification' ? { kind: 'simplex' } : { kind: 'gaussian', std: 0.1 };
    const targets = await encrypt(train.y, [train.rows, train.targetDim], targetShadow);
    const secs = (performance.now() - t0) / 1000;
    status.textContent = `Encrypted ${train.x.length + train.y.length} values in ${secs.toFixed(2)} s; uploading ${(features.length / 1e6).toFixed(1)} MB…`;
    bar.value = 0.85;
    const ds = await api.createDataset({ name: train.name, task: train.task,
      ...(train.task === 'classification' ? { num_classes: train.targetDim } : {}) });
    await api.putFeatures(ds.id, features);
    bar.value = 0.95;
    await api.putTargets(ds.id, targets);
    bar.value = 1;
    state.datasetId = ds.id;
    $('data-summary').textContent = $('data-summary').textContent.replace('Not uploaded yet.', 'Uploaded encrypted.');
    status.textContent = `Uploaded encrypted dataset ${ds.id} (${train.rows} samples; encryption ${secs.toFixed(2)} s).`;
  } catch (err) {
    status.textContent = `Upload failed: ${err.message}`;
  }
  updateButtons();
};
