// The page in headless Chromium against the other clients: the command line (target/release/
// more-client, built by .ci/test before `npm test`) and the Python package (more_client in
// target/pyenv, installed by .ci/test-python.sh, which .ci/test runs before `npm test`; another
// interpreter with more_client installed: MORE_PYTHON). Key files made by the page's key export
// are read by Python and the CLI, and theirs are imported by the page's key-import control;
// ciphertexts go both ways between the page's Worker and Python; a dataset uploaded by Python or
// the CLI and trained by the CLI shows in the page's "your work on this node" panel once the page
// holds the same key; a DICOM folder and a PNG/JPEG folder read by the CLI give the page's split
// and pixels. Every check has its failing twin: a wrong passphrase, another key (the pixel checks
// failed against the CLI's earlier native loaders: DICOM 0.37 off, PNG 0.61 off).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { answerPassphrase, canvasImages, generateKey, openPage, pageFixture, pageState, repoRoot } from './helpers.mjs';

const PASS = 'clients interop passphrase';
const cliBinary = process.env.MORE_CLIENT_BIN ?? path.join(repoRoot, 'target/release/more-client');
const python = process.env.MORE_PYTHON ?? path.join(repoRoot, 'target/pyenv/bin/python');

// Python side: one small command per call (argv), JSON or ids on stdout; exit 3 for a key-file
// problem, 8 for a refused decryption.
const PY = String.raw`
import json, sys
import numpy as np
import more_client as m
cmd, *a = sys.argv[1:]
def load(path, passphrase):
    try:
        return m.SecretKey.load(path, passphrase)
    except m.KeyFileError as e:
        print(e, file=sys.stderr); sys.exit(3)
if cmd == "fingerprint":
    print(load(a[0], a[1]).fingerprint)
elif cmd == "newkey":
    k = m.SecretKey.generate(); k.save(a[0], a[1]); print(k.fingerprint)
elif cmd == "encrypt":
    x = np.asarray(json.loads(a[3]), np.float32).reshape(json.loads(a[4]))
    open(a[2], "wb").write(bytes(load(a[0], a[1]).encrypt(x)))
elif cmd == "decrypt":
    ct = m.Ciphertext.from_bytes(open(a[2], "rb").read())
    try:
        x = load(a[0], a[1]).decrypt(ct)
    except m.DecryptionError as e:
        print(e, file=sys.stderr); sys.exit(8)
    print(json.dumps({"shape": list(x.shape), "data": x.ravel().tolist()}))
elif cmd == "upload":
    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[(x[:, 0] > 0).astype(int)]
    print(m.Node(a[2]).upload(load(a[0], a[1]), x, y, task="classification"))
`;

function runTool(file, args, env = {}) {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, MORE_TOKEN: '', ...env }, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}
const cli = (args, passphrase = PASS) => runTool(cliBinary, args, { MORE_PASSPHRASE: passphrase });
const py = (...args) => runTool(python, ['-c', PY, ...args.map(String)]);
async function ok(p) {
  const r = await p;
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

let dir;
const fx = pageFixture({
  prepare: () => {
    for (const [what, file] of [['more-client (cargo build --release -p more-cli)', cliBinary], ['the Python venv (bash .ci/test-python.sh)', python]]) {
      if (!existsSync(file)) throw new Error(`${what} is missing: ${file}`);
    }
  },
  page: false,
  setUp: async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'more-clients-')); },
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Encrypts `values` (shape `shape`) in the page's Worker; the wire bytes as a Buffer. */
async function pageEncrypt(page, values, shape) {
  const hex = await page.evaluate(async ([values, shape]) => {
    const { call } = await import('/client.js');
    const out = await call('encrypt', { data: new Float32Array(values), shape });
    return Array.from(out, (b) => b.toString(16).padStart(2, '0')).join('');
  }, [values, shape]);
  return Buffer.from(hex, 'hex');
}

/** Decrypts wire bytes in the page's Worker: {shape, data} or {error}. */
function pageDecrypt(page, bytes) {
  return page.evaluate(async (hex) => {
    const { call } = await import('/client.js');
    const b = new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)));
    try {
      const t = await call('decrypt', { bytes: b });
      return { shape: t.shape, data: Array.from(t.data) };
    } catch (err) {
      return { error: String(err.message ?? err) };
    }
  }, bytes.toString('hex'));
}

/** A job's encrypted losses from the node, decrypted in the page's Worker: {values} or {error}. */
function pageLosses(page, job) {
  return page.evaluate(async (job) => {
    const { call } = await import('/client.js');
    const { api } = await import('/api.js');
    try {
      return { values: Array.from(await call('decryptLosses', { bytes: await api.losses(job) })) };
    } catch (err) {
      return { error: String(err.message ?? err) };
    }
  }, job);
}

/** Imports a key file through the page's key-import control; resolves when the page shows `fingerprint`. */
async function importKey(page, file, passphrase, fingerprint) {
  await page.setInputFiles('#key-import', { name: path.basename(file), mimeType: 'application/octet-stream', buffer: await readFile(file) });
  await answerPassphrase(page, passphrase);
  await page.waitForFunction((fp) => document.querySelector('#fingerprint').textContent === fp
    || document.querySelector('#key-error').textContent.length > 0, fingerprint);
  const error = await page.textContent('#key-error');
  await page.evaluate(() => { document.querySelector('#key-error').textContent = ''; });
  return error;
}

function assertClose(got, want) {
  assert.equal(got.length, want.length);
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i])), `[${i}] ${v} vs ${want[i]}`));
}

test('a key file exported by the page: Python and the CLI read it; ciphertexts go both ways; a wrong passphrase or another key fails', { timeout: 120_000 }, async () => {
  const page = await openPage(fx.browser, fx.node.url, { testPackage: false });
  const fingerprint = await generateKey(page);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#key-export').then(() => answerPassphrase(page, PASS))]);
  const keyFile = path.join(dir, 'page.morekey');
  await writeFile(keyFile, await readFile(await download.path()));

  assert.equal((await ok(cli(['key', 'fingerprint', '--key', keyFile]))).trim(), fingerprint);
  assert.equal((await ok(py('fingerprint', keyFile, PASS))).trim(), fingerprint);
  // A wrong passphrase is refused by both.
  assert.equal((await cli(['key', 'fingerprint', '--key', keyFile], 'wrong passphrase')).code, 4);
  assert.equal((await py('fingerprint', keyFile, 'wrong passphrase')).code, 3);

  // Python encrypts under the page's key, the page decrypts.
  const values = [0, 0.25, -1.5, 3, 1e3, -7.125];
  const pyCt = path.join(dir, 'py.ct');
  await ok(py('encrypt', keyFile, PASS, pyCt, JSON.stringify(values), '[2, 3]'));
  const inPage = await pageDecrypt(page, await readFile(pyCt));
  assert.deepEqual(inPage.shape, [2, 3], JSON.stringify(inPage));
  assertClose(inPage.data, values);

  // The page encrypts, Python decrypts with the exported key file.
  const pageValues = [4, -0.5, 2.75, 9, -100, 0.001, 12, 13];
  const pageCt = path.join(dir, 'page.ct');
  await writeFile(pageCt, await pageEncrypt(page, pageValues, [4, 2]));
  const inPy = JSON.parse(await ok(py('decrypt', keyFile, PASS, pageCt)));
  assert.deepEqual(inPy.shape, [4, 2]);
  assertClose(inPy.data, pageValues);

  // Another key: Python refuses the page's ciphertext, the page refuses (or cannot read) Python's.
  const otherFile = path.join(dir, 'other.morekey');
  await ok(py('newkey', otherFile, PASS));
  const refused = await py('decrypt', otherFile, PASS, pageCt);
  assert.equal(refused.code, 8, refused.stderr);
  const otherCt = path.join(dir, 'other.ct');
  await ok(py('encrypt', otherFile, PASS, otherCt, JSON.stringify(values), '[2, 3]'));
  const wrong = await pageDecrypt(page, await readFile(otherCt));
  assert.ok(wrong.error, `the page decrypted another key's ciphertext: ${JSON.stringify(wrong)}`);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('key files made by Python and the CLI import into the page, which decrypts Python\'s ciphertext; a wrong passphrase does not', { timeout: 120_000 }, async () => {
  const page = await openPage(fx.browser, fx.node.url, { testPackage: false });
  const pyKey = path.join(dir, 'python.morekey');
  const pyFingerprint = (await ok(py('newkey', pyKey, PASS))).trim();
  const cliKey = path.join(dir, 'cli.morekey');
  const cliFingerprint = (await ok(cli(['key', 'new', '--out', cliKey]))).trim();
  assert.notEqual(pyFingerprint, cliFingerprint);

  assert.match(await importKey(page, cliKey, 'wrong passphrase', cliFingerprint), /^Import of cli\.morekey failed/);
  assert.notEqual(await page.textContent('#fingerprint'), cliFingerprint);
  assert.equal(await importKey(page, cliKey, PASS, cliFingerprint), '');
  assert.equal(await page.textContent('#fingerprint'), cliFingerprint);

  assert.equal(await importKey(page, pyKey, PASS, pyFingerprint), '');
  assert.equal(await page.textContent('#fingerprint'), pyFingerprint);
  const values = [1, 2, 3, -4.5, 0.0625, 6e-3];
  const ct = path.join(dir, 'python-key.ct');
  await ok(py('encrypt', pyKey, PASS, ct, JSON.stringify(values), '[3, 2]'));
  const got = await pageDecrypt(page, await readFile(ct));
  assert.deepEqual(got.shape, [3, 2], JSON.stringify(got));
  assertClose(got.data, values);

  // Back to the CLI's key: Python's ciphertext (under the Python key) is refused.
  assert.equal(await importKey(page, cliKey, PASS, cliFingerprint), '');
  assert.ok((await pageDecrypt(page, await readFile(ct))).error, 'decrypted under another key');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

function table() {
  let csv = 'age,bp,bmi,outcome\n';
  let s = 11;
  const rnd = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
  for (let i = 0; i < 80; i++) {
    const age = 30 + Math.floor(rnd() * 50), bp = 100 + Math.floor(rnd() * 70), bmi = 18 + rnd() * 17;
    csv += `${age},${bp},${bmi.toFixed(1)},${age / 80 + bp / 170 > 1.6 ? 'sick' : 'well'}\n`;
  }
  return csv;
}

test('datasets uploaded by the CLI and by Python, trained by the CLI, show in the page\'s "your work" panel under the same key, not under another', { timeout: 180_000 }, async (t) => {
  const keyFile = path.join(dir, 'work.morekey');
  const fingerprint = (await ok(cli(['key', 'new', '--out', keyFile]))).trim();
  const csvFile = path.join(dir, 'patients.csv');
  await writeFile(csvFile, table());
  const cliDataset = (await ok(cli(['upload', '--key', keyFile, '--node', fx.node.url, '--csv', csvFile, '--target', 'outcome']))).trim();
  const pyDataset = (await ok(py('upload', keyFile, PASS, fx.node.url))).trim();
  const out = await ok(cli(['train', '--node', fx.node.url, '--dataset', cliDataset, '--epochs', '2', '--batch', '8', '--key', keyFile]));
  const field = (name) => out.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1];
  const [model, job] = [field('model'), field('job')];
  assert.equal(field('state'), 'completed', out);
  const cliLosses = out.split('\n').find((l) => l.startsWith('losses '))?.split(' ').slice(1).map(Number);
  assert.equal(cliLosses?.length, 2, out);
  t.diagnostic(`CLI dataset ${cliDataset}, Python dataset ${pyDataset}, model ${model}, job ${job}`);

  // Another key's page sees none of it, and cannot decrypt the job's losses.
  const other = await openPage(fx.browser, fx.node.url, { testPackage: false });
  await generateKey(other);
  await other.click('#work-refresh');
  await other.waitForFunction(() => document.querySelectorAll('#work table').length === 3);
  assert.deepEqual(await pageState(other, (s) => s.work), { datasets: [], models: [], jobs: [] });
  assert.ok((await pageLosses(other, job)).error, 'another key decrypted the losses');
  await other.context().close();

  const page = await openPage(fx.browser, fx.node.url, { testPackage: false });
  assert.equal(await importKey(page, keyFile, PASS, fingerprint), '');
  await page.click('#work-refresh');
  await page.waitForFunction(() => document.querySelectorAll('#work table').length === 3);
  const work = await pageState(page, (s) => s.work);
  t.diagnostic(JSON.stringify(work));
  assert.deepEqual([...work.datasets].sort(), [cliDataset, pyDataset].sort());
  assert.deepEqual(work.models, [model]);
  assert.deepEqual(work.jobs, [[job, 'completed']]);
  const modelRow = await page.$$eval('#work table:nth-of-type(2) tbody tr', (trs) => trs.map((tr) => tr.cells[2].textContent));
  assert.deepEqual(modelRow, ['2'], 'the model trained 2 epochs');
  const jobRow = await page.$$eval('#work table:nth-of-type(3) tbody tr', (trs) => trs.map((tr) => ['state', 'epoch']
    .map((column) => tr.querySelector(`td[data-label=${column}]`).textContent)));
  assert.deepEqual(jobRow, [['completed', '2/2']]);
  assert.equal(await page.textContent('#work-error'), '');
  // The page decrypts the losses the node computed on the CLI's encrypted data: the CLI's values.
  const losses = await pageLosses(page, job);
  assert.ok(losses.values, JSON.stringify(losses));
  losses.values.forEach((v, i) => assert.ok(Math.abs(v - cliLosses[i]) <= 1e-5 * Math.max(1, Math.abs(v)), `${losses.values} vs ${cliLosses}`));
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a DICOM folder: the CLI\'s pixels are the page\'s (decode, centre crop, area resize) and the same split', { timeout: 180_000 }, async (t) => {
  const realDir = path.join(repoRoot, 'target/dicom-test-files');
  const names = ['CT_small.dcm', 'MR_small.dcm', 'MR_small_RLE.dcm', 'SC_rgb_rle_2frame.dcm', 'MR_small_jp2klossless.dcm'];
  for (const n of names) {
    if (!existsSync(path.join(realDir, n))) throw new Error(`missing ${n}: run bash .ci/fetch-dicom-test-files.sh`);
  }
  // Ten files (copies under other names), two classes; the JPEG 2000 file is skipped by both.
  const folder = path.join(dir, 'dicom');
  await import('node:fs/promises').then((fs) => fs.mkdir(folder, { recursive: true }));
  const files = [];
  const rows = ['filename,label'];
  for (let i = 0; i < 10; i++) {
    const src = names[i % names.length];
    const name = `${i}_${src}`;
    const buffer = await readFile(path.join(realDir, src));
    await writeFile(path.join(folder, name), buffer);
    files.push({ name, mimeType: 'application/dicom', buffer });
    rows.push(`${name},${i % 3 === 0 ? 'left' : 'right'}`);
  }
  const labels = path.join(dir, 'dicom-labels.csv');
  await writeFile(labels, rows.join('\n'));
  files.push({ name: 'labels.csv', mimeType: 'text/csv', buffer: Buffer.from(rows.join('\n')) });

  const keyFile = path.join(dir, 'dicom.morekey');
  await ok(cli(['key', 'new', '--out', keyFile]));
  const testCsv = path.join(dir, 'dicom-test.csv');
  const up = await cli(['upload', '--key', keyFile, '--node', fx.node.url, '--images', folder, '--labels', labels, '--size', '28', '--test-out', testCsv]);
  assert.equal(up.code, 0, up.stderr);
  t.diagnostic(up.stderr.trim());
  assert.match(up.stderr, /note: Skipped \d_MR_small_jp2klossless\.dcm/);
  const [header, ...lines] = (await readFile(testCsv, 'utf8')).trim().split('\n');
  const cols = header.split(',');
  const xCols = cols.filter((c) => !c.startsWith('target:')).length;
  assert.equal(xCols, 28 * 28);
  assert.deepEqual(cols.slice(xCols), ['target:left', 'target:right']);
  const cliX = lines.flatMap((l) => l.split(',').slice(0, xCols).map(Number));
  const cliY = lines.map((l) => l.split(',').slice(xCols).map(Number).indexOf(1));

  const page = await openPage(fx.browser, fx.node.url, { testPackage: false });
  await generateKey(page);
  await page.selectOption('#dicom-size', '28');
  await page.setInputFiles('#data-dicom', files);
  await page.waitForFunction(() => /Not uploaded yet/.test(document.querySelector('#data-summary').textContent)
    || document.querySelector('#data-error').textContent, null, { timeout: 60_000 });
  assert.equal(await page.textContent('#data-error'), '');
  const test = await pageState(page, (s) => ({ x: Array.from(s.data.test.x), labels: Array.from(s.data.test.labels), rows: s.data.test.rows,
    names: s.data.test.sampleNames, classes: s.data.test.classNames, trainRows: s.data.train.rows }));
  t.diagnostic(`page: ${test.trainRows} training samples, test ${JSON.stringify(test.names)}`);
  assert.deepEqual(test.classes, ['left', 'right']);
  assert.equal(lines.length, test.rows, 'the same test samples');
  assert.deepEqual(cliY, test.labels);
  assert.equal(cliX.length, test.x.length);
  let worst = 0;
  cliX.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - test.x[i])); });
  t.diagnostic(`largest pixel difference CLI vs page: ${worst}`);
  assert.ok(worst <= 1e-6, `largest pixel difference ${worst}`);
  assert.ok(test.x.some((v) => v > 0.1) && test.x.some((v) => v < 0.9), 'real images, not blank');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});


test('a PNG/JPEG folder: the CLI\'s pixels are the page\'s (decode, grey, centre crop, area resize) and the same split', { timeout: 180_000 }, async (t) => {
  const page = await openPage(fx.browser, fx.node.url, { testPackage: false });
  await generateKey(page);
  const keyFile = path.join(dir, 'images.morekey');
  await ok(cli(['key', 'new', '--out', keyFile]));
  // PNG: lossless, so both sides decode the same bytes: equal to f32 rounding (measured 3e-8).
  // JPEG: the browser's decoder and the image crate's round the inverse DCT and the chroma
  // upsampling differently: measured 2.0e-3 (half a level of 255) after the area resize; 1/255
  // allows twice that. The native loader before this change (whole image, triangle filter, the
  // page resizing with its canvas) was 0.61 off on the PNGs and failed.
  for (const [type, ext, tol] of [['image/png', 'png', 1e-6], ['image/jpeg', 'jpg', 1 / 255]]) {
    const folder = path.join(dir, `images-${ext}`);
    await import('node:fs/promises').then((fs) => fs.mkdir(folder, { recursive: true }));
    // Landscape, portrait and square, none 28×28: the crop and the resize both matter.
    const images = await canvasImages(page, type, 10, [[40, 30], [33, 47], [56, 56], [29, 64]]);
    const rows = ['filename,label'];
    const files = [];
    for (const [i, buffer] of images.entries()) {
      const name = `img${i}.${ext}`;
      await writeFile(path.join(folder, name), buffer);
      files.push({ name, mimeType: type, buffer });
      rows.push(`${name},${i % 2 ? 'bright' : 'dark'}`);
    }
    const labels = path.join(dir, `labels-${ext}.csv`);
    await writeFile(labels, rows.join('\n'));
    files.push({ name: 'labels.csv', mimeType: 'text/csv', buffer: Buffer.from(rows.join('\n')) });
    const testCsv = path.join(dir, `images-${ext}-test.csv`);
    const up = await cli(['upload', '--key', keyFile, '--node', fx.node.url, '--images', folder, '--labels', labels, '--size', '28', '--test-out', testCsv]);
    assert.equal(up.code, 0, up.stderr);
    const [header, ...lines] = (await readFile(testCsv, 'utf8')).trim().split('\n');
    const xCols = header.split(',').filter((c) => !c.startsWith('target:')).length;
    assert.equal(xCols, 28 * 28);
    const cliX = lines.flatMap((l) => l.split(',').slice(0, xCols).map(Number));
    const cliY = lines.map((l) => l.split(',').slice(xCols).map(Number).indexOf(1));

    await page.setInputFiles('#data-images', files);
    await page.waitForFunction(() => /Not uploaded yet/.test(document.querySelector('#data-summary').textContent)
      || document.querySelector('#data-error').textContent, null, { timeout: 60_000 });
    assert.equal(await page.textContent('#data-error'), '');
    const part = await pageState(page, (s) => ({ x: Array.from(s.data.test.x), labels: Array.from(s.data.test.labels), rows: s.data.test.rows }));
    assert.equal(lines.length, part.rows, 'the same test images');
    assert.deepEqual(cliY, part.labels);
    assert.equal(cliX.length, part.x.length);
    let worst = 0;
    cliX.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - part.x[i])); });
    t.diagnostic(`${ext}: largest pixel difference CLI vs page ${worst.toExponential(2)} (tolerance ${tol.toExponential(2)})`);
    assert.ok(worst <= tol, `${ext}: largest pixel difference ${worst}`);
    assert.ok(part.x.some((v) => v > 0.5) && part.x.some((v) => v < 0.3), 'real images, not blank');
  }
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
