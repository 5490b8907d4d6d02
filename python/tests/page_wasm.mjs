// The page's wasm client (web/pkg, the release package the page loads) driven from Node, for the
// Python interoperability test: the same SecretKey calls the page's Worker makes.
//   node page_wasm.mjs make DIR PASS     -> DIR/page.morekey, DIR/page.ct, DIR/page.json
//   node page_wasm.mjs decrypt DIR PASS  -> JSON of DIR/py.ct decrypted with DIR/page.morekey
//   node page_wasm.mjs fingerprint FILE PASS -> the fingerprint of a key file
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = process.env.MORE_WEB_PKG ?? path.join(root, 'web/pkg');
const { initSync, SecretKey } = await import(path.join(pkg, 'more_wasm.js'));
initSync({ module: readFileSync(path.join(pkg, 'more_wasm_bg.wasm')) });

const [cmd, where, pass] = process.argv.slice(2);
if (cmd === 'make') {
  const k = SecretKey.generate();
  writeFileSync(path.join(where, 'page.morekey'), k.export_wrapped(pass));
  const data = Float32Array.from({ length: 12 }, (_, i) => (i - 5.5) / 3);
  writeFileSync(path.join(where, 'page.ct'), k.encrypt(data, [3, 4], { kind: 'gaussian', std: 0.1 }));
  writeFileSync(path.join(where, 'page.json'), JSON.stringify({ fingerprint: k.fingerprint(), data: Array.from(data), shape: [3, 4] }));
} else if (cmd === 'decrypt') {
  const k = SecretKey.import_wrapped(readFileSync(path.join(where, 'page.morekey')), pass);
  const t = k.decrypt(readFileSync(path.join(where, 'py.ct')));
  console.log(JSON.stringify({ shape: Array.from(t.shape), data: Array.from(t.data) }));
} else if (cmd === 'fingerprint') {
  console.log(SecretKey.import_wrapped(readFileSync(where), pass).fingerprint());
} else {
  throw new Error(`unknown command ${cmd}`);
}
