// The page: wires the key worker (client.js), the file readers (formats.js), the REST API
// (api.js), the sign-in (signin.js) and the charts (chart.js) to the controls in index.html.
import { call } from './client.js';
import { api } from './api.js';
import { startSignIn } from './signin.js';
import { DataError, loadBundledMnist, loadIdxFiles, loadImageFolder, loadTable, mnistPreprocess, profileTable } from './formats.js';
import { drawLosses, renderDigit } from './chart.js';
import * as keystore from './keystore.js';
import { secureSignedIn, setupSecure, updateSecureButtons } from './secure.js';

const $ = (id) => document.getElementById(id);
/** What the page holds (no key material: the key stays in the worker). Exported for the tests,
 * which read it with `import('/app.js')` in the page; the page reads no URL parameters. */
export const state = { fingerprint: null, generation: null, data: null, datasetId: null, modelId: null, jobId: null, losses: [],
  localModelId: null, lastPrediction: null, tenant: null };

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
  const digits = state.data?.train.featureShape.join() === '1,28,28';
  document.querySelector('.draw').hidden = !digits; // the pad is for 28×28 digit models only
  $('pad-predict').disabled = !(state.modelTrained && digits);
  $('model-download').disabled = !state.modelTrained;
  $('model-local').disabled = !state.modelTrained;
  $('work-refresh').disabled = !hasKey;
  updateSecureButtons();
}

/** New passphrases (key export, remembered key) need at least this many characters: Argon2id
 * slows each guess at a stolen key file, but a short passphrase is still found offline. Unlocking
 * an existing key file takes any passphrase it was made with. */
const MIN_NEW_PASSPHRASE = 12;

/** The passphrase dialog; `minLength` > 1 for a new passphrase (checked as it is typed). */
function askPassphrase(help, { minLength = 1 } = {}) {
  const dialog = $('pass-dialog');
  const input = $('pass-input');
  $('pass-help').textContent = help;
  input.value = '';
  input.autocomplete = minLength > 1 ? 'new-password' : 'current-password';
  input.oninput = () => {
    const length = [...input.value].length;
    const short = length < minLength;
    const rule = short
      ? `At least ${minLength} characters (${length} so far): a stolen key file can be tried offline `
        + 'at leisure. Four or more random words make a strong passphrase.'
      : '';
    input.setCustomValidity(length === 0 ? '' : rule);
    $('pass-rule').textContent = minLength > 1 ? (rule || 'Long enough.') : '';
  };
  input.oninput();
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

function keyReady({ fingerprint, generation, basis }) {
  $('key-error').textContent = '';
  // The public compact basis C0 (row-major 2×2), to recognise this key's datasets on the node.
  state.basis = [];
  JSON.parse(basis, (_, v) => { if (typeof v === 'number') state.basis.push(v); return v; });
  state.fingerprint = fingerprint;
  state.localModelId = null; // the worker drops its decrypted model with the old key
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
  const pass = await askPassphrase('The key file is encrypted with this passphrase (Argon2id + XChaCha20-Poly1305). Keep both safe: without the key nothing can be decrypted.',
    { minLength: MIN_NEW_PASSPHRASE });
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
    refreshWork().catch((err) => { $('work-error').textContent = `Not refreshed: ${err.message}`; });
  } catch (err) {
    // Nothing changed: the worker keeps its key and the page keeps showing its fingerprint.
    $('key-error').textContent = `Import of ${file.name} failed: ${err.message}. `
      + (state.fingerprint ? `The active key is still ${state.fingerprint}.` : 'No key is active.');
  }
};

$('key-save').onclick = async () => {
  const pass = await askPassphrase('The key is stored in this browser only in wrapped (passphrase-encrypted) form.',
    { minLength: MIN_NEW_PASSPHRASE });
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
    refreshWork().catch((err) => { $('work-error').textContent = `Not refreshed: ${err.message}`; });
  } catch (err) {
    $('key-error').textContent = `Unlocking the remembered key failed: ${err.message}. `
      + (state.fingerprint ? `The active key is still ${state.fingerprint}.` : 'No key is active.');
  }
};

// ---------------------------------------------------------------- data

/** Training settings for tables, by task: they beat the majority / training-mean baseline on the
 * tested clinical table (tests/table.test.mjs trains with them: accuracy more than 10 points above
 * the majority class; R² > 0.6 and MAE < 0.7 × the baseline's). Plain SGD: the momentum 0.9 of the
 * image defaults is tuned for MNIST. Other data keep the defaults written in index.html. */
export const TABLE_TRAINING = {
  classification: { epochs: 15, batch: 16, lr: 0.1, momentum: 0 },
  regression: { epochs: 15, batch: 16, lr: 0.05, momentum: 0 },
};
const TRAINING_FIELDS = ['epochs', 'batch', 'lr', 'momentum'];
const pageTrainingDefaults = Object.fromEntries(TRAINING_FIELDS.map((f) => [f, $(f).defaultValue]));

/** Puts the training defaults for `train` into the form: the table settings for a table, else
 * index.html's. */
function setTrainingDefaults(train) {
  const values = train.featureShape.length === 1 ? TABLE_TRAINING[train.task] : pageTrainingDefaults;
  for (const f of TRAINING_FIELDS) $(f).value = String(values[f]);
}

function dataLoaded(parts) {
  state.data = parts;
  state.datasetId = null;
  state.modelTrained = false;
  const { train, test } = parts;
  const kind = train.task === 'classification' ? `${train.targetDim} classes` : `${train.targetDim} target(s), standardized`;
  $('data-summary').textContent = `${train.name}: ${train.rows} training and ${test.rows} test samples, `
    + `features ${train.featureShape.join('×')}, ${train.task} (${kind}). Not uploaded yet.`;
  // Tables get a table MLP, never an image CNN; images keep the MNIST MLP default.
  const isTable = train.featureShape.length === 1;
  for (const o of $('preset').options) o.disabled = isTable && /cnn/.test(o.value);
  $('preset').value = train.task === 'regression' ? 'regression_mlp' : isTable ? 'table_mlp' : train.dicom ? 'image_cnn' : 'mnist_mlp';
  setTrainingDefaults(train);
  $('loss').value = '';
  $('data-notes').replaceChildren(...(train.notes ?? []).map((n) => Object.assign(document.createElement('li'), { textContent: n })));
  $('dicom-preview').replaceChildren();
  if (train.dicom) showDicom(parts);
  if (train.table) {
    $('data-summary').textContent += ` Task ${train.task}${train.table.guessedTask === train.task ? ' (guessed from the target)' : ` (chosen; the target looks like ${train.table.guessedTask})`}; `
      + `${train.table.rowsUsed} of ${train.table.rowsRead} rows used; features: ${train.featureNames.join(', ')}.`;
  }
  updateButtons();
}

/** How many times data were read (profileCsv leaves the page alone once a later read started). */
let dataLoads = 0;

async function loadData(fn) {
  dataLoads++;
  showError($('data-error'), null);
  $('data-notes').replaceChildren();
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
$('data-images').onchange = (e) => loadData(() => loadImageFolder([...e.target.files], { size: 28 }));

// DICOM: decoded in the worker (the library's DICOM pipeline in wasm); only pixels and image facts
// come back, and only encrypted pixels are ever uploaded. Patient attributes are never read.
const openDicom = (e) => loadData(() => loadImageFolder([...e.target.files], { size: Number($('dicom-size').value),
  onProgress: (p) => { $('data-summary').textContent = `Decoding DICOM files in the page… ${Math.round(100 * p)} %`; } }));
$('data-dicom').onchange = openDicom;
$('data-dicom-folder').onchange = openDicom;

/** The decoded files (image facts, view) and a preview grid of the model inputs. */
function showDicom({ train, test }) {
  const files = train.dicom.files;
  const t = document.createElement('table');
  t.className = 'stats';
  t.createTHead().insertRow().append(...['file', 'label', 'modality', 'frames', 'size', 'bits', 'photometric', 'view', 'scaling']
    .map((h) => Object.assign(document.createElement('th'), { textContent: h })));
  const body = t.createTBody();
  for (const f of files) {
    const scaling = f.window ? `window ${fmt(f.window[0])}/${fmt(f.window[1])}` : 'min–max';
    const tr = body.insertRow();
    [f.name, f.label, f.modality || '–', f.frames, `${f.columns}×${f.rows}`, f.bitsAllocated, f.photometric, f.view ?? '–',
      `${f.rescale[0] !== 1 || f.rescale[1] !== 0 ? `rescale ${fmt(f.rescale[0])}·x ${f.rescale[1] < 0 ? '−' : '+'} ${fmt(Math.abs(f.rescale[1]))}, ` : ''}${scaling}`]
      .forEach((v) => { tr.insertCell().textContent = v; });
  }
  const grid = document.createElement('div');
  grid.className = 'grid';
  grid.setAttribute('aria-label', 'Model inputs (cropped and resized frames)');
  const w = train.featureShape.at(-1);
  const shown = [[train, 16], [test, 8]].flatMap(([part, n]) => Array.from({ length: Math.min(n, part.rows) }, (_, i) => [part, i]));
  for (const [part, i] of shown) {
    const fig = document.createElement('figure');
    fig.append(renderDigit(part.x.subarray(i * w * w, (i + 1) * w * w), w));
    const sample = part.sampleNames ? `${part.sampleNames[i]} → ` : '';
    fig.append(Object.assign(document.createElement('figcaption'), { textContent: `${sample}${part.classNames[part.labels[i]]}${part === test ? ' (test)' : ''}` }));
    grid.append(fig);
  }
  $('dicom-preview').replaceChildren(t, grid);
}

let csvFile = null;
const csvTargets = () => $('csv-targets').value.split(',').map((s) => s.trim()).filter(Boolean);

/** Per-column statistics of the opened table, shown before anything is read into a data set. */
function showProfile(profile, targets) {
  const fmt = (v) => (Number.isFinite(v) ? Number(v.toPrecision(4)).toString() : '–');
  const head = ['column', 'numbers', 'missing', 'not numeric', 'distinct', 'min', 'mean', 'max', ''];
  const table = document.createElement('table');
  table.className = 'stats';
  table.createTHead().insertRow().append(...head.map((h) => Object.assign(document.createElement('th'), { textContent: h })));
  const body = table.createTBody();
  for (const c of profile) {
    const tr = body.insertRow();
    const warn = [c.missing ? `${c.missing} missing` : '', c.nonNumeric ? `text: ${c.examples.map((e) => `"${e}"`).join(', ')}` : ''].filter(Boolean).join('; ');
    [c.name, c.numeric, c.missing, c.nonNumeric, c.distinct, fmt(c.min), fmt(c.mean), fmt(c.max),
      (targets.includes(c.name) ? 'target. ' : '') + (warn ? `⚠ ${warn}` : '')].forEach((v) => { tr.insertCell().textContent = v; });
    if (warn) tr.className = 'warn';
  }
  $('csv-stats').replaceChildren(table);
}

async function profileCsv() {
  if (!csvFile) return;
  const asked = csvTargets();
  const loads = dataLoads;
  const parsed = await profileTable(csvFile, asked);
  // The Worker answers after a while: a target typed meanwhile wins over the default (the last
  // column), and a table read meanwhile keeps its summary and notes.
  if (!csvTargets().length) $('csv-targets').value = parsed.header.at(-1);
  if (loads !== dataLoads) return;
  const targets = csvTargets();
  if (targets.join('\n') !== asked.join('\n')) return profileCsv();
  $('csv-columns').replaceChildren(...parsed.header.map((h) => Object.assign(document.createElement('option'), { value: h })));
  $('csv-guess').textContent = parsed.guessedTask ? `guess: ${parsed.guessedTask}` : '';
  showProfile(parsed.profile, targets);
  $('data-notes').replaceChildren(...parsed.notes.map((n) => Object.assign(document.createElement('li'), { textContent: n })));
  $('data-summary').textContent = `${csvFile.name}: ${parsed.rows} rows, columns ${parsed.header.join(', ')}. `
    + 'Blank cells and NA, N/A, NaN, null, ? count as missing. Choose the target column(s), then "Read table".';
}

$('data-csv').onchange = async (e) => {
  csvFile = e.target.files[0] ?? null;
  $('csv-load').disabled = !csvFile;
  $('csv-columns').replaceChildren();
  $('csv-stats').replaceChildren();
  showError($('data-error'), null);
  if (!csvFile) return;
  try {
    await profileCsv();
  } catch (err) { showError($('data-error'), err); }
};
$('csv-targets').onchange = () => profileCsv().catch(() => { /* reported by Read table */ });
$('csv-load').onclick = () => loadData(() => loadTable(csvFile, { targets: csvTargets(), task: $('csv-task').value }));

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

/** A small MLP for tables (classification or regression): dense 32 → tanh → dense `outputs`. */
function tableMlp(inputShape, outputs) {
  return { input_shape: inputShape, layers: [{ type: 'flatten' }, { type: 'dense', units: 32 }, { type: 'tanh' },
    { type: 'dense', units: outputs }] };
}

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
    const preset = $('preset').value;
    const model = await api.createModel(preset === 'table_mlp'
      ? { name: `${train.name} table_mlp`, spec: tableMlp(train.featureShape, train.targetDim) }
      : { name: `${train.name} ${preset}`, preset, input_shape: train.featureShape, outputs: train.targetDim });
    state.modelId = model.id;
    state.localModelId = null;
    const loss = $('loss').value;
    const job = await api.startJob({
      model_id: model.id, dataset_id: state.datasetId,
      epochs: Number($('epochs').value), batch_size: Number($('batch').value),
      optimizer: { type: 'sgd', learning_rate: Number($('lr').value), momentum: Number($('momentum').value) },
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
        // The node switches a job to a new, complete losses blob in one transaction: one read.
        try {
          await refreshLosses();
        } catch (err) {
          if (notEncrypted(err)) {
            state.losses = [];
            drawLosses($('loss-chart'), state.losses);
            $('train-error').textContent = `No losses shown: ${err.message}.`;
          } else {
            status.textContent += ` (losses not readable: ${err.message})`;
          }
        }
        seenEpoch = j.epoch;
      }
      if (finished) {
        if (j.state === 'completed') state.modelTrained = true;
        refreshWork().catch(() => {});
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

const toRows = (data, rows) => {
  const width = data.length / rows;
  return Array.from({ length: rows }, (_, r) => Array.from(data.subarray(r * width, (r + 1) * width)));
};

/** Encrypts `x` (rows × feature shape), predicts on the node, decrypts: rows of outputs. The node
 * holds these ciphertexts (and the model's): not private from the node, see SECURITY.md. */
async function predictRows(x, rows, featureShape) {
  const enc = await encrypt(x, [rows, ...featureShape], { kind: 'gaussian', std: 0.1 });
  const out = await call('decrypt', { bytes: await api.predict(state.modelId, enc) });
  return toRows(out.data, rows);
}

/** Fetches the encrypted model once and decrypts it into the worker (one GET of ciphertexts). */
async function ensureLocalModel() {
  if (state.localModelId === state.modelId) return;
  const info = await call('loadLocalModel', { bytes: await api.weights(state.modelId) });
  state.localModelId = state.modelId;
  $('local-status').textContent = `Model ${state.modelId} decrypted into this page (input ${info.inputShape.join('×')}, `
    + `${info.spec.layers.length} layers). "Here" predictions send nothing.`;
}

/** Predicts with the model decrypted in the page: inputs and outputs never leave the page. */
async function predictLocalRows(x, rows, featureShape) {
  localBusy++; // the health poll waits: nothing at all is sent while predicting here
  try {
    const out = await call('predictLocal', { data: x, shape: [rows, ...featureShape] });
    return toRows(out.data, rows);
  } finally {
    localBusy--;
  }
}

async function predictWhere(x, rows, featureShape) {
  if ($('predict-where').value === 'local') {
    await ensureLocalModel();
    return { where: 'local', outputs: await predictLocalRows(x, rows, featureShape) };
  }
  return { where: 'node', outputs: await predictRows(x, rows, featureShape) };
}

$('model-local').onclick = async () => {
  $('model-error').textContent = '';
  try {
    await ensureLocalModel();
    $('predict-where').value = 'local';
  } catch (err) {
    $('model-error').textContent = `Model not decrypted into the page: ${err.message}.`;
  }
};

const argmax = (row) => row.indexOf(Math.max(...row));
const fmt = (v) => Number(v.toPrecision(4)).toString();

function el(tag, props = {}, children = []) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/** Accuracy, confusion matrix and the majority-class baseline (from the training labels). */
function classificationReport(train, test, outputs) {
  const k = test.targetDim;
  const matrix = Array.from({ length: k }, () => new Array(k).fill(0));
  let correct = 0;
  outputs.forEach((row, i) => {
    const p = argmax(row);
    matrix[test.labels[i]][p]++;
    if (p === test.labels[i]) correct++;
  });
  const counts = new Array(k).fill(0);
  train.labels.forEach((l) => counts[l]++);
  const majority = argmax(counts);
  const baseline = test.labels.filter((l) => l === majority).length / test.rows;
  const accuracy = correct / test.rows;
  const table = el('table', { className: 'confusion' });
  table.createCaption().textContent = 'Confusion matrix (rows: true class, columns: predicted)';
  table.createTHead().insertRow().append(el('th', { textContent: 'true \\ predicted' }), ...test.classNames.map((c) => el('th', { textContent: c })));
  const body = table.createTBody();
  matrix.forEach((r, i) => {
    const tr = body.insertRow();
    tr.append(el('th', { textContent: test.classNames[i] }));
    r.forEach((v, j) => { const td = tr.insertCell(); td.textContent = v; if (i === j) td.className = 'diag'; });
  });
  return { accuracy, baseline, matrix, majority: test.classNames[majority],
    text: `Accuracy on ${test.rows} test samples: ${(100 * accuracy).toFixed(1)} %; baseline (always "${test.classNames[majority]}", `
      + `the training set's majority class): ${(100 * baseline).toFixed(1)} %.`,
    beats: accuracy > baseline, table };
}

/** Per-output MAE and R² in original units, beside the baseline that always predicts the
 * training mean. */
function regressionReport(train, test, outputs) {
  const { mean, std } = test.targetScale;
  const names = test.targetNames ?? Array.from({ length: test.targetDim }, (_, k) => `output ${k + 1}`);
  const perOutput = names.map((name, k) => {
    const truth = [], pred = [];
    outputs.forEach((row, i) => { truth.push(test.y[i * test.targetDim + k] * std[k] + mean[k]); pred.push(row[k] * std[k] + mean[k]); });
    const tMean = truth.reduce((a, b) => a + b, 0) / truth.length;
    const sst = truth.reduce((a, t) => a + (t - tMean) ** 2, 0) || 1e-12;
    const mae = truth.reduce((a, t, i) => a + Math.abs(t - pred[i]), 0) / truth.length;
    const r2 = 1 - truth.reduce((a, t, i) => a + (t - pred[i]) ** 2, 0) / sst;
    const baseMae = truth.reduce((a, t) => a + Math.abs(t - mean[k]), 0) / truth.length;
    const baseR2 = 1 - truth.reduce((a, t) => a + (t - mean[k]) ** 2, 0) / sst;
    return { name, mae, r2, baseMae, baseR2, beats: mae < baseMae && r2 > baseR2 };
  });
  const table = el('table', { className: 'stats' });
  table.createTHead().insertRow().append(...['output', 'MAE', 'R²', 'baseline MAE (training mean)', 'baseline R²', '']
    .map((h) => el('th', { textContent: h })));
  const body = table.createTBody();
  for (const o of perOutput) {
    const tr = body.insertRow();
    [o.name, fmt(o.mae), o.r2.toFixed(3), fmt(o.baseMae), o.baseR2.toFixed(3), o.beats ? '' : '⚠ not better than the baseline']
      .forEach((v) => { tr.insertCell().textContent = v; });
    if (!o.beats) tr.className = 'warn';
  }
  return { perOutput, table, beats: perOutput.every((o) => o.beats),
    text: `Regression on ${test.rows} test samples, in original units: `
      + perOutput.map((o) => `${o.name} MAE ${fmt(o.mae)} (baseline ${fmt(o.baseMae)}), R² ${o.r2.toFixed(3)}`).join('; ') + '.' };
}

$('predict-test').onclick = async () => {
  const { train, test } = state.data;
  const acc = $('accuracy');
  const grid = $('predictions');
  const where = $('predict-where').value;
  acc.textContent = where === 'local' ? 'Predicting here in the page…' : 'Encrypting, predicting on the node, decrypting…';
  acc.classList.remove('error');
  acc.dataset.accuracy = '';
  delete acc.dataset.where;
  state.accuracy = null;
  state.report = null;
  grid.replaceChildren();
  $('report').replaceChildren();
  try {
    const t0 = performance.now();
    const { outputs } = await predictWhere(test.x, test.rows, test.featureShape);
    const ms = performance.now() - t0;
    state.lastPrediction = { where, outputs, ms };
    const report = test.task === 'classification' ? classificationReport(train, test, outputs) : regressionReport(train, test, outputs);
    state.report = { ...report, table: undefined };
    if (test.task === 'classification') {
      state.accuracy = report.accuracy;
      outputs.slice(0, 24).forEach((row, i) => {
        const p = softmax(row);
        const k = argmax(p);
        grid.append(predictionTile(test, i, k, p[k]));
      });
    }
    const place = where === 'local' ? 'here in the page (nothing sent)' : 'on the node (encrypted)';
    acc.textContent = `${report.text} Predicted ${place} in ${(ms / 1000).toFixed(2)} s.`;
    $('report').append(report.table);
    if (!report.beats) {
      $('report').append(el('p', { className: 'error', role: 'alert',
        textContent: 'Warning: the model does not beat the baseline; it has learned nothing useful yet (train longer, change the learning rate, or check the data).' }));
    }
    acc.dataset.accuracy = state.accuracy ?? '';
    acc.dataset.where = where;
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
$('pad-clear').onclick = () => {
  clearPad();
  $('pad-probs').replaceChildren();
  $('pad-input').replaceChildren();
  document.querySelector('.pad-input').hidden = true;
};

$('pad-predict').onclick = async () => {
  // Prepared as MNIST digits were: ink box scaled into 20×20, centre of mass at the centre of 28×28.
  const rgba = pctx.getImageData(0, 0, pad.width, pad.height).data;
  const grey = new Float32Array(pad.width * pad.height).map((_, i) => rgba[4 * i] / 255);
  const x = mnistPreprocess(grey, pad.width, pad.height);
  $('pad-error').textContent = '';
  $('pad-probs').replaceChildren();
  if (!x) { $('pad-error').textContent = 'Draw a digit first.'; return; }
  state.padInput = Array.from(x);
  const view = renderDigit(x, 28);
  view.id = 'pad-input-view';
  view.setAttribute('role', 'img');
  view.setAttribute('aria-label', 'The 28×28 input the model sees');
  $('pad-input').replaceChildren(view);
  document.querySelector('.pad-input').hidden = false;
  let row;
  try {
    [row] = (await predictWhere(x, 1, [1, 28, 28])).outputs;
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

// ---------------------------------------------------------------- your work on this node

/** This key's datasets (same public compact basis), the jobs on them and the models they trained. */
async function refreshWork() {
  if (!state.basis) return;
  $('work-error').textContent = '';
  const [datasets, models, jobs] = await Promise.all([api.datasets(), api.models(), api.jobs()]);
  const mine = (b) => Array.isArray(b) && b.length === 4 && b.every((v, i) => Math.abs(v - state.basis[i]) <= 1e-6 * Math.max(1, Math.abs(v)));
  const myDatasets = datasets.filter((d) => mine(d.basis)).sort((a, b) => a.created_at - b.created_at);
  const dsIds = new Set(myDatasets.map((d) => d.id));
  const myJobs = jobs.filter((j) => dsIds.has(j.dataset_id)).sort((a, b) => a.created_at - b.created_at);
  const modelIds = new Set(myJobs.map((j) => j.model_id));
  const myModels = models.filter((m) => modelIds.has(m.id)).sort((a, b) => a.created_at - b.created_at);
  state.work = { datasets: myDatasets.map((d) => d.id), models: myModels.map((m) => m.id), jobs: myJobs.map((j) => [j.id, j.state]) };
  const button = (text, fn, cls) => Object.assign(el('button', { type: 'button', textContent: text, className: cls }), {
    onclick: async () => {
      $('work-error').textContent = '';
      try { await fn(); } catch (err) { $('work-error').textContent = `${text} failed: ${err.message}`; }
      await refreshWork().catch((err) => { $('work-error').textContent = err.message; });
    },
  });
  const table = (caption, head, rows) => {
    const t = el('table', { className: 'stats work' });
    t.createCaption().textContent = caption;
    t.createTHead().insertRow().append(...head.map((h) => el('th', { textContent: h })));
    const body = t.createTBody();
    for (const r of rows) { const tr = body.insertRow(); r.forEach((c) => tr.insertCell().append(c)); }
    return t;
  };
  const when = (t) => new Date(t * 1000).toLocaleString();
  const short = (id) => id.slice(0, 8);
  $('work').replaceChildren(
    table(`Datasets (${myDatasets.length})`, ['name', 'task', 'samples', 'state', 'created', ''], myDatasets.map((d) => [
      d.name, d.task, String(d.samples ?? '–'), d.state, when(d.created_at),
      button('Delete', () => api.deleteDataset(d.id), 'work-delete-dataset')])),
    table(`Models (${myModels.length})`, ['name', 'id', 'trained epochs', 'created', '', ''], myModels.map((m) => [
      m.name, short(m.id), String(m.trained_epochs ?? 0), when(m.created_at),
      button(m.id === state.modelId ? 'Predicting with this' : 'Predict with this', async () => {
        state.modelId = m.id;
        state.modelTrained = true;
        $('local-status').textContent = `Predicting with model ${m.name} (${short(m.id)}).`;
        updateButtons();
      }, 'work-use-model'),
      button('Delete', () => api.deleteModel(m.id), 'work-delete-model')])),
    table(`Jobs (${myJobs.length})`, ['id', 'model', 'state', 'epoch', ''], myJobs.map((j) => [
      short(j.id), short(j.model_id), j.state + (j.error ? `: ${j.error}` : ''), `${j.epoch ?? 0}/${j.epochs}`,
      ['queued', 'running'].includes(j.state) ? button('Cancel', () => api.cancel(j.id), 'work-cancel')
        : ['cancelled', 'interrupted', 'failed'].includes(j.state) ? button('Resume', () => api.resume(j.id), 'work-resume') : ''])),
  );
}
$('work-refresh').onclick = () => refreshWork().catch((err) => { $('work-error').textContent = `Not refreshed: ${err.message}`; });

// ---------------------------------------------------------------- node health

// `GET /v1/health` every HEALTH_MS (no body, no key material), so that a node that stops shows as
// unreachable instead of a stale "ok", and one that comes back shows as ok again. Skipped while a
// prediction runs here in the page (localBusy) and while the previous check is still out.
const HEALTH_MS = 5000;
let localBusy = 0, healthPending = false;
async function checkHealth() {
  if (localBusy > 0 || healthPending) return;
  healthPending = true;
  const el = $('node-status');
  try {
    const h = await api.health();
    el.textContent = `Compute node ${h.status}, version ${h.version}.`;
    el.dataset.health = 'ok';
  } catch (err) {
    el.textContent = `Compute node unreachable (${err.message}); checking again every ${HEALTH_MS / 1000} s.`;
    el.dataset.health = 'unreachable';
  } finally {
    healthPending = false;
  }
}

// ---------------------------------------------------------------- sign-in

/** Signed in (`who`: GET /v1/whoami, or tenant `local` on a node without sign-in) or signed out
 * (null): the steps are shown only while signed in. Datasets, models and jobs belong to a tenant:
 * signing in to another tenant forgets the ones the page was using. */
function signInChanged(who) {
  document.querySelector('main').hidden = !who;
  if (!who) return;
  if (state.tenant !== null && state.tenant !== who.tenant) {
    Object.assign(state, { datasetId: null, modelId: null, jobId: null, modelTrained: false, work: null });
    $('work').replaceChildren();
    $('upload-status').textContent = '';
    $('train-status').textContent = '';
    $('local-status').textContent = '';
    updateButtons();
  }
  state.tenant = who.tenant;
  secureSignedIn(who).catch(() => { /* shown in the secure card */ });
  if (state.basis) refreshWork().catch((err) => { $('work-error').textContent = `Not refreshed: ${err.message}`; });
}

// ---------------------------------------------------------------- start

(async () => {
  setupSecure(state);
  await call('hello'); // the worker has loaded the wasm client
  if (await keystore.load().catch(() => null)) $('key-load').hidden = false;
  await checkHealth();
  await startSignIn({ onChange: signInChanged });
  document.body.dataset.ready = '1';
  setInterval(() => { checkHealth().catch(() => {}); }, HEALTH_MS);
})();
