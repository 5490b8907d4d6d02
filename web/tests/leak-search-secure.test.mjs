// Unit tests of the secure-mode leak searches (leak-search-secure.mjs): every encoding of the BFV
// secret key is found wherever it sits in a request, the plaintext needles are found in a stored
// file, and random ciphertext-like bytes, another key and ordinary JSON are not flagged. No browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, rng } from './helpers.mjs';
import { searchRequests } from './leak-search.mjs';
import { bfvCoefficients, bfvKeyNeedles, plaintextNeedles, quantizeValue, searchDir } from './leak-search-secure.mjs';

function varint(v) {
  const out = [];
  let z = BigInt(v);
  do {
    let b = Number(z & 0x7fn);
    z >>= 7n;
    if (z) b |= 0x80;
    out.push(b);
  } while (z);
  return out;
}

/** An fhe SecretKey protobuf like `SecretKey::to_bytes()`: centred binomial coefficients of variance 10. */
function bfvExport(seed, n = 8192) {
  const r = rng(seed);
  const coeffs = Array.from({ length: n }, () => {
    let s = 0;
    for (let i = 0; i < 20; i++) s += (r() < 0.5) - (r() < 0.5);
    return s;
  });
  const payload = coeffs.flatMap((c) => varint(c >= 0 ? 2 * c : -2 * c - 1));
  return { coeffs, raw: Buffer.from([0x0a, ...varint(payload.length), ...payload]) };
}

const MODULI = [4611686018427322369n, 4611686018427256833n, 4611686018427224065n];
const { coeffs, raw } = bfvExport(42);
const needles = bfvKeyNeedles(raw, { moduli: MODULI });

test('the secret polynomial is read back from fhe\'s protobuf', () => {
  assert.deepEqual(bfvCoefficients(raw), coeffs);
  assert.throws(() => bfvCoefficients(Buffer.from([0x12, 0x00])), /not an fhe SecretKey/);
  assert.throws(() => bfvCoefficients(raw.subarray(0, 100)), /length/);
});

test('the needle list covers the export, its windows and the coefficient forms', () => {
  const names = needles.map((n) => n.name);
  for (const n of ['bfv raw export', 'bfv raw export hex', 'bfv raw export base64', 'bfv s[0..64] i8', 'bfv s[0..64] i64le',
    'bfv s[0..64] i32be', 'bfv s[0..64] f64le', 'bfv s[0..64] decimal 0', `bfv s[8128..8192] mod ${MODULI[2]} u64le`]) {
    assert.ok(names.includes(n), n);
  }
  // base64url forms equal to the base64 ones are listed once, under base64: checked by content.
  const has = (text) => needles.some((n) => n.bytes.equals(Buffer.from(text)));
  for (const at of [0, Math.floor((raw.length - 64) / 2), raw.length - 64]) {
    assert.ok(has(raw.subarray(at, at + 64).toString('base64url')), `window ${at} base64url`);
  }
  assert.ok(needles.every((n) => n.bytes.length >= 16), 'no needle shorter than 16 bytes');
  // JSON of the whole coefficient vector contains the window's decimal text.
  const json = Buffer.from(JSON.stringify({ s: coeffs }));
  assert.ok(searchRequests([{ url: 'http://x/', method: 'POST', headers: {}, body: json }], needles).length > 0);
});

test('every needle is found in a body among random bytes, and text needles in a URL', () => {
  for (const [i, n] of needles.entries()) {
    const body = Buffer.concat([randomBytes(1 + (i % 7), i), n.bytes, randomBytes(5, i + 1)]);
    assert.equal(searchRequests([{ url: 'http://x/v1/health', method: 'POST', headers: {}, body }], [n]).length, 1, n.name);
    if (/hex|HEX|base64|decimal 0/.test(n.name)) {
      const url = `http://x/v1/health?probe=${encodeURIComponent(n.bytes.toString())}`;
      assert.ok(searchRequests([{ url, method: 'GET', headers: {} }], [n]).some((h) => h.part.endsWith('url')), `${n.name} in URL`);
    }
  }
});

test('ciphertext-like random bytes, another key and JSON are not flagged', () => {
  const requests = [
    { url: 'http://127.0.0.1:4000/v1/secure/models/m/predict?evaluation_key=k', method: 'POST', headers: {}, body: randomBytes(20_000_000, 5) },
    { url: 'http://127.0.0.1:4000/v1/secure/evaluation-keys', method: 'POST', headers: {}, body: bfvExport(43).raw },
    { url: 'http://127.0.0.1:4000/v1/secure/models', method: 'POST', headers: {}, body: Buffer.from(JSON.stringify({ name: 'm', grants: ['b'], model: { weights: Array.from({ length: 8000 }, (_, i) => (i * 7) % 31 - 15) } })) },
  ];
  assert.deepEqual(searchRequests(requests, needles), []);
});

test('plaintext needles: found in a stored file, not in other files', async () => {
  const r = rng(9);
  const width = 784, samples = 3, outputs = 10;
  const x = new Float32Array(samples * width).map((_, i) => ((i % width) > 150 && r() < 0.4 ? Math.fround(r()) : 0));
  const model = { input: { offset: [0], scale: [Math.fround(1 / 15)], min: 0, max: 15 } };
  const values = Array.from({ length: samples * outputs }, () => Math.floor((r() - 0.5) * 2 ** 40));
  const predictions = Array.from({ length: 64 }, () => Math.floor(10 * r()));
  const plain = plaintextNeedles({ x, width, samples, model, values, outputs, predictions });
  assert.equal(quantizeValue(model.input, 0, 1), 15);
  const half = { offset: [0], scale: [2], min: -15, max: 15 };
  assert.deepEqual([5, -5, 31, -31].map((v) => quantizeValue(half, 0, v)), [3, -3, 15, -15]); // f32::round, clamped
  const dir = await mkdtemp(path.join(os.tmpdir(), 'leak-secure-'));
  try {
    await mkdir(path.join(dir, 'blobs'));
    await writeFile(path.join(dir, 'blobs', 'other'), randomBytes(1_000_000, 3));
    assert.deepEqual(await searchDir(dir, plain), []);
    await writeFile(path.join(dir, 'blobs', 'row'), Buffer.concat([randomBytes(9, 1), Buffer.from(x.buffer), randomBytes(3, 2)]));
    await writeFile(path.join(dir, 'db'), Buffer.from(`name=${values.slice(10, 20).join(',')};`));
    const hits = await searchDir(dir, plain);
    assert.deepEqual(hits.map((h) => h.file).sort(), ['blobs/row', 'db']);
    assert.ok(hits.find((h) => h.file === 'db').needles.includes('sample 1 outputs decimal 0'));
    for (let s = 0; s < samples; s++) {
      assert.ok(hits.find((h) => h.file === 'blobs/row').needles.some((n) => n.startsWith(`sample ${s} pixels`) && n.endsWith('f32le')), `sample ${s}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
