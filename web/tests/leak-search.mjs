// The key-leak search of the browser tests: every encoding of the secret key a bug could put into a
// request (URL, headers, body), and a search of captured requests for them.
//
// The raw key export (`SecretKey.export_raw_for_tests`, test build only; `SecretKey::export_bytes`
// in more-client) is 56 bytes: the magic `MOREKEY1`/`MOREKEY2`, then six little-endian f64: the
// secret matrix S (row-major, bytes 8..40) and the basis eigenvalues m0, r0 (bytes 40..56). S⁻¹ is
// as secret as S (either gives the other), so it is searched too.
//
// False positives. The real flow sends megabytes of ciphertext planes: f32 values of the same
// magnitude as the key entries. A single key entry as 4 f32 bytes would appear there by chance
// (about 2^23 f32 values per binade, hundreds of thousands of plane values in it: a few per cent
// per entry and run), so single f32 values are searched only in text encodings (hex, base64,
// decimal); as raw bytes, f32 is searched as runs (S as 4 consecutive values, (m0, r0), all six),
// which is how a bug that writes the key as f32 would write it. Every other needle is at least 6
// bytes long (8 for raw f64 values): a specific 6-byte string turns up in ~10 MB of unrelated bytes
// with probability ~10^7 · 2^-48 ≈ 4·10^-8 per needle. Decimal text is searched only in forms with
// at least 5 significant digits and 6 characters (sign included), so short numbers of ordinary
// JSON ("0.1", "28", "7") cannot match; a key entry prints with 5 or fewer significant digits in
// its 6-digit form only if its 6th digit rounds to 0, and then the longer forms still match.

/** Names of the six exported values, in export order. */
export const EXPORT_NAMES = ['S00', 'S01', 'S10', 'S11', 'm0', 'r0'];

const MIN_TEXT = 6;

/** The six f64 of a raw export (56 bytes, magic MOREKEY1/MOREKEY2), checked. */
export function exportValues(raw) {
  const b = Buffer.from(raw);
  if (b.length !== 56 || !/^MOREKEY[12]$/.test(b.subarray(0, 8).toString('latin1'))) {
    throw new Error(`not a raw key export (56 bytes, MOREKEY1/2): ${b.length} bytes`);
  }
  return EXPORT_NAMES.map((_, i) => b.readDoubleLE(8 + 8 * i));
}

function f64Bytes(values, le) {
  const out = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => (le ? out.writeDoubleLE(v, 8 * i) : out.writeDoubleBE(v, 8 * i)));
  return out;
}

function f32Bytes(values, le) {
  const out = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => (le ? out.writeFloatLE(v, 4 * i) : out.writeFloatBE(v, 4 * i)));
  return out;
}

/**
 * Base64 forms of `bytes` wherever it sits in a longer encoded buffer: the whole encoding (padded
 * and unpadded), and for each of the 3 byte alignments the characters that depend on `bytes` only.
 */
export function base64Forms(bytes, alphabet = 'base64') {
  const b = Buffer.from(bytes);
  const padded = b.toString('base64');
  const whole = alphabet === 'base64' ? padded : padded.replace(/\+/g, '-').replace(/\//g, '_');
  const forms = new Set([whole, whole.replace(/=+$/, '')]);
  for (let k = 0; k < 3; k++) {
    const enc = Buffer.concat([Buffer.alloc(k), b]).toString(alphabet).replace(/=+$/, '');
    // Character i encodes bits [6i, 6i + 6) of the stream; `bytes` holds bits [8k, 8k + 8n).
    forms.add(enc.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + b.length)) / 6)));
  }
  return [...forms].filter((s) => s.length >= MIN_TEXT);
}

/** Number of significant digits in a decimal string ("-0.0012340" → 5). */
export function significantDigits(s) {
  const mantissa = s.replace(/^[-+]/, '').split(/e/i)[0].replace('.', '').replace(/^0+/, '');
  return mantissa.length;
}

/** The shortest decimal string that reads back as the same f32 (what Rust's `{}` prints for f32). */
export function shortestF32(v) {
  const f = Math.fround(v);
  for (let p = 1; p <= 9; p++) {
    const s = String(Number(f.toPrecision(p)));
    if (Math.fround(Number(s)) === f) return s;
  }
  return String(f);
}

/**
 * Decimal text forms of `v`: 6 significant digits (`toPrecision(6)`, and without trailing zeros),
 * 6 decimals (`toFixed(6)`, Rust's `{:.6}`), the shortest f64 form (`String(v)`, JSON, Rust's
 * `{}`), the f32 value printed as f64 (JSON of a Float32Array element) and the shortest f32 form,
 * and the digits of the full f64 form without sign, point or exponent (`7.2345e-1` style printers).
 * Only forms with ≥ 5 significant digits and ≥ 6 characters (see the top of the file).
 */
export function decimalForms(v) {
  const p6 = v.toPrecision(6);
  const trimmed = p6.includes('e') ? p6.replace(/\.?0+e/, 'e') : p6.replace(/\.?0+$/, '');
  const forms = [p6, trimmed, v.toFixed(6), String(v), String(Math.fround(v)), shortestF32(v)]
    .filter((s) => significantDigits(s) >= 5 && s.length >= MIN_TEXT);
  const digits = String(Math.abs(v)).split('e')[0].replace('.', '').replace(/^0+/, '');
  if (digits.length >= 10) forms.push(digits);
  return [...new Set(forms)];
}

/**
 * Every needle for the raw export `raw`: [{ name, bytes }], names like "S01 f64le base64url".
 */
export function keyNeedles(raw) {
  const rawBuf = Buffer.from(raw);
  const [s00, s01, s10, s11, m0, r0] = exportValues(rawBuf);
  const det = s00 * s11 - s01 * s10;
  // The same IEEE operations as more-client's `inverse`, so the same bits.
  const sInv = [s11 / det, -s01 / det, -s10 / det, s00 / det];
  const values = [
    ['S00', s00], ['S01', s01], ['S10', s10], ['S11', s11], ['m0', m0], ['r0', r0],
    ['Sinv00', sInv[0]], ['Sinv01', sInv[1]], ['Sinv10', sInv[2]], ['Sinv11', sInv[3]],
  ];
  const needles = [];
  const seen = new Set();
  const add = (name, bytes) => {
    const key = Buffer.from(bytes).toString('latin1');
    if (seen.has(key)) return;
    seen.add(key);
    needles.push({ name, bytes: Buffer.from(bytes) });
  };
  const text = (name, bytes) => {
    add(`${name} hex`, Buffer.from(bytes.toString('hex')));
    add(`${name} HEX`, Buffer.from(bytes.toString('hex').toUpperCase()));
    for (const alphabet of ['base64', 'base64url']) {
      for (const form of base64Forms(bytes, alphabet)) add(`${name} ${alphabet}`, Buffer.from(form));
    }
  };

  // The whole export and the 48 secret bytes after the magic.
  add('raw export', rawBuf);
  add('raw export bytes 8..56', rawBuf.subarray(8));
  text('raw export', rawBuf);
  text('raw export bytes 8..56', rawBuf.subarray(8));

  // Runs: S, S⁻¹, (m0, r0), all six, as f64 and f32, both byte orders.
  const runs = [['S', [s00, s01, s10, s11]], ['Sinv', sInv], ['(m0,r0)', [m0, r0]], ['S,m0,r0', [s00, s01, s10, s11, m0, r0]]];
  for (const [name, vals] of runs) {
    for (const le of [true, false]) {
      const e = le ? 'le' : 'be';
      add(`${name} f64${e}`, f64Bytes(vals, le));
      add(`${name} f32${e}`, f32Bytes(vals, le));
      text(`${name} f64${e}`, f64Bytes(vals, le));
      text(`${name} f32${e}`, f32Bytes(vals, le));
    }
  }

  // Single values: f64 bytes; f32 only in text encodings (see the top of the file); decimal text.
  for (const [name, v] of values) {
    for (const le of [true, false]) {
      const e = le ? 'le' : 'be';
      add(`${name} f64${e}`, f64Bytes([v], le));
      text(`${name} f64${e}`, f64Bytes([v], le));
      text(`${name} f32${e}`, f32Bytes([v], le));
    }
    for (const form of decimalForms(v)) add(`${name} decimal "${form}"`, Buffer.from(form));
  }
  return needles;
}

function haystacks(r) {
  const parts = [['url', Buffer.from(r.url)]];
  try {
    const decoded = decodeURIComponent(r.url.replace(/\+/g, ' '));
    if (decoded !== r.url) parts.push(['decoded url', Buffer.from(decoded)]);
    const decodedPlus = decodeURIComponent(r.url);
    if (decodedPlus !== r.url && decodedPlus !== decoded) parts.push(['decoded url', Buffer.from(decodedPlus)]);
  } catch { /* not percent-encoded text */ }
  const headers = Object.entries(r.headers ?? {}).map(([k, v]) => `${k}: ${v}`).join('\n');
  parts.push(['headers', Buffer.from(headers)]);
  if (r.body?.length) parts.push(['body', Buffer.from(r.body)]);
  return parts;
}

/**
 * Requests ({ url, method, headers, body }) that contain any needle:
 * [{ url, method, needle, part }], one entry per (request, needle, part).
 */
export function searchRequests(requests, needles) {
  const hits = [];
  for (const r of requests) {
    for (const [part, hay] of haystacks(r)) {
      for (const n of needles) {
        if (hay.includes(n.bytes)) hits.push({ url: r.url, method: r.method, needle: n.name, part });
      }
    }
  }
  return hits;
}

/** Whether `bytes` (a stored or downloaded blob) contains any needle: the names found. */
export function searchBytes(bytes, needles) {
  const hay = Buffer.from(bytes);
  return needles.filter((n) => hay.includes(n.bytes)).map((n) => n.name);
}
