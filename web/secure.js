// @ts-check
// The "Secure prediction (BFV)" card (issue #30): a model that belongs to someone else, shared
// with this tenant, scores the loaded test data while they stay lattice-encrypted.
//
// Flow: the Worker makes a BFV key (secure-worker.js; the secret never leaves it) and the page
// uploads only its evaluation key (public); the Worker quantizes the test data with the model's
// input quantizer and encrypts them (784 ciphertexts for MNIST, one per pixel, a sample per slot);
// the node evaluates and answers encrypted outputs; the Worker decrypts them for this page.
// Nothing decrypted is ever sent to the node.
import { $, progressBar } from './dom.js';
import { call } from './client.js';
import { api } from './api.js';
import { state } from './state.js';

/** @typedef {import('./state.js').DataPart} DataPart */

/**
 * A secure model's summary as the node lists it (GET /v1/secure/models; compute-node/API.md).
 * @typedef {object} SecureModel
 * @property {string} id 32 hex digits
 * @property {string} name
 * @property {string} owner_tenant
 * @property {number[]} input_shape
 * @property {number} outputs output values per sample
 * @property {string[] | null} [class_names]
 * @property {string} parameter_set the BFV parameters it was published for
 * @property {number} bound_bits bits of its largest worst-case bound
 */
/**
 * The evaluation key on the node (of the Worker's BFV secret key).
 * @typedef {object} SecureKey
 * @property {string} id its id on the node
 * @property {number} expiresAt when the node deletes it, seconds since 1970
 * @property {number} bytes its size
 * @property {string | null} tenant the tenant it was uploaded as
 * @property {string} parameterSet
 * @property {number} slots samples per ciphertext
 * @property {number} seconds the time the key took to make
 */
/**
 * The last secure prediction, decrypted in the page.
 * @typedef {object} SecureResult
 * @property {string} modelId
 * @property {number} samples
 * @property {number} outputs output values per sample
 * @property {number[]} predictions the predicted class per sample
 * @property {number[]} values the decrypted outputs, row-major (samples × outputs)
 * @property {number} noiseBudgetBits the smallest noise budget left
 * @property {number} encryptSeconds
 * @property {number} nodeSeconds
 * @property {number} decryptSeconds
 * @property {number} uploadBytes
 * @property {number} downloadBytes
 * @property {number} [accuracy] on the test data (classification with labels), 0..1
 */
/**
 * A secure model as the node answers it (GET /v1/secure/models/{id}): `model` is the model's JSON,
 * sent on to the Worker as text; the page reads its input shape.
 * @typedef {{ model: { input_shape: number[] } }} SecureModelAnswer
 */

/** What the card holds (no key material: the key stays in the Worker). Read by the tests with
 * `import('/secure.js')`. `key`: the evaluation key on the node, for the tenant it was uploaded as.
 * @type {{ models: SecureModel[], key: SecureKey | null, last: SecureResult | null, busy: boolean }} */
export const secureState = { models: [], key: null, last: null, busy: false };

const mb = (/** @type {number} */ n) => `${(n / 1e6).toFixed(1)} MB`;
const secs = (/** @type {number} */ s) => `${s.toFixed(s < 1 ? 2 : 1)} s`;
const shape = (/** @type {number[]} */ s) => s.join('×');

/** Shows `err` in the card, or clears it (null). */
function showError(/** @type {Error | null} */ err) {
  $('secure-error').textContent = err ? `Error: ${err.message ?? err}` : '';
}

/** Wires the card (app.js calls it first, before sign-in and any click). */
export function setupSecure() {
  $('secure-refresh').onclick = () => refreshModels().catch(showError);
  $('secure-model').onchange = () => { describeModel(); updateSecureButtons(); };
  $('secure-key').onclick = () => run(() => makeKey());
  $('secure-predict').onclick = () => run(() => predict());
  updateSecureButtons();
}

/** Enables "Predict" when a shared model is chosen, data are loaded and nothing runs. */
export function updateSecureButtons() {
  const ready = Boolean($('secure-model').value && state.data?.test && !secureState.busy);
  $('secure-predict').disabled = !ready;
  $('secure-key').disabled = secureState.busy;
}

/** Signed in as `who` (GET /v1/whoami): a new tenant gets a new key and its own list. */
export async function secureSignedIn(/** @type {{ tenant: string | null }} */ who) {
  if (secureState.key && secureState.key.tenant !== who.tenant) {
    await call('bfvDrop');
    secureState.key = null;
    secureState.last = null;
    $('secure-key-status').textContent = 'No secure key yet: one is made when you predict.';
    $('secure-result').textContent = '';
  }
  await refreshModels().catch(showError);
}

/** Runs `fn` with the card busy; its error is shown in the card. */
async function run(/** @type {() => Promise<unknown>} */ fn) {
  showError(null);
  secureState.busy = true;
  updateSecureButtons();
  try {
    await fn();
  } catch (err) {
    $('secure-status').textContent = '';
    showError(err);
  } finally {
    secureState.busy = false;
    updateSecureButtons();
  }
}

/** GET /v1/secure/models: this tenant's own models and those shared with it. */
export async function refreshModels() {
  const list = await api.secureModels();
  secureState.models = Array.isArray(list) ? list : (list?.models ?? []);
  const select = $('secure-model');
  const chosen = select.value;
  const options = secureState.models.map((m) => Object.assign(document.createElement('option'), {
    value: m.id,
    textContent: `${m.name} (from ${m.owner_tenant}${m.owner_tenant === state.tenant ? ', yours' : ''})`,
  }));
  select.replaceChildren(...(options.length ? options
    : [Object.assign(document.createElement('option'), { value: '', textContent: 'none shared with this tenant yet' })]));
  if (secureState.models.some((m) => m.id === chosen)) select.value = chosen;
  describeModel();
  updateSecureButtons();
}

function chosenModel() {
  return secureState.models.find((m) => m.id === $('secure-model').value) ?? null;
}

function describeModel() {
  const m = chosenModel();
  $('secure-model-info').textContent = m
    ? `Input ${shape(m.input_shape)}, ${m.outputs} outputs${m.class_names?.length ? ` (${m.class_names.join(', ')})` : ''}; `
      + `parameters ${m.parameter_set}; worst case ${m.bound_bits} bits, checked to fit when it was published.`
    : '';
}

/** A new BFV key in the Worker; its evaluation key (public) goes to the node. */
async function makeKey() {
  $('secure-key-status').textContent = 'Making a secure key in the page…';
  const k = await call('bfvGenerate');
  const uploaded = await api.uploadEvaluationKey(k.evaluationKey);
  secureState.key = { id: uploaded.id, expiresAt: uploaded.expires_at, bytes: k.evaluationKey.length,
    tenant: state.tenant, parameterSet: k.parameterSet, slots: k.slots, seconds: k.seconds };
  $('secure-key-status').textContent = `Secure key made in this page in ${secs(k.seconds)} (${k.parameterSet}); `
    + `the node holds only its evaluation key (${mb(k.evaluationKey.length)}, lets it compute, not read).`;
  return secureState.key;
}

/** The key for this tenant; a fresh evaluation key of it when the node's copy expires within a minute. */
async function ensureKey() {
  const k = secureState.key;
  if (!k || k.tenant !== state.tenant) return makeKey();
  if (k.expiresAt && Date.now() / 1000 > k.expiresAt - 60) await renewEvaluationKey(k);
  return k;
}

/** Uploads a new evaluation key of the same secret key (the node keeps a tenant's newest 16). */
async function renewEvaluationKey(/** @type {SecureKey} */ key) {
  const uploaded = await api.uploadEvaluationKey(await call('bfvEvaluationKey'));
  Object.assign(key, { id: uploaded.id, expiresAt: uploaded.expires_at });
}

/**
 * POST predict; when the node no longer has the evaluation key (404 naming it), one retry with a new one.
 * @param {string} modelId
 * @param {SecureKey} key
 * @param {Uint8Array} bytes the encrypted batch
 */
async function predictOnce(modelId, key, bytes) {
  try {
    return await api.securePredict(modelId, key.id, bytes);
  } catch (err) {
    if (err.status !== 404 || !/evaluation key/.test(err.serverMessage ?? '')) throw err;
    await renewEvaluationKey(key);
    return api.securePredict(modelId, key.id, bytes);
  }
}

/** Encrypts the loaded test data in the Worker, predicts on the node, decrypts here. */
async function predict() {
  const summary = chosenModel();
  const test = state.data?.test;
  if (!summary || !test) throw new Error('Choose a shared model and load data (step 2) first.');
  const status = $('secure-status');
  const bar = progressBar('secure-progress');
  const result = $('secure-result');
  result.textContent = '';
  delete result.dataset.accuracy;
  delete result.dataset.noiseBudget;
  secureState.last = null;
  bar.value = 0;

  const { model } = /** @type {SecureModelAnswer} */ (await api.secureModel(summary.id));
  const inputs = model.input_shape.reduce((a, b) => a * b, 1);
  const width = test.x.length / test.rows;
  if (inputs !== width) {
    throw new Error(`${summary.name} takes ${inputs} values per sample (${shape(model.input_shape)}); `
      + `the loaded data have ${width} (${shape(test.featureShape)}).`);
  }
  const key = await ensureKey();
  if (key.parameterSet !== summary.parameter_set) {
    throw new Error(`${summary.name} was published for ${summary.parameter_set}; this page encrypts with ${key.parameterSet}.`);
  }
  const modelJson = JSON.stringify(model);
  const batches = Math.ceil(test.rows / key.slots);
  /** @type {SecureResult} */
  const last = { modelId: summary.id, samples: test.rows, outputs: 0, predictions: [], values: [], noiseBudgetBits: Infinity,
    encryptSeconds: 0, nodeSeconds: 0, decryptSeconds: 0, uploadBytes: 0, downloadBytes: 0 };
  for (let b = 0; b < batches; b++) {
    const start = b * key.slots;
    const n = Math.min(key.slots, test.rows - start);
    const part = `${batches > 1 ? `batch ${b + 1} of ${batches}: ` : ''}`;
    status.textContent = `${part}encrypting ${n} samples in the page…`;
    const enc = await call('bfvEncrypt', { model: modelJson, data: test.x.slice(start * width, (start + n) * width), samples: n },
      { onProgress: (p) => { bar.value = (b + p) / batches; } });
    last.encryptSeconds += enc.seconds;
    last.uploadBytes += enc.data.length;
    status.textContent = `${part}the node computes on ${mb(enc.data.length)} of ciphertexts…`;
    const t0 = performance.now();
    const answer = await predictOnce(summary.id, key, enc.data);
    last.nodeSeconds += (performance.now() - t0) / 1000;
    last.downloadBytes += answer.length;
    const out = await call('bfvDecrypt', { model: modelJson, bytes: answer });
    if (out.samples !== n) throw new Error(`the node answered ${out.samples} samples for ${n}`);
    last.decryptSeconds += out.seconds;
    last.outputs = out.outputs;
    for (const p of out.predictions) last.predictions.push(p);
    for (const v of out.values) last.values.push(v);
    last.noiseBudgetBits = Math.min(last.noiseBudgetBits, out.noiseBudgetBits);
  }
  bar.value = 1;
  status.textContent = '';
  showResult(last, test, summary);
}

/**
 * Shows `last` (with its accuracy, when `test` has labels) and keeps it in `secureState`.
 * @param {SecureResult} last
 * @param {DataPart} test
 * @param {SecureModel} summary
 */
function showResult(last, test, summary) {
  const result = $('secure-result');
  if (test.labels && test.task === 'classification') {
    last.accuracy = last.predictions.filter((p, i) => p === test.labels[i]).length / test.rows;
    result.dataset.accuracy = String(last.accuracy);
  }
  secureState.last = last;
  result.dataset.noiseBudget = String(last.noiseBudgetBits);
  const what = last.accuracy === undefined ? `Predicted ${test.rows} samples` : `Accuracy on ${test.rows} test samples: ${(100 * last.accuracy).toFixed(1)} %`;
  result.textContent = `${what}, with ${summary.name} computed on encrypted data and decrypted here. `
    + `Noise budget left: ${last.noiseBudgetBits} bits (above 0, the decrypted integers are exact). `
    + `Encryption ${secs(last.encryptSeconds)} in the page, node ${secs(last.nodeSeconds)}, decryption ${secs(last.decryptSeconds)}; `
    + `${mb(last.uploadBytes)} sent, ${mb(last.downloadBytes)} received.`;
}
