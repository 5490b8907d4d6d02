// Step 3, training: the settings' defaults, the model and job, live progress and losses, the
// decrypted model's download.
import { call } from './client.js';
import { api } from './api.js';
import { drawLosses } from './chart.js';
import { $, download } from './dom.js';
import { state } from './state.js';
import { updateButtons } from './controls.js';
import { refreshWork } from './work.js';
import { applyMode, isAutomatic, startAutomatic } from './train-auto.js';

/** Training settings for tables, by task: they beat the majority / training-mean baseline on the
 * tested clinical table (tests/table.test.mjs trains with them: accuracy more than 10 points above
 * the majority class; R² > 0.6 and MAE < 0.7 × the baseline's). Plain SGD: the momentum 0.9 of the
 * image defaults is tuned for MNIST. Other data keep the defaults written in index.html. */
export const TABLE_TRAINING = {
  classification: { epochs: 15, batch: 16, lr: 0.1, momentum: 0 },
  regression: { epochs: 15, batch: 16, lr: 0.05, momentum: 0 },
};
const TRAINING_FIELDS = ['epochs', 'batch', 'lr', 'momentum'];
const pageTrainingDefaults = Object.fromEntries(TRAINING_FIELDS.map((f) => [f, $(f).defaultValue]));

/** Puts the training defaults for `train` into the form: the table settings for a table, else
 * index.html's. */
export function setTrainingDefaults(train) {
  const values = train.featureShape.length === 1 ? TABLE_TRAINING[train.task] : pageTrainingDefaults;
  for (const f of TRAINING_FIELDS) $(f).value = String(values[f]);
  applyMode(train); // automatic mode: the epochs field is the early-stopped run's cap
}

/** The create-model body of the card's model for `train`, named `name` (the automatic mode's). */
function cardModel(train, name) {
  const preset = $('preset').value;
  return preset === 'table_mlp' ? { name, spec: tableMlp(train.featureShape, train.targetDim) }
    : { name, preset, input_shape: train.featureShape, outputs: train.targetDim };
}

/** A small MLP for tables (classification or regression): dense 32 → tanh → dense `outputs`. */
function tableMlp(inputShape, outputs) {
  return { input_shape: inputShape, layers: [{ type: 'flatten' }, { type: 'dense', units: 32 }, { type: 'tanh' },
    { type: 'dense', units: outputs }] };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The worker's answer when the node sends plaintext where a ciphertext belongs (never shown as
 * a result: it was never encrypted, so it cannot be the decryption of anything). */
const notEncrypted = (err) => /plaintext tensor/.test(err?.message ?? '');

async function refreshLosses() {
  const bytes = await api.losses(state.jobId);
  state.losses = Array.from(await call('decryptLosses', { bytes }));
  drawLosses($('loss-chart'), state.losses);
}

$('train-start').onclick = async () => {
  const { train } = state.data;
  const status = $('train-status');
  $('train-start').disabled = true;
  $('train-error').textContent = '';
  delete status.dataset.state;
  state.modelTrained = false;
  state.losses = [];
  updateButtons();
  if (isAutomatic()) return startAutomatic((name) => cardModel(train, name));
  try {
    const preset = $('preset').value;
    const model = await api.createModel(preset === 'table_mlp'
      ? { name: `${train.name} table_mlp`, spec: tableMlp(train.featureShape, train.targetDim) }
      : { name: `${train.name} ${preset}`, preset, input_shape: train.featureShape, outputs: train.targetDim });
    state.modelId = model.id;
    state.localModelId = null;
    const loss = $('loss').value;
    const job = await api.startJob({
      model_id: model.id, dataset_id: state.datasetId,
      epochs: Number($('epochs').value), batch_size: Number($('batch').value),
      optimizer: { type: 'sgd', learning_rate: Number($('lr').value), momentum: Number($('momentum').value) },
      ...(loss ? { loss } : {}), seed: 7,
    });
    state.jobId = job.id;
    $('train-cancel').disabled = false;
    let seenEpoch = 0;
    for (;;) {
      const j = await api.job(job.id);
      const total = Math.max(1, j.batches_total ?? 0);
      $('train-progress').value = j.epochs ? ((j.epoch ?? 0) + (j.batches_done ?? 0) / total) / j.epochs : 0;
      if (j.state === 'completed') $('train-progress').value = 1;
      status.textContent = `Job ${j.id}: ${j.state}, epoch ${j.epoch}/${j.epochs}, ${Number(j.elapsed_seconds ?? 0).toFixed(1)} s`
        + (state.losses.length ? `, last loss ${state.losses.at(-1).toFixed(4)}` : '');
      const finished = ['completed', 'failed', 'cancelled', 'interrupted'].includes(j.state);
      if (((j.epoch ?? 0) > seenEpoch || finished) && (j.epoch ?? 0) > 0) {
        // The node switches a job to a new, complete losses blob in one transaction: one read.
        try {
          await refreshLosses();
        } catch (err) {
          if (notEncrypted(err)) {
            state.losses = [];
            drawLosses($('loss-chart'), state.losses);
            $('train-error').textContent = `No losses shown: ${err.message}.`;
          } else {
            status.textContent += ` (losses not readable: ${err.message})`;
          }
        }
        seenEpoch = j.epoch;
      }
      if (finished) {
        if (j.state === 'completed') state.modelTrained = true;
        refreshWork().catch(() => {});
        status.textContent = `Training ${j.state}${j.error ? `: ${j.error}` : ''} after ${Number(j.elapsed_seconds ?? 0).toFixed(1)} s; `
          + `decrypted losses: ${state.losses.map((l) => l.toFixed(4)).join(', ')}`;
        status.dataset.state = j.state;
        break;
      }
      await sleep(400);
    }
  } catch (err) {
    status.textContent = `Training failed: ${err.message}`;
    status.dataset.state = 'failed';
  }
  $('train-cancel').disabled = true;
  updateButtons();
};

$('train-cancel').onclick = () => state.jobId && api.cancel(state.jobId);

$('model-download').onclick = async () => {
  $('model-error').textContent = '';
  try {
    const bytes = await api.weights(state.modelId);
    download(await call('decryptModel', { bytes }), `model-${state.modelId}.safetensors`);
  } catch (err) {
    $('model-error').textContent = `Model not downloaded: ${err.message}.`;
  }
};
