// End to end on real MNIST digits, on the production page with the test build of the wasm client
// (helpers.mjs): key generation, encryption in the Worker, upload, encrypted training on the real
// compute node, prediction, decryption, model download, key export and the remembered (wrapped)
// key. Then: the decrypted losses and the accuracy equal the native plaintext reference run with
// the same data, seeds and order; plaintext from the node is never shown as decrypted; and the key
// never leaves the page, checked by searching every request for the key in every encoding
// (leak-search.mjs), after planted leaks of each encoding were caught by the same search.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { answerPassphrase, callWorker, generateKey, pageFixture, pageState, plantProbes, rawKey, repoRoot, screenshot, snapshotRequests, uploadData, withoutHealthPolls } from './helpers.mjs';
import { base64Forms, keyNeedles, searchBytes, searchRequests } from './leak-search.mjs';
import { plainBundle, plainTensor } from './wire.mjs';

const run = promisify(execFile);
const SEED = 7;
// The page's defaults for the bundled MNIST sample (index.html), read from the page below: 300
// training and 100 test digits per class, mnist_mlp, 5 epochs, batch 32, SGD lr 0.05 momentum 0.9.
// They reach ~94 % on the 1,000 test digits; the earlier defaults (60 + 20 per class, 3 epochs,
// lr 0.1, no momentum) reached 79 % (81.5 % on 100 test digits per class) and fail MIN_ACCURACY.
// OLD_DEFAULTS=1 runs the test with those to show that.
const MIN_ACCURACY = 0.9;
const OLD = process.env.OLD_DEFAULTS === '1';
// Browser (decrypted, encrypted f32 training) vs native plaintext f32 losses, absolute, every
// epoch; see the test for why.
const LOSS_TOL = 5e-3;

let fingerprint;
const wrapped = {}; // the downloaded key file and the key-store record, for the request search
let flowRequestCount = 0;
let firstModelId, firstAccuracy; // the model trained in the first test, for the reconnect test

const fx = pageFixture();

test('MNIST: keygen, encrypt in worker, upload, train, predict, decrypt; losses and accuracy match native', { timeout: 900_000 }, async (t) => {
  fingerprint = await generateKey(fx.page);

  if (OLD) { await fx.page.fill('#sample-train', '60'); await fx.page.fill('#sample-test', '20'); }
  await fx.page.click('#data-sample');
  await fx.page.waitForFunction((re) => new RegExp(re).test(document.querySelector('#data-summary').textContent),
    OLD ? '600 training and 200 test' : '3000 training and 1000 test');

  const t0 = Date.now();
  const upload = await uploadData(fx.page, { timeout: 120_000 });
  t.diagnostic(`${upload} (${Date.now() - t0} ms)`);

  assert.equal(await fx.page.inputValue('#preset'), 'mnist_mlp', 'the default model for the MNIST sample');
  // The manual settings, which the native reference below repeats (the automatic mode, the page's
  // default since issue #29, is tested in defaults.test.mjs and clinical.test.mjs).
  await fx.page.selectOption('#train-mode', 'manual');
  if (OLD) { await fx.page.fill('#epochs', '3'); await fx.page.fill('#lr', '0.1'); await fx.page.fill('#momentum', '0'); }
  const EPOCHS = Number(await fx.page.inputValue('#epochs')), BATCH = Number(await fx.page.inputValue('#batch'));
  const LR = Number(await fx.page.inputValue('#lr')), MOMENTUM = Number(await fx.page.inputValue('#momentum'));
  t.diagnostic(`page defaults: ${EPOCHS} epochs, batch ${BATCH}, lr ${LR}, momentum ${MOMENTUM}`);
  if (!OLD) assert.deepEqual([EPOCHS, BATCH, LR, MOMENTUM], [5, 32, 0.05, 0.9]);
  await fx.page.selectOption('#loss', 'cross_entropy');
  const t1 = Date.now();
  await fx.page.click('#train-start');
  await fx.page.waitForSelector('#train-status[data-state]', { timeout: 800_000 });
  const trainStatus = await fx.page.textContent('#train-status');
  assert.equal(await fx.page.getAttribute('#train-status', 'data-state'), 'completed', `${trainStatus}\n${fx.node.log().slice(-2000)}`);
  const losses = await pageState(fx.page, (s) => s.losses);
  t.diagnostic(`encrypted training ${EPOCHS} epochs: ${Date.now() - t1} ms; decrypted losses ${losses.join(', ')}`);
  assert.equal(losses.length, EPOCHS);
  assert.ok(losses.every(Number.isFinite) && losses.at(-1) < losses[0], `losses should fall: ${losses}`);

  await fx.page.selectOption('#predict-where', 'node');
  await fx.page.click('#predict-test');
  await fx.page.waitForFunction(() => /Accuracy|failed/.test(document.querySelector('#accuracy').textContent), null, { timeout: 120_000 });
  const accText = await fx.page.textContent('#accuracy');
  const accuracy = await pageState(fx.page, (s) => s.accuracy);
  firstAccuracy = accuracy;
  firstModelId = await pageState(fx.page, (s) => s.modelId);
  t.diagnostic(`browser (encrypted) ${accText}`);
  assert.ok(accuracy >= MIN_ACCURACY, `${accText} (defaults must reach ${100 * MIN_ACCURACY} %)`);
  assert.match(accText, /baseline/);
  assert.equal(await fx.page.locator('#report table.confusion tbody tr').count(), 10, 'confusion matrix 10×10');
  await screenshot(fx.page, 'mnist-predict-node', 'section[aria-labelledby=predict-title]');

  // Private prediction: the page decrypts the model once (one GET of its encrypted weights), then
  // predicts the same test set in wasm and sends nothing. Same logits as the node's encrypted
  // predictions decrypted, up to f32 rounding of the encrypted arithmetic and of decryption.
  const nodePred = await pageState(fx.page, (s) => s.lastPrediction);
  assert.equal(nodePred.where, 'node');
  const beforeLoad = fx.page.requests.length;
  await fx.page.click('#model-local');
  await fx.page.waitForFunction(() => /decrypted into this page|not decrypted/.test(document.querySelector('#local-status').textContent
    + document.querySelector('#model-error').textContent));
  assert.equal(await fx.page.textContent('#model-error'), '');
  assert.doesNotMatch(await fx.page.textContent('#local-status'), /[0-9a-f]{32}/, 'finding 10: the model by its name, not its id');
  assert.deepEqual(withoutHealthPolls(fx.page.requests.slice(beforeLoad)).map((r) => `${r.method()} ${new URL(r.url()).pathname.replace(/\/models\/[^/]+/, '/models/ID')}`),
    ['GET /v1/models/ID/weights'], 'loading the model into the page fetches only its encrypted weights');
  const beforeLocal = fx.page.requests.length;
  await fx.page.selectOption('#predict-where', 'local');
  await fx.page.click('#predict-test');
  await fx.page.waitForFunction(() => document.querySelector('#accuracy').dataset.where === 'local'
    || /failed/.test(document.querySelector('#accuracy').textContent));
  await fx.page.waitForTimeout(300); // a request would have started by now
  // (The page's health poll, a bare GET /v1/health, pauses during the prediction but may fall in the
  // 300 ms after it; it is left out here, see helpers.mjs withoutHealthPolls.)
  assert.deepEqual(withoutHealthPolls(fx.page.requests.slice(beforeLocal)).map((r) => r.url()), [], 'local prediction sends nothing');
  const localPred = await pageState(fx.page, (s) => s.lastPrediction);
  assert.equal(localPred.where, 'local');
  const localAcc = await pageState(fx.page, (s) => s.accuracy);
  let maxDiff = 0, maxLogit = 0, argmaxSame = 0;
  localPred.outputs.forEach((row, i) => {
    row.forEach((v, k) => { maxDiff = Math.max(maxDiff, Math.abs(v - nodePred.outputs[i][k])); maxLogit = Math.max(maxLogit, Math.abs(v)); });
    const am = (r) => r.indexOf(Math.max(...r));
    if (am(row) === am(nodePred.outputs[i])) argmaxSame++;
  });
  const localLine = `local (in-page) vs node (encrypted) prediction on ${localPred.outputs.length} test digits: max |logit diff| ${maxDiff.toExponential(2)} `
    + `(largest |logit| ${maxLogit.toFixed(2)}), argmax equal on ${argmaxSame}; in-page ${localPred.ms.toFixed(0)} ms vs node ${nodePred.ms.toFixed(0)} ms`;
  console.log(localLine);
  t.diagnostic(localLine);
  // Tolerance: the node computes the same f32 forward pass on compact-form ciphertexts; rounding
  // of that arithmetic and of decryption (cond(S)² · eps ≈ 1.5e-6 relative) on logits of size
  // ~10 gives differences around 1e-5. 1e-3 absolute leaves room and still fails for a different
  // model (other weights move logits by whole units).
  assert.ok(maxDiff <= 1e-3, `max |logit diff| ${maxDiff}`);
  assert.equal(argmaxSame, localPred.outputs.length, 'argmax equal for every sample');
  assert.equal(localAcc, accuracy);

  // The drawing pad, prepared like MNIST (ink box into 20×20, centre of mass at the centre of
  // 28×28), predicted here: a stroke drawn off-centre lands centred, and nothing is sent.
  await fx.page.locator('#pad').scrollIntoViewIfNeeded();
  const box = await fx.page.locator('#pad').boundingBox();
  await fx.page.mouse.move(box.x + 40, box.y + 30);
  await fx.page.mouse.down();
  for (let k = 1; k <= 10; k++) await fx.page.mouse.move(box.x + 45 + k, box.y + 30 + 10 * k);
  await fx.page.mouse.up();
  const beforePad = fx.page.requests.length;
  await fx.page.click('#pad-predict');
  await fx.page.waitForFunction(() => document.querySelectorAll('#pad-probs li').length === 10 || document.querySelector('#pad-error').textContent);
  assert.equal(await fx.page.textContent('#pad-error'), '');
  assert.deepEqual(withoutHealthPolls(fx.page.requests.slice(beforePad)).map((r) => r.url()), [], 'the drawing was predicted in the page');
  assert.ok(await fx.page.isVisible('#pad-input-view'), 'the 28×28 input is shown');
  const com = await pageState(fx.page, (s) => {
    let m = 0, mx = 0, my = 0;
    s.padInput.forEach((v, i) => { m += v; mx += v * (i % 28 + 0.5); my += v * (Math.floor(i / 28) + 0.5); });
    return [mx / m, my / m];
  });
  t.diagnostic(`drawing: centre of mass of the 28×28 input ${com.map((v) => v.toFixed(2)).join(', ')}`);
  assert.ok(com.every((v) => Math.abs(v - 14) <= 0.5), `centre of mass ${com}`);
  await screenshot(fx.page, 'mnist-predict-local', 'section[aria-labelledby=predict-title]');

  // The model can be downloaded and decrypted into safetensors in the page.
  const [download] = await Promise.all([fx.page.waitForEvent('download'), fx.page.click('#model-download')]);
  const st = await readFile(await download.path());
  const headerLen = Number(st.readBigUInt64LE(0));
  const header = JSON.parse(st.subarray(8, 8 + headerLen).toString());
  assert.deepEqual(header['layers.1.weight'].shape, [784, 128], 'decrypted safetensors model');
  // Uploaded in shards (issue #32): the shard bodies hold the features' ciphertext and more.
  const shardBytes = fx.page.requests.filter((r) => /\/v1\/datasets\/.+\/shards\?index=/.test(r.url()))
    .reduce((sum, r) => sum + (r.postDataBuffer()?.length ?? 0), 0);
  assert.ok(shardBytes > 600 * 784 * 8, 'features were uploaded');

  // Native plaintext reference with the same data, seeds, hyper-parameters and batch order.
  const job = await pageState(fx.page, (s) => {
    const { train, test } = s.data;
    return { train_x: Array.from(train.x), train_y: Array.from(train.y), test_x: Array.from(test.x), test_labels: Array.from(test.labels),
      feature_shape: train.featureShape, outputs: train.targetDim };
  });
  Object.assign(job, { preset: 'mnist_mlp', model_seed: 0, epochs: EPOCHS, batch_size: BATCH,
    optimizer: { type: 'sgd', learning_rate: LR, momentum: MOMENTUM }, loss: 'cross_entropy', seed: SEED });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'more-ref-'));
  await writeFile(path.join(dir, 'job.json'), JSON.stringify(job));
  const exe = path.join(repoRoot, 'target/release/examples/native_reference');
  const { stdout } = await run(exe, [path.join(dir, 'job.json')], { maxBuffer: 1 << 20 });
  const native = JSON.parse(stdout);
  const diffs = losses.map((l, i) => Math.abs(l - native.plain_losses[i]));
  t.diagnostic(`native plaintext reference: accuracy ${(100 * native.accuracy).toFixed(1)} %, losses ${native.plain_losses.join(', ')}; `
    + `|browser - native| per epoch ${diffs.map((d) => d.toExponential(2)).join(', ')}`);
  // Tolerance. Both runs are f32 with the same model seed, shuffling seed (per-epoch order from
  // `seed`, more_core::nn::Trainer) and hyper-parameters, so the encrypted run computes the same
  // numbers up to (a) rounding of the compact-form f32 arithmetic and of decryption (cond(S)² ·
  // eps ≈ 1.5e-6 relative): measured ≤ 4e-7 per epoch; and (b) ties: the encrypted ReLU
  // derivative treats a pre-activation within rounding noise of 0 as 0 (sign(0) → ½, the
  // noise-aware sign of more_core), where plaintext f32 takes its sign, so a near-zero
  // pre-activation changes one gradient a little, and training carries that on. Whether it
  // happens depends on the random key and shadows. On this data it shifts epochs 2 and 3 by
  // 6.2e-4 and 1.24e-3 in most runs (measured in the browser, and natively with
  // Model<f32, Compact> on 6 keys: 5 of 6), and by ≤ 4e-7 otherwise. 5e-3 is 4x that; a
  // different batch order (seed 8) moves epoch 1 by 1.8e-2 and epoch 2 by 2.8e-2, another
  // model initialization by 0.18, so those still fail.
  // With the current defaults (momentum 0.9, 5 epochs) a tie, once it happens, is carried on by
  // the momentum and grows: measured ≤ 3e-7 on all 5 epochs in one run, and in another 2.1e-3,
  // 2.4e-3, 1.2e-2 on epochs 3, 4, 5 (accuracy 93.6 % vs 94.2 %). So epochs 1 and 2 keep LOSS_TOL
  // (a different batch order or initialization still fails there), later epochs LATE_LOSS_TOL.
  const LATE_LOSS_TOL = 5e-2;
  diffs.forEach((d, i) => {
    const tol = i < 2 ? LOSS_TOL : LATE_LOSS_TOL;
    assert.ok(d <= tol, `epoch ${i + 1}: browser ${losses[i]} vs native ${native.plain_losses[i]} (|diff| ${d} > ${tol})`);
  });
  assert.ok(Math.abs(native.accuracy - accuracy) <= 0.02, `browser ${accuracy} vs native ${native.accuracy}`);

  // Encryption speed: the same call (encrypt_compact + wire encoding) on the same values, one
  // warm-up, median of 5, in wasm in the Worker and natively (native_reference).
  const wasm = await callWorker(fx.page, 'benchEncrypt', {
    data: Float32Array.from(job.train_x),
    shape: [job.train_x.length / 784, 784],
  });
  const line = `encryption speed: browser wasm ${(wasm.valuesPerSecond / 1e6).toFixed(2)} M values/s `
    + `(${wasm.values} values in ${(wasm.seconds * 1000).toFixed(0)} ms), native ${(native.encrypt_values_per_second / 1e6).toFixed(2)} M values/s `
    + `(${(native.encrypt_seconds * 1000).toFixed(0)} ms), ratio ${(native.encrypt_values_per_second / wasm.valuesPerSecond).toFixed(2)}x`;
  console.log(line);
  t.diagnostic(line);
  assert.deepEqual(fx.page.errors, []);
});

test('key export and the remembered key: only the wrapped format (MOREWKEY), never the raw key', async (t) => {
  const raw = await rawKey(fx.page);
  const needles = keyNeedles(raw);

  const [download] = await Promise.all([fx.page.waitForEvent('download'), fx.page.click('#key-export').then(() => answerPassphrase(fx.page, 'export passphrase'))]);
  wrapped.file = await readFile(await download.path());
  assert.equal(wrapped.file.subarray(0, 8).toString('latin1'), 'MOREWKEY');
  assert.deepEqual(searchBytes(wrapped.file, needles), []);

  await fx.page.click('#key-save');
  await answerPassphrase(fx.page, 'store passphrase');
  await fx.page.waitForSelector('#key-load:not([hidden])');
  // Everything the page stored: every IndexedDB database and store, localStorage, sessionStorage,
  // cookies, Cache Storage. Byte arrays come back as hex, the rest as JSON text.
  const stored = await fx.page.evaluate(async () => {
    const hex = (u8) => Array.from(u8, (b) => b.toString(16).padStart(2, '0')).join('');
    const blobs = [];
    const texts = [];
    const walk = (v) => {
      if (v instanceof Uint8Array || v instanceof ArrayBuffer) blobs.push(hex(new Uint8Array(v)));
      else if (ArrayBuffer.isView(v)) blobs.push(hex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)));
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
      else texts.push(String(v));
    };
    const records = {};
    for (const { name } of await indexedDB.databases()) {
      const db = await new Promise((resolve, reject) => { const r = indexedDB.open(name); r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
      for (const store of db.objectStoreNames) {
        const [keys, values] = await Promise.all(['getAllKeys', 'getAll'].map((m) => new Promise((resolve, reject) => {
          const r = db.transaction(store).objectStore(store)[m]();
          r.onsuccess = () => resolve(r.result);
          r.onerror = () => reject(r.error);
        })));
        keys.forEach((k, i) => { records[`${name}/${store}/${k}`] = values[i]; walk(k); walk(values[i]); });
      }
      db.close();
    }
    for (const s of [localStorage, sessionStorage]) for (let i = 0; i < s.length; i++) texts.push(s.key(i), s.getItem(s.key(i)));
    texts.push(document.cookie, ...(await caches.keys()));
    const current = Object.values(records).find((r) => r?.wrapped); // more-keys/keys/<fingerprint>
    return { blobs, texts, current: current && { fingerprint: current.fingerprint, wrapped: hex(current.wrapped) }, names: Object.keys(records) };
  });
  t.diagnostic(`stored: ${stored.names.join(', ')}; ${stored.blobs.length} byte arrays, ${stored.texts.length} texts`);
  assert.deepEqual(stored.names, [`more-keys/keys/${fingerprint}`]);
  assert.equal(stored.current.fingerprint, fingerprint);
  wrapped.stored = Buffer.from(stored.current.wrapped, 'hex');
  assert.equal(wrapped.stored.subarray(0, 8).toString('latin1'), 'MOREWKEY');
  for (const b of stored.blobs) assert.deepEqual(searchBytes(Buffer.from(b, 'hex'), needles), []);
  assert.deepEqual(searchBytes(Buffer.from(stored.texts.join('\n')), needles), []);
  // Planted: the same check on the raw export itself finds it.
  assert.ok(searchBytes(raw, needles).length > 0);

  // The stored record is the key: unlocking it gives the same key back.
  await fx.page.click('#key-load');
  await answerPassphrase(fx.page, 'store passphrase');
  await fx.page.waitForFunction((fp) => document.querySelector('#fingerprint').textContent === fp, fingerprint);
  assert.ok((await rawKey(fx.page)).equals(raw), 'the unlocked key equals the generated one');
  assert.deepEqual(fx.page.errors, []);
});

test('plaintext from the node is never shown as decrypted: predict, model, losses', { timeout: 300_000 }, async (t) => {
  const notEncrypted = /the node sent a plaintext tensor where a ciphertext was expected/;
  const labels = await pageState(fx.page, (s) => Array.from(s.data.test.labels));
  const isApi = (re) => (u) => re.test(new URL(u).pathname);

  // Predictions: one-hot logits of the true labels, which would read as 100 % accuracy.
  await fx.page.route(isApi(/^\/v1\/models\/[^/]+\/predict$/), (route) => route.fulfill({
    status: 200, contentType: 'application/octet-stream',
    body: plainTensor([labels.length, 10], labels.flatMap((l) => Array.from({ length: 10 }, (_, k) => (k === l ? 10 : 0)))),
  }));
  await fx.page.selectOption('#predict-where', 'node');
  await fx.page.click('#predict-test');
  await fx.page.waitForFunction(() => /Accuracy|failed/.test(document.querySelector('#accuracy').textContent));
  const acc = await fx.page.textContent('#accuracy');
  t.diagnostic(acc);
  assert.match(acc, /^Prediction failed: /);
  assert.match(acc, notEncrypted);
  assert.equal(await fx.page.locator('#predictions figure').count(), 0, 'no prediction tiles');
  assert.equal(await pageState(fx.page, (s) => s.accuracy), null);

  // The model: the node's real bundle with every tensor replaced by a plain one.
  await fx.page.route(isApi(/^\/v1\/models\/[^/]+\/weights$/), async (route) => {
    const real = Buffer.from(await (await route.fetch()).body());
    await route.fulfill({ status: 200, contentType: 'application/octet-stream', body: plainBundle(real) });
  });
  let downloaded = false;
  fx.page.on('download', () => { downloaded = true; });
  await fx.page.click('#model-download');
  await fx.page.waitForFunction(() => document.querySelector('#model-error').textContent.length > 0);
  const modelError = await fx.page.textContent('[role=alert]#model-error');
  t.diagnostic(modelError);
  assert.match(modelError, notEncrypted);
  assert.equal(downloaded, false, 'nothing was downloaded');
  // The same bundle is refused when decrypting the model into the page for local prediction.
  await fx.page.evaluate(async () => { (await import('/app.js')).state.localModelId = null; });
  await fx.page.evaluate(() => { document.querySelector('#model-error').textContent = ''; });
  await fx.page.click('#model-local');
  await fx.page.waitForFunction(() => document.querySelector('#model-error').textContent.length > 0);
  assert.match(await fx.page.textContent('#model-error'), notEncrypted);

  // The losses of a new (one-epoch) training run.
  await fx.page.route(isApi(/^\/v1\/jobs\/[^/]+\/losses$/), (route) => route.fulfill({
    status: 200, contentType: 'application/octet-stream', body: plainTensor([1], [0.0123]),
  }));
  await fx.page.selectOption('#train-mode', 'manual');
  await fx.page.fill('#epochs', '1');
  await fx.page.click('#train-start');
  await fx.page.waitForSelector('#train-status[data-state]', { timeout: 200_000 });
  const trainError = await fx.page.textContent('[role=alert]#train-error');
  t.diagnostic(trainError);
  assert.match(trainError, notEncrypted);
  assert.deepEqual(await pageState(fx.page, (s) => s.losses), []);
  assert.doesNotMatch(await fx.page.textContent('#train-status'), /0\.0123/);
  await fx.page.unrouteAll({ behavior: 'wait' });
  assert.deepEqual(fx.page.errors, []);
});

test('the key never leaves the page: no request carries it in any encoding; planted leaks are caught', { timeout: 300_000 }, async (t) => {
  const raw = await rawKey(fx.page);
  const needles = keyNeedles(raw);
  flowRequestCount = fx.page.requests.length;
  const flow = await snapshotRequests(fx.page.requests);
  const paths = flow.map((r) => new URL(r.url).pathname);
  // The capture covers the worker: it fetched the wasm client (only the worker loads it).
  assert.ok(paths.includes('/pkg/more_wasm_bg.wasm'), 'worker requests are captured');
  for (const p of ['/v1/datasets', '/v1/jobs', '/v1/models']) assert.ok(paths.includes(p), `${p} was requested`);
  const bodyBytes = flow.reduce((s, r) => s + (r.body?.length ?? 0), 0);
  const t0 = Date.now();
  assert.deepEqual(searchRequests(flow, needles), []);
  assert.deepEqual(fx.page.websockets, [], 'no other channel (WebSocket) was opened');
  t.diagnostic(`${flow.length} requests, ${bodyBytes} body bytes searched for ${needles.length} encodings of the key in ${Date.now() - t0} ms: no hit`);

  // Neither wrapped form (the key file, the key-store record) was sent either.
  const wrappedNeedles = Object.entries(wrapped).flatMap(([name, bytes]) => [
    { name: `wrapped ${name}`, bytes }, { name: `wrapped ${name} sealed part`, bytes: bytes.subarray(64) },
    { name: `wrapped ${name} hex`, bytes: Buffer.from(bytes.toString('hex')) },
    ...['base64', 'base64url'].flatMap((a) => base64Forms(bytes.subarray(64), a).map((f) => ({ name: `wrapped ${name} ${a}`, bytes: Buffer.from(f) }))),
  ]);
  assert.equal(Object.keys(wrapped).length, 2);
  assert.deepEqual(searchRequests(flow, wrappedNeedles), []);

  // Planted leaks: each encoding in its own request, from the page (query string and POST body)
  // and from the worker; each must be flagged as that encoding.
  const probes = needles.flatMap((n, i) => {
    const text = /hex|HEX|base64|decimal/.test(n.name);
    return [
      { id: `b${i}`, needle: n.name, body: n.bytes.toString('hex') },
      ...(text ? [{ id: `u${i}`, needle: n.name, query: n.bytes.toString('latin1') }] : []),
    ];
  }).concat(wrappedNeedles.map((n, i) => ({ id: `w${i}`, needle: n.name, body: n.bytes.toString('hex'), wrapped: true })));
  await plantProbes(fx.page, probes);
  const worker = fx.page.workers().find((w) => w.url().endsWith('/worker.js'));
  assert.ok(worker, 'the key worker');
  const workerProbes = [needles.find((n) => n.name === 'raw export hex'), needles.find((n) => n.name === 'S f32le')]
    .map((n, i) => ({ id: `k${i}`, needle: n.name, bytes: n.bytes.toString('hex') }));
  await worker.evaluate(async (probes) => {
    for (const p of probes) {
      await fetch(`/v1/health?probe=${p.id}`, { method: 'POST', headers: { 'x-probe': p.id }, body: new Uint8Array(p.bytes.match(/../g).map((h) => parseInt(h, 16))) });
    }
  }, workerProbes);
  const planted = await snapshotRequests(fx.page.requests.slice(flowRequestCount));
  const byId = new Map(planted.filter((r) => r.headers['x-probe']).map((r) => [r.headers['x-probe'], r]));
  const missed = [];
  for (const p of [...probes, ...workerProbes]) {
    const r = byId.get(p.id);
    if (!r) { missed.push(`${p.id} ${p.needle}: request not captured`); continue; }
    const hits = searchRequests([r], p.wrapped ? wrappedNeedles : needles);
    if (!hits.some((h) => h.needle === p.needle)) missed.push(`${p.id} ${p.needle}: not flagged (${hits.map((h) => h.needle).join('; ')})`);
  }
  t.diagnostic(`planted leaks: ${probes.length} from the page (${needles.length} encodings in POST bodies, the text ones also in URLs; `
    + `${wrappedNeedles.length} wrapped forms), ${workerProbes.length} from the worker; caught ${probes.length + workerProbes.length - missed.length}`);
  assert.deepEqual(missed, []);
  assert.deepEqual(fx.page.errors, []);
});

test('reconnecting: a new tab unlocks the remembered key and finds its trained model in "your work"', { timeout: 300_000 }, async (t) => {
  // The same browser profile (context: the key store's IndexedDB), a fresh page: no key, no data.
  const tab = await fx.page.context().newPage();
  tab.errors = [];
  tab.on('pageerror', (e) => tab.errors.push(e.message));
  await tab.goto(`${fx.node.url}/`);
  await tab.waitForSelector('body[data-ready="1"]');
  assert.equal(await tab.textContent('#work'), '', 'nothing listed before a key is active');
  await tab.click('#key-load');
  await answerPassphrase(tab, 'store passphrase');
  await tab.waitForFunction((fp) => document.querySelector('#fingerprint').textContent === fp, fingerprint);
  // Unlocking lists this key's work without pressing "Refresh".
  await tab.waitForSelector('#work .work-use-model');
  const work = await pageState(tab, (s) => s.work);
  t.diagnostic(`your work after unlocking: ${work.datasets.length} dataset(s), ${work.models.length} model(s), ${work.jobs.length} job(s)`);
  assert.ok(work.models.includes(firstModelId), `the model trained in the first test (${firstModelId}) is listed: ${work.models}`);
  // The same bundled sample (same defaults, same order; loading data forgets the chosen model, so
  // first) predicted on the node with that model gives the first test's accuracy.
  await tab.click('#data-sample');
  await tab.waitForFunction(() => /training and .* test samples/.test(document.querySelector('#data-summary').textContent));
  await tab.locator('#work .work-use-model').nth(work.models.indexOf(firstModelId)).click();
  await tab.waitForFunction((id) => document.querySelector('#local-status').textContent.includes(id.slice(0, 8)), firstModelId);
  assert.equal(await pageState(tab, (s) => s.modelId), firstModelId);
  await tab.selectOption('#predict-where', 'node');
  await tab.click('#predict-test');
  await tab.waitForFunction(() => /Accuracy|failed/.test(document.querySelector('#accuracy').textContent), null, { timeout: 120_000 });
  const text = await tab.textContent('#accuracy');
  t.diagnostic(`reconnected: ${text}`);
  assert.equal(await pageState(tab, (s) => s.accuracy), firstAccuracy, text);
  assert.deepEqual(tab.errors, []);
  await tab.close();
});
