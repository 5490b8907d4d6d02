// @ts-check
// Which controls are enabled, from the page state (called after every change of the state).
import { $ } from './dom.js';
import { state } from './state.js';
import { updateSecureButtons } from './secure.js';

export function updateButtons() {
  const hasKey = Boolean(state.fingerprint);
  $('key-export').disabled = !hasKey;
  $('key-save').disabled = !hasKey;
  $('data-upload').disabled = !(hasKey && state.data);
  // A job of this page runs: one at a time (a double click made several jobs, issue #29).
  $('train-start').disabled = !state.datasetId || Boolean(state.training);
  $('predict-test').disabled = !(state.modelTrained && state.data);
  const digits = state.data?.train.featureShape.join() === '1,28,28';
  /** @type {HTMLElement} */ (document.querySelector('.draw')).hidden = !digits; // the pad is for 28×28 digit models only
  $('pad-predict').disabled = !(state.modelTrained && digits);
  $('model-download').disabled = !state.modelTrained;
  $('model-local').disabled = !state.modelTrained;
  $('work-refresh').disabled = !hasKey;
  showRole();
  updateSecureButtons();
}

/** The controls that change the node's objects (upload, train, cancel, resume): a viewer may
 * predict and download only, so it is not offered them (the work card's Delete, Cancel and
 * Resume are left out by work.js). */
const TRAINER_CONTROLS = ['data-upload', 'train-start', 'train-cancel'];

function showRole() {
  const viewer = state.role === 'viewer';
  for (const id of TRAINER_CONTROLS) $(id).hidden = viewer;
  if (viewer) $('train-resume').hidden = true;
  $('work-role').hidden = !viewer;
  $('work-role').textContent = viewer ? 'Signed in as a viewer: you can predict with the models and download them; '
    + 'uploading, training and deleting need a trainer.' : '';
}
