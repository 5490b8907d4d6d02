// Every npm package installed for the page and its tests (web/node_modules, nested copies
// included) is under a licence on the project's list: MIT, Apache-2.0, BSD-2-Clause,
// BSD-3-Clause, ISC or Zlib (the house rules, as compute-node/tests/licences.rs checks the Rust
// packages). A planted package under another licence shows the check can fail. Under a second.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './helpers.mjs';

const ALLOWED = new Set(['MIT', 'Apache-2.0', 'BSD-2-Clause', 'BSD-3-Clause', 'ISC', 'Zlib']);

/** Whether an SPDX expression is satisfied by the list: any side of an OR, every side of an AND. */
function allowed(expression) {
  const e = expression.trim().replace(/^\((.*)\)$/, '$1');
  if (/ OR /.test(e)) return e.split(/ OR /).some(allowed);
  if (/ AND /.test(e)) return e.split(/ AND /).every(allowed);
  return ALLOWED.has(e);
}

/** `[name@version, licence]` of every package under `modules`, nested node_modules included. */
function packages(modules) {
  const found = [];
  if (!existsSync(modules)) return found;
  for (const entry of readdirSync(modules)) {
    if (entry.startsWith('.')) continue;
    const dir = path.join(modules, entry);
    if (entry.startsWith('@')) {
      found.push(...packages(dir));
      continue;
    }
    const manifest = path.join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
    const licence = typeof pkg.license === 'string' ? pkg.license : JSON.stringify(pkg.license ?? pkg.licenses ?? null);
    found.push([`${pkg.name}@${pkg.version}`, licence]);
    found.push(...packages(path.join(dir, 'node_modules')));
  }
  return found;
}

const refused = (modules) => packages(modules).filter(([, licence]) => !allowed(licence));

test('the licence expression checker', () => {
  assert.ok(allowed('MIT'));
  assert.ok(allowed('(MIT OR Apache-2.0)'));
  assert.ok(allowed('MIT OR GPL-3.0-only'));
  assert.ok(!allowed('MIT AND GPL-3.0-only'));
  assert.ok(!allowed('Python-2.0'));
  assert.ok(!allowed('null'));
});

test("every npm package of web/ is under a licence on the project's list", () => {
  const modules = path.join(repoRoot, 'web/node_modules');
  assert.ok(packages(modules).length > 0, 'web/node_modules is installed (npm ci --prefix web)');
  assert.deepEqual(refused(modules), []);
});

test('a planted package under another licence is caught (the check can fail)', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'more-npm-licences-'));
  try {
    const planted = path.join(dir, 'node_modules/argparse');
    await mkdir(planted, { recursive: true });
    await writeFile(path.join(planted, 'package.json'), JSON.stringify({ name: 'argparse', version: '2.0.1', license: 'Python-2.0' }));
    assert.deepEqual(refused(path.join(dir, 'node_modules')), [['argparse@2.0.1', 'Python-2.0']]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
