// @ts-check
// The page: boots the key worker, the health poll and the sign-in, and wires the steps' modules
// (each installs its own controls' handlers when imported) to the sign-in.
import { call } from './client.js';
import { startSignIn } from './signin.js';
import * as keystore from './keystore.js';
import { secureSignedIn, setupSecure } from './secure.js';
import { $ } from './dom.js';
import { state } from './state.js';
import { updateButtons } from './controls.js';
import { checkHealth, HEALTH_MS } from './health.js';
import { clearWork, refreshWork, setKeyLabeler } from './work.js';
import { keyLabelFor } from './key-step.js';
import './data-step.js';
import './upload.js';
import './train-step.js';
import './results.js';
import './score.js';
import './pad.js';

// The tests read the page state with `import('/app.js')`.
export { state } from './state.js';
export { TABLE_TRAINING } from './train-step.js';

// ---------------------------------------------------------------- sign-in

/** Signed in (`who`: GET /v1/whoami, or tenant `local` on a node without sign-in) or signed out
 * (null): the steps are shown only while signed in. Datasets, models and jobs belong to a tenant:
 * signing in to another tenant forgets the ones the page was using. */
function signInChanged(/** @type {import('./state.js').Who | null} */ who) {
  /** @type {HTMLElement} */ (document.querySelector('main')).hidden = !who;
  if (!who) return;
  if (state.tenant !== null && state.tenant !== who.tenant) {
    Object.assign(state, { datasetId: null, modelId: null, jobId: null, modelTrained: false, work: null });
    clearWork();
    $('upload-status').textContent = '';
    delete $('upload-status').dataset.state;
    delete $('upload-status').dataset.datasetId;
    $('train-status').textContent = '';
    $('train-resume').hidden = true; // the card's job was the other tenant's
    $('local-status').textContent = '';
    updateButtons();
  }
  state.tenant = who.tenant;
  state.role = who.role;
  updateButtons();
  secureSignedIn(who).catch(() => { /* shown in the secure card */ });
  if (state.basis) refreshWork().catch((err) => { $('work-error').textContent = `Not refreshed: ${err.message}`; });
}

// ---------------------------------------------------------------- start

(async () => {
  setupSecure();
  setKeyLabeler(keyLabelFor); // the work card names each dataset's key
  await call('hello'); // the worker has loaded the wasm client
  if (await keystore.load().catch(() => null)) $('key-load').hidden = false;
  await checkHealth();
  await startSignIn({ onChange: signInChanged });
  document.body.dataset.ready = '1';
  setInterval(() => { checkHealth().catch(() => {}); }, HEALTH_MS);
})();
