// A page on another site cannot drive the node. A second page, served from another loopback
// port (another origin), is loaded in headless Chromium and tries everything a web page can send
// to the node: simple and preflighted fetches, no-cors fetches, a beacon, a form post, a delete
// and a read. Afterwards the node holds no dataset and the page could read nothing. Control: the
// same page on a node started with `--cors-origin` for its origin does create a dataset and read
// the list, so the check sees a creation when there is one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { launchBrowser, startNode } from './helpers.mjs';

const ATTACKER_PAGE = `<!doctype html><meta charset="utf-8"><title>another site</title>
<iframe name="sink"></iframe>
<form id="form" method="post" enctype="text/plain" target="sink"><input name='{"name":"form","task":"regression","x":"' value='"}'></form>
<script>
async function attempt(name, run) {
  try { return [name, await run()]; } catch (e) { return [name, 'error: ' + e.name]; }
}
window.attack = async (node) => {
  const body = JSON.stringify({ name: 'evil', task: 'regression' });
  const datasets = node + '/v1/datasets';
  const results = await Promise.all([
    attempt('simple text/plain fetch', () => fetch(datasets, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body }).then((r) => r.type)),
    attempt('no-cors JSON fetch', () => fetch(datasets, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'application/json' }, body }).then((r) => r.type)),
    attempt('cors JSON fetch', () => fetch(datasets, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.status)),
    attempt('beacon', () => navigator.sendBeacon(datasets, new Blob([body], { type: 'text/plain' }))),
    attempt('delete', () => fetch(datasets + '/' + '0'.repeat(32), { method: 'DELETE' }).then((r) => r.status)),
    attempt('read the list', () => fetch(datasets).then((r) => r.json()).then((list) => 'read ' + list.length)),
  ]);
  const form = document.getElementById('form');
  form.action = datasets;
  form.submit();
  await new Promise((r) => setTimeout(r, 1000));
  return Object.fromEntries(results);
};
</script>`;

let browser;
let attacker;

before(async () => {
  browser = await launchBrowser();
  attacker = http.createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(ATTACKER_PAGE);
  });
  await new Promise((r) => attacker.listen(0, '127.0.0.1', r));
});

after(async () => {
  await browser?.close();
  await new Promise((r) => attacker.close(r));
});

const attackerOrigin = () => `http://127.0.0.1:${attacker.address().port}`;

/** Loads the attacker page, runs every attempt against `node`; returns what the page saw. */
async function attack(node) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const sent = [];
  page.on('request', (r) => { if (r.url().startsWith(node.url)) sent.push(`${r.method()} ${new URL(r.url()).pathname}`); });
  await page.goto(attackerOrigin());
  const seen = await page.evaluate((url) => window.attack(url), node.url);
  await context.close();
  return { seen, sent };
}

async function datasetNames(node) {
  const res = await fetch(`${node.url}/v1/datasets`);
  return (await res.json()).map((d) => d.name);
}

test('a page on another origin cannot create, delete or read anything', { timeout: 120_000 }, async () => {
  const node = await startNode();
  try {
    const { seen, sent } = await attack(node);
    // The requests did reach the node (this is not a test of a blocked network).
    assert.ok(sent.filter((s) => s === 'POST /v1/datasets').length >= 3, JSON.stringify(sent));
    assert.deepEqual(await datasetNames(node), [], `nothing created; the page saw ${JSON.stringify(seen)}`);
    assert.equal(seen['cors JSON fetch'], 'error: TypeError', 'no CORS grant: the preflight fails');
    assert.equal(seen['read the list'], 'error: TypeError', 'answers cannot be read from another origin');
    assert.equal(seen.delete, 'error: TypeError');
    assert.match(node.log(), /request refused|415|403/);
  } finally {
    await node.stop();
  }
});

test('control: with --cors-origin for that page, the same attempts do create and read', { timeout: 120_000 }, async () => {
  const node = await startNode({ args: ['--cors-origin', attackerOrigin()] });
  try {
    const { seen } = await attack(node);
    assert.equal(seen['cors JSON fetch'], 201, JSON.stringify(seen));
    assert.match(String(seen['read the list']), /^read /);
    assert.ok((await datasetNames(node)).includes('evil'));
  } finally {
    await node.stop();
  }
});
