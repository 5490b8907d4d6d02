// The full clinical benchmark of issue #29 (numbers for BENCHMARKS.md; not part of `npm test`):
// every public table whole, and the synthetic angiograms at the finding's size (2,000 DICOM images,
// 64×64), each trained through the page's controls with its defaults (automatic settings, nothing
// typed), predicted here in the page, and scored beside the reference model fitted on the page's
// own split (scikit-learn; for the angiograms the majority class). Writes a Markdown table to
// target/clinical-bench.md and prints it; screenshots of the results and Train cards go to web/docs/.
//
//   cd web && node tests/clinical-bench.mjs            # about 5 minutes on 2 cores
//   cd web && node tests/clinical-bench.mjs gbsg2      # only the rows whose name contains "gbsg2"
//   MORE_WEB_DIR=/path/to/old/web node tests/clinical-bench.mjs   # another copy of the page
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { generateKey, launchBrowser, nodeBinary, openPage, repoRoot, startNode, uploadData } from './helpers.mjs';
import { pageSplit, predictHere, readTableInPage, referenceScore, scoreOutputs, tableFile, trainInPage } from './clinical-run.mjs';

const run = promisify(execFile);
const TABLES = [
  { file: 'gbsg2.csv', target: 'cens', task: 'auto', what: 'GBSG2 breast cancer (lifelines), recurrence', shot: 'gbsg2-recurrence' },
  { file: 'gbsg2.csv', target: 'tgrade', task: 'auto', what: 'GBSG2, tumour grade I/II/III (text labels)' },
  { file: 'lung.csv', target: 'ph.karno', task: 'regression', what: 'NCCTG lung (lifelines), physician\'s Karnofsky score', shot: 'lung-karnofsky' },
  { file: 'lung.csv', target: 'status', task: 'auto', what: 'NCCTG lung, death during follow-up' },
  { file: 'diabetes.csv', target: 'progression', task: 'auto', what: 'diabetes progression (scikit-learn), finding 3' },
];

/** The results card and the Train card (automatic settings) as web/docs/NAME-*.png, linked from
 * web/README.md. */
async function screenshots(page, name) {
  // Another copy of the page (MORE_WEB_DIR) only with MORE_SCREENSHOTS=update.
  if (!name || (process.env.MORE_WEB_DIR && process.env.MORE_SCREENSHOTS !== 'update')) return;
  const dir = path.join(repoRoot, 'web/docs');
  await mkdir(dir, { recursive: true });
  await page.locator('section[aria-labelledby=predict-title]').screenshot({ path: path.join(dir, `${name}-results.png`), animations: 'disabled' });
  await page.locator('section[aria-labelledby=train-title]').screenshot({ path: path.join(dir, `${name}-training.png`), animations: 'disabled' });
}

const fmtScore = (s) => (s.accuracy !== undefined ? `accuracy ${(100 * s.accuracy).toFixed(1)} %` : `R² ${s.r2.toFixed(3)}, MAE ${s.mae.toFixed(1)}`);

async function tableRow(page, t) {
  const t0 = Date.now();
  await readTableInPage(page, await tableFile(t.file), t.target, t.task);
  await uploadData(page);
  const training = await trainInPage(page, 1_800_000);
  if (training.state !== 'completed') throw new Error(training.status);
  const split = await pageSplit(page);
  const score = scoreOutputs(split, await predictHere(page));
  await screenshots(page, t.shot);
  const reference = await referenceScore(split);
  return [t.what, t.target, split.task, fmtScore(score), `${fmtScore(reference)} (${split.task === 'classification' ? 'logistic regression' : 'least squares'})`,
    `${((Date.now() - t0) / 1000).toFixed(0)} s`, training.status];
}

async function dicomRow(page, dir) {
  const folder = path.join(dir, 'dicom');
  await run(nodeBinary, ['experiment', 'angio', '--images', '2000', '--size', '64', '--seed', '7', '--write-dicom', folder, '--quiet']);
  const names = (await readdir(folder)).sort();
  const files = await Promise.all(names.map(async (n) => ({ name: n, mimeType: n.endsWith('.csv') ? 'text/csv' : 'application/dicom',
    buffer: await readFile(path.join(folder, n)) })));
  const t0 = Date.now();
  await page.selectOption('#dicom-size', '64');
  await page.setInputFiles('#data-dicom', files);
  await page.waitForFunction(() => /Not uploaded yet/.test(document.querySelector('#data-summary').textContent)
    || document.querySelector('#data-error').textContent, null, { timeout: 600_000 });
  await uploadData(page);
  const training = await trainInPage(page, 3_600_000);
  if (training.state !== 'completed') throw new Error(training.status);
  const split = await pageSplit(page);
  const score = scoreOutputs(split, await predictHere(page));
  await screenshots(page, 'angiograms-dicom');
  const counts = new Map();
  split.train.y.forEach((l) => counts.set(l, (counts.get(l) ?? 0) + 1));
  const majority = [...counts].sort((a, b) => b[1] - a[1])[0][0];
  const base = split.test.y.filter((l) => l === majority).length / split.test.y.length;
  return ['synthetic angiograms, 2,000 DICOM 64×64 (finding 2)', 'LCA/RCA', 'classification', fmtScore(score),
    `accuracy ${(100 * base).toFixed(1)} % (majority class); goal ≥ 90 %`, `${((Date.now() - t0) / 1000).toFixed(0)} s`, training.status];
}

const only = process.argv[2] ?? '';
// MORE_WEB_DIR: another copy of the page (e.g. `git archive 220e911 web`, to measure what it got).
const node = await startNode({ webDir: process.env.MORE_WEB_DIR ?? 'web' });
const browser = await launchBrowser();
const dir = await mkdtemp(path.join(os.tmpdir(), 'more-clinical-bench-'));
const rows = [];
try {
  const page = await openPage(browser, node.url, { testPackage: false });
  await generateKey(page);
  for (const t of TABLES.filter((x) => `${x.file} ${x.target}`.includes(only))) {
    rows.push(await tableRow(page, t));
    console.log(rows.at(-1).join(' | '));
  }
  if (!only || 'dicom'.includes(only)) {
    rows.push(await dicomRow(page, dir));
    console.log(rows.at(-1).join(' | '));
  }
} finally {
  await browser.close();
  await node.stop();
  await rm(dir, { recursive: true, force: true });
}
const machine = `${os.cpus().length}-core ${os.cpus()[0]?.model ?? 'CPU'}`;
const date = new Date().toISOString().slice(0, 10);
const md = ['| data | target | task | page defaults (automatic) | reference on the same split | wall time | machine, date |',
  '|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.slice(0, 6).join(' | ')} | ${machine}, ${date} |`),
  '', ...rows.map((r) => `- ${r[0]}: ${r[6]}`)].join('\n');
await writeFile(path.join(repoRoot, 'target/clinical-bench.md'), `${md}\n`);
console.log(md);
