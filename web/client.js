// @ts-check
// Promise wrapper around worker.js. Every call returns a promise; onProgress receives 0..1.
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
/**
 * A call waiting for the worker's answer, by request id.
 * @type {Map<number, { resolve: (result: unknown) => void, reject: (error: Error) => void, onProgress?: (fraction: number) => void }>}
 */
const pending = new Map();
let nextId = 1;

/**
 * What worker.js posts for request `id`: progress (0..1), its answer, or its error's message.
 * @typedef {{ id: number, progress: number } | { id: number, ok: true, result: unknown }
 *   | { id: number, ok: false, error: string }} WorkerReply
 */

worker.onmessage = (/** @type {MessageEvent<WorkerReply>} */ { data }) => {
  const p = pending.get(data.id);
  if (!p) return;
  if ('progress' in data) { p.onProgress?.(data.progress); return; }
  pending.delete(data.id);
  if (data.ok) p.resolve(data.result); else p.reject(new Error(data.error));
};
worker.onerror = (/** @type {ErrorEvent} */ e) => {
  for (const p of pending.values()) p.reject(new Error(`worker failed: ${e.message}`));
  pending.clear();
};

/**
 * Sends `op` to the key worker. `transfer` lists ArrayBuffers to move instead of copy;
 * `onProgress(fraction)` hears the operation's progress (0..1). Resolves with the worker's answer;
 * rejects with its error.
 * @param {string} op
 * @param {object} [args]
 * @param {{ onProgress?: (fraction: number) => void, transfer?: Transferable[] }} [options]
 * @returns {Promise<any>}
 */
export function call(op, args = {}, { onProgress, transfer = [] } = {}) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, onProgress });
    worker.postMessage({ id, op, args }, transfer);
  });
}
