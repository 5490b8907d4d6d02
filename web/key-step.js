// @ts-check
// Step 1, the key: generate, export, import, remember several keys in this browser (wrapped, each
// under its fingerprint and a name), pick one to unlock. A key that is not saved anywhere (never
// exported nor remembered) is never replaced without an explicit choice: "Generate a key",
// "Import" and "Unlock" first ask whether to export it, keep it or replace it, saying what would
// be lost (its work on the node can never be decrypted again).
import { api } from './api.js';
import { call } from './client.js';
import * as keystore from './keystore.js';
import { $, download } from './dom.js';
import { state } from './state.js';
import { updateButtons } from './controls.js';
import { refreshWork } from './work.js';
import { askPassphrase } from './passphrase.js';

/** @typedef {import('./keystore.js').StoredKey} StoredKey */
/** @typedef {import('./api.js').NodeDataset} NodeDataset */
/** @typedef {import('./api.js').NodeJob} NodeJob */

/** The remembered keys as last read from IndexedDB (for the picker and `keyLabelFor`). */
let remembered = /** @type {StoredKey[]} */ ([]);
/** The active key's name ('' until it is remembered or named). */
let activeName = '';
/** Fingerprints of keys that are in a key file: exported here or imported from one. */
const inFiles = new Set();

/** The public basis C0 parsed from the worker's JSON (row-major 2×2). */
function parseBasis(/** @type {string} */ json) {
  /** @type {number[]} */
  const out = [];
  JSON.parse(json, (_, v) => { if (typeof v === 'number') out.push(v); return v; });
  return out;
}

/** Whether two public bases are the same (to 1e-6 relative). */
export function sameBasis(/** @type {number[] | null | undefined} */ a, /** @type {number[] | null | undefined} */ b) {
  return Array.isArray(a) && Array.isArray(b) && a.length === 4 && b.length === 4
    && a.every((v, i) => Math.abs(v - b[i]) <= 1e-6 * Math.max(1, Math.abs(v)));
}

/**
 * Which key an object of the node belongs to, for the work panel: the name and fingerprint of the
 * active key or of a key remembered in this browser whose public basis is the object's (a dataset
 * carries `basis`; for a model or job pass its dataset), else "another key".
 * @param {{ basis?: number[] | null } | null | undefined} obj
 * @returns {string}
 */
export function keyLabelFor(obj) {
  const basis = obj?.basis;
  if (state.fingerprint && sameBasis(basis, state.basis)) {
    return activeName ? `${activeName} (${state.fingerprint}, active)` : `the active key (${state.fingerprint}, not remembered)`;
  }
  const k = remembered.find((r) => sameBasis(basis, r.basis));
  return k ? `${k.name} (${k.fingerprint})` : 'another key (not in this browser)';
}

/** Refreshes the picker of remembered keys. */
async function refreshPicker() {
  remembered = await keystore.list();
  const pick = /** @type {HTMLSelectElement} */ ($('key-pick'));
  const chosen = pick.value;
  pick.replaceChildren(...remembered.map((k) => Object.assign(document.createElement('option'), {
    value: k.fingerprint, textContent: `${k.name} · ${k.fingerprint}${k.fingerprint === state.fingerprint ? ' (active)' : ''}`,
  })));
  if (remembered.some((k) => k.fingerprint === chosen)) pick.value = chosen;
  $('key-picker').hidden = remembered.length === 0;
  $('key-load').hidden = remembered.length === 0;
}

/**
 * Makes the worker's key the page's active key.
 * @param {{ fingerprint: string, generation: number, basis: string }} key
 * @param {{ saved: boolean, name?: string }} how
 */
function keyReady({ fingerprint, generation, basis }, { saved, name = '' }) {
  $('key-error').textContent = '';
  // The public compact basis C0 (row-major 2×2), to recognise this key's datasets on the node.
  state.basis = parseBasis(basis);
  state.fingerprint = fingerprint;
  state.keySaved = saved;
  state.localModelId = null; // the worker drops its decrypted model with the old key
  state.generation = generation;
  state.work = undefined;
  activeName = name || remembered.find((k) => k.fingerprint === fingerprint)?.name || '';
  $('fingerprint').textContent = fingerprint;
  $('key-name').textContent = activeName ? `“${activeName}”` : '';
  // Generation 1: keys made before 2026-12-01 (more_client::KeyGeneration). They still decrypt.
  $('key-warning').textContent = generation === 1
    ? 'This is an old key (generation 1, made before 2026-12-01): its public basis reveals the data it '
      + 'encrypts. Data encrypted under it still decrypts here, but make a new key ("Generate a key") '
      + 'before encrypting anything new.'
    : '';
  updateButtons();
  refreshPicker().catch(() => {});
}

/** How many of the active key's datasets and models are on the node (null: not known). */
async function activeWork() {
  try {
    const datasets = /** @type {NodeDataset[]} */ (await api.datasets()).filter((d) => sameBasis(d.basis, state.basis));
    const ids = new Set(datasets.map((d) => d.id));
    const models = new Set(/** @type {NodeJob[]} */ (await api.jobs()).filter((j) => ids.has(j.dataset_id)).map((j) => j.model_id));
    return { datasets: datasets.length, models: models.size };
  } catch {
    return null;
  }
}

/**
 * Before the active key is replaced by `what` (generate, import, unlock): nothing to ask when
 * there is no key or it is saved (exported to a file or remembered here). Otherwise the replace
 * dialog: export first (then go on), keep it (stop), or replace it. Resolves true to go on.
 * @param {string} what
 */
export async function mayReplaceKey(what) {
  if (!state.fingerprint || state.keySaved) return true;
  const work = await activeWork();
  const lost = work === null
    ? 'whatever was encrypted under it on the node (the node could not be asked how much)'
    : `its ${work.datasets} dataset(s) and ${work.models} model(s) on the node`;
  $('replace-text').textContent = `The active key ${state.fingerprint} has not been exported or remembered. `
    + `If you ${what} now, it is gone for good, and with it ${lost}: nobody can decrypt them again.`;
  const dialog = /** @type {HTMLDialogElement} */ ($('replace-dialog'));
  dialog.returnValue = '';
  dialog.showModal();
  const choice = await new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue), { once: true }));
  if (choice === 'replace') return true;
  if (choice === 'export') return exportKey();
  return false;
}

/** Downloads the active key as a wrapped key file; true when it was saved. */
async function exportKey() {
  const answer = await askPassphrase({
    help: 'The key file is encrypted with this passphrase (Argon2id + XChaCha20-Poly1305). Keep both safe: '
      + 'without the key nothing can be decrypted.',
    isNew: true, userInputs: [state.fingerprint ?? '', activeName],
  });
  if (!answer) return false;
  download(await call('exportWrapped', { passphrase: answer.passphrase }), `more-key-${state.fingerprint}.morekey`);
  inFiles.add(state.fingerprint);
  state.keySaved = true;
  return true;
}

/** Reports a failed key change: nothing changed, the active key stays. */
function keyChangeFailed(/** @type {string} */ what, /** @type {any} */ err) {
  $('key-error').textContent = `${what} failed: ${err.message}. `
    + (state.fingerprint ? `The active key is still ${state.fingerprint}.` : 'No key is active.');
}

$('key-generate').onclick = async () => {
  if (!(await mayReplaceKey('make a new key'))) return;
  keyReady(await call('generate'), { saved: false });
  refreshWork().catch((err) => { $('work-error').textContent = `Not refreshed: ${err.message}`; });
};

$('key-export').onclick = () => { exportKey().catch((err) => keyChangeFailed('Export', err)); };

$('key-import').onchange = async (e) => {
  const picker = /** @type {HTMLInputElement} */ (e.target);
  const file = picker.files?.[0];
  picker.value = '';
  if (!file || !(await mayReplaceKey(`import ${file.name}`))) return;
  const answer = await askPassphrase({ help: `Passphrase of ${file.name}` });
  if (!answer) return;
  try {
    const key = await call('importWrapped', { bytes: new Uint8Array(await file.arrayBuffer()), passphrase: answer.passphrase });
    inFiles.add(key.fingerprint);
    keyReady(key, { saved: true });
    refreshWork().catch((err) => { $('work-error').textContent = `Not refreshed: ${err.message}`; });
  } catch (err) {
    // Nothing changed: the worker keeps its key and the page keeps showing its fingerprint.
    keyChangeFailed(`Import of ${file.name}`, err);
  }
};

$('key-save').onclick = async () => {
  const fingerprint = state.fingerprint;
  if (!fingerprint) return;
  const answer = await askPassphrase({
    help: 'The key is stored in this browser only in wrapped (passphrase-encrypted) form. Give it a name to '
      + 'tell it from other keys remembered here.',
    isNew: true, name: activeName || `Key made ${new Date().toLocaleDateString()}`, userInputs: [fingerprint],
  });
  if (!answer) return;
  try {
    const wrapped = await call('exportWrapped', { passphrase: answer.passphrase });
    await keystore.save({ fingerprint, name: answer.name, wrapped, basis: state.basis ?? null, generation: state.generation });
    activeName = answer.name;
    state.keySaved = true;
    $('key-name').textContent = `“${activeName}”`;
    await refreshPicker();
  } catch (err) {
    $('key-error').textContent = `Not remembered: ${err.message}.`;
  }
};

$('key-load').onclick = async () => {
  const saved = await keystore.get(/** @type {HTMLSelectElement} */ ($('key-pick')).value);
  if (!saved || !(await mayReplaceKey(`unlock “${saved.name}”`))) return;
  const answer = await askPassphrase({ help: `Passphrase of the remembered key “${saved.name}” (${saved.fingerprint})` });
  if (!answer) return;
  try {
    const key = await call('importWrapped', { bytes: saved.wrapped, passphrase: answer.passphrase });
    if (!saved.basis || saved.generation === null) {
      // A key moved from the one-slot store: learn its public basis now, for keyLabelFor.
      await keystore.save({ ...saved, basis: parseBasis(key.basis), generation: key.generation });
    }
    keyReady(key, { saved: true, name: saved.name });
    refreshWork().catch((err) => { $('work-error').textContent = `Not refreshed: ${err.message}`; });
  } catch (err) {
    keyChangeFailed(`Unlocking “${saved.name}”`, err);
  }
};

$('key-forget').onclick = async () => {
  const saved = await keystore.get(/** @type {HTMLSelectElement} */ ($('key-pick')).value);
  if (!saved) return;
  $('forget-text').textContent = `Forget “${saved.name}” (${saved.fingerprint}) in this browser? Unless it was `
    + 'exported to a key file, whatever was encrypted under it can never be decrypted again.';
  const dialog = /** @type {HTMLDialogElement} */ ($('forget-dialog'));
  dialog.returnValue = '';
  dialog.showModal();
  const choice = await new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue), { once: true }));
  if (choice !== 'forget') return;
  await keystore.remove(saved.fingerprint);
  if (saved.fingerprint === state.fingerprint) state.keySaved = inFiles.has(saved.fingerprint);
  await refreshPicker();
};

// The remembered keys at start (the version-1 slot is moved into the new store on first open).
refreshPicker().catch((err) => { $('key-error').textContent = `The remembered keys could not be read: ${err.message}.`; });
