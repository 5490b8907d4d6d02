// The compute node's REST API (compute-node/API.md; /v1/openapi.json is authoritative).
// Tensors travel as wire-format bytes; everything else is JSON.
//
// Sign-in: when the page is signed in, every request but the public ones (`GET /v1/health`,
// `GET /v1/auth`) carries `Authorization: Bearer <token>` (an API key `more_…` or an OIDC access
// token). The token is kept in sessionStorage: it survives a reload of the tab and is gone when the
// tab closes. A 401 from any call forgets the token and tells `onUnauthorized` (signin.js shows
// the sign-in panel with the node's message).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(`${message} (${code}, HTTP ${status})`);
    this.status = status;
    this.code = code;
    this.serverMessage = message;
  }
}

const TOKEN_KEY = 'more-node-token';
let unauthorized = null;

/** The token the page is signed in with, or null. */
export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
}
export function setToken(token) { sessionStorage.setItem(TOKEN_KEY, token); }
export function clearToken() {
  try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* storage unavailable: nothing kept */ }
}
/** `fn(message)` is called after a 401 (the token, if any, is already forgotten). */
export function onUnauthorized(fn) { unauthorized = fn; }

async function request(method, path, body, { signedIn = true } = {}) {
  const init = { method, headers: {} };
  if (body instanceof Uint8Array || body instanceof Blob) {
    init.body = body;
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

export const api = {
  health: () => request('GET', '/health', undefined, { signedIn: false }),
  auth: () => request('GET', '/auth', undefined, { signedIn: false }),
  whoami: () => request('GET', '/whoami'),
  createDataset: (meta) => request('POST', '/datasets', meta),
  putFeatures: (id, bytes) => request('PUT', `/datasets/${id}/features`, bytes),
  putTargets: (id, bytes) => request('PUT', `/datasets/${id}/targets`, bytes),
  createModel: (body) => request('POST', '/models', body),
  weights: (id) => request('GET', `/models/${id}/weights`),
  predict: (id, bytes) => request('POST', `/models/${id}/predict`, bytes),
  startJob: (body) => request('POST', '/jobs', body),
  job: (id) => request('GET', `/jobs/${id}`),
  losses: (id) => request('GET', `/jobs/${id}/losses`),
  cancel: (id) => request('POST', `/jobs/${id}/cancel`),
  resume: (id) => request('POST', `/jobs/${id}/resume`),
  datasets: () => request('GET', '/datasets'),
  models: () => request('GET', '/models'),
  jobs: () => request('GET', '/jobs'),
  deleteDataset: (id) => request('DELETE', `/datasets/${id}`),
  deleteModel: (id) => request('DELETE', `/models/${id}`),
  // Secure mode (BFV): models published by their owners to this tenant, evaluation keys, predict.
  secureModels: () => request('GET', '/secure/models'),
  secureModel: (id) => request('GET', `/secure/models/${encodeURIComponent(id)}`),
  uploadEvaluationKey: (bytes) => request('POST', '/secure/evaluation-keys', bytes),
  // An encrypted batch is ~150 MB whatever the sample count (one ciphertext per input value): sent
  // as a Blob, which the browser streams from its blob store (and developer tools do not inline).
  securePredict: (id, keyId, bytes) => request('POST',
    `/secure/models/${encodeURIComponent(id)}/predict?evaluation_key=${encodeURIComponent(keyId)}`, new Blob([bytes])),
};
