// Step 4, prediction: on the node (encrypted) or here (the model decrypted into the page), the
// test set's report (accuracy and confusion matrix, or regression errors) against a baseline.
import { call } from './client.js';
import { api } from './api.js';
import { renderDigit } from './chart.js';
import { $, el, fmt } from './dom.js';
import { state } from './state.js';
import { encrypt } from './upload.js';
import { localBusyBegin, localBusyEnd } from './health.js';

export const softmax = (row) => {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

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
  localBusyBegin(); // the health poll waits: nothing at all is sent while predicting here
  try {
    const out = await call('predictLocal', { data: x, shape: [rows, ...featureShape] });
    return toRows(out.data, rows);
  } finally {
    localBusyEnd();
  }
}

export async function predictWhere(x, rows, featureShape) {
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

export const argmax = (row) => row.indexOf(Math.max(...row));

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
