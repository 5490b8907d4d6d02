// Keys that are never lost (issue #29, finding 1), driven through the page's controls: a second
// "Generate a key" over a key that was never exported nor remembered asks first (export it, keep
// it, or replace it, saying how much work on the node would become unreadable); several keys are
// remembered in this browser, each by its name and fingerprint, and a picker unlocks the chosen
// one; the key of the former one-slot store is moved into the new store; the work panel's label
// of an object names its key.
//
// The page as shipped: its own wasm package web/pkg (.ci/build-web.sh); no test needs the raw key.
// On the page as it was (MORE_TEST_WEB_DIR=<a checkout's web/ at 220e911, with web/pkg built>) every test fails: the
// second key replaced the first without a word, and one "remembered key" slot was overwritten.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerPassphrase, callWorker, openPage, pageFixture, screenshot, uploadData } from './helpers.mjs';

const webDir = process.env.MORE_TEST_WEB_DIR ?? 'web';
const STRONG = 'maple quartz orbit lantern';
const fx = pageFixture({ node: { webDir }, page: false });

/** The page's console errors join its uncaught errors in `page.errors` (checked empty at the end). */
function consoleErrorsInto(page) {
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(`console: ${m.text()}`); });
  return page;
}
const fingerprintOf = (page) => page.textContent('#fingerprint');
const newFingerprint = (page, previous) => page.waitForFunction((p) => {
  const fp = document.querySelector('#fingerprint').textContent;
  return /^[0-9a-f]{16}$/.test(fp) && fp !== p;
}, previous, { timeout: 10_000 });

/** A small encrypted dataset of the active key on the node (20 MNIST digits), through the page. */
async function uploadSmallDataset(page) {
  await page.fill('#sample-train', '2');
  await page.fill('#sample-test', '1');
  await page.click('#data-sample');
  await page.waitForFunction(() => /20 training and 10 test/.test(document.querySelector('#data-summary').textContent));
  await uploadData(page, { timeout: 30_000 });
}

/** Remembers the active key in this browser under `name`. */
async function remember(page, name) {
  await page.click('#key-save');
  await page.waitForSelector('#pass-dialog[open]');
  await page.fill('#pass-name', name);
  await answerPassphrase(page, STRONG);
  await page.waitForSelector('#pass-dialog[open]', { state: 'detached' });
  await page.waitForFunction((n) => [...document.querySelectorAll('#key-pick option')].some((o) => o.textContent.includes(n)), name);
}

test('"Generate a key" over an unsaved key with work asks first: keep, export first, or replace', { timeout: 60_000 }, async () => {
  const page = consoleErrorsInto(await openPage(fx.browser, fx.node.url, { testPackage: false }));
  await page.click('#key-generate');
  const first = await newFingerprint(page, 'no key yet').then(() => fingerprintOf(page));
  await uploadSmallDataset(page);

  // Keep: nothing changes, and the dialog said what would be lost.
  await page.click('#key-generate');
  await page.waitForSelector('#replace-dialog[open]', { timeout: 5_000 });
  const text = await page.textContent('#replace-text');
  assert.match(text, new RegExp(`active key ${first} has not been exported or remembered`));
  assert.match(text, /1 dataset\(s\) and 0 model\(s\) on the node/);
  assert.match(text, /nobody can decrypt them again/);
  await screenshot(page, 'key-replace-dialog', '#replace-dialog');
  await page.click('#replace-dialog button[value=keep]');
  assert.equal(await fingerprintOf(page), first, 'the key was kept');

  // Export first: the key file is downloaded, then the new key replaces it.
  await page.click('#key-generate');
  await page.waitForSelector('#replace-dialog[open]');
  const [download] = await Promise.all([page.waitForEvent('download'), (async () => {
    await page.click('#replace-dialog button[value=export]');
    await answerPassphrase(page, STRONG);
  })()]);
  assert.equal(download.suggestedFilename(), `more-key-${first}.morekey`);
  const second = await newFingerprint(page, first).then(() => fingerprintOf(page));

  // The new key has no work and was never saved: still asked; "Replace it" replaces it.
  await page.click('#key-generate');
  await page.waitForSelector('#replace-dialog[open]');
  assert.match(await page.textContent('#replace-text'), /0 dataset\(s\) and 0 model\(s\)/);
  await page.click('#replace-dialog button[value=replace]');
  await newFingerprint(page, second);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('several keys remembered by name; the picker unlocks the chosen one; labels name the key; forget one', { timeout: 60_000 }, async () => {
  const page = consoleErrorsInto(await openPage(fx.browser, fx.node.url, { testPackage: false }));
  await page.click('#key-generate');
  await newFingerprint(page, 'no key yet');
  const a = await fingerprintOf(page);
  await remember(page, 'Ward A');
  // A remembered key is saved: a new key replaces it without asking.
  await page.click('#key-generate');
  await newFingerprint(page, a);
  const b = await fingerprintOf(page);
  await remember(page, 'Ward B');

  // A fresh tab of the same browser profile: both keys are offered, by name and fingerprint.
  const tab = await page.context().newPage();
  tab.errors = [];
  tab.on('pageerror', (e) => tab.errors.push(e.message));
  consoleErrorsInto(tab);
  await tab.goto(`${fx.node.url}/`);
  await tab.waitForSelector('body[data-ready="1"]');
  await tab.waitForSelector('#key-pick option', { state: 'attached' });
  const options = await tab.$$eval('#key-pick option', (os) => os.map((o) => [o.value, o.textContent]));
  assert.deepEqual(options.map(([v]) => v).sort(), [a, b].sort());
  assert.ok(options.some(([v, t]) => v === a && t.includes('Ward A') && t.includes(a)), JSON.stringify(options));
  assert.ok(options.some(([v, t]) => v === b && t.includes('Ward B')), JSON.stringify(options));
  await tab.selectOption('#key-pick', a);
  await tab.click('#key-load');
  await answerPassphrase(tab, STRONG);
  await tab.waitForFunction((fp) => document.querySelector('#fingerprint').textContent === fp, a);
  assert.match(await tab.textContent('#key-name'), /Ward A/);

  // The work panel's label of an object: its key's name, from the object's public basis.
  const labels = await tab.evaluate(async () => {
    const { keyLabelFor } = await import('/key-step.js');
    const { state } = await import('/state.js');
    return [keyLabelFor({ basis: state.basis }), keyLabelFor({ basis: [1, 2, 3, 4] })];
  });
  assert.equal(labels[0], `Ward A (${a}, active)`);
  assert.equal(labels[1], 'another key (not in this browser)');

  // Forgetting one asks first, then only that one is gone.
  await tab.selectOption('#key-pick', b);
  await tab.click('#key-forget');
  await tab.waitForSelector('#forget-dialog[open]');
  assert.match(await tab.textContent('#forget-text'), new RegExp(`Forget “Ward B” \\(${b}\\)`));
  await tab.click('#forget-dialog button[value=keep]');
  assert.equal(await tab.$$eval('#key-pick option', (os) => os.length), 2, 'kept when the user says so');
  await tab.click('#key-forget');
  await tab.click('#forget-dialog[open] button[value=forget]');
  await tab.waitForFunction(() => document.querySelectorAll('#key-pick option').length === 1);
  assert.deepEqual(await tab.$$eval('#key-pick option', (os) => os.map((o) => o.value)), [a]);
  assert.deepEqual([...page.errors, ...tab.errors], []);
  await page.context().close();
});

test('the key of the former one-slot store is moved into the picker and unlocks', { timeout: 60_000 }, async () => {
  // A wrapped key made by the worker, written where the page of 220e911 kept its one slot.
  const maker = await openPage(fx.browser, fx.node.url, { testPackage: false });
  const made = await callWorker(maker, 'generate');
  const wrappedHex = (await callWorker(maker, 'exportWrapped', { passphrase: 'old slot passphrase' })).hex;
  await maker.context().close();

  const context = await fx.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${fx.node.url}/style.css`); // this origin, before the page opens its store
  await page.evaluate(([fingerprint, hex]) => new Promise((resolve, reject) => {
    const req = indexedDB.open('more-keys', 1);
    req.onupgradeneeded = () => req.result.createObjectStore('wrapped');
    req.onsuccess = () => {
      const t = req.result.transaction('wrapped', 'readwrite');
      const wrapped = new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)));
      t.objectStore('wrapped').put({ fingerprint, wrapped }, 'current');
      t.oncomplete = () => { req.result.close(); resolve(); };
      t.onerror = () => reject(t.error);
    };
    req.onerror = () => reject(req.error);
  }), [made.fingerprint, wrappedHex]);
  // Errors counted from the page on (the style sheet's tab asked for a favicon: 404).
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  consoleErrorsInto(page);
  await page.goto(`${fx.node.url}/`);
  await page.waitForSelector('body[data-ready="1"]');
  await page.waitForSelector('#key-pick option', { state: 'attached', timeout: 5_000 });
  assert.deepEqual(await page.$$eval('#key-pick option', (os) => os.map((o) => o.value)), [made.fingerprint]);
  assert.match(await page.textContent('#key-pick option'), /Remembered key/);
  await page.click('#key-load');
  await answerPassphrase(page, 'old slot passphrase'); // unlocking: any passphrase it was made with
  await page.waitForFunction((fp) => document.querySelector('#fingerprint').textContent === fp, made.fingerprint);
  // Unlocked once, its public basis is recorded: the label now names it.
  const stored = await page.evaluate(async () => (await import('/keystore.js')).list());
  assert.equal(stored.length, 1);
  assert.equal(stored[0].basis?.length, 4);
  assert.deepEqual(page.errors, []);
  await context.close();
});
