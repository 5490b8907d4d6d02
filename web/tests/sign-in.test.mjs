// Signing in (web/signin.js, web/api.js) on a node that needs it (started without
// --insecure-no-auth). (a) API key: the page shows only the sign-in panel; a wrong key is refused
// with the node's own 401 message and is not kept; a trainer key made with the admin command line
// signs in, the header names the tenant, the page encrypts and uploads a dataset and lists it, and
// every /v1 request but health and auth carried the key; a token the node no longer accepts (any
// 401) signs the page out with the node's message; a reload keeps the session (sessionStorage);
// Sign out returns to the panel and forgets the key. (b) OIDC: the real provider of
// tests/oidc-provider.mjs (oauth2-mock-server); "Sign in with …" runs the authorization code flow
// with PKCE (S256) and the page ends signed in to the tenant of the token's claims; an answer with
// a state this tab did not make is refused; a valid token of a tenant the node does not have (403)
// is refused and forgotten.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createApiKey, createTenant, generateKey, launchBrowser, openPage, pageState, repoRoot, screenshot, snapshotRequests, startNode, uploadData } from './helpers.mjs';

const PROVIDER = path.join(repoRoot, 'web/tests/oidc-provider.mjs');
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const authStatus = (page) => page.textContent('#auth-status');
const signInError = async (page) => {
  await page.waitForFunction(() => document.querySelector('#sign-in-error').textContent !== '');
  return page.textContent('[role=alert]#sign-in-error');
};
/** What the node answers for `token` on GET /v1/whoami: [status, body]. */
async function whoami(url, token) {
  const res = await fetch(`${url}/v1/whoami`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return [res.status, await res.json()];
}
async function signInWithKey(page, key) {
  await page.fill('#api-key', key);
  await page.click('#api-key-form button[type=submit]');
}

test('API key: panel, wrong key refused, a trainer key signs in and uploads, 401 signs out, reload keeps it, Sign out', { timeout: 300_000 }, async (t) => {
  const node = await startNode({ auth: true });
  try {
    const [status, refusal] = await whoami(node.url);
    assert.equal(status, 401, 'the node needs a token');

    const page = await openPage(browser, node.url);
    assert.ok(await page.isVisible('#sign-in'), 'the sign-in panel is shown');
    assert.ok(await page.isHidden('main'), 'the steps are hidden until signed in');
    assert.equal(await authStatus(page), 'Not signed in.');
    assert.ok(await page.isHidden('#oidc-sign-in'), 'no identity provider on this node');
    assert.equal(await page.getAttribute('#api-key', 'type'), 'password');
    assert.equal(await page.textContent('label[for=api-key]'), 'API key');

    // A wrong key: the node's 401 message, nothing kept, still signed out.
    const wrong = `more_${'0'.repeat(40)}`;
    const [wrongStatus, wrongBody] = await whoami(node.url, wrong);
    assert.equal(wrongStatus, 401);
    await signInWithKey(page, wrong);
    const error = await signInError(page);
    t.diagnostic(`wrong key: ${error}`);
    assert.equal(error, `Sign-in refused: ${wrongBody.message}`);
    assert.ok(wrongBody.message.length > 0 && refusal.error === 'unauthorized');
    assert.ok(await page.isHidden('main'));
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused key is not kept');
    await screenshot(page, 'sign-in-refused', '#sign-in');

    // A trainer key from the admin command line signs in.
    const key = await createApiKey(node.dataDir, 'ward-7', 'trainer');
    assert.match(key, /^more_/);
    const [, who] = await whoami(node.url, key);
    await signInWithKey(page, key);
    await page.waitForSelector('#auth-status[data-tenant="ward-7"]');
    assert.equal(await authStatus(page), `Signed in to tenant ward-7 as trainer (${who.subject})`);
    const healthPoll = page.waitForRequest((r) => new URL(r.url()).pathname === '/v1/health', { timeout: 15_000 }).catch((e) => e);
    assert.ok(await page.isVisible('main') && await page.isHidden('#sign-in') && await page.isVisible('#sign-out'));
    assert.equal(await page.inputValue('#api-key'), '', 'the key field is emptied');
    await screenshot(page, 'sign-in', 'header');

    // The page works on the node: a small MNIST sample encrypted, uploaded and listed as this key's.
    await generateKey(page);
    await page.fill('#sample-train', '5');
    await page.fill('#sample-test', '2');
    await page.click('#data-sample');
    await page.waitForFunction(() => /50 training and 20 test/.test(document.querySelector('#data-summary').textContent));
    const upload = await uploadData(page, { timeout: 120_000 });
    await page.click('#work-refresh');
    await page.waitForFunction(() => /Datasets \(1\)/.test(document.querySelector('#work').textContent));
    const listed = await (await fetch(`${node.url}/v1/datasets`, { headers: { authorization: `Bearer ${key}` } })).json();
    assert.deepEqual(listed.map((d) => d.id), await pageState(page, (s) => s.work.datasets));

    // A token the node no longer accepts: any 401 signs the page out with the node's message.
    await page.evaluate(() => sessionStorage.setItem('more-node-token', 'more_revoked'));
    const [, revoked] = await whoami(node.url, 'more_revoked');
    await page.click('#work-refresh');
    assert.equal(await signInError(page), `Signed out: the node no longer accepts the sign-in (${revoked.message}). Sign in again.`);
    assert.ok(await page.isHidden('main') && await page.isVisible('#sign-in'));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('more-node-token')), null);
    await signInWithKey(page, key);
    await page.waitForSelector('#auth-status[data-tenant="ward-7"]');

    // A reload keeps the session (sessionStorage), without asking for the key again.
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]');
    assert.equal(await authStatus(page), `Signed in to tenant ward-7 as trainer (${who.subject})`);
    assert.ok(await page.isVisible('main') && await page.isHidden('#sign-in'));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('more-node-token')), key, 'the key is kept for this tab');
    assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
    // Another tab has its own session: it starts signed out.
    const tab = await page.context().newPage();
    await tab.goto(`${node.url}/`);
    await tab.waitForSelector('body[data-ready="1"]');
    assert.ok(await tab.isVisible('#sign-in') && await tab.isHidden('main'), 'a new tab is not signed in');
    await tab.close();

    // Every /v1 request carried the key (or the wrong and the revoked one above), except the public
    // health and auth calls, which carry none, also while signed in (a health poll and the reload's
    // GET /v1/auth were sent with a token stored).
    assert.ok(!((await healthPoll) instanceof Error), 'a health poll was sent while signed in');
    const requests = (await snapshotRequests(page.requests)).filter((r) => new URL(r.url).pathname.startsWith('/v1/'));
    const header = (r) => r.headers.authorization ?? r.headers.Authorization;
    const publicPaths = ['/v1/health', '/v1/auth'];
    const signed = requests.filter((r) => !publicPaths.includes(new URL(r.url).pathname) && header(r) === `Bearer ${key}`);
    assert.ok(signed.some((r) => r.method === 'POST' && new URL(r.url).pathname === '/v1/datasets'), 'the dataset was created with the key');
    for (const r of requests) {
      const p = new URL(r.url).pathname;
      if (publicPaths.includes(p)) assert.equal(header(r), undefined, `${r.method} ${p} carries no token`);
      else assert.ok([key, wrong, 'more_revoked'].map((k) => `Bearer ${k}`).includes(header(r)), `${r.method} ${p}: ${header(r)}`);
    }
    t.diagnostic(`${signed.length} requests with the key; ${requests.length - signed.length} without it (public, or the wrong and revoked keys)`);

    // Sign out: the panel again, the key forgotten (also after a reload).
    await page.click('#sign-out');
    await page.waitForSelector('#sign-in', { state: 'visible' });
    assert.ok(await page.isHidden('main'));
    assert.equal(await authStatus(page), 'Not signed in.');
    assert.match(await page.textContent('#sign-in-status'), /^Signed out\./);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('more-node-token')), null);
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]');
    assert.ok(await page.isVisible('#sign-in') && await page.isHidden('main'));
    assert.deepEqual(page.errors, []);
    await page.context().close();
  } finally {
    await node.stop();
  }
});

/** Starts tests/oidc-provider.mjs with `claims`; resolves to { issuer, stop }. */
async function startProvider(claims) {
  const proc = spawn(process.execPath, [PROVIDER, '--claims', JSON.stringify(claims)], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const lines = createInterface({ input: proc.stdout });
  const first = await Promise.race([
    new Promise((resolve) => lines.once('line', resolve)),
    new Promise((_, reject) => proc.once('exit', (code) => reject(new Error(`oidc-provider exited with ${code}:\n${log}`)))),
  ]);
  const { issuer } = JSON.parse(first);
  return {
    issuer,
    /** One command on stdin (see oidc-provider.mjs), its one-line JSON answer. */
    command: async (cmd) => {
      const answer = new Promise((resolve) => lines.once('line', resolve));
      proc.stdin.write(`${JSON.stringify(cmd)}\n`);
      return JSON.parse(await answer);
    },
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.stdin.end(); // the provider exits when its stdin closes
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}

test('OIDC: "Sign in with <issuer host>" (authorization code + PKCE) ends signed in to tenant t1', {
  timeout: 180_000, skip: existsSync(PROVIDER) ? false : 'web/tests/oidc-provider.mjs is not there',
}, async (t) => {
  const provider = await startProvider({ tenant: 't1', role: 'trainer', aud: 'more-node' });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'more-web-oidc-'));
  let node;
  try {
    await createTenant(dataDir, 't1');
    node = await startNode({ auth: true, dataDir,
      args: ['--oidc-issuer', provider.issuer, '--oidc-audience', 'more-node', '--oidc-client-id', 'more-web'] });
    const page = await openPage(browser, node.url);
    const host = new URL(provider.issuer).host;
    assert.equal(await page.textContent('#oidc-sign-in'), `Sign in with ${host}`);
    assert.ok(await page.isVisible('#oidc-sign-in') && await page.isHidden('main'));

    // An answer this tab did not ask for (no state of its own) is refused, and the URL is cleaned.
    await page.goto(`${node.url}/?code=stolen&state=forged`);
    await page.waitForSelector('body[data-ready="1"]');
    assert.equal(await signInError(page),
      `Sign-in with ${host} failed: the answer does not belong to a sign-in started in this tab (state does not match); nothing was accepted`);
    assert.equal(page.url(), `${node.url}/`);
    assert.ok(await page.isHidden('main'));

    const before = page.requests.length;
    await page.click('#oidc-sign-in');
    await page.waitForSelector('#auth-status[data-tenant="t1"]', { timeout: 30_000 });
    const status = await authStatus(page);
    t.diagnostic(status);
    assert.match(status, /^Signed in to tenant t1 as trainer \(.+\)$/);
    assert.equal(page.url(), `${node.url}/`, 'code and state are gone from the URL');
    assert.ok(await page.isVisible('main') && await page.isHidden('#sign-in'));
    const token = await page.evaluate(() => sessionStorage.getItem('more-node-token'));
    assert.equal(token.split('.').length, 3, 'the access token (a JWT) is kept in sessionStorage');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('more-oidc-pending')), null, 'verifier and state are dropped');
    const [whoStatus, who] = await whoami(node.url, token);
    assert.equal(whoStatus, 200);
    assert.deepEqual([who.tenant, who.role, who.method], ['t1', 'trainer', 'oidc']);
    assert.equal(status, `Signed in to tenant t1 as trainer (${who.subject})`);

    // What went to the provider: the authorization request and the code exchange, with PKCE S256.
    const flow = await snapshotRequests(page.requests.slice(before));
    const authorize = flow.find((r) => r.url.startsWith(`${provider.issuer}/authorize`));
    const q = new URL(authorize.url).searchParams;
    assert.deepEqual(Object.fromEntries(['response_type', 'client_id', 'redirect_uri', 'scope', 'code_challenge_method', 'audience'].map((k) => [k, q.get(k)])),
      { response_type: 'code', client_id: 'more-web', redirect_uri: `${node.url}/`, scope: 'openid', code_challenge_method: 'S256', audience: 'more-node' });
    assert.match(q.get('state'), /^[A-Za-z0-9_-]{22}$/);
    const exchange = flow.find((r) => r.method === 'POST' && r.url === `${provider.issuer}/token`);
    assert.match(exchange.headers['content-type'], /^application\/x-www-form-urlencoded/);
    const form = new URLSearchParams(exchange.body.toString());
    assert.deepEqual([form.get('grant_type'), form.get('redirect_uri'), form.get('client_id')], ['authorization_code', `${node.url}/`, 'more-web']);
    assert.match(form.get('code_verifier'), /^[A-Za-z0-9_-]{43}$/);
    assert.equal(createHash('sha256').update(form.get('code_verifier')).digest('base64url'), q.get('code_challenge'), 'challenge = S256(verifier)');

    // A valid token of a tenant this node does not have (403, not 401): refused and forgotten.
    const { token: stranger } = await provider.command({ cmd: 'token', claims: { tenant: 't9' } });
    const [strangerStatus, strangerBody] = await whoami(node.url, stranger);
    assert.equal(strangerStatus, 403, JSON.stringify(strangerBody));
    await page.evaluate((token) => sessionStorage.setItem('more-node-token', token), stranger);
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]');
    assert.equal(await signInError(page), `Sign-in refused: ${strangerBody.message}`);
    assert.ok(await page.isHidden('main'));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('more-node-token')), null, 'the refused token is forgotten');
    assert.deepEqual(page.errors, []);
    await page.context().close();

    // Without a client id for the page (no --oidc-client-id) the node still accepts the provider's
    // tokens from API clients, but the page cannot fetch one itself: no button that could only fail.
    await node.stop();
    node = await startNode({ auth: true, dataDir, args: ['--oidc-issuer', provider.issuer, '--oidc-audience', 'more-node'] });
    const bare = await openPage(browser, node.url);
    assert.ok(await bare.isHidden('#oidc-sign-in'), 'no OIDC button without a client id');
    assert.ok(await bare.isVisible('#api-key') && await bare.isHidden('main'));
    assert.deepEqual(bare.errors, []);
    await bare.context().close();
  } finally {
    await node?.stop();
    await provider.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
