// @ts-check
// Step 5, your work on this node: this key's datasets, models and jobs, by name (no ids), kept
// current while a job runs; the losses of any job; deletes confirmed; refusals kept until
// dismissed; a viewer is offered predict and download only.
/** @typedef {import('./api.js').NodeDataset} NodeDataset */
/** @typedef {import('./api.js').NodeModel} NodeModel */
/** @typedef {import('./api.js').NodeJob} NodeJob */
import { api } from './api.js';
import { drawLosses } from './chart.js';
import { $, el, confirmDialog } from './dom.js';
import { plainLanguage } from './plain-errors.js';
import { state } from './state.js';
import { updateButtons } from './controls.js';
import { JOB_EVENT, jobLosses, notEncrypted, POLL_MS, resumeJob } from './job.js';

/** The node's objects of the last refresh, by id (for names: a job is called by its model). */
const known = {
  /** @type {Map<string, NodeDataset>} */ datasets: new Map(),
  /** @type {Map<string, NodeModel>} */ models: new Map(),
  /** @type {Map<string, NodeJob>} */ jobs: new Map(),
};
/** What each table showed last (JSON of its rows): a table is rebuilt only when it changed. */
const shown = new Map();
let pollTimer = 0;
/** Names the key an object of the node belongs to (set by app.js: key-step.js's keyLabelFor). */
/** @type {(dataset: { basis?: number[] | null }) => string} */
let keyLabel = () => '';

/** Sets how the card names the key of a dataset (and of the models and jobs trained on it). */
export function setKeyLabeler(/** @type {(dataset: { basis?: number[] | null }) => string} */ fn) { keyLabel = fn; }

const when = (/** @type {number} */ t) => new Date(t * 1000).toLocaleString();
const active = (/** @type {{ state: string }} */ j) => ['queued', 'running'].includes(j.state);

/** A job's name for people: its model's name and when it was started (never its id). */
export function jobLabel(/** @type {string} */ jobId) {
  const j = known.jobs.get(jobId);
  if (!j) return 'this job';
  return `${known.models.get(j.model_id)?.name ?? 'a deleted model'} (started ${when(j.created_at)})`;
}

/** The name of the node's model `id` as the work card knows it (null before the card has seen it). */
export function modelName(/** @type {string | null} */ id) {
  return id === null ? null : known.models.get(id)?.name ?? null;
}

/** Shows a refusal or failure in the work card until "Dismiss" is clicked (a refresh keeps it). */
export function showWorkError(/** @type {string} */ text) {
  const dismiss = el('button', { type: 'button', textContent: 'Dismiss', className: 'work-dismiss' });
  dismiss.onclick = () => $('work-error').replaceChildren();
  $('work-error').replaceChildren(el('span', { textContent: `${text} ` }), dismiss);
}

/** `message` with each 32-hex id of the node's objects replaced by the object's name. */
function withNames(/** @type {string} */ message) {
  return message.replace(/\b[0-9a-f]{32}\b/g, (id) => {
    const name = known.datasets.get(id)?.name ?? known.models.get(id)?.name ?? (known.jobs.has(id) ? `the job of ${jobLabel(id)}` : null);
    return name ? `"${name}"` : 'it';
  });
}

/** Why the node refused, in words (403: the role; 409: the object's state), names not ids. */
function refusal(/** @type {string} */ what, /** @type {any} */ err) {
  const said = withNames(String(err?.serverMessage ?? err?.message ?? err));
  if (err?.status === 403) return `${what} refused: your role (${state.role ?? 'unknown'}) may not do this (${said}).`;
  const advice = what === 'Delete' ? ' Cancel that job (Jobs, below) or wait until it ends, then delete.' : '';
  if (err?.status === 409) return `${what} refused: ${said}.${advice}`;
  return `${what} failed: ${plainLanguage(said)}`;
}

/** A button of the work tables: runs `fn`, shows a refusal until dismissed, then refreshes. */
function button(/** @type {string} */ text, /** @type {() => Promise<unknown>} */ fn, /** @type {string} */ cls) {
  const b = el('button', { type: 'button', textContent: text, className: cls });
  b.onclick = async () => {
    try { await fn(); } catch (err) { showWorkError(refusal(text, err)); }
    await refreshWork().catch((err) => showWorkError(`Not refreshed: ${err.message}`));
  };
  return b;
}

/** A Delete button that asks first. */
function deleteButton(/** @type {string} */ what, /** @type {string} */ name, /** @type {() => Promise<unknown>} */ fn, /** @type {string} */ cls) {
  return button('Delete', async () => {
    const note = what === 'dataset' ? ' The encrypted data on the node is gone for good (your copy stays).' : ' Its trained weights are gone for good.';
    if (await confirmDialog(`Delete the ${what} "${name}"?${note}`, `Delete ${what}`)) await fn();
  }, cls);
}

/** A table of the work card: caption, head, rows of cells (text or elements). */
function table(/** @type {string} */ caption, /** @type {string[]} */ head, /** @type {(string | Node)[][]} */ rows) {
  const t = el('table', { className: 'stats work' });
  t.createCaption().textContent = caption;
  t.createTHead().insertRow().append(...head.map((h) => el('th', { textContent: h })));
  const body = t.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    // data-label: the column's name, shown beside the value where narrow screens stack the cells.
    r.forEach((c, i) => {
      const td = tr.insertCell();
      td.dataset.label = head[i];
      td.append(c);
    });
  }
  return t;
}

/** This key's objects among the node's: datasets with the key's public basis, their jobs, models. */
function mine(/** @type {NodeDataset[]} */ datasets, /** @type {NodeModel[]} */ models, /** @type {NodeJob[]} */ jobs) {
  // Set: refreshWork returns before a key is made or opened, and a key's basis is never unset (only replaced).
  const basis = /** @type {number[]} */ (state.basis);
  const same = (/** @type {unknown} */ b) => Array.isArray(b) && b.length === 4 && b.every((v, i) => Math.abs(v - basis[i]) <= 1e-6 * Math.max(1, Math.abs(v)));
  const byTime = (/** @type {{ created_at: number }} */ a, /** @type {{ created_at: number }} */ b) => a.created_at - b.created_at;
  const myDatasets = datasets.filter((d) => same(d.basis)).sort(byTime);
  const dsIds = new Set(myDatasets.map((d) => d.id));
  const myJobs = jobs.filter((j) => dsIds.has(j.dataset_id)).sort(byTime);
  const modelIds = new Set(myJobs.map((j) => j.model_id));
  return { datasets: myDatasets, models: models.filter((m) => modelIds.has(m.id)).sort(byTime), jobs: myJobs };
}

/** This key's datasets (same public compact basis), the jobs on them and the models they trained.
 * Polls again every POLL_MS while one of the jobs is queued or running. */
export async function refreshWork() {
  if (!state.basis) return;
  clearTimeout(pollTimer);
  const [datasets, models, jobs] = await Promise.all([api.datasets(), api.models(), api.jobs()]);
  const my = mine(datasets, models, jobs);
  known.datasets = new Map(my.datasets.map((d) => [d.id, d]));
  known.models = new Map(my.models.map((m) => [m.id, m]));
  known.jobs = new Map(my.jobs.map((j) => [j.id, j]));
  state.work = { datasets: my.datasets.map((d) => d.id), models: my.models.map((m) => m.id), jobs: my.jobs.map((j) => [j.id, j.state]) };
  render('datasets', datasetsTable(my.datasets));
  render('models', modelsTable(my.models, my.jobs));
  render('jobs', jobsTable(my.jobs));
  if (my.jobs.some(active)) pollTimer = window.setTimeout(() => refreshWork().catch(() => {}), POLL_MS);
}

/** Puts table `key` ({ rows: data of its rows, make: () => the table }) into the card when its
 * rows changed since the last refresh (a button being clicked is not replaced every second). */
function render(/** @type {string} */ key, /** @type {{ rows: unknown, make: () => HTMLTableElement }} */ t) {
  const json = JSON.stringify([t.rows, state.role, state.modelId]);
  const old = $('work').querySelector(`[data-work="${key}"]`);
  if (old && shown.get(key) === json) return;
  shown.set(key, json);
  const made = t.make();
  made.dataset.work = key;
  if (old) old.replaceWith(made); else $('work').append(made);
}

const canChange = () => state.role !== 'viewer';

function datasetsTable(/** @type {NodeDataset[]} */ datasets) {
  return { rows: datasets, make: () => table(`Datasets (${datasets.length})`, ['name', 'key', 'task', 'samples', 'state', 'created', ''], datasets.map((d) => [
    d.name, keyLabel(d), d.task, String(d.samples ?? '–'), d.state, when(d.created_at),
    canChange() ? deleteButton('dataset', d.name, () => api.deleteDataset(d.id), 'work-delete-dataset') : ''])) };
}

function modelsTable(/** @type {NodeModel[]} */ models, /** @type {NodeJob[]} */ jobs) {
  const trainedOn = (/** @type {NodeModel} */ m) => {
    const job = jobs.find((j) => j.model_id === m.id);
    return (job ? known.datasets.get(job.dataset_id)?.name : undefined) ?? '–';
  };
  return { rows: models, make: () => table(`Models (${models.length})`, ['name', 'trained on', 'trained epochs', 'created', '', ''], models.map((m) => [
    m.name, trainedOn(m), String(m.trained_epochs ?? 0), when(m.created_at),
    button(m.id === state.modelId ? 'Predicting with this' : 'Predict with this', async () => useModel(m), 'work-use-model'),
    canChange() ? deleteButton('model', m.name, () => api.deleteModel(m.id), 'work-delete-model') : ''])) };
}

/** Chooses model `m` for "Predict" and "Download"; says what is missing to predict. */
function useModel(/** @type {NodeModel} */ m) {
  state.modelId = m.id;
  state.modelTrained = true;
  $('local-status').textContent = `Predicting with model ${m.name} (${m.id.slice(0, 8)}).`
    + (state.data ? '' : ' Load the data to predict (step 2): the test split is predicted, or draw a digit for a digit model.');
  updateButtons();
}

function jobsTable(/** @type {NodeJob[]} */ jobs) {
  const actions = (/** @type {NodeJob} */ j) => [
    (j.epoch ?? 0) > 0 ? button('Losses', () => showJobLosses(j.id), 'work-losses') : '',
    !canChange() ? '' : active(j) ? button('Cancel', () => api.cancel(j.id), 'work-cancel')
      : ['cancelled', 'interrupted', 'failed'].includes(j.state) ? button('Resume', () => resumeJob(j.id, jobLabel(j.id)), 'work-resume') : ''];
  return { rows: jobs, make: () => table(`Jobs (${jobs.length})`, ['model', 'started', 'state', 'epoch', '', ''], jobs.map((j) => [
    known.models.get(j.model_id)?.name ?? '–', when(j.created_at),
    j.state + (j.error ? `: ${plainLanguage(j.error)}` : ''), `${j.epoch ?? 0}/${j.epochs}`, ...actions(j)])) };
}

/** Decrypts and draws the losses of job `jobId` below the tables. */
async function showJobLosses(/** @type {string} */ jobId) {
  const caption = $('work-losses-caption');
  try {
    const losses = await jobLosses(jobId);
    drawLosses($('work-loss-chart'), losses);
    caption.textContent = `Decrypted training loss per epoch of ${jobLabel(jobId)}: ${losses.map((l) => l.toFixed(4)).join(', ')}`;
    caption.dataset.losses = JSON.stringify(losses);
  } catch (err) {
    drawLosses($('work-loss-chart'), []);
    caption.textContent = notEncrypted(err) ? `No losses shown: ${err.message}.` : `Losses of ${jobLabel(jobId)} not readable: ${plainLanguage(err.message)}`;
    delete caption.dataset.losses;
  }
  $('work-losses').hidden = false;
}

/** New data were loaded (`train`: its training part): the chosen model stays chosen when it takes
 * inputs of the data's shape (loading data unselected it, issue #29), else it is let go. */
export function keepModelIfItFits(/** @type {{ featureShape: number[] }} */ train) {
  const spec = state.modelId === null ? undefined : known.models.get(state.modelId)?.spec;
  const fits = spec?.input_shape?.join() === train.featureShape.join();
  if (!fits) state.modelTrained = false;
}

/** Forgets what the card shows (another tenant signed in). */
export function clearWork() {
  clearTimeout(pollTimer);
  shown.clear();
  $('work').replaceChildren();
  $('work-losses').hidden = true;
}

document.addEventListener(JOB_EVENT, () => { refreshWork().catch(() => {}); });
$('work-refresh').onclick = () => refreshWork().catch((err) => showWorkError(`Not refreshed: ${err.message}`));
