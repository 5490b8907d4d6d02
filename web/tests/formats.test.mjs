// The file readers, without a browser (pure functions of formats.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataError, columnProfile, guessTask, parseCsv, parseIdx, permutation, tableFromCsv } from '../formats.js';

test('parseIdx reads a well-formed file and rejects truncation and bad magic', () => {
  const good = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]);
  assert.deepEqual(parseIdx(good).dims, [3]);
  assert.deepEqual(Array.from(parseIdx(good).data), [7, 8, 9]);
  assert.throws(() => parseIdx(good.subarray(0, 10)), /truncated/);
  assert.throws(() => parseIdx(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])), DataError);
});

test('parseCsv handles quotes, CRLF and semicolons; rejects ragged rows', () => {
  assert.deepEqual(parseCsv('a,b\r\n"x,1",2\r\n'), { header: ['a', 'b'], rows: [['x,1', '2']] });
  assert.deepEqual(parseCsv('a;b\n1;2\n').rows, [['1', '2']]);
  assert.throws(() => parseCsv('a,b\n1\n'), /row 2 has 1 fields/);
});

test('tableFromCsv standardizes features and regression targets on the training split', () => {
  const rows = Array.from({ length: 50 }, (_, i) => `${i},${2 * i + 1},${i % 3},id${i}`);
  const { train, test } = tableFromCsv(`x,z,y,name\n${rows.join('\n')}\n`, { targets: ['y'], task: 'regression' });
  assert.deepEqual(train.featureShape, [2]);
  assert.equal(train.rows + test.rows, 50);
  const mean = train.x.filter((_, i) => i % 2 === 0).reduce((a, b) => a + b, 0) / train.rows;
  assert.ok(Math.abs(mean) < 1e-5);
  assert.ok(train.targetScale.std[0] > 0);
  const cls = tableFromCsv(`x,z,y,name\n${rows.join('\n')}\n`, { targets: ['y'], task: 'classification' });
  assert.equal(cls.train.targetDim, 3);
  assert.throws(() => tableFromCsv('a,b\n1,2\n', { targets: ['c'], task: 'regression' }), /"c" not found/);
});

test('permutation is a seeded shuffle', () => {
  assert.deepEqual(permutation(10, 3), permutation(10, 3));
  assert.deepEqual([...permutation(10, 3)].sort((a, b) => a - b), [...Array(10).keys()]);
});

test('columnProfile: a blank cell or NA is missing, not "not numeric"; text is counted with examples', () => {
  const p = columnProfile(parseCsv('a,b,c\n1,,x\n2,NA,y\n3,4.5,7\n'));
  assert.deepEqual(p.map((c) => [c.name, c.numeric, c.missing, c.nonNumeric]), [['a', 3, 0, 0], ['b', 1, 2, 0], ['c', 1, 0, 2]]);
  assert.deepEqual(p[2].examples, ['x', 'y']);
  assert.equal(p[0].integer, true);
  assert.equal(p[1].integer, false);
});

test('guessTask: few whole-number values or text labels → classification, else regression', () => {
  const rows = Array.from({ length: 60 }, (_, i) => `${i},${i % 3},${(i * 0.37).toFixed(2)},${i},${'abc'[i % 3]}`);
  const p = columnProfile(parseCsv(`x,k,r,many,s\n${rows.join('\n')}\n`));
  assert.equal(guessTask(p, ['k']), 'classification');
  assert.equal(guessTask(p, ['s']), 'classification');
  assert.equal(guessTask(p, ['r']), 'regression');
  assert.equal(guessTask(p, ['many']), 'regression', '60 distinct integers');
  assert.equal(guessTask(p, ['k', 'r']), 'regression', 'several targets');
});

test('tableFromCsv: missing features imputed with the training mean, bad rows dropped, each said', () => {
  const rows = Array.from({ length: 30 }, (_, i) => `${i},${i % 2 ? 10 : 20},${i % 2}`);
  rows[3] = '3,,1';
  rows[4] = '4,abc,0';
  rows[5] = '5,20,';
  const { train, test, } = tableFromCsv(`x,z,y\n${rows.join('\n')}\n`, { targets: ['y'] });
  assert.equal(train.task, 'classification');
  assert.equal(train.rows + test.rows, 28);
  const notes = train.table.notes.join('\n');
  assert.match(notes, /1 row dropped: the target is missing/);
  assert.match(notes, /1 row dropped: column "z" holds text/);
  assert.match(notes, /1 missing value in "z" filled in with the training rows' mean/);
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
