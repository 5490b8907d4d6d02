// The release wasm package (web/pkg, what the page loads) has no raw key export; the test package
// (target/web-pkg-test, cargo feature `test-export`, outside web/ so the node never serves it) has
// it, so this check can fail. The page reads no URL parameters but the standard ones of an OIDC
// sign-in's return (code, state, error), so no URL can switch anything on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from './helpers.mjs';

const web = path.join(repoRoot, 'web');
const EXPORT = 'export_raw_for_tests';
/** The parameters an identity provider sends the page back with (authorization code flow). */
const OIDC_RETURN = new Set(['code', 'state', 'error', 'error_description']);

async function packageFiles(dir) {
  const names = await readdir(path.join(repoRoot, dir));
  return Promise.all(names.filter((n) => /\.(js|wasm|d\.ts)$/.test(n))
    .map(async (n) => ({ name: `${dir}/${n}`, bytes: await readFile(path.join(repoRoot, dir, n)) })));
}

test('web/pkg (release) does not contain the raw key export', async () => {
  const files = await packageFiles('web/pkg');
  const names = files.map((f) => f.name);
  for (const f of ['web/pkg/more_wasm.js', 'web/pkg/more_wasm_bg.wasm']) assert.ok(names.includes(f), `${f} built`);
  assert.deepEqual(files.filter((f) => f.bytes.includes(EXPORT)).map((f) => f.name), []);
});

test('target/web-pkg-test (test build) contains it, so the check above can fail', async () => {
  const files = await packageFiles('target/web-pkg-test');
  const found = files.filter((f) => f.bytes.includes(EXPORT)).map((f) => f.name);
  assert.ok(found.includes('target/web-pkg-test/more_wasm.js') && found.includes('target/web-pkg-test/more_wasm_bg.wasm'), found.join(', '));
});

test('the page reads no URL parameters and loads only the release package; the node serves no test build', async () => {
  await assert.rejects(readdir(path.join(web, 'pkg-test')), 'web/pkg-test must not exist: the node serves all of web/');
  const names = (await readdir(web)).filter((n) => /\.(js|html)$/.test(n));
  for (const n of names) {
    const src = await readFile(path.join(web, n), 'utf8');
    assert.doesNotMatch(src, /[?&]test=|pkg-test|__moreTest/, n);
    if (n === 'signin.js') {
      // The return of the OIDC authorization code flow (RFC 6749 4.1.2): its parameters only.
      const read = [...src.matchAll(/params\.(?:get|has)\('([^']+)'\)/g)].map((m) => m[1]);
      assert.ok(read.includes('code') && read.includes('state'), 'signin.js reads the OIDC return');
      assert.deepEqual(read.filter((p) => !OIDC_RETURN.has(p)), [], 'signin.js reads other URL parameters');
      continue;
    }
    assert.doesNotMatch(src, /location\.(search|hash|href)|URLSearchParams/, n);
  }
  assert.match(await readFile(path.join(web, 'worker.js'), 'utf8'), /from '\.\/pkg\/more_wasm\.js'/);
});
