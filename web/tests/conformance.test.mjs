// The conformance suite (issue #28, "Must show"): the same files through the page (headless
// Chromium, the real file inputs), the command line (`more-client data inspect`), Python
// (`more_client.read_data`, the arrays a user gets) and the lab (`more-node data inspect`) must
// give the description the data owner's library computes (`more_data_owner::describe`, kept in
// shared/data-owner/tests/conformance/expected/, checked against the library by
// `cargo test -p more-data-owner --test conformance`): the same task, shapes, class names and notes,
// and bit-identical tensors (SHA-256 of the training and test features and targets as f32
// little-endian bytes). Each client computes its description from what it holds: the page from
// the Float32Arrays it would encrypt (crypto.subtle) and the notes it shows, Python from its numpy
// arrays (hashlib). Fixtures: shared/data-owner/tests/conformance/README.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { nodeBinary, openPage, pageFixture, pageState, repoRoot } from './helpers.mjs';

const dir = path.join(repoRoot, 'shared/data-owner/tests/conformance');
const cliBinary = process.env.MORE_CLIENT_BIN ?? path.join(repoRoot, 'target/release/more-client');
const python = process.env.MORE_PYTHON ?? path.join(repoRoot, 'target/pyenv/bin/python');
const fixtures = JSON.parse(await readFile(path.join(dir, 'fixtures.json'), 'utf8'));
const expected = async (name) => JSON.parse(await readFile(path.join(dir, 'expected', `${name}.json`), 'utf8'));

// Python: more_client.read_data with the fixture's options; the description from its arrays.
const PY = String.raw`
import hashlib, json, sys
import numpy as np
import more_client as m
f = json.loads(sys.argv[1])
d = m.read_data(**f)
h = lambda a: hashlib.sha256(np.ascontiguousarray(a, dtype="<f4").tobytes()).hexdigest()
print(json.dumps({
    "task": d["task"], "feature_shape": list(d["x_train"].shape[1:]), "target_dim": d["y_train"].shape[1],
    "train_rows": d["x_train"].shape[0], "test_rows": d["x_test"].shape[0], "class_names": d["class_names"],
    "notes": d["notes"], "train_x_sha256": h(d["x_train"]), "train_y_sha256": h(d["y_train"]),
    "test_x_sha256": h(d["x_test"]), "test_y_sha256": h(d["y_test"]),
}))
`;

function run(file, args) {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: repoRoot, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

async function json(p) {
  const r = await p;
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** The command-line flags of a fixture (`more-client data inspect`, `more-node data inspect`). */
function flags(f) {
  const at = (p) => path.join(dir, p);
  if (f.csv) return ['--csv', at(f.csv), '--target', f.target.join(','), '--task', f.task ?? 'auto'];
  if (f.idx) return ['--idx', ...f.idx.map(at), '--max-samples', String(f.max_samples ?? 2000)];
  return ['--images', at(f.images), '--labels', at(f.labels), '--size', String(f.size ?? 28)];
}

/** Python's keyword arguments for a fixture. */
function pyArgs(f) {
  const at = (p) => path.join(dir, p);
  if (f.csv) return { csv: at(f.csv), target: f.target, task: f.task ?? 'auto' };
  if (f.idx) return { idx: f.idx.map(at), max_samples: f.max_samples ?? 2000 };
  return { images: at(f.images), labels: at(f.labels), size: f.size ?? 28 };
}

/** The files of a fixture as Playwright file payloads. */
async function payloads(paths) {
  return Promise.all(paths.map(async (p) => ({ name: path.basename(p), mimeType: 'application/octet-stream', buffer: await readFile(p) })));
}

/** Opens a fixture through the page's file inputs; resolves when the page has read it. */
async function pageOpen(page, f) {
  await page.evaluate(() => { document.querySelector('#data-summary').textContent = ''; });
  if (f.csv) {
    await page.fill('#csv-targets', f.target.join(','));
    await page.selectOption('#csv-task', f.task ?? 'auto');
    await page.setInputFiles('#data-csv', await payloads([path.join(dir, f.csv)]));
    await page.waitForFunction(() => /rows, columns/.test(document.querySelector('#data-summary').textContent)
      || document.querySelector('#data-error').textContent);
    await page.click('#csv-load');
  } else if (f.idx) {
    await page.fill('#idx-max', String(f.max_samples ?? 2000));
    await page.setInputFiles('#data-idx', await payloads(f.idx.map((p) => path.join(dir, p))));
  } else {
    const folder = path.join(dir, f.images);
    const files = await payloads((await readdir(folder)).sort().map((n) => path.join(folder, n)));
    const size = String(f.size ?? 28);
    if (size === '28' && !files.some((x) => x.name.endsWith('.dcm'))) {
      await page.setInputFiles('#data-images', files); // the image input reads at 28×28
    } else {
      await page.selectOption('#dicom-size', size);
      await page.setInputFiles('#data-dicom', files);
    }
  }
  await page.waitForFunction(() => /Not uploaded yet/.test(document.querySelector('#data-summary').textContent)
    || document.querySelector('#data-error').textContent, null, { timeout: 30_000 });
  assert.equal(await page.textContent('#data-error'), '', `${f.name}: the page refused the data`);
}

/** The page's description of what it holds (the tensors it would encrypt, the notes it shows). */
async function pageDescription(page) {
  const notes = await page.$$eval('#data-notes li', (lis) => lis.map((li) => li.textContent));
  const d = await pageState(page, async (s) => {
    const hex = async (a) => Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256',
      new Uint8Array(a.buffer, a.byteOffset, a.byteLength))), (b) => b.toString(16).padStart(2, '0')).join('');
    const { train, test } = s.data;
    return { task: train.task, feature_shape: Array.from(train.featureShape), target_dim: train.targetDim,
      train_rows: train.rows, test_rows: test.rows, class_names: train.classNames ? Array.from(train.classNames) : null,
      train_x_sha256: await hex(train.x), train_y_sha256: await hex(train.y), test_x_sha256: await hex(test.x),
      test_y_sha256: await hex(test.y) };
  });
  return { ...d, notes };
}

const fx = pageFixture({
  prepare: () => {
    for (const [what, file] of [['more-client (cargo build --release -p more-cli)', cliBinary], ['the Python venv (bash .ci/test-python.sh)', python],
      ['more-node (cargo build --release -p more-node)', nodeBinary]]) {
      if (!existsSync(file)) throw new Error(`${what} is missing: ${file}`);
    }
  },
  page: false,
});

test('every fixture gives the library\'s description in the page, the CLI, Python and the lab', { timeout: 120_000 }, async (t) => {
  const page = await openPage(fx.browser, fx.node.url, { testPackage: false });
  const wrong = [];
  for (const f of fixtures) {
    const want = await expected(f.name);
    await pageOpen(page, f);
    const got = {
      page: await pageDescription(page),
      cli: await json(run(cliBinary, ['data', 'inspect', ...flags(f)])),
      python: await json(run(python, ['-c', PY, JSON.stringify(pyArgs(f))])),
      lab: await json(run(nodeBinary, ['data', 'inspect', ...flags(f)])),
    };
    for (const [client, d] of Object.entries(got)) {
      try {
        assert.deepStrictEqual(d, want);
      } catch (e) {
        wrong.push(`${f.name} through ${client}:\n${e.message}`);
      }
    }
    t.diagnostic(`${f.name}: ${want.task}, ${want.train_rows}+${want.test_rows} × [${want.feature_shape}], ${want.notes.length} notes`);
  }
  assert.deepEqual(page.errors, []);
  await page.context().close();
  assert.equal(wrong.length, 0, wrong.join('\n\n'));
});
