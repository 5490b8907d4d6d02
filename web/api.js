// The compute node's REST API (compute-node/API.md; /v1/openapi.json is authoritative).
// Tensors travel as wire-format bytes; everything else is JSON.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(`${message} (${code}, HTTP ${status})`);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, body) {
  const init = { method, headers: {} };
  if (body instanceof Uint8Array) {
    init.body = body;
    init.headers['Content-Type'] = 'application/octet-stream';
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(`/v1${path}`, init);
  if (!res.ok) {
    let err = { error: 'http', message: res.statusText };
    try { err = await res.json(); } catch { /* not JSON */ }
    throw new ApiError(res.status, err.error, err.message);
  }
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') ?? '';
  return type.includes('application/json') ? res.json() : new Uint8Array(await res.arrayBuffer());
}

export const api = {
  health: () => request('GET', '/health'),
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
};
