// @ts-check
// Signing in to the compute node: the sign-in panel (API key, or the hospital's identity provider
// through the OAuth 2.0 authorization code flow with PKCE) and the header line that says who is
// signed in. The token itself is kept by api.js (sessionStorage) and sent with every request.
//
// On load the page asks `GET /v1/auth` (public): `anonymous` (a loopback node started with
// `--insecure-no-auth`, acting as tenant `local`) needs no sign-in; otherwise the panel is shown
// until `GET /v1/whoami` accepts a token. A 401 from any call later signs the page out again.
import { $ } from './dom.js';
import { api, clearToken, getToken, onUnauthorized, setToken } from './api.js';

/** @typedef {import('./state.js').Who} Who */

/**
 * How the node takes sign-ins (GET /v1/auth).
 * @typedef {object} AuthInfo
 * @property {boolean} anonymous requests without a token are taken (tenant `local`, role admin)
 * @property {OidcInfo | null} oidc the identity provider whose access tokens the node accepts, if any
 */
/**
 * The identity provider, for the authorization code flow with PKCE (null: the provider's discovery
 * document has none).
 * @typedef {object} OidcInfo
 * @property {string} issuer `iss` of the accepted tokens
 * @property {string | null} authorization_endpoint where the browser signs in
 * @property {string | null} token_endpoint where the code is traded for tokens
 * @property {string | null} client_id the page's public client id
 * @property {string} audience `aud` of the accepted tokens
 */
/**
 * A provider the page can sign in with itself: both endpoints and the page's client id known.
 * @typedef {OidcInfo & { authorization_endpoint: string, token_endpoint: string, client_id: string }} BrowserOidc
 */

/** The code verifier, state and redirect URI of an OIDC sign-in under way (sessionStorage). */
const PENDING_KEY = 'more-oidc-pending';

/** @type {AuthInfo | null} */
let info = null; // GET /v1/auth
/** @type {Who | null} */
let current = null; // GET /v1/whoami of the signed-in page, or null
/** @type {(who: Who | null) => void} */
let changed = () => {};

/**
 * The provider of GET /v1/auth when the page can sign in with it (authorization code + PKCE), else
 * null: without an authorization or token endpoint (the provider's discovery document has none)
 * or a client id for the page, its tokens are still accepted from API clients, but this page
 * cannot fetch one, so it offers no button that could only fail.
 * @returns {BrowserOidc | null}
 */
function browserOidc() {
  const o = info?.oidc;
  return o && o.authorization_endpoint && o.token_endpoint && o.client_id ? /** @type {BrowserOidc} */ (o) : null;
}
/** The identity provider's host, or a phrase when the node named none. */
const providerHost = () => (info?.oidc ? new URL(info.oidc.issuer).host : 'the identity provider');
/** Where the identity provider sends the browser back: this page, without its query. */
const redirectUri = () => `${location.origin}${location.pathname}`;
const base64url = (/** @type {Uint8Array} */ bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const randomString = (/** @type {number} */ bytes) => base64url(crypto.getRandomValues(new Uint8Array(bytes)));

function say(/** @type {string} */ text) { $('sign-in-status').textContent = text; }

function showSignedOut(error = '') {
  current = null;
  $('sign-in').hidden = false;
  $('sign-in-error').textContent = error;
  $('auth-status').textContent = 'Not signed in.';
  delete $('auth-status').dataset.tenant;
  $('sign-out').hidden = true;
  changed(null);
}

function showSignedIn(/** @type {Who} */ who) {
  current = who;
  $('sign-in').hidden = true;
  $('sign-in-error').textContent = '';
  say('');
  $('api-key').value = '';
  $('auth-status').textContent = `Signed in to tenant ${who.tenant} as ${who.role} (${who.subject})`;
  $('auth-status').dataset.tenant = who.tenant;
  $('sign-out').hidden = false;
  changed(who);
}

function showAnonymous(/** @type {string} */ text) {
  clearToken(); // the node takes requests without a token: none is sent
  current = { tenant: 'local', role: 'admin', subject: 'anonymous', method: 'anonymous' };
  $('sign-in').hidden = true;
  $('auth-status').textContent = text;
  $('auth-status').dataset.tenant = 'local';
  $('sign-out').hidden = true;
  changed(current);
}

let checking = false; // a token is being checked with GET /v1/whoami

/** A 401 from any call: api.js has forgotten the token; the panel shows the node's message (the
 * first one: calls sent together all get 401, and the later ones change nothing). */
onUnauthorized((message) => {
  say('');
  if (checking) showSignedOut(`Sign-in refused: ${message}`);
  else if (current?.method === 'anonymous') showSignedOut(`The node now needs a sign-in: ${message}`);
  else if (current) showSignedOut(`Signed out: the node no longer accepts the sign-in (${message}). Sign in again.`);
});

/** Asks the node who the stored token belongs to; shows the result. */
async function checkToken() {
  checking = true;
  try {
    showSignedIn(await api.whoami());
  } catch (err) {
    // 401: onUnauthorized has shown the node's message. Another refusal (403: a valid token of an
    // unknown tenant or role): the token is forgotten. No answer (node unreachable, 5xx): it is
    // kept, so a reload tries again.
    if (err.status === 401) return;
    if (err.status >= 400 && err.status < 500) {
      clearToken();
      showSignedOut(`Sign-in refused: ${err.serverMessage}`);
    } else {
      showSignedOut(`Could not check the sign-in: ${err.message}`);
    }
  } finally {
    checking = false;
  }
}

/** GET /v1/auth; sets up the panel for what the node offers. False when the page should stop. */
async function readAuthInfo() {
  try {
    info = /** @type {AuthInfo} */ (await api.auth());
  } catch (err) {
    if (err.status === 404) { // a node from before sign-in existed: nothing to sign in to
      showAnonymous('Node without sign-in');
      return false;
    }
    info = null;
    showSignedOut(`Could not ask the node how to sign in: ${err.message}`);
    return false;
  }
  if (info.anonymous) {
    showAnonymous('Local node without sign-in (tenant local)');
    return false;
  }
  $('oidc-sign-in').hidden = !browserOidc();
  if (browserOidc()) {
    $('oidc-sign-in').textContent = `Sign in with ${providerHost()}`;
    $('sign-in-ways').textContent = `: an API key from the node's administrator, or your account at ${providerHost()}`;
  }
  return true;
}

$('api-key-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const key = $('api-key').value.trim();
  if (!key) return;
  $('sign-in-error').textContent = '';
  if (!info && !await readAuthInfo()) return; // the node was unreachable at load, or needs no key
  say('Checking the key with the node…');
  setToken(key);
  await checkToken();
  if (!current) say('');
});

$('sign-out').onclick = () => {
  clearToken();
  showSignedOut();
  say('Signed out. The key or token is forgotten by this tab.');
  $('api-key').focus();
};

// ---------------------------------------------------------------- OIDC (authorization code + PKCE)

$('oidc-sign-in').onclick = async () => {
  $('sign-in-error').textContent = '';
  if (!crypto.subtle) {
    $('sign-in-error').textContent = `Signing in with ${providerHost()} needs a secure page (HTTPS, or localhost).`;
    return;
  }
  const verifier = randomString(32); // 43 characters of base64url (RFC 7636: 43–128)
  const state = randomString(16);
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, redirectUri: redirectUri() }));
  const oidc = browserOidc();
  if (!oidc) return; // the button is shown only with one
  const url = new URL(oidc.authorization_endpoint);
  const params = { response_type: 'code', client_id: oidc.client_id, redirect_uri: redirectUri(),
    scope: 'openid', state, code_challenge: challenge, code_challenge_method: 'S256', ...(oidc.audience ? { audience: oidc.audience } : {}) };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  say(`Going to ${providerHost()} to sign in…`);
  location.assign(url.href);
};

/** Back from the identity provider with `?code=&state=` (or `?error=`): checks the state, trades
 * the code for an access token at the token endpoint, stores it. Throws with the reason. */
async function finishOidc(/** @type {URLSearchParams} */ params) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? 'null');
  sessionStorage.removeItem(PENDING_KEY);
  history.replaceState(history.state, '', redirectUri() + location.hash); // the code is used once
  if (params.has('error')) throw new Error(params.get('error_description') || /** @type {string} */ (params.get('error')));
  if (!pending || !params.get('state') || params.get('state') !== pending.state) {
    throw new Error('the answer does not belong to a sign-in started in this tab (state does not match); nothing was accepted');
  }
  const oidc = browserOidc();
  if (!oidc) throw new Error('this node does not take browser sign-ins from an identity provider');
  const res = await fetch(oidc.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    // `code` is there: the provider answered without `error`.
    body: new URLSearchParams({ grant_type: 'authorization_code', code: /** @type {string} */ (params.get('code')), redirect_uri: pending.redirectUri,
      client_id: oidc.client_id, code_verifier: pending.verifier }),
  });
  /** The token endpoint's answer (RFC 6749 §5.1, §5.2), if JSON. @type {{ access_token?: unknown, error?: string, error_description?: string }} */
  let body = {};
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok || typeof body.access_token !== 'string') {
    throw new Error(`the identity provider gave no token (${body.error_description ?? body.error ?? `HTTP ${res.status}`})`);
  }
  setToken(body.access_token);
}

// ---------------------------------------------------------------- start

/** Shows the sign-in state on load; `onChange(who)` is called with GET /v1/whoami's answer when
 * the page is signed in (or `{ tenant: 'local', method: 'anonymous', … }` on a node without
 * sign-in) and with null when it is signed out. Resolves once the state is known.
 * @param {{ onChange: (who: Who | null) => void }} options */
export async function startSignIn({ onChange }) {
  changed = onChange;
  if (!await readAuthInfo()) return; // from here on GET /v1/auth has answered
  const params = new URLSearchParams(location.search);
  if (params.has('state') && (params.has('code') || params.has('error'))) {
    say(`Finishing the sign-in with ${providerHost()}…`);
    try {
      await finishOidc(params);
    } catch (err) {
      clearToken();
      say('');
      showSignedOut(`Sign-in with ${providerHost()} failed: ${err.message}`);
      return;
    }
  }
  if (getToken()) await checkToken();
  else showSignedOut();
}
