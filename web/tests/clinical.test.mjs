// Issue #29, "Must show": public clinical tables that ship in a registry package (lifelines 0.30.3,
// MIT: the German Breast Cancer Study Group 2 trial and the NCCTG lung cancer study; taken out of
// the wheel by .ci/setup-tests) trained with the page's defaults, nothing hand-tuned, through the
// page's controls on a real node, reach at least the reference model fitted in the test on the
// page's own split (scikit-learn: logistic regression for a class, least squares for a number).
// Bounded for CI (about a minute on 2 cores): the full tables are small; the full
// benchmark (web/tests/clinical-bench.mjs, BENCHMARKS.md) adds the 2,000-image DICOM run.
//
// "At least" is judged on the test split with clinical-run.mjs's atLeast: accuracy within one
// binomial standard error of the reference's on these test rows, R² within R2_TOLERANCE (the spread
// of SGD around the least-squares optimum, measured there).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKey, launchBrowser, openPage, startNode, uploadData } from './helpers.mjs';
import { atLeast, pageSplit, predictHere, readTableInPage, referenceScore, scoreOutputs, tableFile, trainInPage } from './clinical-run.mjs';

let node, browser, page;
before(async () => {
  node = await startNode();
  browser = await launchBrowser();
  page = await openPage(browser, node.url, { testPackage: false });
  await generateKey(page);
});
after(async () => {
  await browser?.close();
  await node?.stop();
});

/** Reads `file` with `target` (and `task` chosen in the task menu), uploads, trains with the defaults, predicts here; both scores. */
async function defaultsRun(t, file, target, task = 'auto') {
  await readTableInPage(page, await tableFile(file), target, task);
  t.diagnostic(await page.textContent('#data-summary'));
  await uploadData(page);
  const training = await trainInPage(page);
  assert.equal(training.state, 'completed', training.status);
  t.diagnostic(`${training.seconds.toFixed(1)} s: ${training.status}`);
  const split = await pageSplit(page);
  const score = scoreOutputs(split, await predictHere(page));
  const reference = await referenceScore(split);
  t.diagnostic(`page defaults ${JSON.stringify(score)}; reference ${JSON.stringify(reference)} (${split.train.y.length} training, ${split.test.y.length} test rows)`);
  return { split, score, reference };
}

test('GBSG2 (686 patients, text categories): recurrence (cens) with the defaults reaches a logistic regression\'s accuracy', { timeout: 120_000 }, async (t) => {
  const { split, score, reference } = await defaultsRun(t, 'gbsg2.csv', 'cens');
  assert.ok(atLeast(score, reference, split.test.y.length), `accuracy ${score.accuracy} vs logistic regression ${reference.accuracy}`);
  const notes = await page.$$eval('#data-notes li', (lis) => lis.map((li) => li.textContent));
  assert.ok(notes.some((n) => /^Column "tgrade" one-hot encoded: 3 levels/.test(n)), notes.join('\n'));
  assert.deepEqual(page.errors, []);
});

test('NCCTG lung (228 patients, blank cells): the physician\'s Karnofsky score (regression chosen: 6 distinct values look like classes) with the defaults reaches least squares\' R²', { timeout: 120_000 }, async (t) => {
  const { split, score, reference } = await defaultsRun(t, 'lung.csv', 'ph.karno', 'regression');
  assert.ok(atLeast(score, reference, split.test.y.length), `R² ${score.r2} vs least squares ${reference.r2}`);
  assert.deepEqual(page.errors, []);
});
