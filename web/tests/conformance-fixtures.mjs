// Writes the conformance suite's input files into shared/data-owner/tests/conformance/ (committed;
// run again only to change them, then regenerate the expected descriptions with
// `MORE_CONFORMANCE=write cargo test -p more-data-owner --test conformance`):
//   node web/tests/conformance-fixtures.mjs [path/to/angio-dicom-folder]
// Tables are made here (a seeded generator); PNG and JPEG images are encoded by headless
// Chromium's canvas; the DICOM files are the synthetic angiograms of `more-node experiment angio
// --write-dicom DIR --images 6 --size 20 --seed 3` (the writer .ci/build-web-tests.sh's tests use).
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { canvasImages, launchBrowser, repoRoot } from './helpers.mjs';

const out = path.join(repoRoot, 'shared/data-owner/tests/conformance');

function rng(seed) {
  let s = seed;
  return () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
}

/** UTF-8, commas: a category column, blanks and NA markers, a text cell in a numeric column, text labels. */
function tableMixed() {
  const r = rng(5);
  const lines = ['age,sex,smoker,bp,chol,outcome'];
  for (let i = 0; i < 60; i++) {
    const age = 30 + Math.floor(r() * 50);
    const sex = r() < 0.5 ? 'F' : 'M';
    const smoker = ['never', 'former', 'current'][Math.floor(r() * 3)];
    const bp = 100 + Math.floor(r() * 70);
    const chol = (3.5 + r() * 4).toFixed(2);
    const sick = age / 80 + bp / 170 + (smoker === 'current' ? 0.3 : 0) > 1.7;
    const cells = [age, sex, smoker, bp, chol, sick ? 'sick' : 'well'].map(String);
    if (i % 11 === 3) cells[3] = '';
    if (i % 13 === 5) cells[4] = 'NA';
    if (i % 17 === 7) cells[2] = '';
    if (i === 21) cells[3] = 'high';
    if (i === 40) cells[5] = '';
    lines.push(cells.join(','));
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf8');
}

/** Windows-1252 / Latin-1, semicolons, decimal commas, umlauts in header and categories; a
 * regression on a decimal-comma target. */
function tableLatin1() {
  const r = rng(9);
  const lines = ['Größe;Gewicht;Blutdruck;Ernährung;Körperfett'];
  for (let i = 0; i < 40; i++) {
    const h = 150 + r() * 45;
    const w = 45 + r() * 60;
    const bp = 95 + Math.floor(r() * 70);
    const diet = ['vegetarisch', 'gemischt', 'fleischlastig', 'süß'][Math.floor(r() * 4)];
    const fat = 10 + (w / (h / 100) ** 2) * 0.8 + r() * 4;
    const dec = (v, d) => v.toFixed(d).replace('.', ',');
    const cells = [dec(h, 1), dec(w, 1), String(bp), diet, dec(fat, 2)];
    if (i % 9 === 4) cells[1] = '';
    lines.push(cells.join(';'));
  }
  return Buffer.from(`${lines.join('\n')}\n`, 'latin1');
}

/** An IDX pair (7x7 images, labels 0-9), the images gzipped. */
function idx() {
  const r = rng(13);
  const n = 40, h = 7, w = 7;
  const images = Buffer.alloc(16 + n * h * w);
  images.writeUInt32BE(0x00000803, 0);
  images.writeUInt32BE(n, 4);
  images.writeUInt32BE(h, 8);
  images.writeUInt32BE(w, 12);
  for (let i = 16; i < images.length; i++) images[i] = Math.floor(r() * 256);
  const labels = Buffer.alloc(8 + n);
  labels.writeUInt32BE(0x00000801, 0);
  labels.writeUInt32BE(n, 4);
  for (let i = 0; i < n; i++) labels[8 + i] = i % 10;
  return { images: gzipSync(images, { level: 9 }), labels };
}


async function main() {
  const dicomDir = process.argv[2] ?? '/tmp/c-angio';
  for (const d of ['table-mixed', 'table-latin1', 'idx', 'images', 'dicom-mixed', 'expected']) {
    await mkdir(path.join(out, d), { recursive: true });
  }
  await writeFile(path.join(out, 'table-mixed/patients.csv'), tableMixed());
  await writeFile(path.join(out, 'table-latin1/messwerte.csv'), tableLatin1());
  const { images, labels } = idx();
  await writeFile(path.join(out, 'idx/train-images-idx3-ubyte.gz'), images);
  await writeFile(path.join(out, 'idx/train-labels-idx1-ubyte'), labels);

  const browser = await launchBrowser();
  const page = await browser.newPage();
  const sizes = [[40, 30], [33, 47], [56, 56], [29, 64]];
  const png = await canvasImages(page, 'image/png', 6, sizes, 0);
  const jpg = await canvasImages(page, 'image/jpeg', 6, sizes, 5);
  const extra = await canvasImages(page, 'image/png', 4, [[24, 20], [20, 26]], 11);
  await browser.close();

  const rows = ['filename,label'];
  for (const [list, ext] of [[png, 'png'], [jpg, 'jpg']]) {
    for (const [i, b] of list.entries()) {
      const name = `${ext}${i}.${ext}`;
      await writeFile(path.join(out, 'images', name), b);
      rows.push(`${name},${i % 2 ? 'bright' : 'dark'}`);
    }
  }
  await writeFile(path.join(out, 'images/labels.csv'), `${rows.join('\n')}\n`);

  // DICOM files mixed with PNGs and a stray file that is no image; labels name DICOMs and PNGs.
  const mixed = ['filename,label'];
  const dicoms = (await readdir(dicomDir)).filter((n) => n.endsWith('.dcm')).sort();
  const dicomLabels = new Map((await import('node:fs')).readFileSync(path.join(dicomDir, 'labels.csv'), 'utf8')
    .trim().split('\n').slice(1).map((l) => l.split(',')));
  for (const n of dicoms) {
    await copyFile(path.join(dicomDir, n), path.join(out, 'dicom-mixed', n));
    mixed.push(`${n},${dicomLabels.get(n)}`);
  }
  for (const [i, b] of extra.entries()) {
    const name = `photo${i}.png`;
    await writeFile(path.join(out, 'dicom-mixed', name), b);
    mixed.push(`${name},${i % 2 ? 'RCA' : 'LCA'}`);
  }
  await writeFile(path.join(out, 'dicom-mixed/labels.csv'), `${mixed.join('\n')}\n`);
  await writeFile(path.join(out, 'dicom-mixed/README.txt'), 'Not an image: a stray file the readers must leave out.\n');
}

await main();
