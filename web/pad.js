// @ts-check
// The drawing pad: a digit drawn with the pointer or the keyboard, prepared as MNIST digits were,
// predicted with the chosen model (on the node or here).
import { mnistPreprocess } from './formats.js';
import { renderDigit } from './chart.js';
import { $ } from './dom.js';
import { state } from './state.js';
import { predictWhere, softmax } from './results.js';

const pad = /** @type {HTMLCanvasElement} */ (/** @type {unknown} */ ($('pad')));
const pctx = /** @type {CanvasRenderingContext2D} */ (pad.getContext('2d'));
function clearPad() { pctx.fillStyle = '#000'; pctx.fillRect(0, 0, pad.width, pad.height); }
clearPad();
let drawing = false;
let cursor = { x: 140, y: 140 };
/** A round dab of ink at (`x`, `y`), in the pad's pixels. */
function paint(/** @type {number} */ x, /** @type {number} */ y) {
  pctx.fillStyle = '#fff';
  pctx.beginPath();
  pctx.arc(x, y, 11, 0, 2 * Math.PI);
  pctx.fill();
}
pad.addEventListener('pointerdown', (e) => { drawing = true; pad.setPointerCapture(e.pointerId); paint(e.offsetX, e.offsetY); });
pad.addEventListener('pointermove', (e) => drawing && paint(e.offsetX, e.offsetY));
pad.addEventListener('pointerup', () => { drawing = false; });
pad.addEventListener('keydown', (e) => {
  const step = { ArrowLeft: [-10, 0], ArrowRight: [10, 0], ArrowUp: [0, -10], ArrowDown: [0, 10] }[e.key];
  if (step) { cursor = { x: cursor.x + step[0], y: cursor.y + step[1] }; paint(cursor.x, cursor.y); e.preventDefault(); }
  if (e.key === ' ') { paint(cursor.x, cursor.y); e.preventDefault(); }
});
$('pad-clear').onclick = () => {
  clearPad();
  $('pad-probs').replaceChildren();
  $('pad-input').replaceChildren();
  /** @type {HTMLElement} */ (document.querySelector('.pad-input')).hidden = true;
};

$('pad-predict').onclick = async () => {
  // Prepared as MNIST digits were: ink box scaled into 20×20, centre of mass at the centre of 28×28.
  const rgba = pctx.getImageData(0, 0, pad.width, pad.height).data;
  const grey = new Float32Array(pad.width * pad.height).map((_, i) => rgba[4 * i] / 255);
  const x = mnistPreprocess(grey, pad.width, pad.height);
  $('pad-error').textContent = '';
  $('pad-probs').replaceChildren();
  if (!x) { $('pad-error').textContent = 'Draw a digit first.'; return; }
  state.padInput = Array.from(x);
  const view = renderDigit(x, 28);
  view.id = 'pad-input-view';
  view.setAttribute('role', 'img');
  view.setAttribute('aria-label', 'The 28×28 input the model sees');
  $('pad-input').replaceChildren(view);
  /** @type {HTMLElement} */ (document.querySelector('.pad-input')).hidden = false;
  let row;
  try {
    [row] = (await predictWhere(x, 1, [1, 28, 28])).outputs;
  } catch (err) {
    $('pad-error').textContent = `Prediction failed: ${err.message}`;
    return;
  }
  /** The probability of each digit.
   * @type {number[]} */
  const p = softmax(row);
  const best = p.indexOf(Math.max(...p));
  $('pad-probs').replaceChildren(...p.map((v, k) => {
    const li = document.createElement('li');
    li.className = k === best ? 'best' : '';
    li.innerHTML = `<span>${k}</span><meter min="0" max="1" value="${v}"></meter><span>${(100 * v).toFixed(1)} %</span>`;
    return li;
  }));
};
