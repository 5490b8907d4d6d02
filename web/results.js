// @ts-check
// Step 4, prediction: on the node (encrypted) or here (the model decrypted into the page), and the
// test set's report a clinician can act on, computed in the page by the library
// (more_data_owner::evaluate through the worker): class names, a positive class to pick,
// sensitivity, specificity, PPV, NPV with counts, ROC with AUC, calibration, accuracy against
// the majority-class and balanced-chance baselines; for regression the errors in the target's
// units against the training mean and a linear model. Test tiles name their row.
import { call } from './client.js';
import { api } from './api.js';
import { renderDigit } from './chart.js';
import { drawCalibration, drawRoc } from './roc-chart.js';
import { adviceFor } from './train-auto.js';
import { $, el, fmt } from './dom.js';
import { state } from './state.js';
import { encrypt } from './upload.js';
import { localBusyBegin, localBusyEnd } from './health.js';
import { modelName } from './work.js';

/** @typedef {import('./state.js').DataPart} DataPart */
/** @typedef {import('./state.js').ClassificationPart} ClassificationPart */
/** @typedef {import('./state.js').RegressionPart} RegressionPart */

// The library's reports (more_data_owner::evaluate, camelCase fields, null where it has None).
/** A share with its counts. @typedef {{ value: number | null, numerator: number, denominator: number }} Ratio */
/**
 * The classification report of the test set for one positive class.
 * @typedef {object} ClassificationReport
 * @property {string[]} classNames
 * @property {number} positive the positive class's index
 * @property {number} samples test rows
 * @property {number[]} predicted per row, the predicted class
 * @property {number[]} positiveProbability per row, the positive class's probability
 * @property {number[]} confidence per row, the predicted class's probability
 * @property {Ratio} accuracy
 * @property {string} majorityClass the training set's most frequent class, by name
 * @property {Ratio} majorityAccuracy the accuracy of always saying the majority class
 * @property {number} balancedAccuracy the mean of the classes' recalls
 * @property {number} chanceBalancedAccuracy the balanced accuracy of any guess that ignores the data
 * @property {boolean} beatsBaselines
 * @property {{ counts: number[][] }} confusion rows: true class, columns: predicted
 * @property {{ truePositives: number, falsePositives: number, trueNegatives: number, falseNegatives: number,
 *   sensitivity: Ratio, specificity: Ratio, ppv: Ratio, npv: Ratio }} binary the positive class against the rest
 * @property {{ points: { fpr: number, tpr: number, threshold: number }[], auc: number, positives: number,
 *   negatives: number } | null} roc null when the test set lacks positives or negatives (see `rocNote`)
 * @property {string | null} rocNote why there is no ROC curve
 * @property {{ lower: number, upper: number, count: number, meanPredicted: number | null,
 *   observed: number | null }[]} calibration bins of the positive class's probability
 */
/** Errors in a target's units. @typedef {{ mae: number, rmse: number, r2: number }} Errors */
/**
 * The regression report of the test set: per target column, the model's errors and the baselines'.
 * @typedef {object} RegressionReport
 * @property {number} samples test rows
 * @property {{ name: string, model: Errors, meanBaseline: Errors, linearBaseline: Errors | null, beatsMean: boolean,
 *   beatsLinear: boolean }[]} outputs per target column (linearBaseline: null when it cannot be fitted)
 * @property {number[]} predictions the model's predictions in the targets' units, row-major
 * @property {boolean} beatsBaselines on every target
 */
/**
 * The results view of a classification: the report, its numbers, its text and its elements.
 * @typedef {object} ClassificationView
 * @property {ClassificationReport} report
 * @property {number | null} accuracy
 * @property {number | null} baseline the majority class's accuracy
 * @property {number[][]} matrix the confusion counts
 * @property {boolean} beats
 * @property {string} text
 * @property {HTMLElement[]} nodes
 */
/**
 * The results view of a regression.
 * @typedef {object} RegressionView
 * @property {RegressionReport} report
 * @property {undefined} [accuracy] none (a regression)
 * @property {{ name: string, mae: number, r2: number, baseMae: number, baseR2: number, linearMae: number | null,
 *   beats: boolean }[]} perOutput
 * @property {boolean} beats
 * @property {string} text
 * @property {HTMLElement[]} nodes
 */

/** Probabilities from a row of logits. */
export const softmax = (/** @type {number[]} */ row) => {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

/** `rows` rows of a row-major array. */
const toRows = (/** @type {Float32Array} */ data, /** @type {number} */ rows) => {
  const width = data.length / rows;
  return Array.from({ length: rows }, (_, r) => Array.from(data.subarray(r * width, (r + 1) * width)));
};

/** Encrypts `x` (rows × feature shape), predicts on the node, decrypts: rows of outputs. The node
 * holds these ciphertexts (and the model's): not private from the node, see SECURITY.md.
 * @param {Float32Array} x
 * @param {number} rows
 * @param {number[]} featureShape */
async function predictRows(x, rows, featureShape) {
  const enc = await encrypt(x, [rows, ...featureShape], { kind: 'gaussian', std: 0.1 });
  const out = await call('decrypt', { bytes: await api.predict(state.modelId, enc) });
  return toRows(out.data, rows);
}

/** Fetches the encrypted model once and decrypts it into the worker (one GET of ciphertexts). */
export async function ensureLocalModel() {
  if (state.localModelId === state.modelId) return;
  const info = await call('loadLocalModel', { bytes: await api.weights(state.modelId) });
  state.localModelId = state.modelId;
  const name = modelName(state.modelId);
  $('local-status').textContent = `${name ? `Model "${name}"` : 'The model'} decrypted into this page (input ${info.inputShape.join('×')}, `
    + `${info.spec.layers.length} layers). "Here" predictions send nothing.`;
}

/** Predicts with the model decrypted in the page: inputs and outputs never leave the page.
 * @param {Float32Array} x rows × feature shape
 * @param {number} rows
 * @param {number[]} featureShape */
export async function predictLocalRows(x, rows, featureShape) {
  localBusyBegin(); // the health poll waits: nothing at all is sent while predicting here
  try {
    const out = await call('predictLocal', { data: x, shape: [rows, ...featureShape] });
    return toRows(out.data, rows);
  } finally {
    localBusyEnd();
  }
}

/** Predicts here or on the node, as the card says: where it ran and the rows of outputs.
 * @param {Float32Array} x rows × feature shape
 * @param {number} rows
 * @param {number[]} featureShape */
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

export const argmax = (/** @type {number[]} */ row) => row.indexOf(Math.max(...row));

const pct = (/** @type {number | null} */ v) => (v === null || v === undefined ? '—' : `${(100 * v).toFixed(1)} %`);

/**
 * A class's name as the results show it: the data's name (text labels, label files, folders);
 * numeric labels ("0"/"1", "1.0"/"2.0") said with their column, e.g. `status = 1`.
 * @param {ClassificationPart} part a classification part
 * @param {number} k the class index
 */
export function className(part, k) {
  const name = part.classNames[k];
  const numeric = part.classNames.every((c) => c.trim() !== '' && Number.isFinite(Number(c)));
  const column = part.targetNames?.[0];
  return numeric && column ? `${column} = ${name}` : name;
}

/** The id of test row `i`: its line in the table, its file for images, else its position. */
export function rowId(/** @type {DataPart} */ part, /** @type {number} */ i) {
  return part.sampleNames?.[i] ?? `test sample ${i + 1}`;
}

/** The positive class by default: the last class (the finding: "1", "yes", "sick" sort last). */
function positiveChoices(/** @type {ClassificationPart} */ test) {
  const select = $('positive-class');
  const names = test.classNames.map((_, k) => className(test, k));
  if ([...select.options].map((o) => o.textContent).join('\n') !== names.join('\n')) {
    select.replaceChildren(...names.map((n, k) => el('option', { value: String(k), textContent: n })));
    select.value = String(names.length - 1);
  }
  return Number(select.value);
}

/** One metric row: plain-language name, value, counts.
 * @param {HTMLTableSectionElement} body
 * @param {string} key the row's `data-metric`
 * @param {string} label
 * @param {Ratio} ratio
 * @param {string} help what it means */
function metricRow(body, key, label, ratio, help) {
  const tr = body.insertRow();
  tr.dataset.metric = key;
  tr.append(el('th', { textContent: label, scope: 'row' }));
  tr.insertCell().textContent = pct(ratio.value);
  tr.insertCell().textContent = `${ratio.numerator} of ${ratio.denominator}`;
  tr.insertCell().textContent = help;
}

/** The table of the positive class's metrics and the accuracy beside its baselines. */
function metricsTable(/** @type {ClassificationPart} */ test, /** @type {ClassificationReport} */ r) {
  const pos = className(test, r.positive);
  const b = r.binary;
  const table = el('table', { className: 'stats', id: 'metrics' });
  table.createCaption().textContent = `Positive class: "${pos}" against the rest (${r.samples} test samples)`;
  table.createTHead().insertRow().append(...['', 'value', 'counts', 'what it means'].map((h) => el('th', { textContent: h })));
  const body = table.createTBody();
  metricRow(body, 'sensitivity', 'Sensitivity', b.sensitivity, `of the "${pos}" cases, the share the model finds`);
  metricRow(body, 'specificity', 'Specificity', b.specificity, `of the other cases, the share it correctly calls not "${pos}"`);
  metricRow(body, 'ppv', 'Positive predictive value (PPV)', b.ppv, `when it says "${pos}", how often that is right`);
  metricRow(body, 'npv', 'Negative predictive value (NPV)', b.npv, `when it says not "${pos}", how often that is right`);
  metricRow(body, 'accuracy', 'Accuracy', r.accuracy, 'all test cases called right');
  metricRow(body, 'majority', `Baseline: always "${className(test, test.classNames.indexOf(r.majorityClass))}"`, r.majorityAccuracy, 'the training set\'s most frequent class');
  const tr = body.insertRow();
  tr.dataset.metric = 'balanced';
  tr.append(el('th', { textContent: 'Balanced accuracy', scope: 'row' }));
  tr.insertCell().textContent = pct(r.balancedAccuracy);
  tr.insertCell().textContent = `chance ${pct(r.chanceBalancedAccuracy)}`;
  tr.insertCell().textContent = 'the mean of each class\'s share found; any guess that ignores the data gets the chance value';
  return table;
}

/** Confusion matrix with class names. */
function confusionTable(/** @type {ClassificationPart} */ test, /** @type {ClassificationReport} */ r) {
  const names = test.classNames.map((_, k) => className(test, k));
  const table = el('table', { className: 'confusion' });
  table.createCaption().textContent = 'Confusion matrix (rows: true class, columns: predicted)';
  table.createTHead().insertRow().append(el('th', { textContent: 'true \\ predicted' }), ...names.map((c) => el('th', { textContent: c })));
  const body = table.createTBody();
  r.confusion.counts.forEach((row, i) => {
    const tr = body.insertRow();
    tr.append(el('th', { textContent: names[i] }));
    // The count as text (the DOM writes a number's).
    row.forEach((v, j) => { const td = tr.insertCell(); td.textContent = /** @type {string} */ (/** @type {unknown} */ (v)); if (i === j) td.className = 'diag'; });
  });
  return table;
}

/** The ROC and calibration charts of the positive class. */
function charts(/** @type {ClassificationPart} */ test, /** @type {ClassificationReport} */ r) {
  const pos = className(test, r.positive);
  const roc = el('canvas', { id: 'roc', width: 300, height: 300 });
  roc.setAttribute('role', 'img');
  const cal = el('canvas', { id: 'calibration', width: 300, height: 300 });
  cal.setAttribute('role', 'img');
  cal.setAttribute('aria-label', `Calibration of the probability of "${pos}"`);
  const rocCaption = r.roc
    ? `ROC curve for "${pos}": AUC ${r.roc.auc.toFixed(3)} (0.5 is chance, 1 perfect; ${r.roc.positives} "${pos}" and ${r.roc.negatives} other cases)`
    : `No ROC curve: ${r.rocNote}`;
  roc.setAttribute('aria-label', rocCaption);
  if (r.roc) drawRoc(roc, r.roc.points, r.roc.auc);
  drawCalibration(cal, r.calibration);
  const bins = el('table', { className: 'stats', id: 'calibration-bins' });
  bins.createCaption().textContent = `Calibration bins of the probability of "${pos}"`;
  bins.createTHead().insertRow().append(...['predicted', 'cases', 'mean predicted', `observed "${pos}"`].map((h) => el('th', { textContent: h })));
  const binRows = bins.createTBody();
  for (const b of r.calibration.filter((x) => x.count > 0)) {
    binRows.insertRow().append(...[`${b.lower.toFixed(1)}–${b.upper.toFixed(1)}`, String(b.count), pct(b.meanPredicted), pct(b.observed)]
      .map((v) => el('td', { textContent: v })));
  }
  return el('div', { className: 'row charts' }, [
    el('figure', {}, [roc, el('figcaption', { id: 'roc-caption', textContent: rocCaption })]),
    el('figure', {}, [cal, el('figcaption', { textContent: `Calibration: predicted probability of "${pos}" against how often it was "${pos}", per tenth (n: cases in the bin; on the dashed line the probabilities can be taken at face value)` })]),
    bins,
  ]);
}

/** The library's classification report of `outputs` (rows of logits) and the view of it.
 * @param {ClassificationPart} train
 * @param {ClassificationPart} test
 * @param {number[][]} outputs
 * @returns {Promise<ClassificationView>} */
async function classificationReport(train, test, outputs) {
  /** @type {ClassificationReport} */
  const r = await call('evaluateClassification', {
    outputs: Float32Array.from(outputs.flat()), labels: Uint32Array.from(test.labels),
    classNames: test.classNames, trainLabels: Uint32Array.from(train.labels), positive: positiveChoices(test) });
  const majority = className(test, test.classNames.indexOf(r.majorityClass));
  const text = `Accuracy on ${r.samples} test samples: ${pct(r.accuracy.value)}; baseline (always "${majority}", `
    + `the training set's majority class): ${pct(r.majorityAccuracy.value)}; balanced accuracy ${pct(r.balancedAccuracy)} `
    + `(chance ${pct(r.chanceBalancedAccuracy)}).`;
  const baseline = r.beatsBaselines
    ? `The model beats both baselines: accuracy ${pct(r.accuracy.value)} against ${pct(r.majorityAccuracy.value)} for always "${majority}", balanced accuracy ${pct(r.balancedAccuracy)} against ${pct(r.chanceBalancedAccuracy)} by chance.`
    : `The model does not beat the baselines: accuracy ${pct(r.accuracy.value)} against ${pct(r.majorityAccuracy.value)} for always "${majority}", balanced accuracy ${pct(r.balancedAccuracy)} against ${pct(r.chanceBalancedAccuracy)} by chance.`;
  const nodes = [el('p', { id: 'baseline-line', className: r.beatsBaselines ? 'ok' : 'warn', textContent: baseline }),
    metricsTable(test, r), charts(test, r), confusionTable(test, r)];
  return { report: r, accuracy: r.accuracy.value, baseline: r.majorityAccuracy.value, matrix: r.confusion.counts,
    beats: r.beatsBaselines, text, nodes };
}

/** The library's regression report: per target column, errors in its units against the training
 * mean and a linear model fitted on the training split.
 * @param {RegressionPart} train
 * @param {RegressionPart} test
 * @param {number[][]} outputs
 * @returns {Promise<RegressionView>} */
async function regressionReport(train, test, outputs) {
  const names = test.targetNames ?? Array.from({ length: test.targetDim }, (_, k) => `output ${k + 1}`);
  /** @type {RegressionReport} */
  const r = await call('evaluateRegression', {
    outputs: Float32Array.from(outputs.flat()), testY: test.y, testX: test.x, trainX: train.x, trainY: train.y,
    width: test.featureShape.reduce((a, b) => a * b, 1), names, mean: test.targetScale.mean, std: test.targetScale.std });
  const table = el('table', { className: 'stats', id: 'metrics' });
  table.createCaption().textContent = `Errors on ${r.samples} test samples, in each target's own units`;
  table.createTHead().insertRow().append(...['target column', 'MAE', 'RMSE', 'R²', 'always the training mean: MAE / R²',
    'linear model (least squares on the training split): MAE / R²', ''].map((h) => el('th', { textContent: h })));
  const body = table.createTBody();
  for (const o of r.outputs) {
    const tr = body.insertRow();
    tr.dataset.metric = o.name;
    const lin = o.linearBaseline;
    const verdict = o.beatsMean && o.beatsLinear ? 'beats both baselines'
      : `⚠ not better than the baseline (${o.beatsMean ? 'the linear model' : 'the training mean'})`;
    [o.name, fmt(o.model.mae), fmt(o.model.rmse), o.model.r2.toFixed(3), `${fmt(o.meanBaseline.mae)} / ${o.meanBaseline.r2.toFixed(3)}`,
      lin ? `${fmt(lin.mae)} / ${lin.r2.toFixed(3)}` : '—', verdict].forEach((v) => { tr.insertCell().textContent = v; });
    if (!(o.beatsMean && o.beatsLinear)) tr.className = 'warn';
  }
  const text = `Regression on ${r.samples} test samples, in the targets' units: `
    + r.outputs.map((o) => `${o.name} MAE ${fmt(o.model.mae)} (training mean ${fmt(o.meanBaseline.mae)}`
      + `${o.linearBaseline ? `, linear model ${fmt(o.linearBaseline.mae)}` : ''}), R² ${o.model.r2.toFixed(3)}`).join('; ') + '.';
  const line = el('p', { id: 'baseline-line', className: r.beatsBaselines ? 'ok' : 'warn',
    textContent: r.beatsBaselines ? 'The model beats both baselines (the training mean and a linear model) on every target.'
      : 'The model does not beat both baselines (the training mean and a linear model) on every target.' });
  const perOutput = r.outputs.map((o) => ({ name: o.name, mae: o.model.mae, r2: o.model.r2, baseMae: o.meanBaseline.mae,
    baseR2: o.meanBaseline.r2, linearMae: o.linearBaseline?.mae ?? null, beats: o.beatsMean && o.beatsLinear }));
  return { report: r, perOutput, beats: r.beatsBaselines, text, nodes: [line, table] };
}

/** The report of the last prediction again (a new positive class changes the metrics, not the
 * predictions). */
async function showReport() {
  const { train, test } = /** @type {NonNullable<typeof state.data>} */ (state.data);
  const { outputs } = /** @type {NonNullable<typeof state.lastPrediction>} */ (state.lastPrediction);
  const grid = $('predictions');
  // The two parts share their task.
  const report = test.task === 'classification' ? await classificationReport(/** @type {ClassificationPart} */ (train), test, outputs)
    : await regressionReport(/** @type {RegressionPart} */ (train), test, outputs);
  state.report = { ...report, nodes: undefined };
  state.accuracy = report.accuracy ?? null;
  grid.replaceChildren();
  if (test.task === 'classification') { // then `report` is a ClassificationView
    /** @type {ClassificationView} */ (report).report.predicted.slice(0, 24)
      .forEach((k, i) => grid.append(predictionTile(test, i, k, /** @type {ClassificationView} */ (report).report.confidence[i])));
  }
  $('report').replaceChildren(...report.nodes);
  $('positive-row').hidden = test.task !== 'classification';
  if (!report.beats) {
    $('report').append(el('p', { className: 'error', role: 'alert',
      textContent: 'Warning: the model does not beat the baseline; it has learned nothing useful yet (train longer, change the learning rate, or check the data).' }));
    await showAdvice(test, report);
  }
  return report;
}

/** The library's advice (which way to move what) under the warning (train-auto.js; P5's tune rules).
 * @param {DataPart} test
 * @param {ClassificationView | RegressionView} report the view of `test`'s task */
async function showAdvice(test, report) {
  const classification = test.task === 'classification';
  // The view of a classification (accuracy against the majority class) or of a regression (R² of its first target).
  const score = classification ? /** @type {ClassificationView} */ (report).accuracy
    : /** @type {RegressionView} */ (report).report.outputs[0].model.r2;
  const baseline = classification ? /** @type {ClassificationView} */ (report).baseline
    : Math.max(/** @type {RegressionView} */ (report).report.outputs[0].meanBaseline.r2,
      /** @type {RegressionView} */ (report).report.outputs[0].linearBaseline?.r2 ?? -Infinity);
  try {
    // The accuracies are null only without test rows.
    $('report').append(await adviceFor({ score: /** @type {number} */ (score), baseline: /** @type {number} */ (baseline) }));
  } catch { /* no advice (a wasm package without the tune rules): the warning stands alone */ }
}

$('positive-class').onchange = () => {
  if (state.lastPrediction) showReport().catch((err) => { $('accuracy').textContent = `Report failed: ${err.message}`; });
};

$('predict-test').onclick = async () => {
  const { test } = /** @type {NonNullable<typeof state.data>} */ (state.data); // the button needs loaded data
  const acc = $('accuracy');
  const where = $('predict-where').value;
  acc.textContent = where === 'local' ? 'Predicting here in the page…' : 'Encrypting, predicting on the node, decrypting…';
  acc.classList.remove('error');
  acc.dataset.accuracy = '';
  delete acc.dataset.where;
  state.accuracy = null;
  state.report = null;
  $('predictions').replaceChildren();
  $('report').replaceChildren();
  try {
    const t0 = performance.now();
    const { outputs } = await predictWhere(test.x, test.rows, test.featureShape);
    const ms = performance.now() - t0;
    state.lastPrediction = { where, outputs, ms };
    const report = await showReport();
    const place = where === 'local' ? 'here in the page (nothing sent)' : 'on the node (encrypted)';
    acc.textContent = `${report.text} Predicted ${place} in ${(ms / 1000).toFixed(2)} s.`;
    acc.dataset.accuracy = String(state.accuracy ?? '');
    acc.dataset.where = where;
  } catch (err) {
    acc.textContent = `Prediction failed: ${err.message}`;
    acc.classList.add('error');
  }
};

/** A test prediction: the row's id, the predicted class by name and its probability, and the
 * true class when it differs. */
function predictionTile(/** @type {ClassificationPart} */ ds, /** @type {number} */ i, /** @type {number} */ k, /** @type {number} */ p) {
  const fig = document.createElement('figure');
  fig.className = k === ds.labels[i] ? 'ok' : 'bad';
  const w = /** @type {number} */ (ds.featureShape.at(-1));
  if (ds.featureShape.length === 3) fig.append(renderDigit(ds.x.subarray(i * w * w, (i + 1) * w * w), w));
  const cap = document.createElement('figcaption');
  const truth = k === ds.labels[i] ? '' : `, true ${className(ds, ds.labels[i])}`;
  cap.textContent = `${rowId(ds, i)}: ${className(ds, k)} (${(100 * p).toFixed(0)} %)${truth}`;
  fig.dataset.row = rowId(ds, i);
  fig.append(cap);
  return fig;
}
