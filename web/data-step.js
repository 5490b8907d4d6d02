// @ts-check
// Step 2, data: the bundled MNIST sample, IDX files, image folders, DICOM, tables (profile and
// target columns). Nothing leaves the page here.
import { loadBundledMnist, loadIdxFiles, loadImageFolder, loadTable, profileTable } from './formats.js';
import { renderDigit } from './chart.js';
import { $, fmt, showError } from './dom.js';
import { state } from './state.js';
import { updateButtons } from './controls.js';
import { keepModelIfItFits } from './work.js';
import { setTrainingDefaults } from './train-step.js';
/** @typedef {import('./dom.js').FileInput} FileInput */
/** @typedef {import('./formats.js').LoadedData} LoadedData */
/** @typedef {import('./state.js').ClassificationPart} ClassificationPart */
/** Both parts of classification data. @typedef {{ train: ClassificationPart, test: ClassificationPart }} ClassifiedData */
/** What the page knows of the data's files: the table's file name, the folder's name ('' for loose files).
 * @typedef {{ file?: string, folder?: string }} DataSource */

/** The data's name for people and for the node's dataset: what it was read from and how much,
 * so that two uploads tell apart (`gbsg2.csv · 686 rows`, `DICOM folder "angio" · 800 images`;
 * never the labels file's name for a folder of images). `source` is what the page knows of the
 * files (the table's file, the folder).
 * @param {LoadedData} parts
 * @param {DataSource} [source] */
export function dataName({ train, test }, source = {}) {
  const samples = train.rows + test.rows;
  if (train.table) return `${source.file ?? train.name} · ${train.table.rowsRead} rows`;
  if (source.folder !== undefined) {
    const kind = train.dicom ? 'DICOM' : 'image';
    return `${source.folder ? `${kind} folder "${source.folder}"` : `${kind} files`} · ${samples} images`;
  }
  return `${train.name} · ${samples} ${train.featureShape.length === 1 ? 'rows' : 'images'}`;
}

/** The folder a file chooser's files came from (its first path segment), or '' for loose files. */
const folderOf = (/** @type {File[]} */ files) => files.find((f) => f.webkitRelativePath)?.webkitRelativePath.split('/')[0] ?? '';

function dataLoaded(/** @type {LoadedData} */ parts, /** @type {DataSource} */ source) {
  const name = dataName(parts, source);
  parts.train.name = name;
  parts.test.name = name;
  state.data = parts;
  state.datasetId = null;
  keepModelIfItFits(parts.train);
  const { train, test } = parts;
  const kind = train.task === 'classification' ? `${train.targetDim} classes` : `${train.targetDim} target(s), standardized`;
  $('data-summary').textContent = `${train.name}: ${train.rows} training and ${test.rows} test samples, `
    + `features ${train.featureShape.join('×')}, ${train.task} (${kind}). Not uploaded yet.`;
  // Tables get a table MLP, never an image CNN; images keep the MNIST MLP default.
  const isTable = train.featureShape.length === 1;
  for (const o of $('preset').options) o.disabled = isTable && /cnn/.test(o.value);
  $('preset').value = train.task === 'regression' ? 'regression_mlp' : isTable ? 'table_mlp' : train.dicom ? 'image_cnn' : 'mnist_mlp';
  setTrainingDefaults(train);
  $('loss').value = '';
  $('data-notes').replaceChildren(...(train.notes ?? []).map((n) => Object.assign(document.createElement('li'), { textContent: n })));
  $('dicom-preview').replaceChildren();
  if (train.dicom) showDicom(/** @type {ClassifiedData} */ (parts)); // DICOM files come in labelled folders
  if (train.table) {
    $('data-summary').textContent += ` Task ${train.task}${train.table.guessedTask === train.task ? ' (guessed from the target)' : ` (chosen; the target looks like ${train.table.guessedTask})`}; `
      + `${train.table.rowsUsed} of ${train.table.rowsRead} rows used; features: ${/** @type {string[]} */ (train.featureNames).join(', ')}.`; // a table's features are named
  }
  updateButtons();
}

/** How many times data were read (profileCsv leaves the page alone once a later read started). */
let dataLoads = 0;

/** Reads data with `fn` (then named from `source`, see dataName). A read that fails says why and
 * keeps the data loaded before, with their summary and notes (finding 6 of issue #29).
 * @param {() => Promise<LoadedData>} fn
 * @param {DataSource} [source] */
async function loadData(fn, source = {}) {
  dataLoads++;
  const kept = { summary: $('data-summary').textContent, notes: [...$('data-notes').children] };
  showError($('data-error'), null);
  $('data-notes').replaceChildren();
  $('data-summary').textContent = 'Reading…';
  try {
    dataLoaded(await fn(), source);
  } catch (err) {
    showError($('data-error'), err);
    if (state.data) {
      $('data-summary').textContent = kept.summary;
      $('data-notes').replaceChildren(...kept.notes);
    } else {
      $('data-summary').textContent = 'No data loaded.';
    }
    updateButtons();
  }
}

$('data-sample').onclick = () => loadData(() => loadBundledMnist({
  perClassTrain: Number($('sample-train').value), perClassTest: Number($('sample-test').value) }));
$('data-idx').onchange = (e) => loadData(() => loadIdxFiles([.../** @type {FileInput} */ (e.target).files], { maxSamples: Number($('idx-max').value) }));
$('data-images').onchange = (e) => loadData(() => loadImageFolder([.../** @type {FileInput} */ (e.target).files], { size: 28 }),
  { folder: folderOf([.../** @type {FileInput} */ (e.target).files]) });

// DICOM: decoded in the worker (the library's DICOM pipeline in wasm); only pixels and image facts
// come back, and only encrypted pixels are ever uploaded. Patient attributes are never read.
const openDicom = (/** @type {Event} */ e) => {
  const files = [.../** @type {FileInput} */ (e.target).files];
  const options = { size: Number($('dicom-size').value),
    onProgress: (/** @type {number} */ p) => { $('data-summary').textContent = `Decoding DICOM files in the page… ${Math.round(100 * p)} %`; } };
  return loadData(() => loadImageFolder(files, options), { folder: folderOf(files) });
};
$('data-dicom').onchange = openDicom;
$('data-dicom-folder').onchange = openDicom;

/** The decoded files (image facts, view) and a preview grid of the model inputs. */
function showDicom(/** @type {ClassifiedData} */ { train, test }) {
  const files = /** @type {NonNullable<typeof train.dicom>} */ (train.dicom).files; // called with DICOM files only
  const t = document.createElement('table');
  t.className = 'stats';
  t.createTHead().insertRow().append(...['file', 'label', 'modality', 'frames', 'size', 'bits', 'photometric', 'view', 'scaling']
    .map((h) => Object.assign(document.createElement('th'), { textContent: h })));
  const body = t.createTBody();
  for (const f of files) {
    const scaling = f.window ? `window ${fmt(f.window[0])}/${fmt(f.window[1])}` : 'min–max';
    const tr = body.insertRow();
    [f.name, f.label, f.modality || '–', f.frames, `${f.columns}×${f.rows}`, f.bitsAllocated, f.photometric, f.view ?? '–',
      `${f.rescale[0] !== 1 || f.rescale[1] !== 0 ? `rescale ${fmt(f.rescale[0])}·x ${f.rescale[1] < 0 ? '−' : '+'} ${fmt(Math.abs(f.rescale[1]))}, ` : ''}${scaling}`]
      .forEach((v) => { tr.insertCell().textContent = /** @type {string} */ (v); }); // numbers too: the DOM writes their text
  }
  const grid = document.createElement('div');
  grid.className = 'grid';
  grid.setAttribute('aria-label', 'Model inputs (cropped and resized frames)');
  const w = /** @type {number} */ (train.featureShape.at(-1));
  const shown = /** @type {[ClassificationPart, number][]} */ ([[train, 16], [test, 8]])
    .flatMap(([part, n]) => Array.from({ length: Math.min(n, part.rows) }, (_, i) => /** @type {[ClassificationPart, number]} */ ([part, i])));
  for (const [part, i] of shown) {
    const fig = document.createElement('figure');
    fig.append(renderDigit(part.x.subarray(i * w * w, (i + 1) * w * w), w));
    const sample = part.sampleNames ? `${part.sampleNames[i]} → ` : '';
    fig.append(Object.assign(document.createElement('figcaption'), { textContent: `${sample}${part.classNames[part.labels[i]]}${part === test ? ' (test)' : ''}` }));
    grid.append(fig);
  }
  $('dicom-preview').replaceChildren(t, grid);
}

/** @type {File | null} */
let csvFile = null;
/** The columns of the opened table (from its profile): an empty target field means its last one.
 * @type {string[]} */
let csvHeader = [];
const csvTargets = () => $('csv-targets').value.split(',').map((s) => s.trim()).filter(Boolean);
/** The typed target columns, else the guess: the table's last column (shown as the field's
 * placeholder, never written into it while the user may be typing). */
const chosenTargets = () => (csvTargets().length ? csvTargets() : csvHeader.slice(-1));

/** Per-column statistics of the opened table, shown before anything is read into a data set.
 * @param {import('./formats.js').ColumnProfile[]} profile
 * @param {string[]} targets */
function showProfile(profile, targets) {
  const fmt = (/** @type {number} */ v) => (Number.isFinite(v) ? Number(v.toPrecision(4)).toString() : '–');
  const head = ['column', 'numbers', 'missing', 'not numeric', 'distinct', 'min', 'mean', 'max', ''];
  const table = document.createElement('table');
  table.className = 'stats';
  table.createTHead().insertRow().append(...head.map((h) => Object.assign(document.createElement('th'), { textContent: h })));
  const body = table.createTBody();
  for (const c of profile) {
    const tr = body.insertRow();
    const warn = [c.missing ? `${c.missing} missing` : '', c.nonNumeric ? `text: ${c.examples.map((e) => `"${e}"`).join(', ')}` : ''].filter(Boolean).join('; ');
    [c.name, c.numeric, c.missing, c.nonNumeric, c.distinct, fmt(c.min), fmt(c.mean), fmt(c.max),
      (targets.includes(c.name) ? 'target. ' : '') + (warn ? `⚠ ${warn}` : '')].forEach((v) => { tr.insertCell().textContent = /** @type {string} */ (v); }); // numbers too
    if (warn) tr.className = 'warn';
  }
  $('csv-stats').replaceChildren(table);
}

async function profileCsv() {
  if (!csvFile) return;
  const asked = chosenTargets();
  const loads = dataLoads;
  const parsed = await profileTable(csvFile, asked);
  // The Worker answers after a while: a target typed meanwhile wins over the default (the last
  // column), and a table read meanwhile keeps its summary and notes.
  csvHeader = parsed.header;
  $('csv-targets').placeholder = `${parsed.header.at(-1)} (the last column)`;
  if (loads !== dataLoads) return;
  const targets = chosenTargets();
  if (targets.join('\n') !== asked.join('\n')) return profileCsv();
  $('csv-columns').replaceChildren(...parsed.header.map((h) => Object.assign(document.createElement('option'), { value: h })));
  $('csv-guess').textContent = parsed.guessedTask ? `guess: ${parsed.guessedTask}` : '';
  showProfile(parsed.profile, targets);
  $('data-notes').replaceChildren(...parsed.notes.map((n) => Object.assign(document.createElement('li'), { textContent: n })));
  $('data-summary').textContent = `${csvFile.name}: ${parsed.rows} rows, columns ${parsed.header.join(', ')}. `
    + 'Blank cells and NA, N/A, NaN, null, ? count as missing. Choose the target column(s), then "Read table".';
}

$('data-csv').onchange = async (e) => {
  csvFile = /** @type {FileInput} */ (e.target).files[0] ?? null;
  $('csv-load').disabled = !csvFile;
  // A new table has columns of its own: the previous table's target is not carried over (the
  // profile guesses this one's, and the user may type another).
  $('csv-targets').value = '';
  $('csv-targets').placeholder = 'e.g. cardiac_output';
  csvHeader = [];
  $('csv-columns').replaceChildren();
  $('csv-stats').replaceChildren();
  showError($('data-error'), null);
  if (!csvFile) return;
  try {
    await profileCsv();
  } catch (err) { showError($('data-error'), err); }
};
$('csv-targets').onchange = () => profileCsv().catch(() => { /* reported by Read table */ });
$('csv-load').onclick = () => {
  // An emptied field means "guess": the table's last column, as the profile proposes.
  if (!csvTargets().length && csvHeader.length) $('csv-targets').value = /** @type {string} */ (csvHeader.at(-1));
  const file = /** @type {File} */ (csvFile); // the button is enabled once a table is open
  return loadData(() => loadTable(file, { targets: csvTargets(), task: $('csv-task').value }), { file: file?.name });
};
