// Issue #29, findings 2, 3 and 6, through the page's controls on a real node (each failed on the
// page at commit 220e911, see the report of the session that added this file):
// 2. the synthetic angiograms as a DICOM folder with the page's defaults ("Start training", nothing
//    filled in) reach ≥ 90 % (at 220e911: image_cnn lr 0.05 momentum 0.9, 61 % on these files);
//    the learning-rate search shows its progress ("trying learning rate 0.02 (2 of 5)");
// 3. the diabetes progression table (442 patients; scikit-learn's copy) with the defaults reaches
//    at least the R² of a least-squares fit on the same split, within R2_TOLERANCE (at 220e911:
//    R² −0.19 vs 0.51);
// 6. a second table does not keep the first table's target column (an emptied field means "guess"),
//    and a "Read table" that fails keeps the data already loaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { nodeBinary, pageFixture, pageState, uploadData } from './helpers.mjs';
import { R2_TOLERANCE, atLeast, predictHere, readTableInPage, referenceScore, tableFile, trainAndScore, trainInPage } from './clinical-run.mjs';

const run = promisify(execFile);
const fx = pageFixture({ tempDir: 'more-defaults-', testPackage: false, key: true });

/** Every text #train-status showed while training (a MutationObserver in the page). */
async function watchTrainStatus() {
  await fx.page.evaluate(() => {
    const seen = [];
    window.trainStatusSeen = seen;
    new MutationObserver(() => seen.push(document.querySelector('#train-status').textContent))
      .observe(document.querySelector('#train-status'), { childList: true, characterData: true, subtree: true });
  });
  return () => fx.page.evaluate(() => window.trainStatusSeen);
}

test('finding 3: the diabetes table with the page\'s defaults reaches a least-squares fit\'s R² on the same split', { timeout: 240_000 }, async (t) => {
  await readTableInPage(fx.page, await tableFile('diabetes.csv'), 'progression');
  await uploadData(fx.page);
  const seen = await watchTrainStatus();
  const { split, score } = await trainAndScore(t, fx.page);
  const reference = await referenceScore(split);
  t.diagnostic(`page defaults: R² ${score.r2.toFixed(3)}, MAE ${score.mae.toFixed(1)}; least squares: R² ${reference.r2.toFixed(3)}, MAE ${reference.mae.toFixed(1)}`);
  assert.ok(atLeast(score, reference, split.test.y.length), `R² ${score.r2} < least squares ${reference.r2} (− ${R2_TOLERANCE})`);
  assert.ok((await seen()).some((s) => /rying learning rate [\d.e-]+ \(1 of \d+\)/.test(s)), 'the search shows its progress');
  assert.deepEqual(fx.page.errors, []);
});

test('finding 2: synthetic angiograms (DICOM folder, 800 images 32×32) with the page\'s defaults reach ≥ 90 %', { timeout: 300_000 }, async (t) => {
  const folder = path.join(fx.dir, 'dicom');
  await run(nodeBinary, ['experiment', 'angio', '--images', '800', '--size', '32', '--seed', '7', '--write-dicom', folder, '--quiet']);
  const names = (await readdir(folder)).sort();
  const files = await Promise.all(names.map(async (n) => ({ name: n, mimeType: n.endsWith('.csv') ? 'text/csv' : 'application/dicom',
    buffer: await readFile(path.join(folder, n)) })));
  await fx.page.selectOption('#dicom-size', '32');
  await fx.page.setInputFiles('#data-dicom', files);
  await fx.page.waitForFunction(() => /Not uploaded yet/.test(document.querySelector('#data-summary').textContent)
    || document.querySelector('#data-error').textContent, null, { timeout: 120_000 });
  assert.equal(await fx.page.textContent('#data-error'), '');
  await uploadData(fx.page);
  const seen = await watchTrainStatus();
  const { split, score } = await trainAndScore(t, fx.page, 280_000);
  t.diagnostic(`page defaults: accuracy ${(100 * score.accuracy).toFixed(1)} % on ${split.test.y.length} test images`);
  assert.ok(score.accuracy >= 0.9, `accuracy ${score.accuracy}`);
  assert.ok((await seen()).some((s) => /rying learning rate [\d.e-]+ \(2 of \d+\)/.test(s)), 'the search shows its progress');
  // Finding 4 (names that tell objects apart): a DICOM dataset is not named after its labels file.
  const name = await pageState(fx.page, (s) => s.data.train.name);
  t.diagnostic(`data name: ${name}`);
  assert.doesNotMatch(name, /labels\.csv/);
  assert.match(name, /800 images/);
  assert.deepEqual(fx.page.errors, []);
});

test('finding 6: a second table does not keep the first one\'s target; a failed "Read table" keeps the loaded data', { timeout: 60_000 }, async (t) => {
  await readTableInPage(fx.page, await tableFile('gbsg2.csv'), 'cens');
  assert.match(await fx.page.textContent('#data-summary'), /^gbsg2\.csv/);
  // A second table: its own columns are offered, not the first table's target.
  await fx.page.setInputFiles('#data-csv', await tableFile('lung.csv'));
  await fx.page.waitForFunction(() => /^lung\.csv: 228 rows/.test(document.querySelector('#data-summary').textContent)
    || document.querySelector('#data-error').textContent, null, { timeout: 30_000 });
  assert.equal(await fx.page.textContent('#data-error'), '');
  assert.notEqual(await fx.page.inputValue('#csv-targets'), 'cens');
  // An emptied field means "guess": the table is read with the guessed target.
  await fx.page.fill('#csv-targets', '');
  await fx.page.click('#csv-load');
  await fx.page.waitForFunction(() => /Not uploaded yet/.test(document.querySelector('#data-summary').textContent)
    || document.querySelector('#data-error').textContent, null, { timeout: 30_000 });
  assert.equal(await fx.page.textContent('#data-error'), '');
  const loaded = await pageState(fx.page, (s) => ({ name: s.data.train.name, rows: s.data.train.rows + s.data.test.rows }));
  t.diagnostic(JSON.stringify(loaded));
  assert.match(loaded.name, /^lung\.csv/);
  // A read that fails (no such column) says why and keeps the lung data loaded.
  const summary = await fx.page.textContent('#data-summary');
  await fx.page.fill('#csv-targets', 'no_such_column');
  await fx.page.click('#csv-load');
  await fx.page.waitForFunction(() => document.querySelector('#data-error').textContent, null, { timeout: 30_000 });
  t.diagnostic(await fx.page.textContent('#data-error'));
  assert.match(await fx.page.textContent('#data-error'), /no_such_column/);
  assert.deepEqual(await pageState(fx.page, (s) => ({ name: s.data?.train.name, rows: s.data ? s.data.train.rows + s.data.test.rows : 0 })), loaded);
  assert.equal(await fx.page.textContent('#data-summary'), summary);
  assert.equal(await fx.page.isDisabled('#data-upload'), false);
  assert.deepEqual(fx.page.errors, []);
});

test('an Excel table from a European ward (Windows-1252, ";", decimal commas, M/F and yes/no columns) is read whole, and the page lists what was done', { timeout: 60_000 }, async (t) => {
  // Finding 9's rules are the library's (more_data_owner::data, since issue #28); this checks that
  // the page hands such a file to them and shows their notes. Passes at 220e911 too.
  const rows = ['Alter;Geschlecht;Raucher;Station;Größe;Blutdruck'];
  for (let i = 0; i < 60; i++) {
    rows.push([40 + (i % 30), i % 2 ? 'M' : 'F', i % 3 ? 'ja' : 'nein', ['Süd', 'Nord'][i % 2], `1,${60 + (i % 30)}`, `${120 + i},5`].join(';'));
  }
  const bytes = Buffer.from(`${rows.join('\r\n')}\r\n`, 'latin1');
  await readTableInPage(fx.page, { name: 'station.csv', mimeType: 'text/csv', buffer: bytes }, 'Blutdruck', 'regression');
  const notes = await fx.page.$$eval('#data-notes li', (lis) => lis.map((li) => li.textContent));
  t.diagnostic(notes.join(' | '));
  assert.ok(notes.some((n) => /Windows-1252/.test(n)), notes.join('\n'));
  assert.ok(notes.some((n) => /decimal comma/.test(n)), notes.join('\n'));
  assert.ok(notes.some((n) => /"Geschlecht" one-hot encoded: 2 levels \(F, M\)/.test(n)), notes.join('\n'));
  const features = await pageState(fx.page, (s) => s.data.train.featureNames);
  assert.ok(features.includes('Größe') && features.includes('Station=Süd'), features.join(', '));
  assert.deepEqual(fx.page.errors, []);
});

test('a model that does not beat its baseline gets advice on which way to move what (here: a learning rate far too low)', { timeout: 120_000 }, async (t) => {
  await readTableInPage(fx.page, await tableFile('diabetes.csv'), 'progression');
  await uploadData(fx.page);
  // Manual settings typed as a person would: the card switches to Manual at the first one.
  await fx.page.fill('#lr', '0.00001');
  assert.equal(await fx.page.inputValue('#train-mode'), 'manual');
  await fx.page.fill('#epochs', '2');
  const training = await trainInPage(fx.page);
  t.diagnostic(training.status);
  await predictHere(fx.page);
  await fx.page.waitForSelector('#advice li', { timeout: 30_000 });
  const advice = await fx.page.$$eval('#advice li', (lis) => lis.map((li) => li.textContent));
  t.diagnostic(advice.join(' | '));
  assert.ok(advice.some((a) => /learning rate/i.test(a) && /rais|increas|higher/i.test(a)), advice.join('\n'));
  await fx.page.selectOption('#train-mode', 'auto');
  assert.deepEqual(fx.page.errors, []);
});
