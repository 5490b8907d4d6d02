// Secure mode (BFV, issue #30) end to end in the production page, on a node that needs sign-in:
// tenant A (the model's owner) publishes a quantized MNIST MLP (trained at test time by `more-node
// experiment secure --write-model`) shared with tenant B; the page,
// signed in as B, makes a BFV key in its Worker, uploads only the evaluation key, encrypts the
// bundled MNIST sample's test digits in the Worker, predicts on the node with A's model, decrypts
// in the Worker and shows the accuracy and the noise budget left. Then:
// - the decrypted integers equal the same model computed in plaintext (secure-model.mjs), exactly,
//   and the accuracy shown is theirs;
// - no request of the page carries the BFV secret key in any encoding (leak-search-secure.mjs),
//   and planted leaks of every encoding are caught by the same search;
// - no request carries the plaintext (pixel rows, decrypted outputs): nothing decrypted goes back;
// - every file of the node's data dir (blobs, SQLite database and WAL) holds no plaintext of the
//   request, and plaintext planted through the node's own routes is found there by the same search;
// - tenant C, without a grant, neither sees the model nor reaches it (404), in the page and the API;
// - when the node has dropped the page's evaluation key (a tenant keeps its newest 16), the page
//   uploads a new one of the same secret key and the prediction gives the same integers.
//
// Bounded: 200 test digits. The cost is set by the 784 input ciphertexts, not by the sample
// count, so this is a full batch's encryption work (and ~175 MB of upload).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { callWorker, createApiKey, launchBrowser, nodeBinary, openPage, pageState, plantProbes, repoRoot, screenshot, startNode, testPackageDir } from './helpers.mjs';
import { searchRequests } from './leak-search.mjs';
import { bfvKeyNeedles, dirSize, plaintextNeedles, searchDir } from './leak-search-secure.mjs';
import { startRecordingProxy } from './recording-proxy.mjs';
import { argmaxRows, forwardPlaintext, quantize } from './secure-model.mjs';

const OWNER = 'vendor-a', CALLER = 'hospital-b', OTHER = 'hospital-c';
const TEST_PER_DIGIT = 20;
const SEARCHED_SAMPLES = 20; // samples whose plaintext is searched for in the data dir

let node, proxy, browser, page, keys, model, published;
let flow; // what the page sent (the proxy's record), up to the end of the secure prediction
let result; // the page's secureState.last

const bearer = (key) => ({ authorization: `Bearer ${key}` });
async function apiCall(method, path, key, body) {
  const headers = bearer(key);
  if (body !== undefined && !(body instanceof Uint8Array)) headers['content-type'] = 'application/json';
  if (body instanceof Uint8Array) headers['content-type'] = 'application/octet-stream';
  const res = await fetch(`${node.url}/v1${path}`, { method, headers, body: body instanceof Uint8Array || body === undefined ? body : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

/** The page's secure-card state (secure.js), read through `fn` in the page (no eval: see pageState). */
async function secureState(p, fn = (s) => s) {
  const state = await p.evaluateHandle(async () => (await import('/secure.js')).secureState);
  try { return await state.evaluate(fn); } finally { await state.dispose(); }
}

async function signIn(p, key, tenant) {
  await p.fill('#api-key', key);
  await p.click('#api-key-form button[type=submit]');
  await p.waitForSelector(`#auth-status[data-tenant="${tenant}"]`);
}

/** Console messages that report a Content-Security-Policy violation. */
function watchCsp(p) {
  p.cspViolations = [];
  p.on('console', (m) => { if (/Content Security Policy|Content-Security-Policy/i.test(m.text())) p.cspViolations.push(m.text()); });
}

before(async () => {
  node = await startNode({ auth: true });
  // The page talks to the node through the recording proxy, which also serves the test build of
  // the wasm client (the ~150 MB predict body is too large for Playwright's capture).
  proxy = await startRecordingProxy(node.url, { pkgDir: testPackageDir });
  keys = {};
  for (const t of [OWNER, CALLER, OTHER]) keys[t] = await createApiKey(node.dataDir, t, 'trainer');
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await proxy?.close();
  await node?.stop();
});

/**
 * The owner's model, trained at test time by `more-node experiment secure` (plaintext training on
 * 6,000 official MNIST training images, one epoch, 8-bit post-training quantization; ~3 s): an MLP
 * 784 → 64 → x² → 10, the quantized model JSON the owner publishes.
 */
async function trainOwnerModel() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'more-secure-model-'));
  try {
    const file = path.join(dir, 'mnist-mlp.json');
    await promisify(execFile)(nodeBinary, ['experiment', 'secure', '--data', 'mnist', '--arch', 'mlp', '--epochs', '1',
      '--fine-tune-epochs', '0', '--train-limit', '6000', '--test-limit', '100', '--write-model', file, '--quiet'], { cwd: repoRoot });
    return JSON.parse(await readFile(file, 'utf8'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('tenant A publishes; the page signed in as B encrypts, predicts with A\'s model, decrypts and shows accuracy', { timeout: 300_000 }, async (t) => {
  model = await trainOwnerModel();
  t.diagnostic(`owner's model: input ${model.input_shape}, layers ${model.layers.map((l) => (typeof l === 'string' ? l : Object.keys(l)[0])).join(' → ')}`);
  const pub = await apiCall('POST', '/secure/models', keys[OWNER], { name: 'MNIST digits (vendor A)', model, grants: [CALLER] });
  assert.equal(pub.status, 201, pub.text);
  published = pub.json;
  assert.equal(published.owner_tenant, OWNER);
  assert.deepEqual(published.grants, [CALLER]);
  assert.deepEqual(published.input_shape, [784]);

  page = await openPage(browser, proxy.url, { testPackage: false });
  watchCsp(page);
  await signIn(page, keys[CALLER], CALLER);
  await page.fill('#sample-train', '1');
  await page.fill('#sample-test', String(TEST_PER_DIGIT));
  await page.click('#data-sample');
  await page.waitForFunction((n) => document.querySelector('#data-summary').textContent.includes(`${n} test samples`), 10 * TEST_PER_DIGIT);

  // The card lists A's model (shared with B) without a refresh: signing in listed it.
  await page.waitForSelector(`#secure-model option[value="${published.id}"]`, { state: "attached" });
  assert.match(await page.textContent('#secure-model'), new RegExp(`from ${OWNER}`));
  assert.match(await page.textContent('#secure-note'), /never their data or the results/);
  await page.selectOption('#secure-model', published.id);
  assert.match(await page.textContent('#secure-model-info'), /Input 784, 10 outputs/);

  const t0 = Date.now();
  await page.click('#secure-predict');
  // The progress bar moves while the Worker encrypts (the page's thread stays free to show it).
  const seen = new Set();
  for (let done = false; !done;) {
    const s = await page.evaluate(() => ({ p: document.querySelector('#secure-progress').value,
      done: document.querySelector('#secure-result').dataset.accuracy !== undefined || document.querySelector('#secure-error').textContent !== '' }));
    seen.add(s.p);
    done = s.done;
    if (Date.now() - t0 > 240_000) throw new Error('no result in 240 s');
    if (!done) await page.waitForTimeout(150);
  }
  const between = [...seen].filter((p) => p > 0 && p < 1);
  assert.ok(between.length >= 2, `progress shown while encrypting: ${[...seen].join(', ')}`);
  assert.equal(await page.textContent('#secure-error'), '', 'no error');
  const text = await page.textContent('#secure-result');
  t.diagnostic(`${text} (${Date.now() - t0} ms in all)`);
  result = await secureState(page, (s) => s.last);
  const key = await secureState(page, (s) => s.key);
  t.diagnostic(`evaluation key ${key.bytes} bytes (${key.parameterSet}), key made in ${key.seconds.toFixed(2)} s; `
    + `encryption ${result.encryptSeconds.toFixed(2)} s in the Worker, node ${result.nodeSeconds.toFixed(2)} s, decryption ${result.decryptSeconds.toFixed(3)} s; `
    + `${result.uploadBytes} bytes up, ${result.downloadBytes} down`);

  // The decrypted integers are the model's plaintext integers, exactly, for every sample.
  const data = await pageState(page, (s) => ({ x: Array.from(s.data.test.x), labels: Array.from(s.data.test.labels), rows: s.data.test.rows }));
  assert.equal(data.rows, 10 * TEST_PER_DIGIT);
  const expected = forwardPlaintext(model, quantize(model, Float32Array.from(data.x), data.rows), data.rows);
  assert.equal(result.samples, data.rows);
  assert.equal(result.outputs, 10);
  const differ = result.values.filter((v, i) => v !== expected[i]).length;
  assert.equal(differ, 0, `${differ} of ${expected.length} decrypted integers differ from the plaintext model's`);
  assert.deepEqual(result.predictions, argmaxRows(expected, 10));
  const accuracy = argmaxRows(expected, 10).filter((p, i) => p === data.labels[i]).length / data.rows;
  assert.equal(result.accuracy, accuracy);
  assert.equal(Number(await page.getAttribute('#secure-result', 'data-accuracy')), accuracy);
  assert.match(text, new RegExp(`Accuracy on ${data.rows} test samples: ${(100 * accuracy).toFixed(1)} %`));
  assert.ok(accuracy > 0.8, `the trained model is far above chance (10 %): ${accuracy}`);
  assert.ok(result.noiseBudgetBits > 0, `noise budget left ${result.noiseBudgetBits}`);
  assert.match(text, new RegExp(`Noise budget left: ${result.noiseBudgetBits} bits`));
  assert.equal(await page.getAttribute('#secure-progress', 'value'), '1');
  await screenshot(page, 'secure-predict', '#secure');

  // What the page sent in the flow: the list, the model, the evaluation key, one predict.
  flow = [...proxy.requests];
  const paths = flow.map((r) => new URL(r.url).pathname);
  assert.ok(paths.includes('/pkg/more_wasm_bg.wasm'), 'the Worker\'s requests are recorded (only the Worker loads the wasm)');
  const api = flow.map((r) => `${r.method} ${new URL(r.url).pathname}`).filter((s) => s.includes('/v1/secure'));
  t.diagnostic(`secure requests: ${api.join(', ')}`);
  assert.deepEqual(api.filter((s) => s.startsWith('POST')), ['POST /v1/secure/evaluation-keys', `POST /v1/secure/models/${published.id}/predict`]);
  const predictBody = flow.find((r) => new URL(r.url).pathname.endsWith('/predict'))?.body;
  assert.equal(predictBody?.length, result.uploadBytes, 'the predict body was captured whole (the leak search reads it)');
  assert.equal(predictBody.subarray(0, 4).toString('latin1'), 'MSB1');
  assert.deepEqual(page.errors, []);
  assert.deepEqual(page.cspViolations, [], 'the page runs under the node\'s Content-Security-Policy');
});

test('the BFV secret key never appears in any request; planted leaks are caught', { timeout: 300_000 }, async (t) => {
  assert.ok(flow, 'needs the first test');
  const { raw, moduli } = await callWorker(page, 'bfvRawKeyHex');
  const needles = bfvKeyNeedles(Buffer.from(raw, 'hex'), { moduli });
  const bodyBytes = flow.reduce((s, r) => s + (r.body?.length ?? 0), 0);
  const t0 = Date.now();
  assert.deepEqual(searchRequests(flow, needles), []);
  t.diagnostic(`${flow.length} requests, ${bodyBytes} body bytes searched for ${needles.length} encodings of the BFV secret key in ${Date.now() - t0} ms: no hit`);
  assert.deepEqual(page.websockets, [], 'no other channel (WebSocket) was opened');

  // Planted: each needle in its own request from the page (body; text forms also in the URL) and
  // two from the Worker that holds the key; each must be flagged as that needle.
  const before = proxy.requests.length;
  const probes = needles.flatMap((n, i) => [
    { id: `b${i}`, needle: n.name, body: n.bytes.toString('hex') },
    ...(/hex|HEX|base64|decimal 0/.test(n.name) ? [{ id: `u${i}`, needle: n.name, query: n.bytes.toString('latin1') }] : []),
  ]);
  await plantProbes(page, probes);
  const worker = page.workers().find((w) => w.url().endsWith('/worker.js'));
  assert.ok(worker, 'the key worker');
  const workerProbes = ['bfv raw export', needles.find((n) => / i8$/.test(n.name)).name]
    .map((name, i) => ({ id: `k${i}`, needle: name, bytes: needles.find((n) => n.name === name).bytes.toString('hex') }));
  await worker.evaluate(async (probes) => {
    for (const p of probes) {
      await fetch('/v1/health', { method: 'POST', headers: { 'x-probe': p.id }, body: new Uint8Array(p.bytes.match(/../g).map((h) => parseInt(h, 16))) });
    }
  }, workerProbes);
  const planted = proxy.requests.slice(before);
  const byId = new Map(planted.filter((r) => r.headers['x-probe']).map((r) => [r.headers['x-probe'], r]));
  const missed = [];
  for (const p of [...probes, ...workerProbes]) {
    const r = byId.get(p.id);
    if (!r) { missed.push(`${p.id} ${p.needle}: not captured`); continue; }
    if (!searchRequests([r], needles).some((h) => h.needle === p.needle)) missed.push(`${p.id} ${p.needle}: not flagged`);
  }
  t.diagnostic(`planted: ${probes.length} from the page, ${workerProbes.length} from the Worker; caught ${probes.length + workerProbes.length - missed.length}`);
  assert.deepEqual(missed, []);
});

test('nothing decrypted is sent, and the node stores no plaintext of the request; planted plaintext is found', { timeout: 300_000 }, async (t) => {
  assert.ok(result, 'needs the first test');
  const x = Float32Array.from(await pageState(page, (s) => Array.from(s.data.test.x)));
  const needles = plaintextNeedles({ x, width: 784, samples: SEARCHED_SAMPLES, model, values: result.values, outputs: result.outputs, predictions: result.predictions });
  // The page's requests carry no plaintext: no pixel row, no decrypted output or prediction.
  assert.deepEqual(searchRequests(flow, needles), []);

  const size = await dirSize(node.dataDir);
  const t0 = Date.now();
  assert.deepEqual(await searchDir(node.dataDir, needles), []);
  t.diagnostic(`data dir: ${size.files} files, ${size.bytes} bytes searched for ${needles.length} plaintext needles in ${Date.now() - t0} ms: no hit`);

  // Planted through the node's own routes, as B: the pixel rows as the planes of a (forged)
  // compact tensor uploaded as a dataset's features (a blob), and sample 0's decrypted outputs as
  // a dataset's name (a database row). The same search finds both.
  const rows = SEARCHED_SAMPLES;
  const ds = await apiCall('POST', '/datasets', keys[CALLER], { name: result.values.slice(0, result.outputs).join(','), task: 'classification', num_classes: 10 });
  assert.equal(ds.status, 201, ds.text);
  const features = await apiCall('PUT', `/datasets/${ds.json.id}/features`, keys[CALLER], compactTensor([rows, 1, 28, 28], x.subarray(0, rows * 784)));
  assert.ok(features.status < 300, features.text);
  const hits = await searchDir(node.dataDir, needles);
  const found = hits.flatMap((h) => h.needles);
  t.diagnostic(`planted: found in ${hits.map((h) => `${h.file} (${h.needles.length})`).join(', ')}`);
  assert.ok(found.includes('sample 0 outputs decimal 0'), 'the outputs in the database');
  for (let s = 0; s < rows; s++) assert.ok(found.some((n) => n.startsWith(`sample ${s} pixels`) && n.endsWith('f32le')), `sample ${s}'s pixels in a blob`);
});

test('tenant C without a grant neither sees nor reaches the model (404), in the API and the page', { timeout: 120_000 }, async () => {
  assert.ok(published, 'needs the first test');
  const list = await apiCall('GET', '/secure/models', keys[OTHER]);
  assert.equal(list.status, 200, list.text);
  const ids = (Array.isArray(list.json) ? list.json : list.json.models).map((m) => m.id);
  assert.ok(!ids.includes(published.id), 'not listed for C');
  assert.equal((await apiCall('GET', `/secure/models/${published.id}`, keys[OTHER])).status, 404);
  // Predict with a well-formed evaluation key id (B's): 404 all the same, and no result.
  const keyId = await secureState(page, (s) => s.key.id);
  const predict = await apiCall('POST', `/secure/models/${published.id}/predict?evaluation_key=${keyId}`, keys[OTHER], new Uint8Array(16));
  assert.equal(predict.status, 404, predict.text);
  // B (granted) still lists it: the 404s are about C.
  const granted = await apiCall('GET', '/secure/models', keys[CALLER]);
  assert.ok((Array.isArray(granted.json) ? granted.json : granted.json.models).some((m) => m.id === published.id));

  const other = await openPage(browser, proxy.url, { testPackage: false });
  watchCsp(other);
  await signIn(other, keys[OTHER], OTHER);
  await other.waitForFunction(() => document.querySelector('#secure-model option')?.textContent === 'none shared with this tenant yet');
  assert.equal(await other.locator(`#secure-model option[value="${published.id}"]`).count(), 0);
  assert.deepEqual(other.errors, []);
  await other.context().close();
});

test('an evaluation key the node has dropped is uploaded again, and the prediction goes through', { timeout: 120_000 }, async (t) => {
  assert.ok(result, 'needs the first test');
  // The node keeps a tenant's newest 16 evaluation keys: 16 more uploads of B drop the page's.
  const { hex } = await callWorker(page, 'bfvEvaluationKey');
  const bytes = new Uint8Array(Buffer.from(hex, 'hex'));
  for (let i = 0; i < 16; i++) assert.equal((await apiCall('POST', '/secure/evaluation-keys', keys[CALLER], bytes)).status, 201);
  const before = proxy.requests.length;
  await page.click('#secure-predict');
  await page.waitForFunction(() => document.querySelector('#secure-result').dataset.accuracy !== undefined
    || document.querySelector('#secure-error').textContent !== '', null, { timeout: 100_000 });
  assert.equal(await page.textContent('#secure-error'), '', 'no error');
  const sent = proxy.requests.slice(before).map((r) => `${r.method} ${new URL(r.url).pathname}`).filter((s) => s.startsWith('POST /v1/secure'));
  t.diagnostic(sent.join(', '));
  assert.deepEqual(sent.map((s) => s.replace(/[0-9a-f]{32}/, 'ID')),
    ['POST /v1/secure/models/ID/predict', 'POST /v1/secure/evaluation-keys', 'POST /v1/secure/models/ID/predict']);
  const again = await secureState(page, (s) => s.last);
  assert.deepEqual(again.values, result.values, 'the same integers as the first prediction');
});

/** A compact (representation 1) f32 tensor message (shared/WIRE_FORMAT.md) whose `a` plane holds
 * `values` and whose `b` plane is zero: what a node storing a plaintext would hold. */
function compactTensor(shape, values) {
  const n = shape.reduce((a, b) => a * b, 1);
  const h = 24 + 8 * shape.length + 32;
  const out = Buffer.alloc(h + 8 * n);
  out.write('MORE', 0, 'latin1');
  out.writeUInt16LE(1, 4);
  out.writeUInt8(1, 6); // compact
  out.writeUInt8(0, 7); // f32
  out.writeUInt16LE(shape.length, 8);
  out.writeUInt32LE(h, 12);
  out.writeBigUInt64LE(BigInt(out.length), 16);
  shape.forEach((d, i) => out.writeBigUInt64LE(BigInt(d), 24 + 8 * i));
  [1, 0.5, 0.25, -1].forEach((v, i) => out.writeDoubleLE(v, 24 + 8 * shape.length + 8 * i));
  values.forEach((v, i) => out.writeFloatLE(v, h + 4 * i));
  return new Uint8Array(out);
}
