// The page polls GET /v1/health (app.js checkHealth, every 5 s): when the node stops, the page says
// "Compute node unreachable" instead of keeping a stale "ok"; when a node answers again on the same
// address, it says ok again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, startNode } from './helpers.mjs';

let node, browser, page;
before(async () => {
  node = await startNode();
  browser = await launchBrowser();
  page = await openPage(browser, node.url);
});
after(async () => {
  await browser?.close();
  await node?.stop();
});

const health = () => page.getAttribute('#node-status', 'data-health');

test('node health: stopped node shown as unreachable, restarted node as ok again', { timeout: 120_000 }, async (t) => {
  assert.equal(await health(), 'ok');
  assert.match(await page.textContent('#node-status'), /^Compute node ok/);

  const port = Number(new URL(node.url).port);
  await node.stop();
  const t0 = Date.now();
  await page.waitForFunction(() => document.querySelector('#node-status').dataset.health === 'unreachable', null, { timeout: 15_000 });
  const text = await page.textContent('#node-status');
  t.diagnostic(`after stopping the node (${Date.now() - t0} ms): ${text}`);
  assert.match(text, /Compute node unreachable/);
  assert.doesNotMatch(text, /Compute node ok/);

  node = await startNode({ port });
  const t1 = Date.now();
  await page.waitForFunction(() => document.querySelector('#node-status').dataset.health === 'ok', null, { timeout: 15_000 });
  t.diagnostic(`after starting a node on port ${port} again (${Date.now() - t1} ms): ${await page.textContent('#node-status')}`);
  assert.match(await page.textContent('#node-status'), /^Compute node ok/);
  assert.deepEqual(page.errors, []);
});
