// Which controls are enabled, from the page state (called after every change of the state).
import { $ } from './dom.js';
import { state } from './state.js';
import { updateSecureButtons } from './secure.js';

export function updateButtons() {
  const hasKey = Boolean(state.fingerprint);
  $('key-export').disabled = !hasKey;
  $('key-save').disabled = !hasKey;
  $('data-upload').disabled = !(hasKey && state.data);
  $('train-start').disabled = !state.datasetId;
  $('predict-test').disabled = !state.modelTrained;
  const digits = state.data?.train.featureShape.join() === '1,28,28';
  document.querySelector('.draw').hidden = !digits; // the pad is for 28×28 digit models only
  $('pad-predict').disabled = !(state.modelTrained && digits);
  $('model-download').disabled = !state.modelTrained;
  $('model-local').disabled = !state.modelTrained;
  $('work-refresh').disabled = !hasKey;
  updateSecureButtons();
}
