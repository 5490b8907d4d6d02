// Step 5, your work on this node: this key's datasets, models and jobs.
import { api } from './api.js';
import { $, el } from './dom.js';
import { state } from './state.js';
import { updateButtons } from './controls.js';

/** This key's datasets (same public compact basis), the jobs on them and the models they trained. */
export async function refreshWork() {
  if (!state.basis) return;
  $('work-error').textContent = '';
  const [datasets, models, jobs] = await Promise.all([api.datasets(), api.models(), api.jobs()]);
  const mine = (b) => Array.isArray(b) && b.length === 4 && b.every((v, i) => Math.abs(v - state.basis[i]) <= 1e-6 * Math.max(1, Math.abs(v)));
  const myDatasets = datasets.filter((d) => mine(d.basis)).sort((a, b) => a.created_at - b.created_at);
  const dsIds = new Set(myDatasets.map((d) => d.id));
  const myJobs = jobs.filter((j) => dsIds.has(j.dataset_id)).sort((a, b) => a.created_at - b.created_at);
  const modelIds = new Set(myJobs.map((j) => j.model_id));
  const myModels = models.filter((m) => modelIds.has(m.id)).sort((a, b) => a.created_at - b.created_at);
  state.work = { datasets: myDatasets.map((d) => d.id), models: myModels.map((m) => m.id), jobs: myJobs.map((j) => [j.id, j.state]) };
  const button = (text, fn, cls) => Object.assign(el('button', { type: 'button', textContent: text, className: cls }), {
    onclick: async () => {
      $('work-error').textContent = '';
      try { await fn(); } catch (err) { $('work-error').textContent = `${text} failed: ${err.message}`; }
      await refreshWork().catch((err) => { $('work-error').textContent = err.message; });
    },
  });
  const table = (caption, head, rows) => {
    const t = el('table', { className: 'stats work' });
    t.createCaption().textContent = caption;
    t.createTHead().insertRow().append(...head.map((h) => el('th', { textContent: h })));
    const body = t.createTBody();
    for (const r of rows) { const tr = body.insertRow(); r.forEach((c) => tr.insertCell().append(c)); }
    return t;
  };
  const when = (t) => new Date(t * 1000).toLocaleString();
  const short = (id) => id.slice(0, 8);
  $('work').replaceChildren(
    table(`Datasets (${myDatasets.length})`, ['name', 'task', 'samples', 'state', 'created', ''], myDatasets.map((d) => [
      d.name, d.task, String(d.samples ?? '–'), d.state, when(d.created_at),
      button('Delete', () => api.deleteDataset(d.id), 'work-delete-dataset')])),
    table(`Models (${myModels.length})`, ['name', 'id', 'trained epochs', 'created', '', ''], myModels.map((m) => [
      m.name, short(m.id), String(m.trained_epochs ?? 0), when(m.created_at),
      button(m.id === state.modelId ? 'Predicting with this' : 'Predict with this', async () => {
        state.modelId = m.id;
        state.modelTrained = true;
        $('local-status').textContent = `Predicting with model ${m.name} (${short(m.id)}).`;
        updateButtons();
      }, 'work-use-model'),
      button('Delete', () => api.deleteModel(m.id), 'work-delete-model')])),
    table(`Jobs (${myJobs.length})`, ['id', 'model', 'state', 'epoch', ''], myJobs.map((j) => [
      short(j.id), short(j.model_id), j.state + (j.error ? `: ${j.error}` : ''), `${j.epoch ?? 0}/${j.epochs}`,
      ['queued', 'running'].includes(j.state) ? button('Cancel', () => api.cancel(j.id), 'work-cancel')
        : ['cancelled', 'interrupted', 'failed'].includes(j.state) ? button('Resume', () => api.resume(j.id), 'work-resume') : ''])),
  );
}
$('work-refresh').onclick = () => refreshWork().catch((err) => { $('work-error').textContent = `Not refreshed: ${err.message}`; });
