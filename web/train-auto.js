// @ts-check
// The Train card's "Automatic (recommended)" mode (issue #29): runs tuning.js (the learning-rate
// search and the early-stopped run) with the card's model, shows its progress and what it chose,
// and hands the kept model to the rest of the page as a manual run would. Typing a learning rate,
// batch or momentum switches the card to "Manual": the page then trains with exactly those values.
import { drawLosses } from './chart.js';
import { $, el } from './dom.js';
import { state } from './state.js';
import { updateButtons } from './controls.js';
import { refreshWork } from './work.js';
import { autoTrain, rateText, suggest } from './tuning.js';

/** Epochs the early-stopped run may take at most, by kind of data (the search stops it sooner). */
export const AUTO_MAX_EPOCHS = { table: 100, image: 60 };

/** True when the Train card is in its automatic mode. */
export const isAutomatic = () => $('train-mode').value === 'auto';

/** The manual epochs of the loaded data (train-step's defaults), for a switch back to manual. */
let manualEpochs = '';

/** Called after the card got its manual defaults for `train`: in automatic mode the epochs field
 * becomes the cap of the early-stopped run. */
export function applyMode(/** @type {import('./state.js').DataPart} */ train) {
  manualEpochs = $('epochs').value;
  if (isAutomatic()) $('epochs').value = String(train.featureShape.length === 1 ? AUTO_MAX_EPOCHS.table : AUTO_MAX_EPOCHS.image);
  showModeHelp();
}

function showModeHelp() {
  $('epochs-label').textContent = isAutomatic() ? 'epochs (at most)' : 'epochs';
  $('train-mode-help').textContent = isAutomatic()
    ? 'The page holds out a validation part of the training rows, tries a few learning rates on the node (short encrypted '
      + 'jobs; the page decrypts their validation losses and picks), then trains at the best one and stops when the '
      + 'validation loss no longer improves. For tables it also weighs a linear model (trained for all the epochs: its one '
      + 'optimum is the logistic or least-squares regression) against the table MLP.'
    : 'Trains once with the values below.';
}

for (const id of ['lr', 'batch', 'momentum']) {
  $(id).addEventListener('input', () => {
    if (!isAutomatic()) return;
    $('train-mode').value = 'manual';
    showModeHelp();
  });
}

/** A dense layer alone: logistic regression (classes, softmax cross-entropy) or least squares. */
function linearSpec(/** @type {number[]} */ inputShape, /** @type {number} */ outputs) {
  return { input_shape: inputShape, layers: [{ type: 'flatten' }, { type: 'dense', units: outputs }] };
}

/** The models the search weighs: the card's model; for tables a linear model too. */
function candidates(/** @type {import('./state.js').DataPart} */ train, /** @type {(name: string) => object} */ cardModel) {
  /** @type {import('./tuning.js').Candidate[]} */
  const out = [{ label: $('preset').value, body: cardModel }];
  if (train.featureShape.length === 1) {
    out.push({ label: 'linear model', simpler: true, convex: true, body: (name) => ({ name, spec: linearSpec(train.featureShape, train.targetDim) }) });
  }
  return out;
}

/** The learning rates tried and their decrypted validation losses, the chosen one marked. */
function trialsTable(/** @type {import('./tuning.js').AutoResult} */ r) {
  const t = el('table', { className: 'stats', id: 'tune-trials-table' });
  t.createCaption().textContent = 'Learning rates tried (short encrypted jobs; validation loss decrypted here)';
  t.createTHead().insertRow().append(...['model', 'learning rate', 'validation loss per epoch', ''].map((h) => el('th', { textContent: h })));
  const body = t.createTBody();
  for (const x of r.trials) {
    const chosen = x.label === r.candidate.label && x.learningRate === r.learningRate;
    const tr = body.insertRow();
    [x.label, rateText(x.learningRate), x.validationLosses.map((l) => (Number.isFinite(l) ? l.toPrecision(3) : '∞')).join(' → '),
      x.diverged ? 'diverged' : chosen ? '✓ chosen' : ''].forEach((v) => { tr.insertCell().textContent = v; });
    if (chosen) tr.className = 'chosen';
  }
  return t;
}

/** The Train card's progress bar at `fraction` (0..1). */
const progress = (/** @type {number} */ fraction) => {
  /** @type {HTMLProgressElement} */ (document.getElementById('train-progress')).value = fraction;
};

let control = { stopped: false };
$('train-cancel').addEventListener('click', () => { control.stopped = true; });

/**
 * "Start training" in automatic mode: the search and the early-stopped run, then the kept model
 * becomes the page's model (state.modelId) exactly as after a manual run.
 * @param {(name: string) => object} cardModel the create-model body of the card's model
 */
export async function startAutomatic(cardModel) {
  const { train } = /** @type {NonNullable<typeof state.data>} */ (state.data);
  const status = $('train-status');
  control = { stopped: false };
  $('train-cancel').disabled = false;
  $('tune-trials').replaceChildren();
  try {
    const r = await autoTrain({ train, fullId: state.datasetId, candidates: candidates(train, cardModel), maxEpochs: Number($('epochs').value),
      momentum: Number($('momentum').value), loss: $('loss').value, name: train.name, control,
      report: (text, fraction) => { status.textContent = text; progress(fraction); },
      onRunEpoch: ({ trainingLosses }) => drawLosses($('loss-chart'), trainingLosses) });
    Object.assign(state, { modelId: r.run.modelId, jobId: r.run.jobId, losses: r.run.trainingLosses, localModelId: null, modelTrained: true,
      tuning: { modelId: r.run.modelId, model: r.candidate.label, learningRate: r.learningRate, epochs: r.run.epochs, maxEpochs: Number($('epochs').value),
        validationLosses: r.run.validationLosses, trials: r.trials } });
    drawLosses($('loss-chart'), r.run.trainingLosses);
    progress(1);
    $('tune-trials').replaceChildren(trialsTable(r));
    const stopped = r.run.epochs < Number($('epochs').value) ? ' (the validation loss stopped improving)' : '';
    status.textContent = `Automatic settings: ${r.candidate.label}, learning rate ${rateText(r.learningRate)} (${r.reason})`
      + `${r.stages.length > 1 ? `, then a tenth of it (${r.stages[1].epochs} epochs)` : ''}; ${r.run.epochs} of at most ${$('epochs').value} epochs${stopped}, validation loss `
      + `${r.fitRun.validationLosses.at(-1)?.toPrecision(4)}. The final model learnt that schedule on all ${train.rows} training rows; `
      + `decrypted training losses: ${r.run.trainingLosses.map((l) => l.toFixed(4)).join(', ')}`;
    status.dataset.state = 'completed';
  } catch (err) {
    const cancelled = control.stopped;
    status.textContent = cancelled ? 'Automatic training cancelled.' : `Automatic training failed: ${/** @type {Error} */ (err).message}`;
    status.dataset.state = cancelled ? 'cancelled' : 'failed';
  }
  $('train-cancel').disabled = true;
  state.training = false;
  updateButtons();
  refreshWork().catch(() => {});
}

$('train-mode').addEventListener('change', () => {
  if (!isAutomatic() && manualEpochs) $('epochs').value = manualEpochs;
  if (state.data) applyMode(state.data.train);
  else showModeHelp();
});
showModeHelp();

/**
 * The library's plain-language advice (tuneSuggest) for the model the page predicts with, when
 * its test score does not beat `baseline`: which way to move what (learning rate, epochs, class
 * balance). `score`/`baseline`: accuracy (0..1) or R². The training run's facts come from the page
 * state: the automatic run's, or the Train card's values and the decrypted losses of a manual run.
 * Resolves to a list element (`ul#advice`), empty when the library has nothing to add.
 * @param {{ score: number, baseline: number }} result
 * @returns {Promise<HTMLElement>}
 */
export async function adviceFor({ score, baseline }) {
  const train = state.data?.train;
  const auto = state.tuning?.modelId === state.modelId ? state.tuning : null;
  const counts = train?.task === 'classification' && train.labels
    ? Array.from({ length: train.targetDim }, (_, k) => train.labels.filter((l) => l === k).length) : null;
  const losses = state.losses ?? [];
  const a = await suggest({ task: train?.task ?? 'classification', learningRate: auto ? auto.learningRate : Number($('lr').value),
    epochs: auto ? auto.epochs : losses.length || Number($('epochs').value), trainingLosses: losses,
    validationLosses: auto ? auto.validationLosses : [], score, baseline, classCounts: counts,
    diverged: losses.some((l) => !Number.isFinite(l)) });
  const list = el('ul', { id: 'advice', className: 'warnings' });
  list.setAttribute('aria-label', 'What to change');
  list.append(...a.advice.map((x) => el('li', { textContent: x.text })));
  return list;
}
