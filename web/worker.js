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

/** @typedef {import('./state.js').DataPart} DataPart */
/**
 * One operation of the table below, by name: `args` is what the page posted (client.js's `call`),
 * `id` the request's, for progress. Typed `any` because the dispatch is by a name from the
 * message: each operation types the arguments it reads.
 * @typedef {(args: any, id: number) => unknown} Op
 */
/**
 * A shadow distribution for encryption (`SecretKey.encrypt`); undefined means `N(0, 0.1²)`.
 * @typedef {{ kind: 'gaussian', std: number } | { kind: 'simplex' }
 *   | { kind: 'moment_matched', mean: number[], std: number[] }} Shadow
 */
/**
 * A DICOM file's image facts (frames: `frames × rows × columns` grey values in [0, 1], when asked).
 * @typedef {object} DicomFacts
 * @property {number} frames
 * @property {number} rows
 * @property {number} columns
 * @property {string} modality
 * @property {string} photometric
 * @property {number} bitsAllocated
 * @property {string} transferSyntax
 * @property {[number, number]} rescale slope and intercept
 * @property {[number | undefined, number] | null} window centre and width from the file (null: min-max was used)
 * @property {number | null} primaryAngle degrees, LAO > 0
 * @property {number | null} secondaryAngle degrees, cranial > 0
 * @property {Float32Array} [data] the frames
 */
/**
 * A data set the library read (readTable, readIdx, readImageFolder), as far as this worker reads
 * it; `transfer` lists its arrays' buffers for postMessage to move.
 * @typedef {{ train: DataPart, test: DataPart, transfer?: ArrayBuffer[] }} DataSet
 */
/**
 * An image folder's data set: classification, each sample named `file#frame`; `dicomFiles` are the
 * DICOM files' facts, with their labels.
 * @typedef {DataSet & { train: FolderPart, test: FolderPart,
 *   dicomFiles?: (DicomFacts & { name: string, label: string | undefined })[] }} FolderDataSet
 */
/** @typedef {DataPart & { task: 'classification', sampleNames: string[] }} FolderPart */

const ready = init();
/** @type {SecretKey | null} */
let key = null;
// The decrypted model for private prediction in the page ("Predict here"); dropped with its key.
/** @type {import('./pkg/more_wasm.js').LocalModel | null} */
let localModel = null;

function dropLocalModel() {
  if (localModel) localModel.free();
  localModel = null;
}

function needKey() {
  if (!key) throw new Error('No key yet: generate or import a key first.');
  return key;
}

/** Makes `k` the key (the old one and its local model are freed); answers its public facts. */
function setKey(/** @type {SecretKey} */ k) {
  dropLocalModel();
  if (key) key.free();
  key = k;
  return { fingerprint: key.fingerprint(), basis: key.compact_basis_json(), generation: key.generation() };
}

/**
 * Encrypts rows of `data` (shape[0] rows) in chunks, reporting progress, then joins them.
 * @param {number} id the request's
 * @param {{ data: Float32Array, shape: number[], shadow?: Shadow, chunkRows?: number }} args
 */
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

const fileBytes = (/** @type {File} */ file) => new Uint8Array(new FileReaderSync().readAsArrayBuffer(file));

/**
 * The image facts of a decoded DICOM file (frames too when `withData`); frees it.
 * @param {import('./pkg/more_wasm.js').DicomFrames} d
 * @param {boolean} withData
 */
function dicomFacts(d, withData) {
  /** @type {DicomFacts} */
  const out = { frames: d.frames, rows: d.rows, columns: d.columns, modality: d.modality,
    photometric: d.photometric, bitsAllocated: d.bits_allocated, transferSyntax: d.transfer_syntax,
    rescale: [d.rescale_slope, d.rescale_intercept], window: d.window_width === undefined ? null : [d.window_center, d.window_width],
    primaryAngle: d.primary_angle ?? null, secondaryAngle: d.secondary_angle ?? null };
  if (withData) out.data = d.data;
  d.free();
  return out;
}

/**
 * A data set's typed arrays, for postMessage to move instead of copy.
 * @param {DataSet} ds
 */
function transferable(ds) {
  // (The library's arrays: each on an ArrayBuffer, never shared memory.)
  ds.transfer = [ds.train.x, ds.train.y, ds.test.x, ds.test.y].map((a) => /** @type {ArrayBuffer} */ (a.buffer));
  return ds;
}

/**
 * Each file's label, from the samples (`file#frame`) of a folder data set.
 * @param {FolderDataSet} ds
 */
function fileLabels(ds) {
  /** @type {Map<string, string>} */
  const out = new Map();
  for (const p of [ds.train, ds.test]) {
    p.sampleNames.forEach((s, i) => out.set(s.slice(0, s.lastIndexOf('#')), p.classNames[p.labels[i]]));
  }
  return out;
}

/**
 * An image folder through the library: `read(name)` gives it one listed file at a time (progress
 * per file); DICOM files are also decoded for the page's facts table (modality, frames, view, …).
 * @param {{ labels: File, files: File[], size: number }} args the labels CSV, the other files, the
 *   images' side in pixels
 * @param {number} id the request's
 */
function imageFolder({ labels, files, size }, id) {
  const byName = new Map(files.map((f) => [f.name, f]));
  /** @type {(DicomFacts & { name: string })[]} */
  const facts = [];
  let done = 0;
  const read = (/** @type {string} */ name) => {
    const f = byName.get(name);
    if (!f) return undefined;
    const b = fileBytes(f);
    postMessage({ id, progress: ++done / byName.size });
    try {
      facts.push({ name, ...dicomFacts(decode_dicom(b), false) });
    } catch { /* not DICOM, or not decodable (the library then skips it with a note) */ }
    return b;
  };
  const ds = /** @type {FolderDataSet} */ (readImageFolder(labels.name, fileBytes(labels), [...byName.keys()], read, size));
  const label = fileLabels(ds);
  ds.dicomFiles = facts.filter((f) => label.has(f.name)).map((f) => ({ ...f, label: label.get(f.name) }));
  return ds;
}

/** An operation's bytes (wire format from the node, or a key file).
 * @typedef {{ bytes: Uint8Array }} Bytes */
/**
 * The regression report's inputs (results.js): outputs and targets standardised, `width` features
 * per row, the targets' `names`, and their training `mean` and `std` (the data set's `targetScale`).
 * @typedef {{ outputs: Float32Array, testY: Float32Array, testX: Float32Array, trainX: Float32Array, trainY: Float32Array,
 *   width: number, names: string[], mean: number[], std: number[] }} RegressionArgs
 */
/** @type {Record<string, Op>} */
const ops = {
  hello: () => true,
  generate: () => setKey(SecretKey.generate()),
  importWrapped: (/** @type {{ bytes: Uint8Array, passphrase: string }} */ { bytes, passphrase }) =>
    setKey(SecretKey.import_wrapped(bytes, passphrase)),
  exportWrapped: (/** @type {{ passphrase: string }} */ { passphrase }) => needKey().export_wrapped(passphrase),
  // A new passphrase's strength (zxcvbn; no key needed): plain fields for postMessage.
  passphraseStrength: (/** @type {{ passphrase: string, userInputs?: string[] }} */ { passphrase, userInputs }) => {
    const s = wasm.passphraseStrength(passphrase, userInputs ?? []);
    const out = { score: s.score, guessesLog10: s.guesses_log10, acceptable: s.acceptable, offlineTime: s.offline_time,
      warning: s.warning, suggestions: s.suggestions };
    s.free();
    return out;
  },
  encrypt: (/** @type {Parameters<typeof encryptRows>[1]} */ args, id) => encryptRows(id, args),
  // One shard of an upload in shards (upload.js): its features and targets encrypted, joined
  // into the wire bundle POST /datasets/{id}/shards takes.
  encryptShard: (/** @type {{ x: Float32Array, y: Float32Array, featureShape: number[], targetDim: number,
    shadow?: Shadow, targetShadow?: Shadow }} */ { x, y, featureShape, targetDim, shadow, targetShadow }) => {
    const k = needKey();
    const rows = y.length / targetDim;
    return wasm.shardBundle(k.encrypt(x, [rows, ...featureShape], shadow), k.encrypt(y, [rows, targetDim], targetShadow));
  },
  decrypt: (/** @type {Bytes} */ { bytes }) => {
    const t = needKey().decrypt(bytes);
    const out = { data: t.data, shape: Array.from(t.shape) };
    t.free();
    return out;
  },
  decryptLosses: (/** @type {Bytes} */ { bytes }) => needKey().decrypt_losses(bytes),
  decryptModel: (/** @type {Bytes} */ { bytes }) => needKey().decrypt_model(bytes),
  // Private prediction: decrypt the model bundle once into a plaintext model held here, then
  // predict with it in wasm. predictLocal sends nothing: no fetch, no message but the answer.
  loadLocalModel: (/** @type {Bytes} */ { bytes }) => {
    const m = needKey().decrypt_local_model(bytes);
    dropLocalModel();
    localModel = m;
    return { inputShape: Array.from(m.input_shape()), spec: JSON.parse(m.spec_json()) };
  },
  // DICOM decoding (no key needed; dicom-rs in wasm). Only image facts come back: no patient
  // attribute is read.
  decodeDicom: (/** @type {Bytes} */ { bytes }) => dicomFacts(decode_dicom(bytes), true),
  // The data rules (more_data_owner::data in wasm; no key needed): the page sends File objects,
  // read here, one at a time for folders.
  profileTable: (/** @type {{ file: File, targets: string[] }} */ { file, targets }) =>
    profileTable(fileBytes(file), file.name, targets),
  readTable: (/** @type {{ file: File, targets: string[], task: string }} */ { file, targets, task }) =>
    transferable(readTable(fileBytes(file), file.name, targets, task)),
  readIdx: (/** @type {{ files: File[], maxSamples: number }} */ { files, maxSamples }) =>
    transferable(readIdx(files.map((f) => f.name), files.map(fileBytes), maxSamples)),
  readImageFolder: (/** @type {Parameters<typeof imageFolder>[0]} */ args, id) => transferable(imageFolder(args, id)),
  // The results view (results.js) and new cases (score.js): the library's reports, nothing sent.
  evaluateClassification: (/** @type {{ outputs: Float32Array, labels: Uint32Array, classNames: string[],
    trainLabels: Uint32Array, positive: number }} */ { outputs, labels, classNames, trainLabels, positive }) =>
    wasm.evaluateClassification(outputs, labels, classNames, trainLabels, positive),
  evaluateRegression: (/** @type {RegressionArgs} */ a) =>
    wasm.evaluateRegression(a.outputs, a.testY, a.testX, a.trainX, a.trainY, a.width, a.names, a.mean, a.std),
  scoreTable: (/** @type {{ trainFile: File, targets: string[], task: string, file: File }} */ { trainFile, targets, task, file }) =>
    wasm.scoreTable(fileBytes(trainFile), trainFile.name, targets, task, fileBytes(file), file.name),
  scoreImages: (/** @type {{ files: File[], size: number }} */ { files, size }) =>
    wasm.scoreImages(files.map((f) => f.name), files.map(fileBytes), size),
  // The automatic training settings (tuning.js): more_data_owner::tune's plan, split, choice,
  // early-stopping rule and advice (JSON in and out; no key needed, nothing sent).
  tunePlan: (/** @type {object} */ a) => wasm.tunePlan(a),
  tuneSplit: (/** @type {object} */ a) => wasm.tuneSplit(a),
  tuneChoose: (/** @type {object} */ a) => wasm.tuneChoose(a),
  tuneChooseModel: (/** @type {object} */ a) => wasm.tuneChooseModel(a),
  tuneEarlyStop: (/** @type {object} */ a) => wasm.tuneEarlyStop(a),
  tuneSuggest: (/** @type {object} */ a) => wasm.tuneSuggest(a),
  predictLocal: (/** @type {{ data: Float32Array, shape: number[] }} */ { data, shape }) => {
    if (!localModel) throw new Error('No model in the page yet: decrypt the trained model into the page first.');
    const t = localModel.forward(data, shape);
    const out = { data: t.data, shape: Array.from(t.shape) };
    t.free();
    return out;
  },
  // Encryption speed, measured as wasm-client/examples/native_reference.rs measures it natively:
  // the same values and shape, the same call (encrypt_compact + wire encoding), one warm-up run,
  // then `reps` timed runs; the median is reported.
  benchEncrypt: (/** @type {{ data: Float32Array, shape: number[], reps?: number }} */ { data, shape, reps = 5 }) => {
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

/**
 * An operation's answer, as far as the dispatch reads it: bytes, or `{ data: bytes }`, are moved;
 * so are the buffers `transfer` lists (taken out of the answer). Anything else is copied.
 * @typedef {{ buffer?: ArrayBufferLike, data?: { buffer?: ArrayBufferLike }, transfer?: ArrayBuffer[] } | null | undefined} Answer
 */

onmessage = async (/** @type {MessageEvent<{ id: number, op: string, args?: object }>} */ { data: { id, op, args } }) => {
  try {
    await ready;
    // Own operations only: `constructor` or `toString` are not operations.
    const fn = Object.hasOwn(ops, op) ? ops[op] : undefined;
    if (!fn) throw new Error(`unknown operation ${op}`);
    const result = /** @type {Answer} */ (fn(args ?? {}, id));
    const transfer = result?.buffer instanceof ArrayBuffer ? [result.buffer]
      : result?.data?.buffer instanceof ArrayBuffer ? [result.data.buffer] : result?.transfer ?? [];
    if (result?.transfer) delete result.transfer;
    postMessage({ id, ok: true, result }, transfer);
  } catch (e) {
    postMessage({ id, ok: false, error: e?.message ?? String(e) });
  }
};
