// The work panel and the training job's lifecycle (issue #29, findings 4, 7, 8 and 10's viewer),
// through the page's controls on a real node: live progress without Refresh, names instead of
// ids, one job per "Start training" however often it is clicked, the losses of an earlier job,
// resume in place after a node restart, refusals kept until dismissed, confirmation before
// delete, "Predict with this" before any data, loading data keeps the chosen model, and a viewer
// offered predict and download only. Each test failed on the page at 220e911 (see the note in
// each). Small data (200 training digits) so that the file runs in under a minute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerPassphrase, callWorker, createApiKey, generateKey, openPage, pageFixture, pageState, screenshot, startNode, uploadData } from './helpers.mjs';

const PER_CLASS = '20'; // 200 training digits: an epoch takes ~0.2 s
const PER_CLASS_TEST = '2'; // 20 test digits
const HEX32 = /[0-9a-f]{32}/;
const SHORT_TIMEOUT = 5_000; // for a control the page at 220e911 does not have
const LIVE_EPOCHS = 100; // long enough (several seconds) to be seen running at a 1 s poll

const firstRun = {}; // what the first training showed (texts seen, losses)

// The node keeps its data in `fx.dir`, so that the restart test can start it again on the same data.
const fx = pageFixture({
  tempDir: 'more-work-panel-',
  node: ({ dir }) => ({ dataDir: dir }),
  key: true,
  setUp: async ({ page }) => {
    await loadSample(page);
    await uploadData(page);
  },
});

async function signIn(p, apiKey) {
  await p.fill('#api-key', apiKey);
  await p.click('#api-key-form button[type=submit]');
  await p.waitForSelector('main:not([hidden])');
}

async function loadSample(p) {
  await p.fill('#sample-train', PER_CLASS);
  await p.fill('#sample-test', PER_CLASS_TEST);
  await p.click('#data-sample');
  await p.waitForFunction(() => /training and .* test samples/.test(document.querySelector('#data-summary').textContent));
}

/** Every text `selector` showed from now on (a MutationObserver in the page), read by `take()`. */
async function record(p, selector) {
  const key = `seen_${selector.replace(/\W/g, '')}`;
  await p.evaluate(([selector, key]) => {
    const seen = (window[key] = []);
    const node = document.querySelector(selector);
    new MutationObserver(() => seen.push(node.textContent)).observe(node, { childList: true, characterData: true, subtree: true });
  }, [selector, key]);
  return { take: () => p.evaluate((key) => window[key], key) };
}

/** The node's jobs (GET /v1/jobs, the node runs without sign-in). */
const nodeJobs = async () => (await fetch(`${fx.node.url}/v1/jobs`)).json();

/** Starts training with the card's own settings (not the automatic search, where the page has
 * it: this file is about the job, not the settings) and `epochs`. */
async function train(p, epochs, { click = (sel) => p.click(sel) } = {}) {
  if (await p.$('#train-mode option[value=manual]')) await p.selectOption('#train-mode', 'manual');
  await p.fill('#epochs', String(epochs));
  await click('#train-start');
}
const trainEnded = (p, timeout = 60_000) => p.waitForSelector('#train-status[data-state]', { timeout });

test('finding 4: the work card follows a running job live (state and epoch) without Refresh', { timeout: 90_000 }, async (t) => {
  // 220e911: the card is refreshed only when the job ends, so "running" is never shown there.
  const work = await record(fx.page, '#work');
  const status = await record(fx.page, '#train-status');
  await train(fx.page, LIVE_EPOCHS);
  await trainEnded(fx.page);
  assert.equal(await fx.page.getAttribute('#train-status', 'data-state'), 'completed', await fx.page.textContent('#train-status'));
  const seen = await work.take();
  firstRun.status = await status.take();
  firstRun.losses = await pageState(fx.page, (s) => s.losses);
  const running = seen.filter((t) => /Jobs \(1\)/.test(t) && /running/.test(t));
  assert.ok(running.length > 0, `the jobs table showed the job running; it showed: ${seen.slice(-3).join(' | ')}`);
  const moved = new RegExp(`running[1-9]\\d*/${LIVE_EPOCHS}`);
  assert.ok(running.some((t) => moved.test(t)), `the epoch moved while it ran: ${running.join(' | ')}`);
  t.diagnostic(firstRun.status.at(-1));
  assert.deepEqual(fx.page.errors, []);
});

test('finding 4 and 10: jobs and models are named for people, never by a 32-hex id', async () => {
  // 220e911: the Train card said "Job <32 hex digits>: running…"; the jobs table listed 8-hex ids.
  for (const t of firstRun.status) assert.doesNotMatch(t, HEX32, `Train card: ${t}`);
  const cells = await fx.page.$$eval('#work table[data-work=jobs] td, #work td', (tds) => tds.map((td) => td.textContent));
  for (const c of cells) assert.doesNotMatch(c, /^[0-9a-f]{8}$|[0-9a-f]{32}/, `work card cell "${c}"`);
  const model = await fx.page.textContent('#work table[data-work=jobs] tbody td');
  const models = await fx.page.$$eval('#work table[data-work=models] tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
  assert.ok(models.includes(model), `the job is called by its model's name (${model}): ${models}`);
});

test('finding 8: a double click and a click on "Start training" make one job', { timeout: 90_000 }, async () => {
  // 220e911: the button was enabled again before the job was created: 3 jobs, 3 models.
  const before = (await nodeJobs()).length;
  await train(fx.page, 2, { click: async (sel) => { await fx.page.dblclick(sel); await fx.page.click(sel, { force: true }); } });
  await trainEnded(fx.page);
  assert.equal((await nodeJobs()).length, before + 1, 'one new job');
  assert.equal(await fx.page.isDisabled('#train-start'), false, 'enabled again once the job ended');
});

test('finding 4: the losses of an earlier job are decrypted and shown when asked', async () => {
  // 220e911: only the job the Train card followed had a loss chart; the work card had no losses.
  await fx.page.locator('#work .work-losses').first().click({ timeout: SHORT_TIMEOUT });
  await fx.page.waitForSelector('#work-losses-caption[data-losses]', { timeout: SHORT_TIMEOUT });
  const losses = JSON.parse(await fx.page.getAttribute('#work-losses-caption', 'data-losses'));
  assert.deepEqual(losses, firstRun.losses, 'the first job\'s losses, as its Train card showed them');
  assert.ok(await fx.page.isVisible('#work-loss-chart'));
});

test('finding 4: after a node restart the Train card offers "Resume" and the job completes in place', { timeout: 120_000 }, async () => {
  // 220e911: "Training failed: Failed to fetch" (data-state failed), no way to resume from the card.
  const known = new Set((await nodeJobs()).map((j) => j.id));
  await train(fx.page, 30);
  let job;
  while (!job) job = (await nodeJobs()).find((j) => !known.has(j.id));
  for (let j = job; (j.epoch ?? 0) < 1; j = await (await fetch(`${fx.node.url}/v1/jobs/${job.id}`)).json()) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const port = new URL(fx.node.url).port;
  await fx.node.stop(); // SIGTERM: the node saves the running job as interrupted
  fx.node = await startNode({ dataDir: fx.dir, port });
  await trainEnded(fx.page);
  const text = await fx.page.textContent('#train-status');
  assert.equal(await fx.page.getAttribute('#train-status', 'data-state'), 'interrupted', text);
  assert.ok(await fx.page.isVisible('#train-resume'), 'Resume is offered in the Train card');
  await fx.page.click('#train-resume');
  await fx.page.waitForSelector('#train-status[data-state="completed"]', { timeout: 90_000 });
  assert.equal((await pageState(fx.page, (s) => s.losses)).length, 30, 'the resumed job\'s losses, all epochs');
  assert.equal((await nodeJobs()).filter((j) => j.id === job.id)[0].state, 'completed');
  assert.deepEqual(fx.page.errors, []);
});

test('finding 7: a refused delete (dataset in use, 409) stays shown until dismissed', { timeout: 90_000 }, async () => {
  // 220e911: the message was wiped by the refresh that follows the click.
  const known = new Set((await nodeJobs()).map((j) => j.id));
  await train(fx.page, 60);
  while (!(await nodeJobs()).some((j) => !known.has(j.id))) await new Promise((r) => setTimeout(r, 100));
  await fx.page.click('#work-refresh');
  await fx.page.locator('#work .work-delete-dataset').first().click();
  if (await fx.page.waitForSelector('#confirm-dialog[open]', { timeout: 2_000 }).catch(() => null)) await fx.page.click('#confirm-ok');
  await fx.page.waitForFunction(() => document.querySelector('#work-error').textContent !== '', null, { timeout: SHORT_TIMEOUT }).catch(() => {});
  await fx.page.waitForTimeout(2_500); // the card refreshes every second while the job runs
  const shown = await fx.page.textContent('#work-error');
  assert.match(shown, /refused/i, 'still shown after the refreshes');
  assert.doesNotMatch(shown, HEX32, 'the dataset is named, not its id');
  await screenshot(fx.page, 'work-panel-refusal', 'section[aria-labelledby=work-title]');
  assert.equal((await fetch(`${fx.node.url}/v1/datasets`).then((r) => r.json())).length, 1, 'nothing deleted');
  await fx.page.click('#work-error .work-dismiss');
  assert.equal(await fx.page.textContent('#work-error'), '');
  // Cancel the job if it still runs, checked and clicked in one step in the page (a check here
  // and a click after could straddle the job's end: the click then waited on a disabled button).
  await fx.page.evaluate(() => {
    const cancel = /** @type {HTMLButtonElement} */ (document.querySelector('#train-cancel'));
    if (!cancel.disabled) cancel.click();
  });
  await trainEnded(fx.page);
});

test('finding 4: "Resume" in the work card continues a cancelled job, followed in the Train card', { timeout: 60_000 }, async () => {
  // 220e911: the job resumed on the node, but the Train card kept "Training cancelled" (no progress, no losses).
  const known = new Set((await nodeJobs()).map((j) => j.id));
  await train(fx.page, 300);
  let job;
  while (!job) job = (await nodeJobs()).find((j) => !known.has(j.id));
  await fx.page.click('#train-cancel');
  await trainEnded(fx.page);
  assert.equal(await fx.page.getAttribute('#train-status', 'data-state'), 'cancelled');
  await fx.page.click('#work-refresh');
  await fx.page.locator('#work .work-resume').last().click();
  await fx.page.waitForFunction(() => /: running, epoch [1-9]/.test(document.querySelector('#train-status').textContent), null, { timeout: 10_000 });
  await fx.page.click('#train-cancel'); // (300 epochs would take a while: the card's Cancel works on the resumed job too)
  await fx.page.waitForSelector('#train-status[data-state="cancelled"]', { timeout: 30_000 });
  assert.ok((await pageState(fx.page, (s) => s.losses)).length > 0, 'the resumed job\'s losses are shown');
  assert.equal(await pageState(fx.page, (s) => s.modelId), job.model_id, 'the resumed job\'s model is the one to predict with');
  assert.deepEqual(fx.page.errors, []);
});

test('finding 7: Delete asks first; Cancel keeps the model', { timeout: 30_000 }, async () => {
  // 220e911: one click deleted at once.
  const count = async () => (await fetch(`${fx.node.url}/v1/models`).then((r) => r.json())).length;
  const before = await count();
  const listed = await fx.page.locator('#work .work-delete-model').count();
  await fx.page.locator('#work .work-delete-model').first().click();
  const asked = await fx.page.waitForSelector('#confirm-dialog[open]', { timeout: SHORT_TIMEOUT }).catch(() => null);
  assert.equal(await count(), before, 'nothing deleted before the answer');
  assert.ok(asked, 'a confirmation dialog is shown');
  await screenshot(fx.page, 'work-panel-confirm-delete');
  assert.match(await fx.page.textContent('#confirm-text'), /Delete the model "/);
  await fx.page.click('#confirm-cancel');
  assert.equal(await count(), before, 'Cancel keeps it');
  await fx.page.locator('#work .work-delete-model').first().click();
  await fx.page.click('#confirm-ok');
  await fx.page.waitForFunction((n) => document.querySelectorAll('#work .work-delete-model').length === n, listed - 1);
  assert.equal(await count(), before - 1);
});

test('finding 4: "Predict with this" before any data says what to do; loading data keeps the model', { timeout: 60_000 }, async () => {
  // 220e911: Predict was enabled without data (uncaught TypeError when clicked), and loading the
  // data then unselected the model (Predict disabled again).
  const passphrase = 'work panel test passphrase';
  const { hex } = await callWorker(fx.page, 'exportWrapped', { passphrase });
  const tab = await fx.page.context().newPage();
  tab.errors = [];
  tab.on('pageerror', (e) => tab.errors.push(e.message));
  await tab.goto(`${fx.node.url}/`);
  await tab.waitForSelector('body[data-ready="1"]');
  await tab.setInputFiles('#key-import', { name: 'work.morekey', mimeType: 'application/octet-stream', buffer: Buffer.from(hex, 'hex') });
  await answerPassphrase(tab, passphrase);
  await tab.locator('#work .work-use-model').first().click();
  if (await tab.isEnabled('#predict-test')) await tab.click('#predict-test');
  await tab.waitForTimeout(300);
  assert.deepEqual(tab.errors, [], 'no uncaught error');
  assert.match(await tab.textContent('#local-status'), /load the data/i);
  const chosen = await pageState(tab, (s) => s.modelId);
  await loadSample(tab);
  assert.equal(await pageState(tab, (s) => s.modelId), chosen);
  assert.equal(await tab.isEnabled('#predict-test'), true, 'the chosen model predicts the loaded data');
  await tab.click('#predict-test');
  await tab.waitForFunction(() => /Accuracy|failed/.test(document.querySelector('#accuracy').textContent));
  assert.match(await tab.textContent('#accuracy'), /Accuracy/);
  assert.deepEqual(tab.errors, []);
  await tab.close();
});

test('a sign-in to another tenant forgets the Train card\'s job: no Resume of the other tenant\'s job', { timeout: 90_000 }, async () => {
  // 0c13063: the job id was forgotten but "Resume" stayed shown; clicking it sent POST /v1/jobs//resume.
  const authNode = await startNode({ auth: true });
  const p = await openPage(fx.browser, authNode.url);
  try {
    await signIn(p, await createApiKey(authNode.dataDir, 'ward-a', 'trainer'));
    await generateKey(p);
    await loadSample(p);
    await uploadData(p);
    await train(p, 300);
    await p.waitForFunction(() => /: running, epoch [1-9]/.test(document.querySelector('#train-status').textContent), null, { timeout: 30_000 });
    await p.click('#train-cancel');
    await p.waitForSelector('#train-status[data-state="cancelled"]', { timeout: 30_000 });
    assert.ok(await p.isVisible('#train-resume'), 'Resume is offered for the cancelled job');

    await p.click('#sign-out');
    await signIn(p, await createApiKey(authNode.dataDir, 'ward-b', 'trainer'));
    assert.equal(await p.isVisible('#train-resume'), false, 'no Resume of ward-a\'s job in ward-b');
    assert.equal(await p.getAttribute('#upload-status', 'data-dataset-id'), null, 'ward-a\'s dataset id is forgotten');
    assert.deepEqual(p.errors, []);
  } finally {
    await p.context().close();
    await authNode.stop();
  }
});

test('finding 10: a viewer is offered predict and download only', { timeout: 90_000 }, async () => {
  // 220e911: a viewer saw Encrypt and upload, Start training and Delete, and learnt of the 403 later.
  const authNode = await startNode({ auth: true });
  const trainer = await openPage(fx.browser, authNode.url);
  const viewer = await openPage(fx.browser, authNode.url);
  try {
    // A trainer of the tenant uploads and trains under a key it then hands to the viewer (a key file).
    await signIn(trainer, await createApiKey(authNode.dataDir, 'ward-9', 'trainer'));
    await generateKey(trainer);
    await loadSample(trainer);
    await uploadData(trainer);
    await train(trainer, 1);
    await trainEnded(trainer);
    const passphrase = 'viewer test passphrase';
    const { hex } = await callWorker(trainer, 'exportWrapped', { passphrase });

    await signIn(viewer, await createApiKey(authNode.dataDir, 'ward-9', 'viewer'));
    await viewer.setInputFiles('#key-import', { name: 'ward.morekey', mimeType: 'application/octet-stream', buffer: Buffer.from(hex, 'hex') });
    await answerPassphrase(viewer, passphrase);
    await viewer.waitForSelector('#work .work-use-model');
    await loadSample(viewer);
    for (const id of ['#data-upload', '#train-start', '#train-cancel']) {
      assert.equal(await viewer.isVisible(id), false, `${id} is not offered to a viewer`);
    }
    assert.equal(await viewer.locator('#work .work-delete-dataset, #work .work-delete-model, #work .work-resume, #work .work-cancel').count(), 0,
      'no Delete, Cancel or Resume in the work card');
    assert.match(await viewer.textContent('#work-role'), /viewer/);
    // What a viewer may do works: predict with the trainer's model, download it.
    await viewer.click('#work .work-use-model');
    await viewer.click('#predict-test');
    await viewer.waitForFunction(() => /Accuracy|failed/.test(document.querySelector('#accuracy').textContent));
    assert.match(await viewer.textContent('#accuracy'), /Accuracy/);
    assert.ok(await viewer.isVisible('#model-download') && await viewer.isEnabled('#model-download'));
    assert.deepEqual(viewer.errors, []);
  } finally {
    await trainer.context().close();
    await viewer.context().close();
    await authNode.stop();
  }
});
