// @ts-check
// Error messages a clinician meets, said as what to do (issue #29, finding 10). The engine's and
// the node's messages are written for developers ("matmul: shape mismatch between [114, 30] and
// [0, 1, 28, 28]", "operands use different compact bases (C0)"); the page shows this sentence
// instead, and keeps the original in parentheses for whoever debugs it.

/** @param {string} list e.g. "0, 1, 28, 28" */
function describeShape(list) {
  const dims = list.split(',').map((d) => Number(d.trim())).filter((d) => Number.isFinite(d));
  const sample = dims.slice(1).filter((d) => d > 1);
  if (sample.length === 0) return `${dims.at(-1) ?? '?'} value(s) per row`;
  if (sample.length >= 2) return `${sample.slice(-2).join('×')} images`;
  return `${sample[0]} columns per row`;
}

/** [pattern, what to say] pairs, first match wins. */
const RULES = /** @type {[RegExp, (m: RegExpMatchArray) => string][]} */ ([
  [/shape mismatch between \[([^\]]*)\] and \[([^\]]*)\]/,
    (m) => `The data and the model do not fit together (one has ${describeShape(m[1])}, the other `
      + `${describeShape(m[2])}). Train a model on these data, or load data of the kind the model was trained on.`],
  [/different compact bases \(C0\)|basis mismatch/i,
    () => 'These were encrypted under different keys. Unlock the key the model was trained with (step 1), '
      + 'or train a new model on these data.'],
  [/Failed to fetch|NetworkError|Load failed/,
    () => 'The compute node did not answer. Check that it is running and reachable, then try again.'],
]);

/**
 * `message` in plain language when it is one of the known technical messages (with the original
 * after it in parentheses), else `message` unchanged.
 * @param {string} message
 * @returns {string}
 */
export function plainLanguage(message) {
  for (const [re, say] of RULES) {
    const m = message.match(re);
    if (m) return `${say(m)} (${message})`;
  }
  return message;
}
