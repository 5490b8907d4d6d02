// @ts-check
// Small DOM helpers shared by the page's steps: element lookup and creation, error text,
// number formatting, file download.
import { DataError } from './formats.js';

/**
 * A control of the page (index.html), by id. The page's ids name form controls, buttons, dialogs
 * and containers; typed as the controls they are used as (`value`, `files`, `disabled`, `options`,
 * `showModal`), every id being present in index.html.
 * @typedef {HTMLInputElement & HTMLSelectElement & HTMLDialogElement} Control
 * @type {(id: string) => Control}
 */
export const $ = (id) => /** @type {Control} */ (document.getElementById(id));

/**
 * A file chooser (`<input type="file">`, e.g. a change event's target): its `files` are never null.
 * @typedef {HTMLInputElement & { files: FileList }} FileInput
 */

/**
 * A `<progress>` of the page, by id (its `value` is a number, unlike a form control's).
 * @param {string} id
 * @returns {HTMLProgressElement}
 */
export const progressBar = (id) => /** @type {HTMLProgressElement} */ (document.getElementById(id));

/**
 * Shows `err` in `el` (a DataError's message as it is, others as "Error: …"), or clears it (null).
 * @param {HTMLElement} el
 * @param {any} err
 */
export function showError(el, err) {
  el.textContent = err ? (err instanceof DataError ? err.message : `Error: ${err.message ?? err}`) : '';
}

/**
 * Saves `bytes` as a file called `name` (the browser's download).
 * @param {Uint8Array<ArrayBuffer>} bytes
 * @param {string} name
 */
export function download(bytes, name) {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** `v` with 4 significant digits, without trailing zeros. */
export const fmt = (/** @type {number} */ v) => Number(v.toPrecision(4)).toString();

/**
 * A new `tag` element with `props` assigned and `children` appended (typed by its tag: `el('table')`
 * is an HTMLTableElement).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {object} [props]
 * @param {(string | Node)[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, props = {}, children = []) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/**
 * Asks `question` in the page's confirmation dialog, with `confirm` as the label of the button
 * that goes ahead (Cancel, Escape or closing the dialog answer no). Resolves true to go ahead.
 * @param {string} question
 * @param {string} confirm
 * @returns {Promise<boolean>}
 */
export function confirmDialog(question, confirm) {
  const dialog = $('confirm-dialog');
  $('confirm-text').textContent = question;
  $('confirm-ok').textContent = confirm;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}
