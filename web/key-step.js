// Step 1, the key: generate, export, import, remember in this browser (wrapped), unlock.
import { call } from './client.js';
import * as keystore from './keystore.js';
import { $, download } from './dom.js';
import { state } from './state.js';
import { updateButtons } from './controls.js';
import { refreshWork } from './work.js';

/** New passphrases (key export, remembered key) need at least this many characters: Argon2id
 * slows each guess at a stolen key file, but a short passphrase is still found offline. Unlocking
 * an existing key file takes any passphrase it was made with. */
const MIN_NEW_PASSPHRASE = 12;

/** The passphrase dialog; `minLength` > 1 for a new passphrase (checked as it is typed). */
function askPassphrase(help, { minLength = 1 } = {}) {
  const dialog = $('pass-dialog');
  const input = $('pass-input');
  $('pass-help').textContent = help;
  input.value = '';
  input.autocomplete = minLength > 1 ? 'new-password' : 'current-password';
  input.oninput = () => {
    const length = [...input.value].length;
    const short = length < minLength;
    const rule = short
      ? `At least ${minLength} characters (${length} so far): a stolen key file can be tried offline `
        + 'at leisure. Four or more random words make a strong passphrase.'
      : '';
    input.setCustomValidity(length === 0 ? '' : rule);
    $('pass-rule').textContent = minLength > 1 ? (rule || 'Long enough.') : '';
  };
  input.oninput();
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok' ? $('pass-input').value : null), { once: true });
  });
}

function keyReady({ fingerprint, generation, basis }) {
  $('key-error').textContent = '';
  // The public compact basis C0 (row-major 2×2), to recognise this key's datasets on the node.
  state.basis = [];
  JSON.parse(basis, (_, v) => { if (typeof v === 'number') state.basis.push(v); return v; });
  state.fingerprint = fingerprint;
  state.localModelId = null; // the worker drops its decrypted model with the old key
  state.generation = generation;
  $('fingerprint').textContent = fingerprint;
  // Generation 1: keys made before 2026-12-01 (more_client::KeyGeneration). They still decrypt.
  $('key-warning').textContent = generation === 1
    ? 'This is an old key (generation 1, made before 2026-12-01): its public basis reveals the data it '
      + 'encrypts. Data encrypted under it still decrypts here, but make a new key ("Generate a key") '
      + 'before encrypting anything new.'
    : '';
  updateButtons();
}

$('key-generate').onclick = async () => keyReady(await call('generate'));

$('key-export').onclick = async () => {
  const pass = await askPassphrase('The key file is encrypted with this passphrase (Argon2id + XChaCha20-Poly1305). Keep both safe: without the key nothing can be decrypted.',
    { minLength: MIN_NEW_PASSPHRASE });
  if (!pass) return;
  download(await call('exportWrapped', { passphrase: pass }), `more-key-${state.fingerprint}.morekey`);
};

$('key-import').onchange = async (e) => {
  const file = e.target.files[0];
  e.target.value = '';
  if (!file) return;
  const pass = await askPassphrase(`Passphrase of ${file.name}`);
  if (!pass) return;
  try {
    keyReady(await call('importWrapped', { bytes: new Uint8Array(await file.arrayBuffer()), passphrase: pass }));
    refreshWork().catch((err) => { $('work-error').textContent = `Not refreshed: ${err.message}`; });
  } catch (err) {
    // Nothing changed: the worker keeps its key and the page keeps showing its fingerprint.
    $('key-error').textContent = `Import of ${file.name} failed: ${err.message}. `
      + (state.fingerprint ? `The active key is still ${state.fingerprint}.` : 'No key is active.');
  }
};

$('key-save').onclick = async () => {
  const pass = await askPassphrase('The key is stored in this browser only in wrapped (passphrase-encrypted) form.',
    { minLength: MIN_NEW_PASSPHRASE });
  if (!pass) return;
  await keystore.save(state.fingerprint, await call('exportWrapped', { passphrase: pass }));
  $('key-load').hidden = false;
};

$('key-load').onclick = async () => {
  const saved = await keystore.load();
  if (!saved) return;
  const pass = await askPassphrase(`Passphrase of the remembered key ${saved.fingerprint}`);
  if (!pass) return;
  try {
    keyReady(await call('importWrapped', { bytes: saved.wrapped, passphrase: pass }));
    refreshWork().catch((err) => { $('work-error').textContent = `Not refreshed: ${err.message}`; });
  } catch (err) {
    $('key-error').textContent = `Unlocking the remembered key failed: ${err.message}. `
      + (state.fingerprint ? `The active key is still ${state.fingerprint}.` : 'No key is active.');
  }
};
