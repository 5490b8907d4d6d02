// @ts-check
// The Worker's secure-mode operations (BFV, issue #30), merged into worker.js's `ops`. The BFV
// secret key is made and kept here, in wasm memory: no operation returns it (the test build's
// bfvRawKeyHex aside, see below). What leaves: the evaluation key (public), encrypted batches,
// and the decrypted outputs, which go to the page only (never to the node).
//
// The model travels as JSON text (`GET /v1/secure/models/{id}`'s "model"): the wasm side reads
// its input quantizer and shapes.

/** @typedef {import('./pkg/more_wasm.js').BfvSecretKey} BfvSecretKey */
/** The test build's key (cargo feature `test-export`); the release package's types lack the method.
 * @typedef {BfvSecretKey & { export_raw_for_tests(): Uint8Array }} TestBfvSecretKey */

/**
 * Operations for worker.js, given the wasm exports.
 * @param {Pick<typeof import('./pkg/more_wasm.js'), 'BfvSecretKey' | 'bfvModuli' | 'bfvParameterSet' | 'bfvSlots'>} wasm
 */
export function secureOps({ BfvSecretKey, bfvModuli, bfvParameterSet, bfvSlots }) {
  /** @type {BfvSecretKey | null} */
  let key = null;

  function needKey() {
    if (!key) throw new Error('No secure key yet: make one first.');
    return key;
  }

  function drop() {
    if (key) key.free(); // zeroized on free (more_client::secure::BfvSecretKey drops zeroized)
    key = null;
  }

  /** @type {Record<string, import('./worker.js').Op>} */
  const ops = {
    /** A new BFV key (the old one is freed); answers its evaluation key to upload. */
    bfvGenerate: () => {
      const t0 = performance.now();
      drop();
      key = BfvSecretKey.generate();
      const evaluationKey = key.evaluationKey();
      return { evaluationKey, parameterSet: bfvParameterSet(), slots: bfvSlots(), seconds: (performance.now() - t0) / 1000 };
    },
    /** A new evaluation key of the current secret key (the node deletes old ones after a while). */
    bfvEvaluationKey: () => needKey().evaluationKey(),
    bfvDrop: () => { drop(); return true; },
    /** Quantizes and encrypts `samples` rows of `data`; posts progress (0..1) as ciphertexts are made. */
    bfvEncrypt: (/** @type {{ model: string, data: Float32Array, samples: number }} */ { model, data, samples }, id) => {
      const k = needKey();
      let last = -1;
      const progress = (/** @type {number} */ done, /** @type {number} */ total) => {
        const p = Math.floor((100 * done) / total);
        if (p !== last) { last = p; postMessage({ id, progress: done / total }); }
      };
      const t0 = performance.now();
      const bytes = k.encryptBatch(model, data, samples, progress);
      return { data: bytes, seconds: (performance.now() - t0) / 1000 };
    },
    /** Decrypts an encrypted outputs batch: integers, noise budget and argmax, for the page only. */
    bfvDecrypt: (/** @type {{ model: string, bytes: Uint8Array }} */ { model, bytes }) => {
      const t0 = performance.now();
      const o = needKey().decryptOutputs(model, bytes);
      const out = { samples: o.samples, outputs: o.outputs, values: o.values, noiseBudgetBits: o.noiseBudgetBits,
        predictions: o.predictions, seconds: 0 };
      o.free();
      out.seconds = (performance.now() - t0) / 1000;
      return out;
    },
  };
  if (typeof (/** @type {TestBfvSecretKey} */ (BfvSecretKey.prototype)).export_raw_for_tests === 'function') {
    // Test build only (cargo feature `test-export`; see the top of worker.js): for the leak search.
    // The ciphertext moduli (public parameters) come along: the search also looks for s mod q_i.
    ops.bfvRawKeyHex = () => ({
      raw: Array.from((/** @type {TestBfvSecretKey} */ (needKey())).export_raw_for_tests(), (b) => b.toString(16).padStart(2, '0')).join(''),
      moduli: Array.from(bfvModuli(), String) });
  }
  return ops;
}
