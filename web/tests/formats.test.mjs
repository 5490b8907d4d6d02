// The page's readers without a browser: the data rules the Worker calls (the library's, in the
// wasm client the page loads: readTable, profileTable, readIdx; web/pkg, or MORE_WEB_PKG) and the
// page's own helpers in formats.js (the bundled sample's shuffle, the drawing pad).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { permutation } from '../formats.js';
import { repoRoot } from './helpers.mjs';

const pkg = path.resolve(repoRoot, process.env.MORE_WEB_PKG ?? 'web/pkg');
const wasm = await import(pathToFileURL(path.join(pkg, 'more_wasm.js')).href);
wasm.initSync({ module: readFileSync(path.join(pkg, 'more_wasm_bg.wasm')) });
const bytes = (text) => new TextEncoder().encode(text);
const table = (text, targets, task = 'auto') => wasm.readTable(bytes(text), 'table.csv', targets, task);

/** IDX bytes: magic 0 0 8 rank, big-endian dims, then `data`. */
function idx(dims, data) {
  const b = new Uint8Array(4 + 4 * dims.length + data.length);
  const v = new DataView(b.buffer);
  b.set([0, 0, 8, dims.length]);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d));
  b.set(data, 4 + 4 * dims.length);
  return b;
}

test('readIdx reads an image/label pair and rejects truncation and bad magic', () => {
  const images = idx([10, 2, 2], Array.from({ length: 40 }, (_, i) => i * 6));
  const labels = idx([10], Array.from({ length: 10 }, (_, i) => i));
  const ds = wasm.readIdx(['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'], [images, labels], 2000);
  assert.deepEqual(Array.from(ds.train.featureShape), [1, 2, 2]);
  assert.equal(ds.train.rows + ds.test.rows, 10);
  assert.deepEqual(Array.from(ds.train.classNames), [...'0123456789']);
  assert.throws(() => wasm.readIdx(['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'], [images.subarray(0, 30), labels], 2000), /truncated/);
  assert.throws(() => wasm.readIdx(['a', 'b'], [new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), labels], 2000), /not an IDX file/);
});

test('readTable handles quotes, CRLF and semicolons with decimal commas; rejects ragged rows', () => {
  const rows = Array.from({ length: 20 }, (_, i) => `"x,${i}",${i},${i % 2}`);
  const quoted = table(`name,v,y\r\n${rows.join('\r\n')}\r\n`, ['y']);
  assert.deepEqual(Array.from(quoted.train.featureNames), ['v'], 'a text column of unique values is left out');
  const semi = table(`a;b\n${Array.from({ length: 20 }, (_, i) => `${i},5;${i % 2}`).join('\n')}\n`, ['b']);
  assert.equal(semi.train.rows + semi.test.rows, 20);
  assert.ok(semi.notes.some((n) => /decimal comma/.test(n)), semi.notes.join('\n'));
  assert.throws(() => table('a,b\n1\n2,3\n', ['b']), /row|field/i);
});

test('readTable standardizes features and regression targets on the training split', () => {
  const rows = Array.from({ length: 50 }, (_, i) => `${i},${2 * i + 1},${i % 3},id${i}`);
  const { train, test, targetScale } = table(`x,z,y,name\n${rows.join('\n')}\n`, ['y'], 'regression');
  assert.deepEqual(Array.from(train.featureShape), [2]);
  assert.equal(train.rows + test.rows, 50);
  const mean = train.x.filter((_, i) => i % 2 === 0).reduce((a, b) => a + b, 0) / train.rows;
  assert.ok(Math.abs(mean) < 1e-5);
  assert.ok(targetScale.std[0] > 0);
  const cls = table(`x,z,y,name\n${rows.join('\n')}\n`, ['y'], 'classification');
  assert.equal(cls.train.targetDim, 3);
  assert.throws(() => table('a,b\n1,2\n', ['c'], 'regression'), /"c" not found/);
});

test('permutation is a seeded shuffle', () => {
  assert.deepEqual(permutation(10, 3), permutation(10, 3));
  assert.deepEqual([...permutation(10, 3)].sort((a, b) => a - b), [...Array(10).keys()]);
});

test('profileTable: a blank cell or NA is missing, not "not numeric"; text is counted with examples', () => {
  const { profile: p } = wasm.profileTable(bytes('a,b,c\n1,,x\n2,NA,y\n3,4.5,7\n'), 't.csv', []);
  assert.deepEqual(p.map((c) => [c.name, c.numeric, c.missing, c.nonNumeric]), [['a', 3, 0, 0], ['b', 1, 2, 0], ['c', 1, 0, 2]]);
  assert.deepEqual(p[2].examples, ['x', 'y']);
  assert.equal(p[0].integer, true);
  assert.equal(p[1].integer, false);
  assert.deepEqual([p[0].min, p[0].mean, p[0].max], [1, 2, 3]);
});

test('profileTable guesses the task: few whole-number values or text labels → classification, else regression', () => {
  const rows = Array.from({ length: 60 }, (_, i) => `${i},${i % 3},${(i * 0.37).toFixed(2)},${i},${'abc'[i % 3]}`);
  const guess = (targets) => wasm.profileTable(bytes(`x,k,r,many,s\n${rows.join('\n')}\n`), 't.csv', targets).guessedTask;
  assert.equal(guess(['k']), 'classification');
  assert.equal(guess(['s']), 'classification');
  assert.equal(guess(['r']), 'regression');
  assert.equal(guess(['many']), 'regression', '60 distinct integers');
  assert.equal(guess(['k', 'r']), 'regression', 'several targets');
  assert.equal(guess(['nope']), null, 'not a column');
});

test('readTable: missing features imputed with the training mean, bad rows dropped, each said', () => {
  const rows = Array.from({ length: 30 }, (_, i) => `${i},${i % 2 ? 10 : 20},${i % 2}`);
  rows[3] = '3,,1';
  rows[4] = '4,abc,0';
  rows[5] = '5,20,';
  const { train, test, notes } = table(`x,z,y\n${rows.join('\n')}\n`, ['y']);
  assert.equal(train.task, 'classification');
  assert.equal(train.rows + test.rows, 28);
  const text = notes.join('\n');
  assert.match(text, /1 row dropped: the target is missing/);
  assert.match(text, /1 row dropped: column "z" holds text/);
  assert.match(text, /1 missing value in "z" filled in with the training rows' mean/);
  assert.ok([...train.x, ...test.x].every(Number.isFinite));
});

test('mnistPreprocess: ink scaled into a 20×20 box, centre of mass at the centre of 28×28', async () => {
  const { mnistPreprocess } = await import('../formats.js');
  const w = 280, h = 280;
  const img = new Float32Array(w * h);
  // A tall stroke in the top-left corner: 20 px wide, 120 px high.
  for (let y = 10; y < 130; y++) for (let x = 15; x < 35; x++) img[y * w + x] = 1;
  const out = mnistPreprocess(img, w, h);
  let m = 0, mx = 0, my = 0, x0 = 28, x1 = -1, y0 = 28, y1 = -1;
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
    const v = out[y * 28 + x];
    if (v > 0) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    m += v; mx += v * (x + 0.5); my += v * (y + 0.5);
  }
  assert.equal(y1 - y0 + 1, 20, 'the long side fills 20 px');
  assert.ok(x1 - x0 + 1 <= 4, 'aspect kept');
  assert.ok(Math.abs(mx / m - 14) <= 0.5 && Math.abs(my / m - 14) <= 0.5, `centre of mass ${mx / m}, ${my / m}`);
  assert.equal(mnistPreprocess(new Float32Array(w * h), w, h), null);
});
