// The page: wires the key worker (client.js), the file readers (formats.js), the REST API
// (api.js) and the charts (chart.js) to the controls in index.html.
import { call } from './client.js';
import { api } from './api.js';
import { DataError, loadBundledMnist, loadIdxFiles, loadImageFolder, parseCsv, tableFromCsv } from './formats.js';
import { drawLosses, renderDigit } from './chart.js';
import * as keystore from './keystore.js';

const $ = (id) => document.getElementById(id);
/** What the page holds (no key material: the key stays in the worker). Exported for the tests,
 * which read it with `import('/app.js')` in the page; the page reads no URL parameters. */
export const state = { fingerprint: null, generation: null, data: null, datasetId: null, modelId: null, jobId: null, losses: [] };

// ---------------------------------------------------------------- helpers

function showError(el, err) {
  el.textContent = err ? (err instanceof DataError ? err.message : `Error: ${err.message ?? err}`) : '';
}

function updateButtons() {
  const hasKey = Boolean(state.fingerprint);
  $('key-export').disabled = !hasKey;
  $('key-save').disabled = !hasKey;
  $('data-upload').disabled = !(hasKey && state.data);
  $('train-start').disabled = !state.datasetId;
  $('predict-test').disabled = !state.modelTrained;
  $('pad-predict').disabled = !(state.modelTrained && state.data?.train.featureShape.join() === '1,28,28');
  $('model-download').disabled = !state.modelTrained;
}

function askPassphrase(help) {
  const dialog = $('pass-dialog');
  $('pass-help').textContent = help;
  $('pass-input').value = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok' ? $('pass-input').value : null), { once: true });
  });
}

function download(bytes, name) {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const softmax = (row) => {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

// ---------------------------------------------------------------- key

function keyReady({ fingerprint, generation }) {
  state.fingerprint = fingerprint;
  state.generation = generation;
  $('fingerprint').textContent = fingerprint;
  // Generation 1: keys made before 2026-12-01 (more_client::KeyGeneration). They still decrypt.
  $('key-warning').textContent = generation === 1
    ? 'This is an old key (generation 1, made before 2026-12-01): its public basis reveals the data it '
      + 'encrypts. Data encrypted under it still decrypts here, but make a new key ("Generate a key") '
      + 'before encrypting anything new.'
    : '';
  updateButtons();
}

$('key-generate').onclick = async () => keyReady(await call('generate'));

$('key-export').onclick = async () => {
  const pass = await askPassphrase('The key file is encrypted with this passphrase (Argon2id + XChaCha20-Poly1305). Keep both safe: without the key nothing can be decrypted.');
  if (!pass) return;
  download(await call('exportWrapped', { passphrase: pass }), `more-key-${state.fingerprint}.morekey`);
};

$('key-import').onchange = async (e) => {
  const file = e.target.files[0];
  e.target.value = '';
  if (!file) return;
  const pass = await askPassphrase(`Passphrase of ${file.name}`);
  if (!pass) return;
  try {
    keyReady(await call('importWrapped', { bytes: new Uint8Array(await file.arrayBuffer()), passphrase: pass }));
  } catch (err) {
    $('fingerprint').textContent = `import failed: ${err.message}`;
  }
};

$('key-save').onclick = async () => {
  const pass = await askPassphrase('The key is stored in this browser only in wrapped (passphrase-encrypted) form.');
  if (!pass) return;
  await keystore.save(state.fingerprint, await call('exportWrapped', { passphrase: pass }));
  $('key-load').hidden = false;
};

$('key-load').onclick = async () => {
  const saved = await keystore.load();
  if (!saved) return;
  const pass = await askPassphrase(`Passphrase of the remembered key ${saved.fingerprint}`);
  if (!pass) return;
  try {
    keyReady(await call('importWrapped', { bytes: saved.wrapped, passphrase: pass }));
  } catch (err) {
    $('fingerprint').textContent = `unlock failed: ${err.message}`;
  }
};

// ---------------------------------------------------------------- data

function dataLoaded(parts) {
  state.data = parts;
  state.datasetId = null;
  state.modelTrained = false;
  const { train, test } = parts;
  const kind = train.task === 'classification' ? `${train.targetDim} classes` : `${train.targetDim} target(s), standardized`;
  $('data-summary').textContent = `${train.name}: ${train.rows} training and ${test.rows} test samples, `
    + `features ${train.featureShape.join('×')}, ${train.task} (${kind}). Not uploaded yet.`;
  $('preset').value = train.task === 'regression' ? 'regression_mlp' : 'mnist_mlp';
  updateButtons();
}

async function loadData(fn) {
  showError($('data-error'), null);
  $('data-summary').textContent = 'Reading…';
  try {
    dataLoaded(await fn());
  } catch (err) {
    state.data = null;
    $('data-summary').textContent = 'No data loaded.';
    showError($('data-error'), err);
    updateButtons();
  }
}

$('data-sample').onclick = () => loadData(() => loadBundledMnist({
  perClassTrain: Number($('sample-train').value), perClassTest: Number($('sample-test').value) }));
$('data-idx').onchange = (e) => loadData(() => loadIdxFiles([...e.target.files], { maxSamples: Number($('idx-max').value) }));
$('data-images').onchange = (e) => loadData(() => loadImageFolder([...e.target.files]));

let csvFile = null;
$('data-csv').onchange = async (e) => {
  csvFile = e.target.files[0] ?? null;
  $('csv-load').disabled = !csvFile;
  $('csv-columns').replaceChildren();
  if (!csvFile) return;
  try {
    const head = (await csvFile.slice(0, 65536).text()).split(/\r?\n/).slice(0, 2).join('\n');
    const { header } = parseCsv(head);
    $('csv-columns').replaceChildren(...header.map((h) => Object.assign(document.createElement('option'), { value: h })));
    $('data-summary').textContent = `${csvFile.name}: columns ${header.join(', ')}. Choose the target column(s), then "Read table".`;
  } catch { /* reported by Read table */ }
};
$('csv-load').onclick = () => loadData(async () => tableFromCsv(await csvFile.text(), {
  name: csvFile.name,
  targets: $('csv-targets').value.split(',').map((s) => s.trim()).filter(Boolean),
  task: $('csv-task').value,
}));

function shadowFor(part) {
  if ($('shadow').value !== 'matched') return { kind: 'gaussian', std: 0.1 };
  const width = part.x.length / part.rows;
  const mean = new Array(width).fill(0), sq = new Array(width).fill(0);
  for (let r = 0; r < part.rows; r++) for (let j = 0; j < width; j++) { const v = part.x[r * width + j]; mean[j] += v / part.rows; sq[j] += v * v / part.rows; }
  return { kind: 'moment_matched', mean, std: mean.map((m, j) => Math.sqrt(Math.max(sq[j] - m * m, 0)) || 0.1) };
}

async function encrypt(x, shape, shadow, onProgress) {
  return call('encrypt', { data: x, shape, shadow }, { onProgress });
}

$('data-upload').onclick = async () => {
  const bar = $('encrypt-progress');
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

// ---------------------------------------------------------------- training

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The worker's answer when the node sends plaintext where a ciphertext belongs (never shown as
 * a result: it was never encrypted, so it cannot be the decryption of anything). */
const notEncrypted = (err) => /plaintext tensor/.test(err?.message ?? '');

async function refreshLosses() {
  const bytes = await api.losses(state.jobId);
  state.losses = Array.from(await call('decryptLosses', { bytes }));
  drawLosses($('loss-chart'), state.losses);
}

$('train-start').onclick = async () => {
  const { train } = state.data;
  const status = $('train-status');
  $('train-start').disabled = true;
  $('train-error').textContent = '';
  delete status.dataset.state;
  state.modelTrained = false;
  state.losses = [];
  updateButtons();
  try {
    const model = await api.createModel({ name: `${train.name} ${$('preset').value}`, preset: $('preset').value,
      input_shape: train.featureShape, outputs: train.targetDim });
    state.modelId = model.id;
    const loss = $('loss').value;
    const job = await api.startJob({
      model_id: model.id, dataset_id: state.datasetId,
      epochs: Number($('epochs').value), batch_size: Number($('batch').value),
      optimizer: { type: 'sgd', learning_rate: Number($('lr').value), momentum: 0 },
      ...(loss ? { loss } : {}), seed: 7,
    });
    state.jobId = job.id;
    $('train-cancel').disabled = false;
    let seenEpoch = 0;
    for (;;) {
      const j = await api.job(job.id);
      const total = Math.max(1, j.batches_total ?? 0);
      $('train-progress').value = j.epochs ? ((j.epoch ?? 0) + (j.batches_done ?? 0) / total) / j.epochs : 0;
      if (j.state === 'completed') $('train-progress').value = 1;
      status.textContent = `Job ${j.id}: ${j.state}, epoch ${j.epoch}/${j.epochs}, ${Number(j.elapsed_seconds ?? 0).toFixed(1)} s`
        + (state.losses.length ? `, last loss ${state.losses.at(-1).toFixed(4)}` : '');
      const finished = ['completed', 'failed', 'cancelled', 'interrupted'].includes(j.state);
      if (((j.epoch ?? 0) > seenEpoch || finished) && (j.epoch ?? 0) > 0) {
        // The losses file may be mid-rewrite while an epoch ends: retry on the next poll, and a
        // few times once the job has finished.
        for (let attempt = 0; ; attempt++) {
          try {
            await refreshLosses();
            seenEpoch = j.epoch;
            break;
          } catch (err) {
            if (notEncrypted(err)) {
              state.losses = [];
              drawLosses($('loss-chart'), state.losses);
              $('train-error').textContent = `No losses shown: ${err.message}.`;
              seenEpoch = j.epoch;
              break;
            }
            if (!finished || attempt >= 4) { status.textContent += ` (losses not readable yet: ${err.message})`; break; }
            await sleep(300);
          }
        }
      }
      if (finished) {
        if (j.state === 'completed') state.modelTrained = true;
        status.textContent = `Training ${j.state}${j.error ? `: ${j.error}` : ''} after ${Number(j.elapsed_seconds ?? 0).toFixed(1)} s; `
          + `decrypted losses: ${state.losses.map((l) => l.toFixed(4)).join(', ')}`;
        status.dataset.state = j.state;
        break;
      }
      await sleep(400);
    }
  } catch (err) {
    status.textContent = `Training failed: ${err.message}`;
    status.dataset.state = 'failed';
  }
  $('train-cancel').disabled = true;
  updateButtons();
};

$('train-cancel').onclick = () => state.jobId && api.cancel(state.jobId);

$('model-download').onclick = async () => {
  $('model-error').textContent = '';
  try {
    const bytes = await api.weights(state.modelId);
    download(await call('decryptModel', { bytes }), `model-${state.modelId}.safetensors`);
  } catch (err) {
    $('model-error').textContent = `Model not downloaded: ${err.message}.`;
  }
};

// ---------------------------------------------------------------- prediction

/** Encrypts `x` (rows × feature shape), predicts on the node, decrypts: rows of outputs. */
async function predictRows(x, rows, featureShape) {
  const enc = await encrypt(x, [rows, ...featureShape], { kind: 'gaussian', std: 0.1 });
  const out = await call('decrypt', { bytes: await api.predict(state.modelId, enc) });
  const width = out.data.length / rows;
  return Array.from({ length: rows }, (_, r) => Array.from(out.data.subarray(r * width, (r + 1) * width)));
}

$('predict-test').onclick = async () => {
  const { test } = state.data;
  const acc = $('accuracy');
  const grid = $('predictions');
  acc.textContent = 'Encrypting, predicting on the node, decrypting…';
  acc.classList.remove('error');
  acc.dataset.accuracy = '';
  state.accuracy = null;
  grid.replaceChildren();
  try {
    const out = await predictRows(test.x, test.rows, test.featureShape);
    if (test.task === 'classification') {
      let correct = 0;
      out.forEach((row, i) => {
        const p = softmax(row);
        const k = p.indexOf(Math.max(...p));
        if (k === test.labels[i]) correct++;
        if (i < 24) grid.append(predictionTile(test, i, k, p[k]));
      });
      state.accuracy = correct / test.rows;
      acc.textContent = `Accuracy on ${test.rows} test samples: ${(100 * state.accuracy).toFixed(1)} %`;
    } else {
      const { mean, std } = test.targetScale;
      let se = 0;
      out.forEach((row, i) => row.forEach((v, k) => { se += ((v - test.y[i * test.targetDim + k]) * std[k]) ** 2; }));
      const rmse = Math.sqrt(se / (test.rows * test.targetDim));
      acc.textContent = `RMSE on ${test.rows} test samples (original units): ${rmse.toPrecision(4)}; target mean ${Array.from(mean).map((m) => m.toPrecision(4)).join(', ')}`;
    }
    acc.dataset.accuracy = state.accuracy ?? '';
  } catch (err) {
    acc.textContent = `Prediction failed: ${err.message}`;
    acc.classList.add('error');
  }
};

function predictionTile(ds, i, k, p) {
  const fig = document.createElement('figure');
  fig.className = k === ds.labels[i] ? 'ok' : 'bad';
  const w = ds.featureShape.at(-1);
  if (ds.featureShape.length === 3) fig.append(renderDigit(ds.x.subarray(i * w * w, (i + 1) * w * w), w));
  const cap = document.createElement('figcaption');
  cap.textContent = `${ds.classNames[k]} (${(100 * p).toFixed(0)} %)${k === ds.labels[i] ? '' : `, true ${ds.classNames[ds.labels[i]]}`}`;
  fig.append(cap);
  return fig;
}

// drawing pad
const pad = $('pad');
const pctx = pad.getContext('2d');
function clearPad() { pctx.fillStyle = '#000'; pctx.fillRect(0, 0, pad.width, pad.height); }
clearPad();
let drawing = false;
let cursor = { x: 140, y: 140 };
function paint(x, y) {
  pctx.fillStyle = '#fff';
  pctx.beginPath();
  pctx.arc(x, y, 11, 0, 2 * Math.PI);
  pctx.fill();
}
pad.addEventListener('pointerdown', (e) => { drawing = true; pad.setPointerCapture(e.pointerId); paint(e.offsetX, e.offsetY); });
pad.addEventListener('pointermove', (e) => drawing && paint(e.offsetX, e.offsetY));
pad.addEventListener('pointerup', () => { drawing = false; });
pad.addEventListener('keydown', (e) => {
  const step = { ArrowLeft: [-10, 0], ArrowRight: [10, 0], ArrowUp: [0, -10], ArrowDown: [0, 10] }[e.key];
  if (step) { cursor = { x: cursor.x + step[0], y: cursor.y + step[1] }; paint(cursor.x, cursor.y); e.preventDefault(); }
  if (e.key === ' ') { paint(cursor.x, cursor.y); e.preventDefault(); }
});
$('pad-clear').onclick = () => { clearPad(); $('pad-probs').replaceChildren(); };

$('pad-predict').onclick = async () => {
  const small = new OffscreenCanvas(28, 28).getContext('2d');
  small.drawImage(pad, 0, 0, 28, 28);
  const rgba = small.getImageData(0, 0, 28, 28).data;
  const x = new Float32Array(784).map((_, i) => rgba[4 * i] / 255);
  $('pad-error').textContent = '';
  $('pad-probs').replaceChildren();
  let row;
  try {
    [row] = await predictRows(x, 1, [1, 28, 28]);
  } catch (err) {
    $('pad-error').textContent = `Prediction failed: ${err.message}`;
    return;
  }
  const p = softmax(row);
  const best = p.indexOf(Math.max(...p));
  $('pad-probs').replaceChildren(...p.map((v, k) => {
    const li = document.createElement('li');
    li.className = k === best ? 'best' : '';
    li.innerHTML = `<span>${k}</span><meter min="0" max="1" value="${v}"></meter><span>${(100 * v).toFixed(1)} %</span>`;
    return li;
  }));
};

// ---------------------------------------------------------------- start

(async () => {
  await call('hello'); // the worker has loaded the wasm client
  if (await keystore.load().catch(() => null)) $('key-load').hidden = false;
  try {
    const h = await api.health();
    $('node-status').textContent = `Compute node ${h.status}, version ${h.version}.`;
  } catch (err) {
    $('node-status').textContent = `The compute node is not reachable (${err.message}).`;
  }
  document.body.dataset.ready = '1';
})();
