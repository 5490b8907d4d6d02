// @ts-check
// Step 3, training: the settings' defaults, the model and its job (followed by job.js), the
// decrypted model's download.
import { call } from './client.js';
import { api } from './api.js';
import { $, download } from './dom.js';
import { state } from './state.js';
import { updateButtons } from './controls.js';
import { followJob } from './job.js';
import { applyMode, isAutomatic, startAutomatic } from './train-auto.js';

/** Training settings for tables, by task: they beat the majority / training-mean baseline on the
 * tested clinical table (tests/table.test.mjs trains with them: accuracy more than 10 points above
 * the majority class; R² > 0.6 and MAE < 0.7 × the baseline's). Plain SGD: the momentum 0.9 of the
 * image defaults is tuned for MNIST. Other data keep the defaults written in index.html. */
export const TABLE_TRAINING = {
  classification: { epochs: 15, batch: 16, lr: 0.1, momentum: 0 },
  regression: { epochs: 15, batch: 16, lr: 0.05, momentum: 0 },
};
/** The settings' fields (their ids). @type {('epochs' | 'batch' | 'lr' | 'momentum')[]} */
const TRAINING_FIELDS = ['epochs', 'batch', 'lr', 'momentum'];
const pageTrainingDefaults = Object.fromEntries(TRAINING_FIELDS.map((f) => [f, $(f).defaultValue]));

/** Puts the training defaults for `train` into the form: the table settings for a table, else
 * index.html's. */
export function setTrainingDefaults(/** @type {import('./state.js').DataPart} */ train) {
  const values = train.featureShape.length === 1 ? TABLE_TRAINING[train.task] : pageTrainingDefaults;
  for (const f of TRAINING_FIELDS) $(f).value = String(values[f]);
  applyMode(train); // automatic mode: the epochs field is the early-stopped run's cap
}

/** The create-model body of the card's model for `train`, named `name` (the automatic mode's). */
function cardModel(/** @type {import('./state.js').DataPart} */ train, /** @type {string} */ name) {
  const preset = $('preset').value;
  return preset === 'table_mlp' ? { name, spec: tableMlp(train.featureShape, train.targetDim) }
    : { name, preset, input_shape: train.featureShape, outputs: train.targetDim };
}

/** A small MLP for tables (classification or regression): dense 32 → tanh → dense `outputs`. */
function tableMlp(/** @type {number[]} */ inputShape, /** @type {number} */ outputs) {
  return { input_shape: inputShape, layers: [{ type: 'flatten' }, { type: 'dense', units: 32 }, { type: 'tanh' },
    { type: 'dense', units: outputs }] };
}

$('train-start').onclick = async () => {
  const { train } = /** @type {NonNullable<typeof state.data>} */ (state.data); // uploaded data: loaded
  const status = $('train-status');
  // At once, before anything awaits: a second click finds the button disabled (issue #29, finding 8).
  state.training = true;
  $('train-error').textContent = '';
  delete status.dataset.state;
  state.modelTrained = false;
  state.losses = [];
  updateButtons();
  if (isAutomatic()) return startAutomatic((name) => cardModel(train, name));
  let job, model;
  try {
    const preset = $('preset').value;
    model = await api.createModel(preset === 'table_mlp'
      ? { name: `${train.name} table_mlp`, spec: tableMlp(train.featureShape, train.targetDim) }
      : { name: `${train.name} ${preset}`, preset, input_shape: train.featureShape, outputs: train.targetDim });
    state.modelId = model.id;
    state.localModelId = null;
    const loss = $('loss').value;
    job = await api.startJob({
      model_id: model.id, dataset_id: state.datasetId,
      epochs: Number($('epochs').value), batch_size: Number($('batch').value),
      optimizer: { type: 'sgd', learning_rate: Number($('lr').value), momentum: Number($('momentum').value) },
      ...(loss ? { loss } : {}), seed: 7,
    });
  } catch (err) {
    status.textContent = `Training failed: ${err.message}`;
    status.dataset.state = 'failed';
    state.training = false;
    updateButtons();
    return;
  }
  await followJob(job.id, model.name);
};

$('model-download').onclick = async () => {
  $('model-error').textContent = '';
  try {
    const bytes = await api.weights(state.modelId);
    download(await call('decryptModel', { bytes }), `model-${state.modelId}.safetensors`);
  } catch (err) {
    $('model-error').textContent = `Model not downloaded: ${err.message}.`;
  }
};
