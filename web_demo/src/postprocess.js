// Output tensor bytes -> probabilities -> the top classes, as squeezekit.classify does (and the Android demo's
// Postprocessor.kt): (q - zero_point) * scale in float32 for int8/uint8 outputs, little-endian float32 values
// otherwise, a softmax only when the metadata says the output holds logits, then a stable descending sort
// (equal probabilities keep the lower index first, as np.argsort(-probs, kind="stable")).

/** Probabilities of every class from the raw output `bytes` (a Uint8Array, batch 1). */
export function probabilities(bytes, metadata) {
  if (bytes.length !== metadata.outputBytes) {
    throw new Error(`${bytes.length} output bytes, the model's output holds ${metadata.outputBytes}`);
  }
  const n = metadata.labels.length;
  const values = new Float32Array(n);
  if (metadata.outputType === 'float32') {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) values[i] = view.getFloat32(i * 4, true);
  } else {
    const {scale, zeroPoint} = metadata.outputQuantization;
    const signed = metadata.outputType === 'int8';
    for (let i = 0; i < n; i++) {
      const q = signed ? (bytes[i] << 24) >> 24 : bytes[i];
      values[i] = Math.fround(Math.fround(q - zeroPoint) * scale);
    }
  }
  return metadata.outputKind === 'logits' ? softmax(values) : values;
}

/** The k most probable classes of the raw output `bytes`, best first: [{index, label, probability}]. */
export function topK(bytes, metadata, k = 5) {
  const probs = probabilities(bytes, metadata);
  return topIndices(probs, k).map((index) => ({index, label: metadata.labels[index], probability: probs[index]}));
}

/** Indices of the k largest values, largest first; ties keep the lower index first; NaN ranks last. */
export function topIndices(values, k) {
  const order = Array.from(values.keys());
  order.sort((a, b) => {
    const va = values[a];
    const vb = values[b];
    if (Number.isNaN(va) || Number.isNaN(vb)) return Number.isNaN(va) - Number.isNaN(vb);
    return va > vb ? -1 : va < vb ? 1 : 0; // Array.prototype.sort is stable: the lower index stays first
  });
  return order.slice(0, Math.min(k, values.length));
}

/** Softmax in double (max-subtracted), returned as float32. */
export function softmax(logits) {
  if (!logits.length) return logits;
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const e = Array.from(logits, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return Float32Array.from(e, (v) => v / sum);
}
