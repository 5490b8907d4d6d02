// Shared by the browser tests: start the real compute node, launch headless Chromium.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const nodeBinary = process.env.MORE_NODE_BIN ?? path.join(repoRoot, 'target/release/more-node');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `more-node serve` on a free port with a temporary data dir; waits for /v1/health. */
export async function startNode() {
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'more-web-test-'));
  const proc = spawn(nodeBinary, ['serve', '--data-dir', dataDir, '--bind', `127.0.0.1:${port}`, '--web-dir', 'web'],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`more-node exited with ${proc.exitCode}:\n${log}`);
    try {
      const res = await fetch(`${url}/v1/health`);
      if (res.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) { proc.kill(); throw new Error(`more-node did not answer /v1/health:\n${log}`); }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    log: () => log,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Opens the page in test mode and waits until the worker is ready. Collects page errors. */
export async function openPage(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.goto(`${url}/?test=1`);
  await page.waitForSelector('body[data-ready="1"]');
  return page;
}
