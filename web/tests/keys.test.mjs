// Keys in the page: the production page cannot export the raw key; its security note; a key of
// the old generation 1 (made before 2026-12-01, public basis reveals the data) loads with a
// warning and still decrypts; a new key has no warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { answerPassphrase, callWorker, generateKey, openPage, pageFixture, rawKey, repoRoot, screenshot } from './helpers.mjs';

const run = promisify(execFile);
const fx = pageFixture({ page: false });

test('the production page: no raw key export, a current key, the security note', async () => {
  const page = await openPage(fx.browser, fx.node.url, { testPackage: false });
  await generateKey(page);
  await assert.rejects(callWorker(page, 'rawKeyHex'), /unknown operation rawKeyHex/);
  assert.equal(await page.evaluate(async () => (await import('/app.js')).state.generation), 2);
  assert.equal(await page.textContent('#key-warning'), '');

  const note = (await page.textContent('#security-note')).replace(/\s+/g, ' ');
  assert.match(note, /MORE over the reals does not protect data against whoever holds the ciphertexts, including the node\./);
  assert.match(note, /The key stays in the page/);
  const href = await page.getAttribute('#security-note a', 'href');
  assert.equal(href, 'security');
  const res = await page.request.get(`${fx.node.url}/${href}`);
  assert.equal(res.status(), 200, 'SECURITY.md is served as HTML next to the page (hygiene.test.mjs opens it)');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a generation-1 key loads with a warning and still decrypts; a new key clears it', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'more-legacy-'));
  const file = path.join(dir, 'old.morekey');
  const { stdout } = await run(path.join(repoRoot, 'target/release/examples/legacy_key_file'), [file, 'old passphrase', '3']);
  const fingerprint = stdout.trim();

  const page = await openPage(fx.browser, fx.node.url);
  await page.setInputFiles('#key-import', { name: 'old.morekey', mimeType: 'application/octet-stream', buffer: await readFile(file) });
  await answerPassphrase(page, 'old passphrase');
  await page.waitForFunction((fp) => document.querySelector('#fingerprint').textContent === fp, fingerprint);
  assert.equal((await rawKey(page)).subarray(0, 8).toString('latin1'), 'MOREKEY1');

  const warning = await page.textContent('[role=alert]#key-warning');
  assert.match(warning, /generation 1/);
  assert.match(warning, /public basis reveals the data it encrypts/);
  assert.match(warning, /still decrypts/);
  assert.match(warning, /make a new key/);
  assert.ok(await page.isVisible('#key-warning'));

  // Old data still decrypts: encrypt under the old key in the worker, decrypt, compare.
  const values = [0, 0.25, 0.5, 1, -3.5, 7];
  const roundTrip = await page.evaluate(async (values) => {
    const { call } = await import('/client.js');
    const bytes = await call('encrypt', { data: new Float32Array(values), shape: [values.length] });
    return Array.from((await call('decrypt', { bytes })).data);
  }, values);
  roundTrip.forEach((v, i) => assert.ok(Math.abs(v - values[i]) <= 1e-5 * Math.max(1, Math.abs(values[i])), `${v} vs ${values[i]}`));

  await generateKey(page);
  assert.equal(await page.textContent('#key-warning'), '');
  assert.equal((await rawKey(page)).subarray(0, 8).toString('latin1'), 'MOREKEY2');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a failed key import changes nothing: the active key and its fingerprint stay', async (t) => {
  const page = await openPage(fx.browser, fx.node.url);
  const fingerprint = await generateKey(page);
  const raw = await rawKey(page);
  const wrappedHex = (await callWorker(page, 'exportWrapped', { passphrase: 'right' })).hex;
  const attempts = [
    { name: 'wrong-passphrase.morekey', buffer: Buffer.from(wrappedHex, 'hex'), passphrase: 'wrong' },
    { name: 'notes.morekey', buffer: Buffer.from('not a key file at all'), passphrase: 'x' },
  ];
  for (const a of attempts) {
    await page.setInputFiles('#key-import', { name: a.name, mimeType: 'application/octet-stream', buffer: a.buffer });
    // The active key was never saved: the page asks before an import may replace it (key-step.js).
    await page.click('#replace-dialog[open] button[value=replace]');
    await answerPassphrase(page, a.passphrase);
    await page.waitForFunction(() => document.querySelector('#key-error').textContent.length > 0);
    const error = await page.textContent('[role=alert]#key-error');
    t.diagnostic(error);
    assert.match(error, new RegExp(`^Import of ${a.name.replace('.', '\\.')} failed: .*The active key is still ${fingerprint}\\.$`));
    assert.equal(await page.textContent('#fingerprint'), fingerprint, 'the fingerprint stays visible');
    assert.ok((await rawKey(page)).equals(raw), 'the worker still holds the same key');
    assert.equal(await page.evaluate(async () => (await import('/app.js')).state.fingerprint), fingerprint);
    if (a.passphrase === 'wrong') await screenshot(page, 'key-import-failed', 'section[aria-labelledby=key-title]');
    await page.evaluate(() => { document.querySelector('#key-error').textContent = ''; });
  }
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

// New passphrases are judged by an estimator (zxcvbn), not by length: web/tests/hygiene.test.mjs.
