// The results a clinician can act on (issue #29, finding 5), through the page's controls on the
// real node: a small table with text class labels and an id column, a short encrypted training
// run, prediction here in the page. Checked against numbers this test computes itself from the
// page's own decrypted predictions (state.lastPrediction) and the test labels:
// - class names in the positive-class picker, the tiles and the confusion matrix (never "0"/"1":
//   numeric labels are said with their column, "diagnosis = 1");
// - sensitivity, specificity, PPV, NPV with counts, accuracy and the majority baseline, for the
//   default positive class and after picking the other one; the ROC's AUC (Mann–Whitney form);
// - each tile names its row ("row N", the line in the file) and that line's true class is the
//   tile's true class;
// - "Score new patients": a CSV of new cases (columns reordered, no target column, an id column)
//   predicted here with nothing sent; the downloaded CSV has one line per case with its id, and
//   copies of test rows get the class and probabilities the test-set prediction gave them;
// - a regression target: errors in the column's units under its name, with the mean and
//   linear-model baselines;
// - an image model: a folder of new images (no labels file) scored with ids file#frame, copies of
//   test images getting the test-set prediction's class and probabilities.
// On the page at 220e911 the picker, the metrics, the row ids and the score card do not exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { canvasImages, pageFixture, pageState, screenshot, uploadData, withoutHealthPolls } from './helpers.mjs';

const fx = pageFixture({
  node: { webDir: process.env.RESULTS_WEB_DIR ?? 'web' },
  key: true,
  setUp: async ({ page }) => { if (await page.$('#train-mode')) await page.selectOption('#train-mode', 'manual'); },
});

/** 150 patients from a seeded generator: an id, age, sex (text), a marker and a weight; the
 * diagnosis (text) depends on the marker and sex, `weight_kg` on age and sex. */
function patients() {
  let s = 2029;
  const rand = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 4294967296; };
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const lines = ['patient_id,age,sex,marker,weight_kg,diagnosis'];
  for (let i = 0; i < 150; i++) {
    const age = Math.round(30 + 50 * rand());
    const sex = rand() < 0.5 ? 'F' : 'M';
    const marker = gauss();
    const weight = 60 + 0.3 * (age - 55) + (sex === 'M' ? 12 : 0) + 3 * gauss();
    const sick = 1.5 * marker + (sex === 'M' ? 0.8 : 0) + 0.5 * gauss() > 0.6;
    lines.push([`P${1000 + i}`, age, sex, marker.toFixed(3), weight.toFixed(1), sick ? 'malignant' : 'benign'].join(','));
  }
  return lines;
}

const softmax = (row) => {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const t = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / t);
};
const argmax = (row) => row.indexOf(Math.max(...row));

/** What the metrics table shows: {metric: [value text, counts text]}. */
const shownMetrics = () => fx.page.$$eval('#metrics tbody tr', (trs) => Object.fromEntries(trs.map((tr) =>
  [tr.dataset.metric, [tr.cells[1].textContent, tr.cells[2].textContent]])));

/** The four rates of class `pos` computed here: "n of d" per metric. */
function expectedCounts(pred, labels, pos) {
  let tp = 0, fp = 0, tn = 0, fn = 0;
  pred.forEach((p, i) => {
    if (labels[i] === pos) { if (p === pos) tp++; else fn++; } else if (p === pos) fp++; else tn++;
  });
  return { sensitivity: `${tp} of ${tp + fn}`, specificity: `${tn} of ${tn + fp}`, ppv: `${tp} of ${tp + fp}`, npv: `${tn} of ${tn + fn}` };
}

/** The AUC of `score` for `positive` as the probability that a positive outscores a negative
 * (ties one half): the Mann–Whitney form, independent of the page's curve. */
function pairwiseAuc(score, positive) {
  let wins = 0, pairs = 0;
  score.forEach((a, i) => score.forEach((b, j) => {
    if (!positive[i] || positive[j]) return;
    pairs++;
    wins += a > b ? 1 : a === b ? 0.5 : 0;
  }));
  return wins / pairs;
}

/** "Start training" with the Train card as it is (checked to complete), then "Predict the test
 * set" here in the page; the caller waits for the prediction. */
async function trainThenPredictHere() {
  await fx.page.click('#train-start');
  await fx.page.waitForSelector('#train-status[data-state]', { timeout: 30_000 });
  assert.equal(await fx.page.getAttribute('#train-status', 'data-state'), 'completed', await fx.page.textContent('#train-status'));
  await fx.page.selectOption('#predict-where', 'local');
  await fx.page.evaluate(() => { delete document.querySelector('#accuracy').dataset.where; });
  await fx.page.click('#predict-test');
}

async function readTrainPredict(lines, target) {
  await fx.page.evaluate(() => { document.querySelector('#csv-guess').textContent = ''; });
  await fx.page.setInputFiles('#data-csv', { name: 'patients.csv', mimeType: 'text/csv', buffer: Buffer.from(lines.join('\n') + '\n') });
  await fx.page.waitForFunction(() => document.querySelector('#csv-guess').textContent); // the profile is shown
  await fx.page.fill('#csv-targets', target);
  await fx.page.dispatchEvent('#csv-targets', 'change');
  await fx.page.click('#csv-load');
  await fx.page.waitForFunction(() => /Not uploaded yet/.test(document.querySelector('#data-summary').textContent)
    || document.querySelector('#data-error').textContent);
  assert.equal(await fx.page.textContent('#data-error'), '');
  await uploadData(fx.page, { timeout: 30_000 });
  await trainThenPredictHere();
  await fx.page.waitForFunction(() => document.querySelector('#accuracy').dataset.where === 'local'
    || /failed/.test(document.querySelector('#accuracy').textContent), null, { timeout: 30_000 });
  return pageState(fx.page, (s) => ({ outputs: s.lastPrediction.outputs, labels: s.data.test.labels,
    classNames: s.data.test.classNames, sampleNames: s.data.test.sampleNames, trainLabels: s.data.train.labels }));
}

test('classification: class names, a positive class, the metrics and AUC as computed from the decrypted predictions, row ids', { timeout: 60_000 }, async (t) => {
  const lines = patients();
  const run = await readTrainPredict(lines, 'diagnosis');
  t.diagnostic(await fx.page.textContent('#accuracy'));
  assert.deepEqual(run.classNames, ['benign', 'malignant']);
  assert.deepEqual(await fx.page.$$eval('#positive-class option', (o) => o.map((x) => x.textContent)), ['benign', 'malignant']);
  assert.equal(await fx.page.inputValue('#positive-class'), '1', 'the last class is the positive one by default');
  const pred = run.outputs.map((row) => argmax(row));
  for (const pos of [1, 0]) {
    if (pos === 0) {
      await fx.page.selectOption('#positive-class', '0');
      await fx.page.waitForFunction(() => /"benign" against the rest/.test(document.querySelector('#metrics caption')?.textContent));
    }
    const shown = await shownMetrics();
    const want = expectedCounts(pred, run.labels, pos);
    for (const m of ['sensitivity', 'specificity', 'ppv', 'npv']) assert.equal(shown[m][1], want[m], `${m} of class ${pos}`);
    const correct = pred.filter((p, i) => p === run.labels[i]).length;
    assert.equal(shown.accuracy[1], `${correct} of ${run.labels.length}`);
    const counts = [0, 1].map((k) => run.trainLabels.filter((l) => l === k).length);
    const majority = counts[1] > counts[0] ? 1 : 0;
    assert.equal(shown.majority[1], `${run.labels.filter((l) => l === majority).length} of ${run.labels.length}`);
    const auc = pairwiseAuc(run.outputs.map((row) => softmax(row)[pos]), run.labels.map((l) => l === pos));
    const caption = await fx.page.textContent('#roc-caption');
    t.diagnostic(`${caption}; computed here ${auc.toFixed(4)}`);
    assert.equal(caption.match(/AUC (\d\.\d{3})/)[1], auc.toFixed(3));
    // Calibration: per tenth of the predicted probability, the cases and how many were positive.
    const bins = new Map();
    run.outputs.forEach((row, i) => {
      const p = softmax(row)[pos];
      const b = Math.min(9, Math.floor(p * 10));
      const [n, hits, sum] = bins.get(b) ?? [0, 0, 0];
      bins.set(b, [n + 1, hits + (run.labels[i] === pos ? 1 : 0), sum + p]);
    });
    const wantBins = [...bins].sort((a, b) => a[0] - b[0]).map(([b, [n, hits, sum]]) =>
      [`${(b / 10).toFixed(1)}–${((b + 1) / 10).toFixed(1)}`, String(n), `${(100 * sum / n).toFixed(1)} %`, `${(100 * hits / n).toFixed(1)} %`]);
    const shownBins = await fx.page.$$eval('#calibration-bins tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    assert.deepEqual(shownBins, wantBins, 'calibration bins');
  }
  assert.match(await fx.page.textContent('#baseline-line'), /^The model (beats|does not beat) both baselines|^The model does not beat the baselines/);
  assert.equal(await fx.page.locator('#calibration').count(), 1);
  await screenshot(fx.page, 'results-classification', 'section[aria-labelledby=predict-title]');
  // Tiles: "row N: class (p %)", the row's line in the file holds that true class.
  const tiles = await fx.page.$$eval('#predictions figcaption', (c) => c.map((x) => x.textContent));
  assert.ok(tiles.length > 0);
  tiles.forEach((text, i) => {
    const m = text.match(/^row (\d+): (benign|malignant) \(\d+ %\)(, true (benign|malignant))?$/);
    assert.ok(m, text);
    assert.equal(`row ${m[1]}`, run.sampleNames[i]);
    const fileClass = lines[Number(m[1]) - 1].split(',').at(-1);
    assert.equal(fileClass, m[4] ?? m[2], `${text}: line ${m[1]} of the file is ${lines[Number(m[1]) - 1]}`);
  });
  assert.deepEqual(fx.page.errors, []);

  // Score new patients: copies of five test rows (columns reordered, no diagnosis, new ids) and
  // one case with a missing marker.
  const rows = run.sampleNames.slice(0, 5).map((n) => lines[Number(n.slice(4)) - 1].split(','));
  const newCsv = ['marker,sex,patient_id,age,weight_kg', ...rows.map((c, i) => [c[3], c[2], `N${i}`, c[1], c[4]].join(',')),
    ',F,N5,50,70.0'].join('\n') + '\n';
  const before = fx.page.requests.length;
  await fx.page.setInputFiles('#score-file', { name: 'new-patients.csv', mimeType: 'text/csv', buffer: Buffer.from(newCsv) });
  await fx.page.waitForFunction(() => !document.querySelector('#score-download').disabled
    || document.querySelector('#score-error').textContent, null, { timeout: 20_000 });
  assert.equal(await fx.page.textContent('#score-error'), '');
  assert.deepEqual(withoutHealthPolls(fx.page.requests.slice(before)).map((r) => r.url()), [], 'nothing is sent');
  const [download] = await Promise.all([fx.page.waitForEvent('download'), fx.page.click('#score-download')]);
  assert.equal(download.suggestedFilename(), 'new-patients-predictions.csv');
  const got = (await readFile(await download.path(), 'utf8')).trim().split('\n').map((l) => l.split(','));
  t.diagnostic(got.map((r) => r.join(',')).join(' | '));
  assert.deepEqual(got[0], ['patient_id', 'predicted', 'probability benign', 'probability malignant']);
  assert.deepEqual(got.slice(1).map((r) => r[0]), ['N0', 'N1', 'N2', 'N3', 'N4', 'N5']);
  run.outputs.slice(0, 5).forEach((row, i) => {
    const p = softmax(row);
    assert.equal(got[i + 1][1], run.classNames[argmax(p)], `N${i} is test ${run.sampleNames[i]}`);
    p.forEach((v, k) => assert.ok(Math.abs(Number(got[i + 1][2 + k]) - v) < 1e-3, `N${i} p${k}: ${got[i + 1][2 + k]} vs ${v}`));
  });
  assert.match(await fx.page.textContent('#score-notes'), /1 feature value replaced by the training mean/);
  await screenshot(fx.page, 'score-new-patients', 'section[aria-labelledby=score-title]');
  assert.deepEqual(fx.page.errors, []);
});

test('numeric class labels are said with their column ("diagnosis = 1"), never a bare "0"/"1"', { timeout: 30_000 }, async () => {
  const lines = patients().map((l, i) => (i ? l.replace(/,benign$/, ',0').replace(/,malignant$/, ',1') : l));
  await readTrainPredict(lines, 'diagnosis');
  assert.deepEqual(await fx.page.$$eval('#positive-class option', (o) => o.map((x) => x.textContent)), ['diagnosis = 0', 'diagnosis = 1']);
  const tiles = await fx.page.$$eval('#predictions figcaption', (c) => c.map((x) => x.textContent));
  assert.ok(tiles.length > 0);
  for (const text of tiles) assert.match(text, /^row \d+: diagnosis = [01] \(\d+ %\)(, true diagnosis = [01])?$/);
  assert.deepEqual(await fx.page.$$eval('#report table.confusion thead th', (th) => th.map((x) => x.textContent).slice(1)), ['diagnosis = 0', 'diagnosis = 1']);
  assert.deepEqual(fx.page.errors, []);
});

test('regression: errors in the target column\'s units under its name, beside the training mean and a linear model', { timeout: 60_000 }, async (t) => {
  const run = await readTrainPredict(patients(), 'weight_kg');
  const text = await fx.page.textContent('#accuracy');
  t.diagnostic(text);
  const { scale, y, x, trainX, trainY } = await pageState(fx.page, (s) => ({ scale: s.data.test.targetScale, y: Array.from(s.data.test.y),
    x: s.data.test.featureShape[0], trainX: s.data.train.rows, trainY: s.data.train.y.length }));
  assert.ok(x > 0 && trainX === trainY);
  const truth = y.map((v) => v * scale.std[0] + scale.mean[0]);
  const pred = run.outputs.map((row) => row[0] * scale.std[0] + scale.mean[0]);
  const mae = truth.reduce((a, v, i) => a + Math.abs(v - pred[i]), 0) / truth.length;
  const baseMae = truth.reduce((a, v) => a + Math.abs(v - scale.mean[0]), 0) / truth.length;
  const row = await fx.page.$$eval('#metrics tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.equal(row.length, 1);
  assert.equal(row[0][0], 'weight_kg');
  assert.ok(Math.abs(Number(row[0][1]) - mae) <= 1e-3 * Math.max(1, mae), `MAE shown ${row[0][1]}, computed ${mae}`);
  assert.ok(Math.abs(Number(row[0][4].split(' / ')[0]) - baseMae) <= 1e-3 * baseMae, `${row[0][4]} vs ${baseMae}`);
  assert.ok(baseMae > 3, `in kilograms, not standardised: ${baseMae}`);
  assert.match(row[0][5], /^[\d.]+ \/ 0\.\d{3}$/, 'a linear model fitted on the training split');
  assert.match(await fx.page.textContent('#baseline-line'), /training mean and a linear model/);
  assert.equal(await fx.page.isHidden('#positive-row'), true);
  await screenshot(fx.page, 'results-regression', 'section[aria-labelledby=predict-title]');
  assert.deepEqual(fx.page.errors, []);
});

/** Downloads the scored predictions; rows of cells. */
async function scoredCsv(expectedName) {
  const [download] = await Promise.all([fx.page.waitForEvent('download'), fx.page.click('#score-download')]);
  assert.equal(download.suggestedFilename(), expectedName);
  return (await readFile(await download.path(), 'utf8')).trim().split('\n').map((l) => l.split(','));
}

test('images: new image files scored here, ids file#frame, copies of test images predicted as in the test set', { timeout: 60_000 }, async (t) => {
  const images = await canvasImages(fx.page, 'image/png', 40, [[32, 32]], 3);
  const label = (i) => (i % 2 ? 'light' : 'dark'); // canvasImages draws a white disc on odd images
  const files = images.map((buffer, i) => ({ name: `img${i}.png`, mimeType: 'image/png', buffer }));
  const labels = `filename,label\n${files.map((f, i) => `${f.name},${label(i)}`).join('\n')}\n`;
  await fx.page.setInputFiles('#data-images', [{ name: 'labels.csv', mimeType: 'text/csv', buffer: Buffer.from(labels) }, ...files]);
  await fx.page.waitForFunction(() => /Not uploaded yet/.test(document.querySelector('#data-summary').textContent)
    || document.querySelector('#data-error').textContent, null, { timeout: 20_000 });
  assert.equal(await fx.page.textContent('#data-error'), '');
  await uploadData(fx.page, { timeout: 30_000 });
  await fx.page.fill('#epochs', '2');
  await trainThenPredictHere();
  await fx.page.waitForFunction(() => document.querySelector('#accuracy').dataset.where === 'local', null, { timeout: 30_000 });
  const run = await pageState(fx.page, (s) => ({ outputs: s.lastPrediction.outputs, sampleNames: s.data.test.sampleNames,
    classNames: s.data.test.classNames }));
  t.diagnostic(`${await fx.page.textContent('#accuracy')} test ${run.sampleNames.join(' ')}`);
  const tiles = await fx.page.$$eval('#predictions figcaption', (c) => c.map((x) => x.textContent));
  tiles.forEach((text, i) => assert.ok(text.startsWith(`${run.sampleNames[i]}: `), text));
  // New cases: the test images again (no labels file) and a file that is no image.
  const byName = new Map(files.map((f) => [f.name, f]));
  const fresh = run.sampleNames.map((n) => byName.get(n.split('#')[0]));
  const before = fx.page.requests.length;
  await fx.page.setInputFiles('#score-images', [...fresh, { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('no picture') }]);
  await fx.page.waitForFunction(() => !document.querySelector('#score-download').disabled
    || document.querySelector('#score-error').textContent, null, { timeout: 20_000 });
  assert.equal(await fx.page.textContent('#score-error'), '');
  assert.deepEqual(withoutHealthPolls(fx.page.requests.slice(before)).map((r) => r.url()), [], 'nothing is sent');
  assert.match(await fx.page.textContent('#score-notes'), /1 file skipped: notes\.png/);
  const got = await scoredCsv('new-cases-predictions.csv');
  assert.deepEqual(got[0], ['file#frame', 'predicted', 'probability dark', 'probability light']);
  assert.deepEqual(got.slice(1).map((r) => r[0]), run.sampleNames);
  run.outputs.forEach((row, i) => {
    const p = softmax(row);
    assert.equal(got[i + 1][1], run.classNames[argmax(p)], run.sampleNames[i]);
    p.forEach((v, k) => assert.ok(Math.abs(Number(got[i + 1][2 + k]) - v) < 1e-3, `${run.sampleNames[i]} p${k}`));
  });
  assert.deepEqual(fx.page.errors, []);
});
