// @ts-check
// The Web Worker that owns the secret key. It loads the wasm client, keeps one SecretKey and
// answers requests from the page: {id, op, args} -> {id, ok, result} | {id, ok: false, error}.
// Long encryptions post {id, progress: 0..1}. The key itself never leaves this worker except
// wrapped under a passphrase (exportWrapped).
//
// The release package (pkg/) has no raw key export. The browser tests serve the test build of
// the same client (cargo feature `test-export`) in its place; only that build has
// SecretKey.export_raw_for_tests, and only then does this worker answer `rawKeyHex`, for the
// test that searches every request for the key. No URL flag or page setting turns it on.
import init, { BfvSecretKey, SecretKey, bfvModuli, bfvParameterSet, bfvSlots, concat_rows, decode_dicom, profileTable, readIdx,
  readImageFolder, readTable } from './pkg/more_wasm.js';
// Read by name at call time: a wasm package built before an export was added still loads.
import * as wasm from './pkg/more_wasm.js';
import { secureOps } from './secure-worker.js';

const ready = init();
let key = null;
// The decrypted model for private prediction in the page ("Predict here"); dropped with its key.
let localModel = null;

function dropLocalModel() {
  if (localModel) localModel.free();
  localModel = null;
}

function needKey() {
  if (!key) throw new Error('No key yet: generate or import a key first.');
  return key;
}

function setKey(k) {
  dropLocalModel();
  if (key) key.free();
  key = k;
  return { fingerprint: key.fingerprint(), basis: key.compact_basis_json(), generation: key.generation() };
}

/** Encrypts rows of `data` (shape[0] rows) in chunks, reporting progress, then joins them. */
function encryptRows(id, { data, shape, shadow, chunkRows = 2000 }) {
  const k = needKey();
  const rows = shape[0];
  const rowLen = shape.slice(1).reduce((a, b) => a * b, 1);
  if (rows <= chunkRows) {
    const out = k.encrypt(data, shape, shadow);
    postMessage({ id, progress: 1 });
    return out;
  }
  const parts = [];
  for (let start = 0; start < rows; start += chunkRows) {
    const n = Math.min(chunkRows, rows - start);
    parts.push(k.encrypt(data.subarray(start * rowLen, (start + n) * rowLen), [n, ...shape.slice(1)], shadow));
    postMessage({ id, progress: (start + n) / rows });
  }
  return concat_rows(parts);
}

const fileBytes = (file) => new Uint8Array(new FileReaderSync().readAsArrayBuffer(file));

/** The image facts of a decoded DICOM file (frames too when `withData`); frees it. */
function dicomFacts(d, withData) {
  const out = { frames: d.frames, rows: d.rows, columns: d.columns, modality: d.modality,
    photometric: d.photometric, bitsAllocated: d.bits_allocated, transferSyntax: d.transfer_syntax,
    rescale: [d.rescale_slope, d.rescale_intercept], window: d.window_width === undefined ? null : [d.window_center, d.window_width],
    primaryAngle: d.primary_angle ?? null, secondaryAngle: d.secondary_angle ?? null };
  if (withData) out.data = d.data;
  d.free();
  return out;
}

/** A data set's typed arrays, for postMessage to move instead of copy. */
function transferable(ds) {
  ds.transfer = [ds.train.x, ds.train.y, ds.test.x, ds.test.y].map((a) => a.buffer);
  return ds;
}

/** Each file's label, from the samples (`file#frame`) of a folder data set. */
function fileLabels(ds) {
  const out = new Map();
  for (const p of [ds.train, ds.test]) {
    p.sampleNames.forEach((s, i) => out.set(s.slice(0, s.lastIndexOf('#')), p.classNames[p.labels[i]]));
  }
  return out;
}

/**
 * An image folder through the library: `read(name)` gives it one listed file at a time (progress
 * per file); DICOM files are also decoded for the page's facts table (modality, frames, view, …).
 */
function imageFolder({ labels, files, size }, id) {
  const byName = new Map(files.map((f) => [f.name, f]));
  const facts = [];
  let done = 0;
  const read = (name) => {
    const f = byName.get(name);
    if (!f) return undefined;
    const b = fileBytes(f);
    postMessage({ id, progress: ++done / byName.size });
    try {
      facts.push({ name, ...dicomFacts(decode_dicom(b), false) });
    } catch { /* not DICOM, or not decodable (the library then skips it with a note) */ }
    return b;
  };
  const ds = readImageFolder(labels.name, fileBytes(labels), [...byName.keys()], read, size);
  const label = fileLabels(ds);
  ds.dicomFiles = facts.filter((f) => label.has(f.name)).map((f) => ({ ...f, label: label.get(f.name) }));
  return ds;
}

const ops = {
  hello: () => true,
  generate: () => setKey(SecretKey.generate()),
  importWrapped: ({ bytes, passphrase }) => setKey(SecretKey.import_wrapped(bytes, passphrase)),
  exportWrapped: ({ passphrase }) => needKey().export_wrapped(passphrase),
  // A new passphrase's strength (zxcvbn; no key needed): plain fields for postMessage.
  passphraseStrength: ({ passphrase, userInputs }) => {
    const s = wasm.passphraseStrength(passphrase, userInputs ?? []);
    const out = { score: s.score, guessesLog10: s.guesses_log10, acceptable: s.acceptable, offlineTime: s.offline_time,
      warning: s.warning, suggestions: s.suggestions };
    s.free();
    return out;
  },
  encrypt: (args, id) => encryptRows(id, args),
  // One shard of an upload in shards (upload.js): its features and targets encrypted, joined
  // into the wire bundle POST /datasets/{id}/shards takes.
  encryptShard: ({ x, y, featureShape, targetDim, shadow, targetShadow }) => {
    const k = needKey();
    const rows = y.length / targetDim;
    return wasm.shardBundle(k.encrypt(x, [rows, ...featureShape], shadow), k.encrypt(y, [rows, targetDim], targetShadow));
  },
  decrypt: ({ bytes }) => {
    const t = needKey().decrypt(bytes);
    const out = { data: t.data, shape: Array.from(t.shape) };
    t.free();
    return out;
  },
  decryptLosses: ({ bytes }) => needKey().decrypt_losses(bytes),
  decryptModel: ({ bytes }) => needKey().decrypt_model(bytes),
  // Private prediction: decrypt the model bundle once into a plaintext model held here, then
  // predict with it in wasm. predictLocal sends nothing: no fetch, no message but the answer.
  loadLocalModel: ({ bytes }) => {
    const m = needKey().decrypt_local_model(bytes);
    dropLocalModel();
    localModel = m;
    return { inputShape: Array.from(m.input_shape()), spec: JSON.parse(m.spec_json()) };
  },
  // DICOM decoding (no key needed; dicom-rs in wasm). Only image facts come back: no patient
  // attribute is read.
  decodeDicom: ({ bytes }) => dicomFacts(decode_dicom(bytes), true),
  // The data rules (more_data_owner::data in wasm; no key needed): the page sends File objects,
  // read here, one at a time for folders.
  profileTable: ({ file, targets }) => profileTable(fileBytes(file), file.name, targets),
  readTable: ({ file, targets, task }) => transferable(readTable(fileBytes(file), file.name, targets, task)),
  readIdx: ({ files, maxSamples }) => transferable(readIdx(files.map((f) => f.name), files.map(fileBytes), maxSamples)),
  readImageFolder: (args, id) => transferable(imageFolder(args, id)),
  // The results view (results.js) and new cases (score.js): the library's reports, nothing sent.
  evaluateClassification: ({ outputs, labels, classNames, trainLabels, positive }) =>
    wasm.evaluateClassification(outputs, labels, classNames, trainLabels, positive),
  evaluateRegression: (a) => wasm.evaluateRegression(a.outputs, a.testY, a.testX, a.trainX, a.trainY, a.width, a.names, a.mean, a.std),
  scoreTable: ({ trainFile, targets, task, file }) =>
    wasm.scoreTable(fileBytes(trainFile), trainFile.name, targets, task, fileBytes(file), file.name),
  scoreImages: ({ files, size }) => wasm.scoreImages(files.map((f) => f.name), files.map(fileBytes), size),
  // The automatic training settings (tuning.js): more_data_owner::tune's plan, split, choice,
  // early-stopping rule and advice (JSON in and out; no key needed, nothing sent).
  tunePlan: (a) => wasm.tunePlan(a),
  tuneSplit: (a) => wasm.tuneSplit(a),
  tuneChoose: (a) => wasm.tuneChoose(a),
  tuneChooseModel: (a) => wasm.tuneChooseModel(a),
  tuneEarlyStop: (a) => wasm.tuneEarlyStop(a),
  tuneSuggest: (a) => wasm.tuneSuggest(a),
  predictLocal: ({ data, shape }) => {
    if (!localModel) throw new Error('No model in the page yet: decrypt the trained model into the page first.');
    const t = localModel.forward(data, shape);
    const out = { data: t.data, shape: Array.from(t.shape) };
    t.free();
    return out;
  },
  // Encryption speed, measured as wasm-client/examples/native_reference.rs measures it natively:
  // the same values and shape, the same call (encrypt_compact + wire encoding), one warm-up run,
  // then `reps` timed runs; the median is reported.
  benchEncrypt: ({ data, shape, reps = 5 }) => {
    const k = needKey();
    const bytes = k.encrypt(data, shape, undefined).length; // warm-up
    const runs = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      k.encrypt(data, shape, undefined);
      runs.push((performance.now() - t0) / 1000);
    }
    runs.sort((a, b) => a - b);
    const seconds = runs[Math.floor(runs.length / 2)];
    return { values: data.length, seconds, valuesPerSecond: data.length / seconds, bytes, runs };
  },
};

// Secure mode (BFV): its own key, made and kept here (secure-worker.js).
Object.assign(ops, secureOps({ BfvSecretKey, bfvModuli, bfvParameterSet, bfvSlots }));

/** The test build's key (cargo feature `test-export`); the release package's types lack the method.
 * @typedef {SecretKey & { export_raw_for_tests(): Uint8Array }} TestSecretKey */
if (typeof (/** @type {TestSecretKey} */ (SecretKey.prototype)).export_raw_for_tests === 'function') {
  // Test build only (see the top of this file).
  ops.rawKeyHex = () => Array.from((/** @type {TestSecretKey} */ (needKey())).export_raw_for_tests(), (b) => b.toString(16).padStart(2, '0')).join('');
}

onmessage = async ({ data: { id, op, args } }) => {
  try {
    await ready;
    const fn = ops[op];
    if (!fn) throw new Error(`unknown operation ${op}`);
    const result = fn(args ?? {}, id);
    const transfer = result?.buffer instanceof ArrayBuffer ? [result.buffer]
      : result?.data?.buffer instanceof ArrayBuffer ? [result.data.buffer] : result?.transfer ?? [];
    if (result?.transfer) delete result.transfer;
    postMessage({ id, ok: true, result }, transfer);
  } catch (e) {
    postMessage({ id, ok: false, error: e?.message ?? String(e) });
  }
};
