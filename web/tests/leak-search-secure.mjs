// The leak searches of secure mode (BFV, issue #30), beside leak-search.mjs (the MORE key):
//
// 1. The BFV secret key in requests. The raw export (`BfvSecretKey.export_raw_for_tests`, test
//    build only) is fhe.rs's `SecretKey::to_bytes()`: protobuf `message SecretKey { repeated sint64
//    coeffs = 1; }`, packed: tag 0x0a, a varint length, then one zigzag varint per coefficient of
//    the secret polynomial s (degree N = 8192, small centred integers). Needles: the export and
//    windows of it (raw, hex, base64 at every alignment), and windows of 64 consecutive
//    coefficients at the start, middle and end of s in the forms a bug would write them: i8, i16,
//    i32, i64 (both byte orders), f32, f64, decimal text, and reduced modulo each ciphertext
//    modulus q_i as u64 (what serializing s as a polynomial of the ciphertext ring gives).
// 2. Plaintext in what the node stores: the samples' pixel rows (as f32 / f64 bytes and decimal
//    text, and the quantized integers as i64 / i32 / u8 bytes and decimal text) and the decrypted
//    outputs (i64 / f64 bytes, decimal text) and predictions, searched in every file of the data
//    dir (blobs, the SQLite database and its WAL).
//
// False positives: every needle is at least 16 bytes long and specific (64 coefficients with ~3
// bits of entropy each; a pixel window starting at a non-zero pixel), so a chance match in the
// ~200 MB of uniformly random ciphertext bytes of a run is out of the question (2^28 positions
// against 2^-128 per position).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { base64Forms } from './leak-search.mjs';

/** Coefficients per window, and the windows' starts (fractions of N). */
export const WINDOW = 64;
const MIN_NEEDLE = 16;

function readVarint(b, at) {
  let v = 0n, shift = 0n;
  for (;;) {
    if (at >= b.length) throw new Error('truncated varint');
    const byte = b[at++];
    v |= BigInt(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return [v, at];
    shift += 7n;
    if (shift > 63n) throw new Error('varint too long');
  }
}

/** The secret polynomial's coefficients from fhe's SecretKey protobuf (packed zigzag sint64). */
export function bfvCoefficients(raw) {
  const b = Buffer.from(raw);
  if (b[0] !== 0x0a) throw new Error(`not an fhe SecretKey (first byte ${b[0]})`);
  const [len, start] = readVarint(b, 1);
  if (start + Number(len) !== b.length) throw new Error(`SecretKey length ${len} != ${b.length - start}`);
  const coeffs = [];
  for (let at = start; at < b.length;) {
    const [z, next] = readVarint(b, at);
    coeffs.push(Number((z >> 1n) ^ -(z & 1n)));
    at = next;
  }
  return coeffs;
}

function ints(values, bytes, le, signed = true) {
  const out = Buffer.alloc(bytes * values.length);
  values.forEach((v, i) => {
    const o = bytes * i;
    if (bytes === 8) out[`write${signed ? 'Big' : 'BigU'}Int64${le ? 'LE' : 'BE'}`](BigInt(v), o);
    else if (bytes === 1) out[signed ? 'writeInt8' : 'writeUInt8'](v, o);
    else out[`write${signed ? '' : 'U'}Int${8 * bytes}${le ? 'LE' : 'BE'}`](v, o);
  });
  return out;
}

function floats(values, bits, le = true) {
  const out = Buffer.alloc((bits / 8) * values.length);
  values.forEach((v, i) => out[`write${bits === 64 ? 'Double' : 'Float'}${le ? 'LE' : 'BE'}`](v, (bits / 8) * i));
  return out;
}

/** A needle list with `add(name, bytes)` that drops duplicates and too-short needles. */
function needleList() {
  const needles = [];
  const seen = new Set();
  const add = (name, bytes) => {
    const b = Buffer.from(bytes);
    const key = b.toString('latin1');
    if (b.length < MIN_NEEDLE || seen.has(key)) return;
    seen.add(key);
    needles.push({ name, bytes: b });
  };
  const text = (name, bytes) => {
    add(`${name} hex`, Buffer.from(Buffer.from(bytes).toString('hex')));
    add(`${name} HEX`, Buffer.from(Buffer.from(bytes).toString('hex').toUpperCase()));
    for (const alphabet of ['base64', 'base64url']) {
      for (const form of base64Forms(bytes, alphabet)) add(`${name} ${alphabet}`, Buffer.from(form));
    }
  };
  return { needles, add, text };
}

/** Decimal text of integers as JSON arrays and other printers write them. */
function decimalTexts(values) {
  return [values.join(','), values.join(', '), values.join(' '), values.join('\n')];
}

/**
 * Needles for the raw BFV secret key export `raw`; `moduli` (the ciphertext moduli q_i, numbers or
 * BigInts) adds the windows reduced modulo each.
 */
export function bfvKeyNeedles(raw, { moduli = [] } = {}) {
  const rawBuf = Buffer.from(raw);
  const coeffs = bfvCoefficients(rawBuf);
  const { needles, add, text } = needleList();
  add('bfv raw export', rawBuf);
  text('bfv raw export', rawBuf);
  for (const f of [0, 0.5, 1]) {
    const at = Math.min(rawBuf.length - WINDOW, Math.floor(f * (rawBuf.length - WINDOW)));
    const w = rawBuf.subarray(at, at + WINDOW);
    add(`bfv raw export bytes ${at}..`, w);
    text(`bfv raw export bytes ${at}..`, w);
  }
  for (const f of [0, 0.5, 1]) {
    const at = Math.min(coeffs.length - WINDOW, Math.floor(f * (coeffs.length - WINDOW)));
    const w = coeffs.slice(at, at + WINDOW);
    const name = `bfv s[${at}..${at + WINDOW}]`;
    for (const le of [true, false]) {
      const e = le ? 'le' : 'be';
      add(`${name} i64${e}`, ints(w, 8, le));
      add(`${name} i32${e}`, ints(w, 4, le));
      add(`${name} i16${e}`, ints(w, 2, le));
      add(`${name} f64${e}`, floats(w, 64, le));
      add(`${name} f32${e}`, floats(w, 32, le));
    }
    add(`${name} i8`, ints(w, 1, true));
    text(`${name} i64le`, ints(w, 8, true));
    decimalTexts(w).forEach((t, i) => add(`${name} decimal ${i}`, Buffer.from(t)));
    for (const q of moduli) {
      const big = BigInt(q);
      const reduced = w.map((c) => ((BigInt(c) % big) + big) % big);
      add(`${name} mod ${q} u64le`, ints(reduced, 8, true, false));
      add(`${name} mod ${q} u64be`, ints(reduced, 8, false, false));
    }
  }
  return needles;
}

/** Rust's `f32::round` (half away from zero). */
const roundHalfAway = (v) => Math.sign(v) * Math.round(Math.abs(v));

/** The model's input quantizer (`QuantizedModel.input`) applied to one value at index `j`. */
export function quantizeValue(input, j, v) {
  const at = (a) => (a.length === 1 ? a[0] : a[j]);
  const q = roundHalfAway(Math.fround(Math.fround(Math.fround(v) - at(input.offset)) / at(input.scale)));
  return Math.min(input.max, Math.max(input.min, q));
}

/** The start of a window of `WINDOW` values in `row` that begins at its first non-zero value. */
function windowStart(row) {
  const first = row.findIndex((v) => v !== 0);
  return Math.max(0, Math.min(first < 0 ? 0 : first, row.length - WINDOW));
}

/**
 * Needles for the plaintext of a secure prediction: the pixel rows of the first `samples` samples
 * of `x` (`width` values each) and their quantized values (`model.input`), and the decrypted
 * outputs `values` (`outputs` per sample) and `predictions`.
 */
export function plaintextNeedles({ x, width, samples, model, values, outputs, predictions }) {
  const { needles, add } = needleList();
  for (let r = 0; r < samples; r++) {
    const row = Array.from(x.subarray(r * width, (r + 1) * width));
    const at = windowStart(row);
    const w = row.slice(at, at + WINDOW);
    const q = w.map((v, i) => quantizeValue(model.input, at + i, v));
    const name = `sample ${r} pixels ${at}..${at + WINDOW}`;
    add(`${name} f32le`, floats(w, 32));
    add(`${name} f64le`, floats(w, 64));
    decimalTexts(w.map((v) => String(Math.fround(v)))).forEach((t, i) => add(`${name} decimal ${i}`, Buffer.from(t)));
    add(`${name} quantized i64le`, ints(q, 8, true));
    add(`${name} quantized i32le`, ints(q, 4, true));
    if (q.every((v) => v >= 0 && v < 256)) add(`${name} quantized u8`, ints(q, 1, true, false));
    decimalTexts(q).forEach((t, i) => add(`${name} quantized decimal ${i}`, Buffer.from(t)));
    const out = Array.from(values.slice(r * outputs, (r + 1) * outputs));
    add(`sample ${r} outputs i64le`, ints(out, 8, true));
    add(`sample ${r} outputs f64le`, floats(out, 64));
    decimalTexts(out).forEach((t, i) => add(`sample ${r} outputs decimal ${i}`, Buffer.from(t)));
  }
  const p = Array.from(predictions.slice(0, WINDOW));
  if (p.length === WINDOW) {
    decimalTexts(p).forEach((t, i) => add(`predictions decimal ${i}`, Buffer.from(t)));
    add('predictions i64le', ints(p, 8, true));
    add('predictions u32le', ints(p, 4, true, false));
  }
  return needles;
}

/** Every file under `dir` (recursively) that contains a needle: [{ file, needles: [names] }]. */
export async function searchDir(dir, needles) {
  const hits = [];
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  for (const e of entries) {
    if (!e.isFile()) continue;
    const file = path.join(e.parentPath ?? e.path, e.name);
    const bytes = await readFile(file);
    const found = needles.filter((n) => bytes.includes(n.bytes)).map((n) => n.name);
    if (found.length) hits.push({ file: path.relative(dir, file), needles: found });
  }
  return hits;
}

/** Bytes and files under `dir`, for the report. */
export async function dirSize(dir) {
  let bytes = 0, files = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    files++;
    bytes += (await readFile(path.join(e.parentPath ?? e.path, e.name))).length;
  }
  return { bytes, files };
}
