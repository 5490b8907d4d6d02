// @ts-check
// The passphrase dialog. A NEW passphrase (key file export, a key remembered in this browser) is
// judged by an estimator, zxcvbn (wasm-client/src/passphrase.rs, run in the key worker), not by
// its length: the page shows the estimate as it is typed and refuses a passphrase below the
// estimator's score 3 (twelve spaces, "password1234"). Unlocking an existing key file takes any
// passphrase it was made with.
import { call } from './client.js';
import { $ } from './dom.js';

/**
 * The estimator's answer (wasm-client/src/passphrase.rs, `PassphraseStrength`).
 * @typedef {object} Strength
 * @property {number} score 0 (guessed at once) to 4 (very hard to guess)
 * @property {number} guessesLog10 log10 of the estimated guesses
 * @property {boolean} acceptable strong enough to protect a new key file (score >= 3)
 * @property {string} offlineTime how long guessing would take offline (10^4 guesses a second)
 * @property {string} warning what is wrong with it ('' when nothing)
 * @property {string[]} suggestions what to do instead
 */

/**
 * How strong `passphrase` is; `userInputs`: words the page knows (fingerprint, key name), which
 * count against it.
 * @param {string} passphrase
 * @param {string[]} [userInputs]
 * @returns {Promise<Strength>}
 */
export const strength = (passphrase, userInputs = []) => call('passphraseStrength', { passphrase, userInputs });

/**
 * The sentence shown under a new passphrase.
 * @param {string} passphrase
 * @param {Strength} s
 */
export function describe(passphrase, s) {
  if (!passphrase) return 'Type a passphrase. Four or more random words make a strong one.';
  if (s.acceptable) {
    return `Strong enough: a stolen key file would take about ${s.offlineTime} to guess.`;
  }
  const advice = [s.warning, ...s.suggestions].filter(Boolean).join(' ');
  return `Too easy to guess: a stolen key file can be tried offline, and this passphrase would be found in about `
    + `${s.offlineTime}. ${advice || 'Add more words.'} Four or more random words make a strong passphrase.`;
}

/**
 * What the dialog asks for.
 * @typedef {object} Ask
 * @property {string} help the sentence at the top
 * @property {boolean} [isNew] a new passphrase: judged by the estimator, refused when weak
 * @property {string | null} [name] ask for a name too, with this default (null: no name asked)
 * @property {string[]} [userInputs] words that count against a new passphrase
 */

/**
 * Opens the passphrase dialog; resolves with the passphrase (and the name, if asked), or null
 * when cancelled.
 * @param {Ask} ask
 * @returns {Promise<{ passphrase: string, name: string } | null>}
 */
export function askPassphrase({ help, isNew = false, name = null, userInputs = [] }) {
  const dialog = /** @type {HTMLDialogElement} */ ($('pass-dialog'));
  const input = /** @type {HTMLInputElement} */ ($('pass-input'));
  const nameInput = /** @type {HTMLInputElement} */ ($('pass-name'));
  const meter = /** @type {HTMLMeterElement} */ (document.getElementById('pass-meter'));
  const rule = $('pass-rule');
  const ok = /** @type {HTMLButtonElement} */ ($('pass-ok'));
  $('pass-help').textContent = help;
  input.value = '';
  input.autocomplete = isNew ? 'new-password' : 'current-password';
  /** @type {HTMLElement} */ ($('pass-name-row')).hidden = name === null;
  nameInput.value = name ?? '';
  nameInput.required = name !== null;
  meter.hidden = !isNew;
  meter.value = 0;
  rule.textContent = isNew ? describe('', /** @type {Strength} */ ({})) : '';
  /** The estimate of what is typed now (older answers are dropped). */
  const judge = async () => {
    const value = input.value;
    const inputs = [...userInputs, nameInput.value].filter(Boolean);
    const s = await strength(value, inputs);
    if (input.value !== value) return null;
    meter.value = value ? s.score : 0;
    rule.textContent = describe(value, s);
    return s;
  };
  input.oninput = () => { if (isNew) judge().catch((err) => { rule.textContent = `Not checked: ${err.message}`; }); };
  ok.onclick = async (e) => {
    e.preventDefault();
    if (!input.value) { input.reportValidity(); return; }
    if (name !== null && !nameInput.value.trim()) { nameInput.reportValidity(); return; }
    if (isNew && !(await judge())?.acceptable) { input.focus(); return; }
    dialog.close('ok');
  };
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'
      ? { passphrase: input.value, name: nameInput.value.trim() } : null), { once: true });
  });
}
