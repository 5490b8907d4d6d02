// @ts-check
// The results view's two charts on a canvas (like chart.js's loss curve): the ROC curve with its
// AUC and the chance diagonal, and the calibration (reliability) diagram: mean predicted
// probability against the observed frequency per bin, the perfect-calibration diagonal, and each
// bin's count. The numbers come from the library's report (more_data_owner::evaluate).

const PAD = { l: 58, r: 12, t: 12, b: 36 };

/**
 * Axes of a unit square plot on `canvas`; returns the canvas context and the two scales.
 * @param {HTMLCanvasElement} canvas
 * @param {string} xLabel
 * @param {string} yLabel
 */
function unitAxes(canvas, xLabel, yLabel) {
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  const { width: w, height: h } = canvas;
  ctx.clearRect(0, 0, w, h);
  ctx.font = '11px system-ui, sans-serif';
  ctx.lineWidth = 1;
  ctx.strokeStyle = '#9aa4b2';
  ctx.fillStyle = '#4a5565';
  const x = (/** @type {number} */ v) => PAD.l + v * (w - PAD.l - PAD.r);
  const y = (/** @type {number} */ v) => h - PAD.b - v * (h - PAD.t - PAD.b);
  ctx.beginPath();
  ctx.moveTo(x(0), y(1));
  ctx.lineTo(x(0), y(0));
  ctx.lineTo(x(1), y(0));
  ctx.stroke();
  for (const v of [0, 0.5, 1]) {
    ctx.fillText(String(v), x(v) - 6, y(0) + 14);
    ctx.fillText(String(v), PAD.l - 28, y(v) + 4);
  }
  ctx.fillText(xLabel, x(0.5) - ctx.measureText(xLabel).width / 2, h - 4);
  ctx.save();
  ctx.translate(12, y(0.5) + ctx.measureText(yLabel).width / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(yLabel, 0, 0);
  ctx.restore();
  ctx.setLineDash([4, 4]);
  ctx.beginPath();
  ctx.moveTo(x(0), y(0));
  ctx.lineTo(x(1), y(1));
  ctx.stroke();
  ctx.setLineDash([]);
  return { ctx, x, y };
}

/**
 * The ROC curve: false-positive rate (1 − specificity) across, sensitivity up.
 * @param {HTMLCanvasElement} canvas
 * @param {{ fpr: number, tpr: number }[]} points from (0, 0) to (1, 1)
 * @param {number} auc the area under the curve
 */
export function drawRoc(canvas, points, auc) {
  const { ctx, x, y } = unitAxes(canvas, '1 − specificity (false-positive rate)', 'sensitivity');
  ctx.strokeStyle = '#2563eb';
  ctx.lineWidth = 2;
  ctx.beginPath();
  points.forEach((p, i) => (i ? ctx.lineTo(x(p.fpr), y(p.tpr)) : ctx.moveTo(x(p.fpr), y(p.tpr))));
  ctx.stroke();
  ctx.fillStyle = '#1e3a8a';
  ctx.fillText(`AUC ${auc.toFixed(3)}`, x(0.55), y(0.1));
}

/**
 * The calibration diagram: one dot per non-empty bin at (mean predicted, observed), its count
 * beside it.
 * @param {HTMLCanvasElement} canvas
 * @param {{ count: number, meanPredicted: number | null, observed: number | null }[]} bins
 */
export function drawCalibration(canvas, bins) {
  const { ctx, x, y } = unitAxes(canvas, 'predicted probability', 'observed frequency');
  const full = bins.filter((b) => b.count > 0 && b.meanPredicted !== null && b.observed !== null);
  ctx.strokeStyle = '#b45309';
  ctx.fillStyle = '#b45309';
  ctx.lineWidth = 2;
  ctx.beginPath();
  full.forEach((b, i) => {
    const [px, py] = [x(Number(b.meanPredicted)), y(Number(b.observed))];
    if (i) ctx.lineTo(px, py); else ctx.moveTo(px, py);
  });
  ctx.stroke();
  for (const b of full) {
    const [px, py] = [x(Number(b.meanPredicted)), y(Number(b.observed))];
    ctx.beginPath();
    ctx.arc(px, py, 3.5, 0, 2 * Math.PI);
    ctx.fill();
    const label = `n=${b.count}`;
    const right = px + 5 + ctx.measureText(label).width > canvas.width;
    ctx.fillText(label, right ? px - 5 - ctx.measureText(label).width : px + 5, py < 20 ? py + 14 : py - 5);
  }
}
