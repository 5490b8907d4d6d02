// @ts-check
// The compute node's REST API (compute-node/API.md; /v1/openapi.json is authoritative).
// Tensors travel as wire-format bytes; everything else is JSON.
//
// The routes are not written here: `api_routes.js` is generated from the data owner's library
// (shared/data-owner/src/rest/routes.rs), the one table the command line and Python call through
// too, and checked against the OpenAPI document a running node serves
// (shared/cli/tests/rest_openapi.rs). `api.<name>(...pathValues, body)` fills the route's path
// templates in order (each encodeURIComponent-ed), then sends the body if the route has one.
//
// Sign-in: when the page is signed in, every request but the public ones (`GET /v1/health`,
// `GET /v1/auth`) carries `Authorization: Bearer <token>` (an API key `more_…` or an OIDC access
// token). The token is kept in sessionStorage: it survives a reload of the tab and is gone when the
// tab closes. A 401 from any call forgets the token and tells `onUnauthorized` (signin.js shows
// the sign-in panel with the node's message).

import { ROUTES } from './api_routes.js';

// The node's JSON objects (compute-node/API.md), as the page reads them. Times: seconds since 1970.
/**
 * @typedef {object} NodeDataset
 * @property {string} id 32 hex digits
 * @property {string} name
 * @property {string} task `classification` or `regression`
 * @property {number | null} [samples]
 * @property {string} state `created` or `ready`
 * @property {number[] | null} [basis] the public compact basis C0 of the key it was encrypted under
 * @property {number} created_at
 */
/**
 * @typedef {object} NodeModel
 * @property {string} id 32 hex digits
 * @property {string} name
 * @property {{ input_shape?: number[], layers?: object[] }} spec
 * @property {number} [trained_epochs]
 * @property {number} created_at
 */
/**
 * @typedef {object} NodeJob
 * @property {string} id 32 hex digits
 * @property {string} model_id
 * @property {string} dataset_id
 * @property {'queued' | 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted'} state
 * @property {number} [epoch] completed epochs
 * @property {number} epochs
 * @property {number} [batches_done] in the running epoch
 * @property {number} [batches_total] per epoch
 * @property {number} [elapsed_seconds]
 * @property {string} [error]
 * @property {number} created_at
 */

export class ApiError extends Error {
  /**
   * @param {number} status the HTTP status
   * @param {string} code the node's error code (`error`)
   * @param {string} message the node's message
   */
  constructor(status, code, message) {
    super(`${message} (${code}, HTTP ${status})`);
    this.status = status;
    this.code = code;
    this.serverMessage = message;
  }
}

const TOKEN_KEY = 'more-node-token';
/** @type {((message: string) => void) | null} */
let unauthorized = null;

/** The token the page is signed in with, or null. */
export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
}
export function setToken(/** @type {string} */ token) { sessionStorage.setItem(TOKEN_KEY, token); }
export function clearToken() {
  try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* storage unavailable: nothing kept */ }
}
/**
 * `fn(message)` is called after a 401 (the token, if any, is already forgotten).
 * @param {(message: string) => void} fn
 */
export function onUnauthorized(fn) { unauthorized = fn; }

/**
 * One request to the node: `body` bytes (a Uint8Array or Blob) go as they are, anything else
 * defined as JSON. Resolves with the JSON answer, the answer's bytes, or null (204).
 * @param {string} method
 * @param {string} path under `/v1`
 * @param {unknown} body
 * @param {{ signedIn?: boolean }} [options] `signedIn: false`: a public route, no token sent
 */
async function request(method, path, body, { signedIn = true } = {}) {
  /** @type {RequestInit & { headers: Record<string, string> }} */
  const init = { method, headers: {} };
  if (body instanceof Uint8Array || body instanceof Blob) {
    init.body = /** @type {Uint8Array<ArrayBuffer> | Blob} */ (body); // bytes from the worker: never shared memory
    init.headers['Content-Type'] = 'application/octet-stream';
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const token = signedIn ? getToken() : null;
  if (token) init.headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`/v1${path}`, init);
  if (!res.ok) {
    let err = { error: 'http', message: res.statusText };
    try { err = await res.json(); } catch { /* not JSON */ }
    const error = new ApiError(res.status, err.error, err.message);
    if (res.status === 401 && signedIn) {
      clearToken();
      unauthorized?.(err.message);
    }
    throw error;
  }
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') ?? '';
  return type.includes('application/json') ? res.json() : new Uint8Array(await res.arrayBuffer());
}

/**
 * `route.path` with `values` in its `{templates}`, in order.
 * @param {string} path
 * @param {unknown[]} values the call's arguments: the path values (strings or numbers) first
 */
function fill(path, values) {
  let i = 0;
  return path.replace(/\{[^}]+\}/g, () => encodeURIComponent(/** @type {string | number} */ (values[i++] ?? '')));
}

/**
 * The call of one route: `(...pathValues, body)`.
 * @param {typeof ROUTES[number]} route
 */
function call(route) {
  const templates = (route.path.match(/\{/g) ?? []).length;
  return (/** @type {unknown[]} */ ...args) => {
    let body = route.body === 'none' ? undefined : args[templates];
    // An encrypted secure-mode batch is ~150 MB whatever the sample count (one ciphertext per
    // input value): sent as a Blob, which the browser streams from its blob store (and developer
    // tools do not inline).
    // (Bytes from the worker: an ArrayBuffer, never a SharedArrayBuffer.)
    if (route.body === 'large' && body instanceof Uint8Array) body = new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (body)]);
    return request(route.method, fill(route.path, args), body, { signedIn: !route.public });
  };
}

/** One function per route of `api_routes.js`, by its name (`api.createDataset(meta)`). */
export const api = Object.fromEntries(ROUTES.map((route) => [route.name, call(route)]));
