// The synthetic angiograms as a DICOM folder, in the page and natively (issue #16): the native
// binary writes the folder (`more-node experiment angio --write-dicom DIR`: one 8-bit MONOCHROME2
// XA file per rendered angiogram with its view's positioner angles, and labels.csv); the page opens
// it with its labels CSV, encrypts, uploads, trains image_cnn on the node and predicts; then the
// native lab trains the same architecture on the same files (`experiment angio --folder DIR
// --labels CSV`, which reads folders with the page's rules: decoder, centre crop + area resize,
// split by file), with the same size, split, model seed (0, the page's), batch-order seed (7, the
// page's job seed), epochs, batch, learning rate and momentum, in f32 as the node trains.
// The page's number of correct test predictions must equal the native one within ACCURACY_TOL;
// its decrypted losses must equal the native plaintext losses within LOSS_TOL.
//
// Why these settings (2 epochs, batch 16, lr 0.02, momentum 0) and not longer runs: the page's
// run is encrypted f32 under a random key, the native reference plaintext f32. Their arithmetic
// differs by rounding and by noise-aware ReLU/max-pool ties (see e2e.test.mjs), and image_cnn on
// this small, hard data set (LCA vs RCA at 32x32) amplifies that: measured natively (plaintext f32
// vs encrypted f32 on the same folder, random keys), 2 epochs lr 0.02 momentum 0 gave agreement
// 1.0, equal accuracy and losses equal to 1e-5 in two of two runs, while 3 epochs lr 0.03 gave
// agreement 0.975–0.99 (accuracy 0.558 vs 0.533–0.567), and 4 epochs with momentum 0.9 at 64x64
// agreement 0.79. An exact accuracy match is only a fair requirement where both runs follow one
// trajectory, so the test uses a run short enough for that and still above the majority baseline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { nodeBinary, pageFixture, pageState, screenshot, uploadData } from './helpers.mjs';

const run = promisify(execFile);
const IMAGES = 600;
const SIZE = 32;
const SEED = 7; // generation, and the page's job seed (batch order): web/app.js startJob
const MODEL_SEED = 0; // the page creates its models without a seed: the node's default 0
const EPOCHS = 2;
const BATCH = 16;
const LR = 0.02;
const MOMENTUM = 0;
// Decrypted (encrypted f32) vs native plaintext f32 mean loss per epoch, absolute. Measured
// natively on this folder: ≤ 1e-5 (encrypted f32 vs plaintext f32, two random keys). A different
// batch order (seed 8) or resize moves them by more than 1e-2; 1e-3 leaves 100x for rounding.
const LOSS_TOL = 1e-3;
// Correct test predictions, page vs native: at most one of the 120 frames apart. Exact equality
// held in the runs measured above and in CI until 2026-12-02, when one clean-clone run (after the
// engine's GEMMs and element-wise passes changed their rounding, issue #15) had 73 vs 74 correct,
// with losses 7.7e-6 and 7.9e-5 apart: at 61 % accuracy after 2 epochs many frames lie next to the
// decision boundary, and the random key's rounding can move one across it. The losses (LOSS_TOL)
// still tell a different trajectory apart.
const ACCURACY_TOL = 1;

const fx = pageFixture({ tempDir: 'more-angio-dicom-', testPackage: false, key: true });

test('synthetic angiograms as a DICOM folder: the page trains image_cnn and predicts with the native run\'s accuracy on the same files', { timeout: 300_000 }, async (t) => {
  const folder = path.join(fx.dir, 'dicom');
  const t0 = Date.now();
  await run(nodeBinary, ['experiment', 'angio', '--images', String(IMAGES), '--size', String(SIZE), '--seed', String(SEED),
    '--write-dicom', folder, '--quiet']);
  const names = (await readdir(folder)).sort();
  assert.equal(names.filter((n) => n.endsWith('.dcm')).length, IMAGES);
  assert.ok(names.includes('labels.csv'));
  const files = await Promise.all(names.map(async (n) => ({ name: n, mimeType: n.endsWith('.csv') ? 'text/csv' : 'application/dicom',
    buffer: await readFile(path.join(folder, n)) })));

  await fx.page.selectOption('#dicom-size', String(SIZE));
  await fx.page.setInputFiles('#data-dicom', files);
  await fx.page.waitForFunction(() => /Not uploaded yet/.test(document.querySelector('#data-summary').textContent)
    || document.querySelector('#data-error').textContent, null, { timeout: 120_000 });
  assert.equal(await fx.page.textContent('#data-error'), '');
  t.diagnostic(`${await fx.page.textContent('#data-summary')} (written and decoded in ${Date.now() - t0} ms)`);
  const data = await pageState(fx.page, (s) => ({ train: s.data.train.rows, test: s.data.test.rows, shape: s.data.train.featureShape,
    classes: s.data.train.classNames, testLabels: Array.from(s.data.test.labels), trainLabels: Array.from(s.data.train.labels) }));
  assert.deepEqual([data.train + data.test, data.shape, data.classes], [IMAGES, [1, SIZE, SIZE], ['LCA', 'RCA']]);
  const rows = await fx.page.$$eval('#dicom-preview table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.equal(rows.length, IMAGES);
  const first = rows.find((r) => r[0] === 'angio_00000.dcm');
  assert.deepEqual(first.slice(2, 7), ['XA', '1', `${SIZE}×${SIZE}`, '8', 'MONOCHROME2']);
  assert.match(first[7], /^(LAO|RAO) \d+ (CRA|CAU) \d+$/, 'the view from the positioner angles');
  assert.equal(await fx.page.inputValue('#preset'), 'image_cnn');
  await screenshot(fx.page, 'dicom-synthetic-inputs', '#dicom-preview .grid'); // the 600-row file table would make a 4 MB PNG

  await uploadData(fx.page, { timeout: 120_000 });
  await fx.page.fill('#epochs', String(EPOCHS));
  await fx.page.fill('#batch', String(BATCH));
  await fx.page.fill('#lr', String(LR));
  await fx.page.fill('#momentum', String(MOMENTUM));
  const t1 = Date.now();
  await fx.page.click('#train-start');
  await fx.page.waitForSelector('#train-status[data-state]', { timeout: 240_000 });
  t.diagnostic(`${await fx.page.textContent('#train-status')} (${Date.now() - t1} ms)`);
  assert.equal(await fx.page.getAttribute('#train-status', 'data-state'), 'completed');
  await fx.page.selectOption('#predict-where', 'node');
  await fx.page.click('#predict-test');
  await fx.page.waitForFunction(() => document.querySelector('#accuracy').dataset.where === 'node'
    || /failed/.test(document.querySelector('#accuracy').textContent), null, { timeout: 60_000 });
  const { losses, report } = await pageState(fx.page, (s) => ({ losses: s.losses, report: s.report }));
  t.diagnostic(`page: ${await fx.page.textContent('#accuracy')}`);
  await screenshot(fx.page, 'dicom-synthetic-results', 'section[aria-labelledby=predict-title]');

  // The native run on the same files.
  const json = path.join(fx.dir, 'native.json');
  await run(nodeBinary, ['experiment', 'angio', '--folder', folder, '--labels', path.join(folder, 'labels.csv'), '--size', String(SIZE),
    '--epochs', String(EPOCHS), '--batch-size', String(BATCH), '--learning-rate', String(LR), '--momentum', String(MOMENTUM),
    '--precision', 'f32', '--seed', String(SEED), '--model-seed', String(MODEL_SEED), '--json', json, '--quiet'], { maxBuffer: 1 << 22 });
  const native = JSON.parse(await readFile(json, 'utf8'));
  const arch = native.architectures[0];
  const count = (labels) => data.classes.map((_, k) => labels.filter((l) => l === k).length);
  assert.deepEqual([native.dataset.train_samples, native.dataset.test_samples], [data.train, data.test], 'the same split');
  assert.deepEqual(native.dataset.class_counts, { train: count(data.trainLabels), test: count(data.testLabels) });
  const nativeLosses = arch.losses.plaintext;
  const diffs = losses.map((l, i) => Math.abs(l - nativeLosses[i]));
  const correct = (accuracy) => Math.round(accuracy * data.test);
  t.diagnostic(`native: accuracy plaintext ${native.plaintext.accuracy.toFixed(4)}, encrypted ${native.encrypted.accuracy.toFixed(4)}; `
    + `page ${report.accuracy.toFixed(4)} (majority baseline ${report.baseline.toFixed(4)}); losses page ${losses.map((l) => l.toFixed(6))} `
    + `native ${nativeLosses.map((l) => l.toFixed(6))}, |diff| ${diffs.map((d) => d.toExponential(2))}`);
  assert.equal(losses.length, EPOCHS);
  diffs.forEach((d, i) => assert.ok(d <= LOSS_TOL, `epoch ${i + 1}: page ${losses[i]} vs native ${nativeLosses[i]}`));
  const apart = Math.abs(correct(report.accuracy) - correct(native.plaintext.accuracy));
  assert.ok(apart <= ACCURACY_TOL,
    `page ${report.accuracy} vs native ${native.plaintext.accuracy} on ${data.test} test frames: ${apart} apart`);
  assert.ok(report.accuracy > report.baseline, `accuracy ${report.accuracy} vs baseline ${report.baseline}`);
  assert.deepEqual(fx.page.errors, []);
});
