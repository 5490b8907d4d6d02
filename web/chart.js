// @ts-check
// Small canvas drawings: the loss curve and digit thumbnails.

/**
 * Draws `losses` (one per epoch) as a line with axes on `canvas`.
 * @param {HTMLElement} canvas a `<canvas>` of the page (`$` types the page's elements as controls)
 * @param {number[]} losses
 */
export function drawLosses(canvas, losses) {
  const ctx = /** @type {CanvasRenderingContext2D} */ (/** @type {HTMLCanvasElement} */ (canvas).getContext('2d'));
  const { width: w, height: h } = /** @type {HTMLCanvasElement} */ (canvas);
  const pad = { l: 56, r: 16, t: 14, b: 32 };
  ctx.clearRect(0, 0, w, h);
  ctx.font = '12px system-ui, sans-serif';
  ctx.strokeStyle = '#9aa4b2';
  ctx.fillStyle = '#4a5565';
  ctx.beginPath();
  ctx.moveTo(pad.l, pad.t);
  ctx.lineTo(pad.l, h - pad.b);
  ctx.lineTo(w - pad.r, h - pad.b);
  ctx.stroke();
  ctx.fillText('epoch', (w + pad.l) / 2 - 16, h - 4);
  if (!losses.length) return;
  const max = Math.max(...losses) * 1.05;
  const min = Math.min(0, Math.min(...losses));
  const x = (/** @type {number} */ i) => pad.l + (losses.length === 1 ? 0.5 : i / (losses.length - 1)) * (w - pad.l - pad.r);
  const y = (/** @type {number} */ v) => h - pad.b - ((v - min) / (max - min || 1)) * (h - pad.t - pad.b);
  for (const v of [min, (min + max) / 2, max]) {
    ctx.fillText(v.toPrecision(3), 6, y(v) + 4);
  }
  losses.forEach((_, i) => ctx.fillText(String(i + 1), x(i) - 3, h - pad.b + 16));
  ctx.strokeStyle = '#2563eb';
  ctx.lineWidth = 2;
  ctx.beginPath();
  losses.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
  ctx.stroke();
  ctx.fillStyle = '#2563eb';
  losses.forEach((v, i) => { ctx.beginPath(); ctx.arc(x(i), y(v), 3, 0, 2 * Math.PI); ctx.fill(); });
  ctx.lineWidth = 1;
}

/**
 * A `size`×`size` grey image (values in [0, 1]) as a small canvas.
 * @param {Float32Array | number[]} values row-major
 * @param {number} size
 */
export function renderDigit(values, size) {
  const c = Object.assign(document.createElement('canvas'), { width: size, height: size });
  c.setAttribute('role', 'img');
  c.setAttribute('aria-label', 'test image');
  const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
  const img = ctx.createImageData(size, size);
  values.forEach((v, i) => {
    const g = Math.round(255 * Math.min(1, Math.max(0, v)));
    img.data.set([g, g, g, 255], 4 * i);
  });
  ctx.putImageData(img, 0, 0);
  return c;
}
