// The file readers, without a browser (pure functions of formats.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataError, parseCsv, parseIdx, permutation, tableFromCsv } from '../formats.js';

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
