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
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageFixture, uploadData } from './helpers.mjs';
import { atLeast, readTableInPage, referenceScore, tableFile, trainAndScore } from './clinical-run.mjs';

const fx = pageFixture({ testPackage: false, key: true });

/** Reads `file` with `target` (and `task` chosen in the task menu), uploads, trains with the defaults, predicts here; both scores. */
async function defaultsRun(t, file, target, task = 'auto') {
  await readTableInPage(fx.page, await tableFile(file), target, task);
  t.diagnostic(await fx.page.textContent('#data-summary'));
  await uploadData(fx.page);
  const { split, score } = await trainAndScore(t, fx.page);
  const reference = await referenceScore(split);
  t.diagnostic(`page defaults ${JSON.stringify(score)}; reference ${JSON.stringify(reference)} (${split.train.y.length} training, ${split.test.y.length} test rows)`);
  return { split, score, reference };
}

test('GBSG2 (686 patients, text categories): recurrence (cens) with the defaults reaches a logistic regression\'s accuracy', { timeout: 120_000 }, async (t) => {
  const { split, score, reference } = await defaultsRun(t, 'gbsg2.csv', 'cens');
  assert.ok(atLeast(score, reference, split.test.y.length), `accuracy ${score.accuracy} vs logistic regression ${reference.accuracy}`);
  const notes = await fx.page.$$eval('#data-notes li', (lis) => lis.map((li) => li.textContent));
  assert.ok(notes.some((n) => /^Column "tgrade" one-hot encoded: 3 levels/.test(n)), notes.join('\n'));
  assert.deepEqual(fx.page.errors, []);
});

test('NCCTG lung (228 patients, blank cells): the physician\'s Karnofsky score (regression chosen: 6 distinct values look like classes) with the defaults reaches least squares\' R²', { timeout: 120_000 }, async (t) => {
  const { split, score, reference } = await defaultsRun(t, 'lung.csv', 'ph.karno', 'regression');
  assert.ok(atLeast(score, reference, split.test.y.length), `R² ${score.r2} vs least squares ${reference.r2}`);
  assert.deepEqual(fx.page.errors, []);
});

// The table where the automatic settings fell short (76.1–80.4 % on 2026-12-07): the linear model
// early-stopped on 36 noisy validation losses ended short of the regression's optimum, and an
// overfit MLP run swapped for a slower rate won the kind choice by luck. Since 2026-12-08 the
// linear model runs its whole schedule and a run fails only on a stall (tuning.js): 82.6 % (= the
// logistic regression) in every run since (BENCHMARKS.md).
test('NCCTG lung: death during follow-up (status, 2 classes) with the defaults reaches a logistic regression\'s accuracy', { timeout: 120_000 }, async (t) => {
  const { split, score, reference } = await defaultsRun(t, 'lung.csv', 'status');
  assert.ok(atLeast(score, reference, split.test.y.length), `accuracy ${score.accuracy} vs logistic regression ${reference.accuracy}`);
  assert.deepEqual(fx.page.errors, []);
});
