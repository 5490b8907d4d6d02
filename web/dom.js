// Small DOM helpers shared by the page's steps: element lookup and creation, error text,
// number formatting, file download.
import { DataError } from './formats.js';

export const $ = (id) => document.getElementById(id);

export function showError(el, err) {
  el.textContent = err ? (err instanceof DataError ? err.message : `Error: ${err.message ?? err}`) : '';
}

export function download(bytes, name) {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export const fmt = (v) => Number(v.toPrecision(4)).toString();

export function el(tag, props = {}, children = []) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}
