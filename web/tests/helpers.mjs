// Shared by the browser tests: start the real compute node, launch headless Chromium.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The test build of the wasm client (cargo feature `test-export`), outside web/. */
export const testPackageDir = path.join(repoRoot, 'target/web-pkg-test');
export const nodeBinary = process.env.MORE_NODE_BIN ?? path.join(repoRoot, 'target/release/more-node');
const runFile = promisify(execFile);

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `more-node serve` on a free port (or `port`) with a temporary data dir (or `dataDir`, kept
 * on stop), the page from `webDir` (default web/; another checkout's page shows what a test finds
 * on an older page) and further `serve` arguments `args`; waits for /v1/health. Without `auth: true` the node runs with
 * `--insecure-no-auth` (loopback only: requests without a token act as tenant `local`, admin), as
 * every test but the sign-in test does; with it, every /v1 call but health and auth needs a token.
 */
export async function startNode({ port: wanted, args = [], auth = false, dataDir: givenDataDir, webDir = 'web' } = {}) {
  const port = wanted ?? await freePort();
  const dataDir = givenDataDir ?? await mkdtemp(path.join(os.tmpdir(), 'more-web-test-'));
  const serveArgs = ['serve', '--data-dir', dataDir, '--bind', `127.0.0.1:${port}`, '--web-dir', webDir,
    ...(auth === true ? [] : ['--insecure-no-auth']), ...args];
  const proc = spawn(nodeBinary, serveArgs,
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`more-node exited with ${proc.exitCode}:\n${log}`);
    try {
      const res = await fetch(`${url}/v1/health`);
      if (res.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) { proc.kill(); throw new Error(`more-node did not answer /v1/health:\n${log}`); }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    dataDir,
    log: () => log,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      if (!givenDataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A new API key for `tenant` with `role` (viewer, trainer, admin), made with the node's admin
 * command line on `dataDir` (the data dir of a node from startNode, running or not): `more-node
 * tenant create` (a tenant that already exists is fine), then `more-node apikey create`, which
 * prints the key alone on its last line.
 */
export async function createApiKey(dataDir, tenant, role) {
  await createTenant(dataDir, tenant);
  const { stdout } = await runFile(nodeBinary, ['apikey', 'create', '--tenant', tenant, '--role', role, '--data-dir', dataDir], { cwd: repoRoot });
  const key = stdout.trim().split('\n').at(-1).trim();
  if (!key) throw new Error(`more-node apikey create printed no key:\n${stdout}`);
  return key;
}

/** `more-node tenant create NAME` on `dataDir`; a tenant that already exists is fine. */
export async function createTenant(dataDir, tenant) {
  try {
    await runFile(nodeBinary, ['tenant', 'create', tenant, '--data-dir', dataDir], { cwd: repoRoot });
  } catch (err) {
    if (!/exists/i.test(`${err.stderr}${err.stdout}`)) throw err; // "tenant \"NAME\" exists"
  }
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/**
 * Opens the page (the production page: no URL parameters) in a fresh browser context and waits
 * until the worker has loaded the wasm client. Collects page errors in `page.errors` and every
 * request of the context (page and its workers) in `page.requests` (Playwright Request objects).
 *
 * With `testPackage` (the default) the context answers requests for /pkg/* from
 * target/web-pkg-test/, the test build of the wasm client (cargo feature `test-export`, built by
 * .ci/build-web-tests.sh outside web/, so the node never serves it), whose SecretKey has the raw key
 * export the leak search needs. The page's own code is unchanged.
 */
export async function openPage(browser, url, { testPackage = true } = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
  const requests = [];
  context.on('request', (r) => requests.push(r));
  if (testPackage) {
    await context.route((u) => u.pathname.startsWith('/pkg/'), async (route) => {
      const file = new URL(route.request().url()).pathname.replace(/^\/pkg\//, '');
      const contentType = file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
      await route.fulfill({ path: path.join(testPackageDir, file), contentType });
    });
  }
  const page = await context.newPage();
  page.errors = [];
  page.requests = requests;
  page.websockets = []; // not requests: the page opens none, and the leak test checks that
  page.on('websocket', (ws) => page.websockets.push(ws.url()));
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.goto(`${url}/`);
  await page.waitForSelector('body[data-ready="1"]');
  return page;
}

/**
 * The set-up most test files share, as node:test hooks registered by this call. `before`, in this
 * order: `prepare(fx)` (checks that need no node), a temporary directory `fx.dir` (`tempDir`: its
 * name prefix), a node (startNode with the options `node`, or `node(fx)` for options made just
 * before, such as a data dir in `fx.dir`), the browser, the page (openPage with `testPackage`; none
 * with `page: false`), a key generated in it (`key: true`), then `setUp(fx)`, the file's own steps.
 * `after`: closes the browser, stops the node in `fx.node` (a test that restarts the node puts the
 * new one there) and removes `fx.dir`. Returns `fx`, whose `node`, `browser`, `page` and `dir` are
 * set once `before` has run.
 *
 * One hook with `prepare` and `setUp` rather than hooks of the file's own around it: node:test
 * (Node 20) starts a file's top-level `before` hooks one after the other without waiting for the
 * previous one to end. Its `after` hooks do wait: one registered after this call runs after this one.
 */
export function pageFixture({ prepare, tempDir, node = {}, page = true, testPackage = true, key = false, setUp } = {}) {
  const fx = { node: null, browser: null, page: null, dir: null };
  before(async () => {
    await prepare?.(fx);
    if (tempDir) fx.dir = await mkdtemp(path.join(os.tmpdir(), tempDir));
    fx.node = await startNode(typeof node === 'function' ? node(fx) : node);
    fx.browser = await launchBrowser();
    if (page) fx.page = await openPage(fx.browser, fx.node.url, { testPackage });
    if (key) await generateKey(fx.page);
    await setUp?.(fx);
  });
  after(async () => {
    await fx.browser?.close();
    await fx.node?.stop();
    if (fx.dir) await rm(fx.dir, { recursive: true, force: true });
  });
  return fx;
}

/**
 * Leaves out the page's periodic health poll (app.js checkHealth: `GET /v1/health`, no query, no
 * body) from captured requests, for the checks that list what the page sends in a window. The poll
 * carries nothing of the user's; the leak searches still see every request, polls included.
 */
export function withoutHealthPolls(requests) {
  return requests.filter((r) => {
    const u = new URL(r.url());
    return !(r.method() === 'GET' && u.pathname === '/v1/health' && u.search === '' && !r.postDataBuffer());
  });
}

/** Calls the key worker from the page (the same client.js module instance the page uses). */
export function callWorker(page, op, args = {}) {
  return page.evaluate(async ([op, args]) => {
    const { call } = await import('/client.js');
    const out = await call(op, args);
    return out instanceof Uint8Array ? { hex: Array.from(out, (b) => b.toString(16).padStart(2, '0')).join('') } : out;
  }, [op, args]);
}

/** The raw key export of the page's current key (test package only), as a Buffer. */
export async function rawKey(page) {
  return Buffer.from(await callWorker(page, 'rawKeyHex'), 'hex');
}

/**
 * The page's `state` object (exported by app.js), read through `fn` in the page. `fn` is handed to
 * Playwright as a function (not compiled from a string in the page), so the page's
 * Content-Security-Policy, which allows no `eval`, stays on in every test.
 */
export async function pageState(page, fn = (s) => s) {
  const state = await page.evaluateHandle(async () => (await import('/app.js')).state);
  try {
    return await state.evaluate(fn);
  } finally {
    await state.dispose();
  }
}

/** Generates a key in the page and waits for its fingerprint. An active key that was never saved
 * is replaced only by an explicit choice (web/key-step.js): this answers "Replace it". */
export async function generateKey(page) {
  const previous = await page.textContent('#fingerprint');
  await page.click('#key-generate');
  await page.waitForFunction((previous) => {
    const fp = document.querySelector('#fingerprint').textContent;
    return (/^[0-9a-f]{16}$/.test(fp) && fp !== previous) || document.querySelector('#replace-dialog[open]');
  }, previous);
  if (await page.$('#replace-dialog[open]')) await page.click('#replace-dialog button[value=replace]');
  await page.waitForFunction((previous) => {
    const fp = document.querySelector('#fingerprint').textContent;
    return /^[0-9a-f]{16}$/.test(fp) && fp !== previous;
  }, previous);
  return page.textContent('#fingerprint');
}

/** Answers the page's passphrase dialog. When the page first asks whether to replace an active key
 * that was never saved (an import or unlock over it: web/key-step.js), answers "Replace it". */
export async function answerPassphrase(page, passphrase) {
  await page.waitForSelector('#pass-dialog[open], #replace-dialog[open]');
  if (await page.$('#replace-dialog[open]')) await page.click('#replace-dialog button[value=replace]');
  await page.waitForSelector('#pass-dialog[open]');
  await page.fill('#pass-input', passphrase);
  await page.click('#pass-dialog button[value=ok]');
}

/**
 * Plants leaks for the leak searches to find: sends each of `probes` from the page to /v1/health,
 * 50 at a time, marked with the header `x-probe: id`: with `query`, a GET with it in the URL
 * (`?probe=`), otherwise a POST; either with the bytes `body` (hex), where given, as its body.
 */
export function plantProbes(page, probes) {
  return page.evaluate(async (probes) => {
    const bytes = (hex) => new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)));
    for (let i = 0; i < probes.length; i += 50) {
      await Promise.all(probes.slice(i, i + 50).map((p) => fetch(p.query === undefined ? '/v1/health' : `/v1/health?probe=${encodeURIComponent(p.query)}`,
        { method: p.query === undefined ? 'POST' : 'GET', headers: { 'x-probe': p.id }, ...(p.body ? { body: bytes(p.body) } : {}) })));
    }
  }, probes);
}

/** URL, method, all headers and body bytes of captured Playwright requests. */
export async function snapshotRequests(requests) {
  return Promise.all(requests.map(async (r) => {
    let headers = r.headers();
    try {
      headers = await Promise.race([r.allHeaders(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000))]);
    } catch { /* provisional headers only */ }
    return { url: r.url(), method: r.method(), headers, body: r.postDataBuffer() };
  }));
}

/** A PNG of one part of the page (`selector`, default the viewport), named NAME.png. Written to
 * target/web-screenshots (not tracked) on every run; with MORE_SCREENSHOTS=update to
 * web/tests/screenshots, the committed copies linked from web/README.md. */
export async function screenshot(page, name, selector = null) {
  const { mkdir } = await import('node:fs/promises');
  const dir = path.join(repoRoot, process.env.MORE_SCREENSHOTS === 'update' ? 'web/tests/screenshots' : 'target/web-screenshots');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  if (selector) await page.locator(selector).first().screenshot({ path: file, animations: 'disabled' });
  else await page.screenshot({ path: file, animations: 'disabled' });
}

/** `count` images of the sizes `sizes` (`[w, h]` in turn: a colour gradient shifted by `seed`, a
 * disc placed per image) encoded by the browser's canvas as `type` (image/png or image/jpeg);
 * Buffers. */
export async function canvasImages(page, type, count, sizes, seed = 0) {
  const hex = await page.evaluate(async ([type, count, sizes, seed]) => {
    const out = [];
    for (let i = 0; i < count; i++) {
      const [w, h] = sizes[i % sizes.length];
      const c = new OffscreenCanvas(w, h);
      const ctx = c.getContext('2d');
      const g = ctx.createLinearGradient(0, 0, w, h);
      g.addColorStop(0, `rgb(${20 + 9 * i + seed}, 60, 140)`);
      g.addColorStop(1, `rgb(230, ${200 - 7 * i}, 40)`);
      ctx.fillStyle = g;
      ctx.fillRect(0, 0, w, h);
      ctx.fillStyle = i % 2 ? '#fff' : '#111';
      ctx.beginPath();
      ctx.arc(((i * 7) % w) + 3, ((i * 5) % h) + 3, Math.min(w, h) / 4, 0, 2 * Math.PI);
      ctx.fill();
      const bytes = new Uint8Array(await (await c.convertToBlob({ type, quality: 0.9 })).arrayBuffer());
      out.push(Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(''));
    }
    return out;
  }, [type, count, sizes, seed]);
  return hex.map((h) => Buffer.from(h, 'hex'));
}

/** Clicks "Encrypt and upload" and waits until this upload has ended (`#upload-status` gets its
 * `data-state` only then, so an earlier upload's status never answers the wait). Returns the
 * status line; `expectUploaded` (default true) throws with that line when the upload failed. */
export async function uploadData(page, { timeout = 120_000, expectUploaded = true } = {}) {
  await page.click('#data-upload');
  await page.waitForSelector('#upload-status[data-state]', { timeout });
  const status = await page.textContent('#upload-status');
  if (expectUploaded && await page.getAttribute('#upload-status', 'data-state') !== 'uploaded') {
    throw new Error(`upload failed: ${status}`);
  }
  return status;
}

/** Deterministic xorshift32 in [0, 1). */
export function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 2 ** 32;
  };
}

/** `n` bytes from rng(`seed`), as a Buffer. */
export function randomBytes(n, seed) {
  const r = rng(seed);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(256 * r())));
}
