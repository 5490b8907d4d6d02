// @ts-check
// Step 5, score new patients: a table of new cases (the training table's columns; the target
// column may be absent) or a folder of new images (DICOM, PNG, JPEG) is encoded in the worker
// exactly as the training data were (the library's data::score: for tables the same columns,
// levels, training means and standardisation; for images the same decoding and size), predicted
// here with the model decrypted into the page (nothing is sent), and offered as a CSV of
// predictions: each case's id (an id column of the file, else its line; file#frame for images),
// the predicted class by name and every class's probability, or each target in its units.
import { call } from './client.js';
import { $, download, el, showError } from './dom.js';
import { state } from './state.js';
import { className, ensureLocalModel, predictLocalRows, softmax, argmax } from './results.js';

/**
 * New cases encoded as the training data were (the worker's scoreTable, scoreImages).
 * @typedef {object} NewCases
 * @property {Float32Array} x features, row-major (rows × featureShape)
 * @property {number[]} featureShape
 * @property {number} rows
 * @property {string[]} ids per case: its id column's value, its line, or `file#frame`
 * @property {string | null} idColumn the table's id column, if any
 * @property {string[]} notes what the reader did
 * @property {string[]} featureNames the feature columns (tables)
 */

/** A CSV cell: quoted when it holds a separator, a quote or a line break. */
const cell = (/** @type {string | number} */ v) => {
  const s = String(v);
  return /[",\n\r;]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

/**
 * The predictions file: a header and one line per case.
 * @param {import('./state.js').DataPart} train the training part (class names, target names, scale)
 * @param {{ ids: string[], idColumn: string | null }} cases
 * @param {number[][]} outputs decrypted outputs, one row per case
 * @returns {string[][]}
 */
export function predictionRows(train, cases, outputs) {
  const id = cases.idColumn ?? (train.featureShape.length === 3 ? 'file#frame' : 'row');
  if (train.task === 'classification') {
    const names = train.classNames.map((_, k) => className(train, k));
    const header = [id, 'predicted', ...names.map((n) => `probability ${n}`)];
    return [header, ...outputs.map((row, i) => {
      const p = softmax(row);
      return [cases.ids[i], names[argmax(p)], ...p.map((v) => v.toFixed(4))];
    })];
  }
  const { mean, std } = train.targetScale;
  const header = [id, ...train.targetNames.map((n) => `predicted ${n}`)];
  return [header, ...outputs.map((row, i) => [cases.ids[i], ...row.map((v, k) => String(Number((v * std[k] + mean[k]).toPrecision(6))))])];
}

/** Encodes the chosen files in the worker as the training data were: a table with the training
 * table's columns, or image files (DICOM, PNG, JPEG) for an image model.
 * @returns {Promise<NewCases>} */
async function encodeCases(/** @type {File[]} */ files) {
  const train = state.data?.train;
  if (!train || !state.modelTrained) {
    throw new Error('Train a model first (steps 2 and 3): new cases are read as its training data were.');
  }
  if (train.featureShape.length === 3) {
    const images = files.filter((f) => !/\.(csv|tsv|txt)$/i.test(f.name));
    $('score-status').textContent = `Decoding ${images.length} image files in the page…`;
    return call('scoreImages', { files: images, size: train.featureShape[2] });
  }
  const [file] = files;
  if (!train.table?.file || files.length !== 1 || !/\.(csv|tsv|txt|gz)$/i.test(file.name)) {
    throw new Error('This model was trained on a table: open one CSV of new cases with its columns.');
  }
  $('score-status').textContent = `Reading ${file.name} with the training table's columns…`;
  return call('scoreTable', { trainFile: train.table.file, targets: train.table.targets, task: train.task, file });
}

/** Predicts the chosen files here; shows a preview and keeps the CSV. */
async function scoreFiles(/** @type {File[]} */ files) {
  const cases = await encodeCases(files);
  await ensureLocalModel();
  const outputs = await predictLocalRows(cases.x, cases.rows, cases.featureShape);
  const { train } = /** @type {NonNullable<typeof state.data>} */ (state.data); // loaded: encodeCases checked it
  const rows = predictionRows(train, cases, outputs);
  const csv = rows.map((r) => r.map(cell).join(',')).join('\n') + '\n';
  const name = files.length === 1 ? files[0].name : (files[0].webkitRelativePath.split('/')[0] || 'new-cases');
  state.scored = { file: name, csv, rows: cases.rows };
  $('score-notes').replaceChildren(...cases.notes.map((n) => el('li', { textContent: n })));
  const preview = el('table', { className: 'stats', id: 'score-preview' });
  preview.createTHead().insertRow().append(...rows[0].map((h) => el('th', { textContent: h })));
  const body = preview.createTBody();
  for (const r of rows.slice(1, 11)) body.insertRow().append(...r.map((v) => el('td', { textContent: v })));
  $('score-table').replaceChildren(preview);
  const ids = cases.idColumn ? `column "${cases.idColumn}"` : train.featureShape.length === 3 ? 'the file and frame' : 'the line in the file';
  $('score-status').textContent = `${cases.rows} new cases from ${name} predicted here in the page (nothing sent)`
    + `${cases.rows > 10 ? '; the first 10 shown' : ''}. Ids from ${ids}.`;
  $('score-download').disabled = false;
}

/** A file chooser's change: forgets the last scoring, then scores the chosen files. */
async function chosen(/** @type {Event} */ e) {
  const files = [.../** @type {import('./dom.js').FileInput} */ (e.target).files];
  $('score-download').disabled = true;
  $('score-table').replaceChildren();
  $('score-notes').replaceChildren();
  state.scored = null;
  showError($('score-error'), null);
  if (!files.length) return;
  try {
    await scoreFiles(files);
  } catch (err) {
    $('score-status').textContent = '';
    showError($('score-error'), err);
  }
}

$('score-file').onchange = chosen;
$('score-images').onchange = chosen;

$('score-download').onclick = () => {
  if (!state.scored) return;
  const name = state.scored.file.replace(/\.(csv|tsv|txt)(\.gz)?$/i, '');
  download(new TextEncoder().encode(state.scored.csv), `${name}-predictions.csv`);
};
