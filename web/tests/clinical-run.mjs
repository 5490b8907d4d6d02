// One clinical run through the page's controls, shared by the bounded CI test (clinical.test.mjs),
// the defaults findings (defaults.test.mjs) and the full benchmark (clinical-bench.mjs): open a
// table (or a DICOM folder), read it with the page's rules, encrypt and upload, press "Start
// training" with whatever the page put in the Train card, predict the test split here in the page,
// and score the decrypted predictions against the reference model (scikit-learn's logistic / linear
// regression, web/tests/baseline.py) fitted on the page's own split of the same rows.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { pageState, repoRoot } from './helpers.mjs';

const run = promisify(execFile);
/** The venv with scikit-learn (.ci/setup-tests) and the public tables it extracts. */
export const baselinePython = path.join(repoRoot, 'target/baseline-venv/bin/python');
export const datasetsDir = path.join(repoRoot, 'target/datasets');

/** A CSV of target/datasets (from .ci/setup-tests) as a file for `setInputFiles`; `keep(lines)`
 * may pick rows (header first) for a bounded run. */
export async function tableFile(name, keep = (lines) => lines) {
  const text = await readFile(path.join(datasetsDir, name), 'latin1');
  const lines = keep(text.split('\n').filter((l) => l.length));
  return { name, mimeType: 'text/csv', buffer: Buffer.from(`${lines.join('\n')}\n`, 'latin1') };
}

/** Opens `file` in the Data card, types `target` (empty: let the page guess), reads the table. */
export async function readTableInPage(page, file, target, task = 'auto') {
  if (file) {
    // As a person would: wait for the column statistics of the opened table before typing.
    await page.setInputFiles('#data-csv', file);
    await page.waitForFunction((name) => document.querySelector('#data-summary').textContent.startsWith(`${name}: `)
      || document.querySelector('#data-error').textContent, file.name, { timeout: 30_000 });
  }
  await page.fill('#csv-targets', target);
  await page.dispatchEvent('#csv-targets', 'change');
  await page.selectOption('#csv-task', task);
  await page.click('#csv-load');
  await page.waitForFunction(() => /Not uploaded yet/.test(document.querySelector('#data-summary').textContent)
    || document.querySelector('#data-error').textContent, null, { timeout: 60_000 });
  const error = await page.textContent('#data-error');
  if (error) throw new Error(`Read table failed: ${error}`);
}


/** "Start training" with the Train card as it is; the final state, the status line, seconds. */
export async function trainInPage(page, timeout = 600_000) {
  const t0 = Date.now();
  await page.click('#train-start');
  await page.waitForSelector('#train-status[data-state]', { timeout });
  return { state: await page.getAttribute('#train-status', 'data-state'), status: await page.textContent('#train-status'),
    seconds: (Date.now() - t0) / 1000 };
}

/** "Predict the test set" here in the page; the decrypted outputs (rows). */
export async function predictHere(page) {
  await page.selectOption('#predict-where', 'local');
  await page.evaluate(() => { delete document.querySelector('#accuracy').dataset.where; });
  await page.click('#predict-test');
  await page.waitForFunction(() => document.querySelector('#accuracy').dataset.where === 'local'
    || /failed/.test(document.querySelector('#accuracy').textContent), null, { timeout: 120_000 });
  const outputs = await pageState(page, (s) => s.lastPrediction?.outputs ?? null);
  if (!outputs) throw new Error(await page.textContent('#accuracy'));
  return outputs;
}

/** trainInPage, checked to complete (its seconds and status line a diagnostic of the test `t`),
 * then predictHere scored on the page's split: the split and the score. */
export async function trainAndScore(t, page, timeout) {
  const training = await trainInPage(page, timeout);
  assert.equal(training.state, 'completed', training.status);
  t.diagnostic(`${training.seconds.toFixed(1)} s: ${training.status}`);
  const split = await pageSplit(page);
  return { split, score: scoreOutputs(split, await predictHere(page)) };
}

/** The page's split as plain arrays: features, class indices or target values in their units. */
export function pageSplit(page) {
  return pageState(page, (s) => {
    const part = (p) => {
      const w = p.x.length / p.rows;
      const x = Array.from({ length: p.rows }, (_, r) => Array.from(p.x.subarray(r * w, (r + 1) * w)));
      const y = p.task === 'classification' ? Array.from(p.labels)
        : Array.from({ length: p.rows }, (_, r) => p.y[r * p.targetDim] * p.targetScale.std[0] + p.targetScale.mean[0]);
      return { x, y };
    };
    return { task: s.data.train.task, train: part(s.data.train), test: part(s.data.test),
      scale: s.data.test.targetScale ? { mean: s.data.test.targetScale.mean[0], std: s.data.test.targetScale.std[0] } : null };
  });
}

/** Accuracy (classification) or R² and MAE in the target's units (regression, first output) of
 * the page's decrypted test outputs. */
export function scoreOutputs(split, outputs) {
  const { y } = split.test;
  if (split.task === 'classification') {
    const hits = outputs.filter((row, i) => row.indexOf(Math.max(...row)) === y[i]).length;
    return { accuracy: hits / y.length };
  }
  const pred = outputs.map((row) => row[0] * split.scale.std + split.scale.mean);
  const mean = y.reduce((a, b) => a + b, 0) / y.length;
  const sst = y.reduce((a, v) => a + (v - mean) ** 2, 0);
  const sse = y.reduce((a, v, i) => a + (v - pred[i]) ** 2, 0);
  return { r2: 1 - sse / sst, mae: y.reduce((a, v, i) => a + Math.abs(v - pred[i]), 0) / y.length };
}

/** scikit-learn's logistic / linear regression on the same split (web/tests/baseline.py). */
export async function referenceScore(split) {
  const child = run(baselinePython, [path.join(repoRoot, 'web/tests/baseline.py')], { maxBuffer: 1 << 20 });
  child.child.stdin.end(JSON.stringify({ task: split.task, train: split.train, test: split.test }));
  return JSON.parse((await child).stdout);
}

/** The headline number of a score: accuracy or R². */
export const headline = (score) => score.accuracy ?? score.r2;

/** R² below the reference's still counted as "at least" it: the reference is the exact optimum of
 * its model on all training rows; the page's model is trained by SGD on encrypted data with a
 * validation part held out to choose its settings. Measured (2026-12-07, the diabetes table's
 * split): least squares 0.511; a linear model trained by SGD on the same rows for 30 epochs,
 * 0.494–0.509 over three learning rates, and the page's automatic run gave 0.494–0.509 over four
 * runs (a new key and shadows each time), then 0.495 and 0.4905 in two full `.ci/test` runs
 * (2026-12-07, 22:40 and 23:45 UTC; the second missed 0.02 by 0.0001). 0.03 covers that spread:
 * closer is a tie, further is a gap (the page at 220e911: −0.185). */
export const R2_TOLERANCE = 0.03;

/** Whether `score` is at least `reference`: accuracy within one binomial standard error of the
 * reference's accuracy on these `testRows` (√(p(1−p)/n): 4.0 points, 5 patients, on GBSG2's 137;
 * the scale below which two scores on one test set cannot be told apart — runs with a fresh key
 * and shadows each moved by 2 patients, 67.2–69.3 % against 68.6 %, so one sample failed at
 * random); R²: R2_TOLERANCE. */
export function atLeast(score, reference, testRows) {
  const p = reference.accuracy;
  return score.accuracy !== undefined ? score.accuracy >= p - Math.sqrt((p * (1 - p)) / testRows) - 1e-9
    : score.r2 >= reference.r2 - R2_TOLERANCE;
}
