// A recording HTTP proxy for the browser tests whose requests are too large for Playwright's
// capture (secure mode uploads ~150 MB of ciphertexts in one POST: carried through the DevTools
// protocol, that body exceeds V8's largest string and breaks the browser connection).
//
// The page is opened at the proxy's address; the proxy keeps every request the page and its
// Worker send (URL, method, headers, whole body: the bytes on the wire) and forwards it to the
// node, with Host and Origin rewritten to the node's (the node refuses a foreign origin), and the
// answer streamed back unchanged (the node's Content-Security-Policy included). Requests for
// /pkg/* are answered from `pkgDir` (the test build of the wasm client, as helpers.mjs openPage's
// routing does), so Playwright needs no request interception. Listens on 127.0.0.1 only.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';

/** Starts the proxy in front of `target` (`http://127.0.0.1:PORT`): { url, requests, close() }. */
export async function startRecordingProxy(target, { pkgDir } = {}) {
  const node = new URL(target);
  const requests = [];
  // Long URLs are recorded too (the node refuses them after the record): 4 MiB of header room.
  const server = http.createServer({ maxHeaderSize: 4 << 20 }, async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    requests.push({ url: `http://${req.headers.host}${req.url}`, method: req.method, headers: { ...req.headers }, body });
    const pathname = new URL(req.url, 'http://x').pathname;
    if (pkgDir && pathname.startsWith('/pkg/')) return servePkg(pkgDir, pathname, res);
    const headers = { ...req.headers, host: node.host };
    if (headers.origin) headers.origin = node.origin;
    if (headers.referer) headers.referer = headers.referer.replace(/^http:\/\/[^/]+/, node.origin);
    const up = http.request({ host: node.hostname, port: node.port, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    up.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
    up.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    requests,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}

async function servePkg(dir, pathname, res) {
  const file = path.join(dir, path.basename(pathname));
  try {
    await stat(file);
  } catch {
    res.writeHead(404);
    return res.end();
  }
  res.writeHead(200, { 'content-type': file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' });
  createReadStream(file).pipe(res);
}
