// @ts-check
// The Train card's job, followed live until it ends: progress, epoch, the decrypted losses. A node
// that stops answering (restart) is waited for; the job it left `interrupted` (or a cancelled or
// failed one) is offered "Resume", which continues it in place, in the same card.
/** @typedef {import('./api.js').NodeJob} NodeJob */
import { call } from './client.js';
import { api, ApiError } from './api.js';
import { drawLosses } from './chart.js';
import { $, progressBar } from './dom.js';
import { plainLanguage } from './plain-errors.js';
import { state } from './state.js';
import { updateButtons } from './controls.js';

/** The event (on `document`) when this page's job starts or ends: the work card refreshes. */
export const JOB_EVENT = 'more-job';

/** How often a job that runs is asked for its progress, in milliseconds. */
export const POLL_MS = 1000;
/** The states in which a job no longer changes by itself. */
export const FINISHED = ['completed', 'failed', 'cancelled', 'interrupted'];
/** The states from which `POST /v1/jobs/{id}/resume` continues a job. */
export const RESUMABLE = ['cancelled', 'interrupted', 'failed'];

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** The worker's answer when the node sends plaintext where a ciphertext belongs (never shown as
 * a result: it was never encrypted, so it cannot be the decryption of anything). */
export const notEncrypted = (/** @type {any} */ err) => /plaintext tensor/.test(err?.message ?? '');

/** The decrypted mean loss per completed epoch of job `jobId` (its losses blob, decrypted in the
 * key worker). Errors: the node's (409 before the first epoch), or the worker's. */
export async function jobLosses(/** @type {string} */ jobId) {
  const bytes = await api.losses(jobId);
  return Array.from(await call('decryptLosses', { bytes }));
}

/** Reads and draws the followed job's losses (after a new epoch or at the end). */
async function showLosses(/** @type {string} */ jobId) {
  const status = $('train-status');
  try {
    state.losses = await jobLosses(jobId);
    drawLosses($('loss-chart'), state.losses);
  } catch (err) {
    if (notEncrypted(err)) {
      state.losses = [];
      drawLosses($('loss-chart'), state.losses);
      $('train-error').textContent = `No losses shown: ${err.message}.`;
    } else {
      status.textContent += ` (losses not readable: ${plainLanguage(err.message)})`;
    }
  }
}

/** The Train card's progress bar and status line for job `j` (a job JSON of the node). */
function showProgress(/** @type {NodeJob} */ j, /** @type {string} */ label) {
  const total = Math.max(1, j.batches_total ?? 0);
  const bar = progressBar('train-progress');
  bar.value = j.state === 'completed' ? 1 : j.epochs ? ((j.epoch ?? 0) + (j.batches_done ?? 0) / total) / j.epochs : 0;
  $('train-status').textContent = `Training ${label}: ${j.state}, epoch ${j.epoch ?? 0}/${j.epochs}, `
    + `${Number(j.elapsed_seconds ?? 0).toFixed(1)} s`
    + (state.losses.length ? `, last loss ${state.losses[state.losses.length - 1].toFixed(4)}` : '');
}

/** The Train card once job `j` has ended: its state, the losses, and "Resume" where it applies. */
function showEnd(/** @type {NodeJob} */ j, /** @type {string} */ label) {
  const status = $('train-status');
  const why = j.state === 'interrupted' ? ' (the node stopped; "Resume" continues from the last completed epoch)' : '';
  status.textContent = `Training ${label} ${j.state}${j.error ? `: ${plainLanguage(j.error)}` : ''}${why} after `
    + `${Number(j.elapsed_seconds ?? 0).toFixed(1)} s; decrypted losses: ${state.losses.map((l) => l.toFixed(4)).join(', ')}`;
  status.dataset.state = j.state;
  $('train-resume').hidden = !RESUMABLE.includes(j.state) || state.role === 'viewer';
}

/** `GET /v1/jobs/{id}`, waiting (and saying so) while the node does not answer at all. An HTTP
 * error (the node answered) is thrown. */
async function pollJob(/** @type {string} */ jobId) {
  for (let waited = 0; ; waited += POLL_MS) {
    try {
      return await api.job(jobId);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      $('train-status').textContent = `The compute node does not answer (${err.message}); waiting for it `
        + `(${Math.round(waited / 1000)} s). A job the node stopped is then shown as interrupted, with "Resume".`;
      await sleep(POLL_MS);
    }
  }
}

/**
 * Follows job `jobId` of this page in the Train card until it ends (every POLL_MS): progress,
 * epoch, decrypted losses after each epoch; "Start training" stays disabled meanwhile. `label`
 * names the job for people (its model's name). Errors: an HTTP error of the node, shown in the card.
 */
export async function followJob(/** @type {string} */ jobId, /** @type {string} */ label) {
  Object.assign(state, { jobId, jobLabel: label, training: true, modelTrained: false });
  $('train-resume').hidden = true;
  $('train-cancel').disabled = false;
  delete $('train-status').dataset.state;
  updateButtons();
  document.dispatchEvent(new Event(JOB_EVENT));
  try {
    await followUntilEnd(jobId, label);
  } catch (err) {
    $('train-status').textContent = `Training ${label} failed: ${plainLanguage(err.message)}`;
    $('train-status').dataset.state = 'failed';
  } finally {
    state.training = false;
    $('train-cancel').disabled = true;
    updateButtons();
  }
}

async function followUntilEnd(/** @type {string} */ jobId, /** @type {string} */ label) {
  let seenEpoch = 0;
  for (;;) {
    const j = await pollJob(jobId);
    if (state.modelId !== j.model_id) Object.assign(state, { modelId: j.model_id, localModelId: null }); // a resumed job's model
    showProgress(j, label);
    const finished = FINISHED.includes(j.state);
    // The node switches a job to a new, complete losses blob in one transaction: one read.
    if (((j.epoch ?? 0) > seenEpoch || finished) && (j.epoch ?? 0) > 0) {
      await showLosses(jobId);
      seenEpoch = j.epoch;
    }
    if (finished) {
      if (j.state === 'completed') state.modelTrained = true;
      showEnd(j, label);
      document.dispatchEvent(new Event(JOB_EVENT));
      return;
    }
    await sleep(POLL_MS);
  }
}

/** Continues job `jobId` (interrupted, cancelled or failed) on the node and follows it in the
 * Train card (unless the card follows another job of this page: the work card shows it then).
 * Errors: the node's refusal (403 for a viewer, 409), thrown. */
export async function resumeJob(/** @type {string} */ jobId, /** @type {string} */ label) {
  await api.resume(jobId);
  if (state.training && state.jobId !== jobId) return;
  state.losses = [];
  followJob(jobId, label).catch(() => {});
}

$('train-cancel').onclick = () => {
  if (!state.jobId) return;
  // A job that ends meanwhile answers 409: said in the card, the poll shows how it ended.
  api.cancel(state.jobId).catch((err) => { $('train-error').textContent = `Not cancelled: ${plainLanguage(err.message)}`; });
};
$('train-resume').onclick = () => {
  if (!state.jobId) return; // hidden then (signInChanged), as Cancel's guard
  // The button shows after followJob, which set the label with the id.
  resumeJob(state.jobId, /** @type {string} */ (state.jobLabel)).catch((err) => {
    $('train-error').textContent = `Not resumed: ${err.message}`;
  });
};
