// @ts-check
// The node's health line, polled while the page is open.
import { api } from './api.js';
import { $ } from './dom.js';

// `GET /v1/health` every HEALTH_MS (no body, no key material), so that a node that stops shows as
// unreachable instead of a stale "ok", and one that comes back shows as ok again. Skipped while a
// prediction runs here in the page (localBusy) and while the previous check is still out.
export const HEALTH_MS = 5000;
let localBusy = 0, healthPending = false;
export async function checkHealth() {
  if (localBusy > 0 || healthPending) return;
  healthPending = true;
  const el = $('node-status');
  try {
    const h = await api.health();
    el.textContent = `Compute node ${h.status}, version ${h.version}.`;
    el.dataset.health = 'ok';
  } catch (err) {
    el.textContent = `Compute node unreachable (${err.message}); checking again every ${HEALTH_MS / 1000} s.`;
    el.dataset.health = 'unreachable';
  } finally {
    healthPending = false;
  }
}

/** A prediction here in the page starts: the health poll sends nothing until it ends. */
export function localBusyBegin() { localBusy++; }

/** A prediction here in the page ended (call once per `localBusyBegin`). */
export function localBusyEnd() { localBusy--; }
