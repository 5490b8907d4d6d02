// Just enough of the wire format (shared/WIRE_FORMAT.md) for the tests to forge what a dishonest or
// broken node could send: plaintext tensors (representation 0) in place of ciphertexts.

/** A plain (representation 0) f32 tensor message of `shape` holding `values`. */
export function plainTensor(shape, values) {
  const n = shape.reduce((a, b) => a * b, 1);
  if (values.length !== n) throw new Error(`${values.length} values for shape ${shape}`);
  const h = 24 + 8 * shape.length;
  const out = Buffer.alloc(h + 4 * n);
  out.write('MORE', 0, 'latin1');
  out.writeUInt16LE(1, 4); // version
  out.writeUInt8(0, 6); // representation: plain
  out.writeUInt8(0, 7); // element type: f32
  out.writeUInt16LE(shape.length, 8);
  out.writeUInt32LE(h, 12);
  out.writeBigUInt64LE(BigInt(out.length), 16);
  shape.forEach((d, i) => out.writeBigUInt64LE(BigInt(d), 24 + 8 * i));
  values.forEach((v, i) => out.writeFloatLE(v, h + 4 * i));
  return out;
}

/** Shape and representation byte of a tensor message. */
export function tensorHeader(bytes) {
  if (bytes.subarray(0, 4).toString('latin1') !== 'MORE') throw new Error('not a tensor message');
  const rank = bytes.readUInt16LE(8);
  const shape = Array.from({ length: rank }, (_, i) => Number(bytes.readBigUInt64LE(24 + 8 * i)));
  return { representation: bytes[6], dtype: bytes[7], shape };
}

/** Parses a bundle message: { metadata (JSON), tensors: [[name, bytes]] }. */
export function parseBundle(bytes) {
  if (bytes.subarray(0, 8).toString('latin1') !== 'MOREBNDL') throw new Error('not a bundle');
  const m = Number(bytes.readBigUInt64LE(24));
  const metadata = JSON.parse(bytes.subarray(32, 32 + m).toString('utf8'));
  let at = 32 + m;
  const count = bytes.readUInt32LE(at);
  at += 4;
  const tensors = [];
  for (let i = 0; i < count; i++) {
    const nameLen = bytes.readUInt32LE(at);
    const name = bytes.subarray(at + 4, at + 4 + nameLen).toString('utf8');
    at += 4 + nameLen;
    const len = Number(bytes.readBigUInt64LE(at));
    tensors.push([name, bytes.subarray(at + 8, at + 8 + len)]);
    at += 8 + len;
  }
  return { metadata, tensors };
}

/** Encodes a bundle message. */
export function encodeBundle({ metadata, tensors }) {
  const meta = Buffer.from(JSON.stringify(metadata));
  const parts = [Buffer.alloc(32), meta, Buffer.alloc(4)];
  parts[2].writeUInt32LE(tensors.length);
  for (const [name, t] of tensors) {
    const head = Buffer.alloc(4);
    head.writeUInt32LE(Buffer.byteLength(name));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(t.length));
    parts.push(head, Buffer.from(name), len, t);
  }
  const out = Buffer.concat(parts);
  out.write('MOREBNDL', 0, 'latin1');
  out.writeUInt16LE(1, 8);
  out.writeBigUInt64LE(BigInt(out.length), 16);
  out.writeBigUInt64LE(BigInt(meta.length), 24);
  return out;
}

/** The same bundle with every tensor replaced by a plain f32 tensor of its shape (zeros). */
export function plainBundle(bytes) {
  const { metadata, tensors } = parseBundle(bytes);
  return encodeBundle({
    metadata,
    tensors: tensors.map(([name, t]) => {
      const { shape } = tensorHeader(t);
      return [name, plainTensor(shape, new Array(shape.reduce((a, b) => a * b, 1)).fill(0))];
    }),
  });
}
