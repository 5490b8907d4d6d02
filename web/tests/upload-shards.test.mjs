// Upload in shards with resume (issue #32): the page cuts the training rows into shards of the
// "shard size" it is given, encrypts each in the key worker and appends it with POST
// /v1/datasets/{id}/shards?index=K. One shard's request is made to fail (the connection drops);
// "Encrypt and upload" again resumes: the node's shard list is read and the shards it confirmed
// are not sent again (counted on the node's side, in its access log), and the dataset ends with
// every row. On the page before issue #32 (one PUT of all features) this fails: no shards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageFixture, uploadData } from './helpers.mjs';

const fx = pageFixture({ testPackage: false, key: true });

/** 300 rows of six numeric features and a two-class label, from a seeded generator. */
function tableCsv() {
  let s = 7;
  const rand = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 4294967296; };
  const lines = ['a,b,c,d,e,f,label'];
  for (let i = 0; i < 300; i++) {
    const v = Array.from({ length: 6 }, () => (rand() * 10 - 5).toFixed(3));
    lines.push([...v, Number(v[0]) + Number(v[1]) > 0 ? 'yes' : 'no'].join(','));
  }
  return lines.join('\n') + '\n';
}

/** Each shard index's requests on the node, in order: their statuses. */
function shardRequests(id) {
  const re = new RegExp(`POST /v1/datasets/${id}/shards\\?index=(\\d+) HTTP/1\\.1 (\\d{3})`, 'g');
  const seen = new Map();
  for (const [, index, status] of fx.node.log().matchAll(re)) {
    seen.set(Number(index), [...(seen.get(Number(index)) ?? []), Number(status)]);
  }
  return seen;
}

test('an interrupted upload in shards resumes without sending a confirmed shard again', { timeout: 120_000 }, async (t) => {
  await fx.page.setInputFiles('#data-csv', { name: 'shards.csv', mimeType: 'text/csv', buffer: Buffer.from(tableCsv()) });
  await fx.page.fill('#csv-targets', 'label');
  await fx.page.dispatchEvent('#csv-targets', 'change');
  await fx.page.click('#csv-load');
  await fx.page.waitForFunction(() => /Not uploaded yet/.test(document.querySelector('#data-summary').textContent));
  // 64 rows of (6 features + 2 targets) x 8 bytes per shard.
  await fx.page.fill('#shard-mb', String((64 * 8 * 8) / (1 << 20)));
  const dropped = /\/shards\?index=2$/;
  await fx.page.route(dropped, (route) => route.abort('connectionreset'));
  assert.match(await uploadData(fx.page, { expectUploaded: false }), /Upload failed/);
  await fx.page.unroute(dropped);

  const status = await uploadData(fx.page);
  t.diagnostic(status);
  assert.match(status, /Uploaded encrypted dataset/);
  // Finding 10: people read the dataset's name, never its 32-hex id (kept in data-dataset-id).
  assert.doesNotMatch(status, /[0-9a-f]{32}/, status);
  const id = String(await fx.page.getAttribute('#upload-status', 'data-dataset-id'));
  const ds = await (await fetch(`${fx.node.url}/v1/datasets/${id}`)).json();
  const train = await fx.page.evaluate(() => document.querySelector('#data-summary').textContent);
  t.diagnostic(`${ds.shards.length} shards, ${ds.samples} samples; ${train}`);
  assert.ok(ds.shards.length >= 4, `${ds.shards.length} shards`);
  assert.equal(ds.shards.reduce((n, s) => n + s.samples, 0), ds.samples);
  assert.ok(ds.shards.slice(0, -1).every((s) => s.samples === 64), JSON.stringify(ds.shards));
  // On the node: every index confirmed exactly once, and the two confirmed before the drop
  // were not requested again.
  const seen = shardRequests(id);
  assert.deepEqual([...seen.keys()].sort((a, b) => a - b), ds.shards.map((s) => s.index));
  for (const [index, statuses] of seen) assert.deepEqual(statuses, [200], `shard ${index}: ${statuses}`);
  assert.match(status, /2 of them confirmed before and not sent again/);
});
