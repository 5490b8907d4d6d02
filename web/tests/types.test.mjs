// The page's JSDoc types and lint (issue #29: "a `state` whose declared shape is not the one
// used"): `tsc -p web` (checkJs) and `oxlint web` pass on the page, and both fail on a copy of the
// page with planted faults — a state field that PageState does not declare, a control used as the
// wrong type, a possibly-null value used (strictNullChecks), a parameter without a type
// (noImplicitAny), an undeclared global, an unused variable — so the checks can fail. About 10 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './helpers.mjs';

const run = promisify(execFile);
const web = path.join(repoRoot, 'web');
const bin = (name) => path.join(web, 'node_modules/.bin', name);

/** Runs tsc and oxlint in `dir` (a page directory): their exit codes and output. */
async function check(dir) {
  const one = async (cmd, args) => {
    try {
      await run(bin(cmd), args, { cwd: dir });
      return { code: 0, out: '' };
    } catch (err) {
      return { code: err.code, out: `${err.stdout}${err.stderr}` };
    }
  };
  return { tsc: await one('tsc', ['-p', '.']), lint: await one('oxlint', ['--deny-warnings', '.']) };
}

test('the page passes tsc (checkJs) and oxlint', { timeout: 60_000 }, async () => {
  const { tsc, lint } = await check(web);
  assert.equal(tsc.code, 0, tsc.out);
  assert.equal(lint.code, 0, lint.out);
});

test('planted faults fail tsc and oxlint (the checks can fail)', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'more-types-'));
  try {
    await cp(web, dir, { recursive: true, filter: (src) => !/node_modules|[/\\]tests([/\\]|$)/.test(path.relative(web, src)) });
    await symlink(path.join(web, 'node_modules'), path.join(dir, 'node_modules'));
    const work = path.join(dir, 'work.js');
    await writeFile(work, `${await readFile(work, 'utf8')}
export function planted() {
  state.notDeclared = 1; // not a field of PageState
  $('work').value.toFixed(2); // a control's value is a string
  state.data.train.rows.toFixed(0); // no data before a file is read: state.data may be null
  const unused = 2;
  return undeclaredGlobal;
}
export const untyped = (rows) => rows; // no JSDoc type: implicitly any
`);
    const { tsc, lint } = await check(dir);
    assert.notEqual(tsc.code, 0, 'tsc fails on the planted faults');
    assert.match(tsc.out, /work\.js.*Property 'notDeclared' does not exist on type 'PageState'/);
    assert.match(tsc.out, /work\.js.*Property 'toFixed' does not exist on type 'string'/);
    assert.match(tsc.out, /work\.js.*'state\.data' is possibly 'null'/);
    assert.match(tsc.out, /work\.js.*Parameter 'rows' implicitly has an 'any' type/);
    assert.notEqual(lint.code, 0, 'oxlint fails on the planted faults');
    assert.match(lint.out, /no-unused-vars\): Variable 'unused' is declared but never used/);
    assert.match(lint.out, /no-undef\): 'undeclaredGlobal' is not defined/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
