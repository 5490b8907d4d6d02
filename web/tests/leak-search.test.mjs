// Unit tests of the key-leak search (leak-search.mjs): every encoding is found wherever it sits in a
// request, and ordinary traffic (ciphertext planes, JSON, another key) is not flagged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, rng } from './helpers.mjs';
import { base64Forms, decimalForms, exportValues, keyNeedles, searchBytes, searchRequests, significantDigits } from './leak-search.mjs';

/** A raw export like more-client's: magic, S (Gaussian-ish entries), m0, r0. */
function rawExport(seed, magic = 'MOREKEY2') {
  const r = rng(seed);
  const raw = Buffer.alloc(56);
  raw.write(magic, 0, 'latin1');
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  [gauss(), gauss(), gauss(), gauss(), 0.5 + r(), -(0.5 + r())].forEach((v, i) => raw.writeDoubleLE(v, 8 + 8 * i));
  return raw;
}

const raw = rawExport(42);
const needles = keyNeedles(raw);
const [s00, s01, s10, s11, m0, r0] = exportValues(raw);

test('the needle list covers every required encoding', () => {
  // Identical byte strings are listed once (e.g. base64 and base64url agree when there is no + or
  // /), so base64url is checked by content.
  const names = needles.map((n) => n.name);
  const has = (bytes) => needles.some((n) => n.bytes.equals(Buffer.from(bytes)));
  const f = (v, bits, le) => { const b = Buffer.alloc(bits / 8); b[`write${bits === 64 ? 'Double' : 'Float'}${le ? 'LE' : 'BE'}`](v, 0); return b; };
  for (const [i, v] of exportValues(raw).entries()) {
    for (const bits of [64, 32]) {
      for (const le of [true, false]) {
        const b = f(v, bits, le);
        for (const text of [b.toString('hex'), b.toString('hex').toUpperCase(), b.toString('base64'), b.toString('base64url')]) {
          assert.ok(has(text), `value ${i} f${bits}${le ? 'le' : 'be'} ${text}`);
        }
        if (bits === 64) assert.ok(has(b), `value ${i} f64 bytes`);
      }
    }
  }
  for (const v of ['S00', 'S01', 'S10', 'S11', 'm0', 'r0']) {
    for (const form of ['f64le', 'f64be']) {
      assert.ok(names.includes(`${v} ${form}`), `${v} ${form}`);
      for (const text of ['hex', 'HEX', 'base64']) assert.ok(names.includes(`${v} ${form} ${text}`), `${v} ${form} ${text}`);
    }
    for (const form of ['f32le', 'f32be']) {
      for (const text of ['hex', 'HEX', 'base64']) assert.ok(names.includes(`${v} ${form} ${text}`), `${v} ${form} ${text}`);
    }
    assert.ok(names.some((n) => n.startsWith(`${v} decimal`)), `${v} decimal`);
  }
  for (const run of ['S f32le', 'S f32be', '(m0,r0) f32le', '(m0,r0) f32be', 'S f64le', 'S f64be']) assert.ok(names.includes(run), run);
  for (const n of ['raw export', 'raw export hex', 'raw export HEX', 'raw export base64']) assert.ok(names.includes(n), n);
  assert.ok(has(raw.toString('base64url')), 'raw export base64url');
  assert.ok(needles.every((n) => n.bytes.length >= 6), 'no needle shorter than 6 bytes');
});

test('every needle is found in a body among random bytes, and text needles in a URL', () => {
  for (const [i, n] of needles.entries()) {
    const body = Buffer.concat([randomBytes(1 + (i % 7), i), n.bytes, randomBytes(5, i + 1)]);
    const hits = searchRequests([{ url: 'http://x/v1/health', method: 'POST', headers: {}, body }], [n]);
    assert.equal(hits.length, 1, n.name);
    if (/hex|HEX|base64|decimal/.test(n.name)) {
      const url = `http://x/v1/health?probe=${encodeURIComponent(n.bytes.toString())}`;
      assert.ok(searchRequests([{ url, method: 'GET', headers: {} }], [n]).some((h) => h.part.endsWith('url')), `${n.name} in URL`);
      assert.ok(searchRequests([{ url: 'http://x/', method: 'GET', headers: { 'x-probe': n.bytes.toString() } }], [n]).length, `${n.name} in a header`);
    }
  }
});

test('the key inside a longer base64 or hex message is found at every byte alignment', () => {
  for (let k = 0; k < 6; k++) {
    for (const [name, bytes] of [['raw export', raw], ['S00 f64le', raw.subarray(8, 16)], ['m0 f64be', Buffer.from(raw.subarray(40, 48)).reverse()]]) {
      const msg = Buffer.concat([randomBytes(k, 7 + k), bytes, randomBytes(4, 9 + k)]);
      for (const enc of ['base64', 'base64url', 'hex']) {
        const found = searchBytes(Buffer.from(msg.toString(enc)), needles);
        // base64url needles equal to the base64 ones are listed under the base64 name
        assert.ok(found.some((f) => f.startsWith(`${name} ${enc.slice(0, 3)}`)), `${name} ${enc} at offset ${k}: ${found}`);
      }
    }
  }
});

test('typical buggy serializations are caught', () => {
  const S = [s00, s01, s10, s11];
  const cases = {
    'JSON of the f64 values': JSON.stringify({ s: S, m0, r0 }),
    'JSON of a Float32Array': JSON.stringify(Array.from(new Float32Array(S))),
    'Rust {:e} of S00': (() => {
      const d = String(Math.abs(s00)).replace('.', '').replace(/^0+/, '');
      return `${s00 < 0 ? '-' : ''}${d[0]}.${d.slice(1)}e${Math.floor(Math.log10(Math.abs(s00)))}`;
    })(),
    'six significant digits': S.map((v) => v.toPrecision(6)).join(','),
    'Rust {:.6}': `m0=${m0.toFixed(6)}`,
    'shortest f32 (Rust {} of f32)': String(Number(Math.fround(r0).toPrecision(8))),
    'Float32Array bytes': Buffer.from(new Float32Array(S).buffer),
    'Float64Array bytes': Buffer.from(new Float64Array([m0]).buffer),
    'big-endian f32 run': (() => { const b = Buffer.alloc(8); b.writeFloatBE(m0, 0); b.writeFloatBE(r0, 4); return b; })(),
    'btoa of one f32': Buffer.from(new Float32Array([s11]).buffer).toString('base64'),
  };
  for (const [what, body] of Object.entries(cases)) {
    const hits = searchRequests([{ url: 'http://x/v1/datasets', method: 'POST', headers: {}, body: Buffer.from(body) }], needles);
    assert.ok(hits.length > 0, `${what}: ${body}`);
  }
});

test('ordinary traffic is not flagged: ciphertext-like f32 planes, JSON, another key', () => {
  // 1.5 M f32 values of the key entries' magnitude, as in the uploaded planes.
  const r = rng(5);
  const planes = new Float32Array(1_500_000).map(() => 4 * r() - 2);
  const requests = [
    { url: 'http://127.0.0.1:4000/v1/datasets/ds_0123456789abcdef/features', method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from(planes.buffer) },
    { url: 'http://127.0.0.1:4000/v1/jobs', method: 'POST', headers: { 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ model_id: 'm1', dataset_id: 'd1', epochs: 3, batch_size: 32, optimizer: { type: 'sgd', learning_rate: 0.1, momentum: 0 }, loss: 'cross_entropy', seed: 7 })) },
    { url: 'http://127.0.0.1:4000/v1/models', method: 'POST', headers: {}, body: Buffer.from(JSON.stringify({ name: 'MNIST sample mnist_mlp', preset: 'mnist_mlp', input_shape: [1, 28, 28], outputs: 10 })) },
    { url: 'http://127.0.0.1:4000/v1/health', method: 'POST', headers: {}, body: rawExport(43) },
  ];
  assert.deepEqual(searchRequests(requests, needles), []);
});

test('decimal forms: at least 5 significant digits and 6 characters', () => {
  assert.equal(significantDigits('-0.0012340'), 5);
  assert.equal(significantDigits('1.23456e-7'), 6);
  assert.deepEqual(decimalForms(0.93), ['0.930000', '0.9300000071525574']);
  assert.ok(decimalForms(-0.7234561234567891).includes('-0.723456'));
  assert.ok(decimalForms(0.7234501).includes('0.72345'), 'trimmed six-digit form');
  assert.ok(decimalForms(-1.2345678).includes('-1.23457'));
  assert.ok(decimalForms(0.0123456789).every((s) => significantDigits(s) >= 5 && s.length >= 6));
  assert.ok(!decimalForms(0.1).includes('0.1'));
});

test('base64 forms and input checks', () => {
  assert.deepEqual(base64Forms(Buffer.from([0xfb, 0xff, 0xfe, 0x01]), 'base64url').slice(0, 2), ['-__-AQ==', '-__-AQ']);
  assert.throws(() => exportValues(Buffer.alloc(56)), /not a raw key export/);
  assert.throws(() => exportValues(raw.subarray(0, 40)), /not a raw key export/);
  assert.equal(exportValues(rawExport(1, 'MOREKEY1')).length, 6);
});
