// The page polls GET /v1/health (app.js checkHealth, every 5 s): when the node stops, the page says
// "Compute node unreachable" instead of keeping a stale "ok"; when a node answers again on the same
// address, it says ok again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageFixture, startNode } from './helpers.mjs';

const fx = pageFixture();

const health = () => fx.page.getAttribute('#node-status', 'data-health');

test('node health: stopped node shown as unreachable, restarted node as ok again', { timeout: 120_000 }, async (t) => {
  assert.equal(await health(), 'ok');
  assert.match(await fx.page.textContent('#node-status'), /^Compute node ok/);

  const port = Number(new URL(fx.node.url).port);
  await fx.node.stop();
  const t0 = Date.now();
  await fx.page.waitForFunction(() => document.querySelector('#node-status').dataset.health === 'unreachable', null, { timeout: 15_000 });
  const text = await fx.page.textContent('#node-status');
  t.diagnostic(`after stopping the node (${Date.now() - t0} ms): ${text}`);
  assert.match(text, /Compute node unreachable/);
  assert.doesNotMatch(text, /Compute node ok/);

  fx.node = await startNode({ port });
  const t1 = Date.now();
  await fx.page.waitForFunction(() => document.querySelector('#node-status').dataset.health === 'ok', null, { timeout: 15_000 });
  t.diagnostic(`after starting a node on port ${port} again (${Date.now() - t1} ms): ${await fx.page.textContent('#node-status')}`);
  assert.match(await fx.page.textContent('#node-status'), /^Compute node ok/);
  assert.deepEqual(fx.page.errors, []);
});
