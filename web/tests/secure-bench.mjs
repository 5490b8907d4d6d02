// Secure mode's page timings (issue #30 goal: a full MNIST batch encrypted in a Worker in <= 20 s,
// decrypted in <= 1 s), measured in headless Chromium through the page's own card. Not a test (a
// speed goal is never asserted in a timed test); run by hand after `bash .ci/build-web.sh && bash .ci/build-web-tests.sh`:
//
//   node web/tests/secure-bench.mjs [runs=2]
//
// Starts the node without sign-in (tenant `local` owns the model it publishes), loads 819 test
// digits per class of the bundled MNIST sample (8,190 images: one batch of 8,192 slots), and runs
// "Predict the test set securely" `runs` times: encryption (784 ciphertexts) and decryption (10)
// in the Worker, the node's evaluation, bytes each way. Prints one JSON line per run.
import { centroidModel } from './secure-model.mjs';
import { launchBrowser, openPage, startNode } from './helpers.mjs';

const runs = Number(process.argv[2] ?? 2);
const node = await startNode();
const browser = await launchBrowser();
try {
  const model = await centroidModel({ from: 820, to: 863 }); // digits the page's 820 per class do not use
  const res = await fetch(`${node.url}/v1/secure/models`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'MNIST centroids (bench)', model, grants: [] }) });
  if (res.status !== 201) throw new Error(`publish: ${res.status} ${await res.text()}`);
  const { id } = await res.json();
  const page = await openPage(browser, node.url);
  await page.fill('#sample-train', '1');
  await page.fill('#sample-test', '819');
  await page.click('#data-sample');
  await page.waitForFunction(() => document.querySelector('#data-summary').textContent.includes('8190 test samples'), null, { timeout: 120_000 });
  await page.click('#secure-refresh');
  await page.waitForSelector(`#secure-model option[value="${id}"]`, { state: "attached" });
  await page.selectOption('#secure-model', id);
  for (let r = 0; r < runs; r++) {
    const t0 = Date.now();
    await page.click('#secure-predict');
    await page.waitForFunction(() => document.querySelector('#secure-result').dataset.accuracy !== undefined
      || document.querySelector('#secure-error').textContent !== '', null, { timeout: 600_000 });
    const error = await page.textContent('#secure-error');
    if (error) throw new Error(error);
    const last = await page.evaluate(async () => {
      const { secureState: s } = await import('/secure.js');
      const { values, predictions, ...rest } = s.last;
      return { ...rest, keySeconds: s.key.seconds, evaluationKeyBytes: s.key.bytes };
    });
    console.log(JSON.stringify({ run: r + 1, wallSeconds: (Date.now() - t0) / 1000, ...last,
      uploadBytesPerImage: Math.round(last.uploadBytes / last.samples) }));
  }
} finally {
  await browser.close();
  await node.stop();
}
