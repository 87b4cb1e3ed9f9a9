// The squeezekit metadata of an exported .tflite: `squeezekit.json` and `labels.txt` from the zip appended to
// the flatbuffer (format "squeezekit-tflite/1", BUILD.md "Model metadata"). A port of the Android demo's
// ModelMetadata.kt: the same checks, the same messages, so a file either app refuses is refused by both.

export const FORMAT = 'squeezekit-tflite/1';
export const INFO_FILE = 'squeezekit.json';
export const LABELS_FILE = 'labels.txt';
export const NO_METADATA = 'has no squeezekit metadata: export it with python -m squeezekit.export';

/** A model this page cannot use; the message is one readable sentence for the page. */
export class ModelError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ModelError';
  }
}

/** Element types of input and output tensors the page can feed and read (bytes per value, integer range). */
export const TENSOR_TYPES = {
  float32: {bytes: 4, min: 0, max: 0, quantized: false},
  int8: {bytes: 1, min: -128, max: 127, quantized: true},
  uint8: {bytes: 1, min: 0, max: 255, quantized: true},
};

/** Throws unless bytes 4..8 are the TFLite file identifier "TFL3". */
export function checkTflite(bytes, source = 'model') {
  const ok = bytes.length >= 8 && bytes[4] === 0x54 && bytes[5] === 0x46 && bytes[6] === 0x4c && bytes[7] === 0x33;
  if (!ok) throw new ModelError(`${source} is not a TFLite model (no TFL3 file identifier)`);
}

/**
 * Parses the metadata of the .tflite `bytes` (a Uint8Array). `source` names the file in messages. Throws
 * ModelError when the bytes are empty, not a TFLite flatbuffer, carry no squeezekit metadata, or describe
 * something other than an image classifier the page can run.
 */
export async function readMetadata(bytes, source = 'model') {
  if (!bytes.length) throw new ModelError(`${source} is empty`);
  checkTflite(bytes, source);
  let files;
  try {
    files = await readAppendedZip(bytes);
  } catch (err) {
    if (!(err instanceof ZipFormatError)) throw err;
    throw new ModelError(`${source} ${NO_METADATA} (${err.message})`);
  }
  const infoBytes = files.get(INFO_FILE);
  const labelBytes = files.get(LABELS_FILE);
  if (!infoBytes || !labelBytes) throw new ModelError(`${source} ${NO_METADATA}`);
  const decoder = new TextDecoder('utf-8');
  let json;
  try {
    json = JSON.parse(decoder.decode(infoBytes));
  } catch (err) {
    throw new ModelError(`${source}: ${INFO_FILE} is not valid JSON (${err.message})`);
  }
  // As Python's decode().split("\n")[:-1]: one label per line, the file ends with a newline.
  const labels = decoder.decode(labelBytes).split('\n').slice(0, -1);
  try {
    return fromJson(json, labels, source);
  } catch (err) {
    if (err instanceof ModelError) throw err;
    throw new ModelError(`${source}: malformed ${INFO_FILE} (${err.message})`);
  }
}

function fromJson(json, labels, source) {
  if (json === null || typeof json !== 'object') throw new ModelError(`${source}: malformed ${INFO_FILE}`);
  if (json.format !== FORMAT) {
    throw new ModelError(`${source}: unsupported metadata format '${json.format ?? ''}' (this page reads ${FORMAT})`);
  }
  const input = object(json, 'input');
  const output = object(json, 'output');
  const inShape = ints(input, 'shape');
  if (inShape.length !== 4 || inShape[0] !== 1 || inShape[3] !== 3 || inShape[1] <= 0 || inShape[2] <= 0) {
    throw new ModelError(`${source} is not an image classifier: input shape [${inShape}], expected [1, H, W, 3]`);
  }
  if (inShape[1] !== inShape[2]) {
    throw new ModelError(`${source}: input ${inShape[1]}x${inShape[2]} is not square; the demo crops squares`);
  }
  const outShape = ints(output, 'shape');
  if (outShape.length !== 2 || outShape[0] !== 1 || outShape[1] <= 0) {
    throw new ModelError(`${source} is not an image classifier: output shape [${outShape}], expected [1, N]`);
  }
  if (labels.length !== outShape[1]) {
    throw new ModelError(`${source} is not an image classifier: ${labels.length} labels for ${outShape[1]} outputs`);
  }
  const inputType = tensorType(input, 'input', source);
  const outputType = tensorType(output, 'output', source);
  const channelOrder = input.channel_order ?? 'RGB';
  if (channelOrder !== 'RGB' && channelOrder !== 'BGR') {
    throw new ModelError(`${source}: unsupported channel order '${channelOrder}' (RGB or BGR)`);
  }
  const mean = floats(input, 'mean');
  const std = floats(input, 'std');
  if (mean.length !== 3 || std.length !== 3 || std.some((s) => s === 0)) {
    throw new ModelError(`${source}: input mean and std must hold 3 values each, std non-zero`);
  }
  const cropFraction = input.crop_fraction ?? 1.0;
  if (!(typeof cropFraction === 'number' && cropFraction > 0 && cropFraction <= 1)) {
    throw new ModelError(`${source}: crop_fraction ${cropFraction} is not in (0, 1]`);
  }
  const outputKind = output.kind ?? 'probabilities';
  if (outputKind !== 'probabilities' && outputKind !== 'logits') {
    throw new ModelError(`${source}: unsupported output kind '${outputKind}' (probabilities or logits)`);
  }
  const name = [json.paper_name, json.model].find((n) => typeof n === 'string' && n) ?? source;
  return {
    name: json.flavour ? `${name} (${json.flavour})` : name,
    size: inShape[1],
    inputType,
    inputQuantization: quantization(input, inputType, 'input', source),
    channelOrder,
    mean,
    std,
    cropFraction,
    outputType,
    outputQuantization: quantization(output, outputType, 'output', source),
    outputKind,
    labels,
    inputBytes: inShape[1] * inShape[2] * 3 * TENSOR_TYPES[inputType].bytes,
    outputBytes: outShape[1] * TENSOR_TYPES[outputType].bytes,
    json,
  };
}

function object(parent, key) {
  const value = parent[key];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`no "${key}" object`);
  return value;
}

function ints(parent, key) {
  const value = parent[key];
  if (!Array.isArray(value) || !value.every(Number.isInteger)) throw new Error(`"${key}" is not a list of integers`);
  return value;
}

function floats(parent, key) {
  const value = parent[key];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'number')) {
    throw new Error(`"${key}" is not a list of numbers`);
  }
  return value.map(Math.fround); // float32, as numpy holds them
}

function tensorType(spec, what, source) {
  const dtype = spec.dtype;
  if (!(dtype in TENSOR_TYPES)) {
    throw new ModelError(`${source}: unsupported ${what} dtype '${dtype}' (float32, int8 or uint8)`);
  }
  return dtype;
}

function quantization(spec, type, what, source) {
  if (!TENSOR_TYPES[type].quantized) return null;
  const q = spec.quantization;
  if (q === null || typeof q !== 'object') {
    throw new ModelError(`${source}: ${what} is ${type} but has no quantization parameters`);
  }
  const scale = Math.fround(q.scale); // float32, as in the model
  const zeroPoint = q.zero_point;
  const range = TENSOR_TYPES[type];
  if (!(scale > 0) || !Number.isFinite(scale) || !Number.isInteger(zeroPoint) || zeroPoint < range.min ||
      zeroPoint > range.max) {
    throw new ModelError(`${source}: invalid ${what} quantization (scale ${q.scale}, zero point ${zeroPoint})`);
  }
  return {scale, zeroPoint};
}

// --- The zip appended to the flatbuffer ------------------------------------------------------------------

export class ZipFormatError extends Error {}

const EOCD_SIG = 0x06054b50;
const CEN_SIG = 0x02014b50;
const LOC_SIG = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_ENTRY = 64 << 20;

/**
 * name -> bytes of every file in the zip at the end of `data`: the End Of Central Directory found from the
 * end, then the central directory, then each local header. Offsets count from the start of the file (as the
 * TFLite metadata populator and Python's zipfile in append mode write them); an archive whose offsets count
 * from its own start is read too. Deflated entries are inflated with the browser's DecompressionStream.
 */
export async function readAppendedZip(data) {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const u16 = (p) => view.getUint16(p, true);
  const u32 = (p) => view.getUint32(p, true);
  const need = (p, n) => {
    if (p < 0 || p + n > data.length) throw new ZipFormatError('central directory out of range');
  };
  const eocd = findEocd(data, view);
  if (eocd === null) throw new ZipFormatError('no zip archive appended');
  const entries = u16(eocd + 10);
  const cdSize = u32(eocd + 12);
  const cdOffset = u32(eocd + 16);
  const cdStart = eocd - cdSize;
  if (cdStart < 0) throw new ZipFormatError('central directory out of range');
  const shift = cdStart - cdOffset;
  const files = new Map();
  let p = cdStart;
  for (let e = 0; e < entries; e++) {
    need(p, 46);
    if (u32(p) !== CEN_SIG) throw new ZipFormatError('bad central directory entry');
    const method = u16(p + 10);
    const crc = u32(p + 16);
    const compressed = u32(p + 20);
    const size = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    const local = u32(p + 42) + shift;
    need(p + 46, nameLen);
    const name = new TextDecoder('utf-8').decode(data.subarray(p + 46, p + 46 + nameLen));
    p += 46 + nameLen + extraLen + commentLen;
    if (local < 0 || local > data.length - 30) throw new ZipFormatError(`local header of ${name} out of range`);
    if (u32(local) !== LOC_SIG) throw new ZipFormatError(`bad local header of ${name}`);
    const start = local + 30 + u16(local + 26) + u16(local + 28);
    if (start + compressed > data.length) throw new ZipFormatError(`${name} is truncated`);
    if (size > MAX_ENTRY) throw new ZipFormatError(`${name} is too large`);
    const raw = data.subarray(start, start + compressed);
    let bytes;
    if (method === 0) bytes = raw.slice();
    else if (method === 8) bytes = await inflateRaw(raw, name);
    else throw new ZipFormatError(`${name} uses unsupported compression method ${method}`);
    if (bytes.length !== size) throw new ZipFormatError(`${name} has the wrong size`);
    if (crc32(bytes) !== crc) throw new ZipFormatError(`${name} fails its CRC check`);
    files.set(name, bytes);
  }
  return files;
}

function findEocd(data, view) {
  const last = data.length - EOCD_SIZE;
  const first = Math.max(0, last - 0xffff);
  for (let i = last; i >= first; i--) {
    if (view.getUint32(i, true) === EOCD_SIG && i + EOCD_SIZE + view.getUint16(i + 20, true) === data.length) return i;
  }
  return null;
}

async function inflateRaw(raw, name) {
  try {
    const stream = new Blob([raw]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (err) {
    throw new ZipFormatError(`${name} is corrupt (${err.message})`);
  }
}

let crcTable = null;

/** CRC-32 (IEEE 802.3), as zip stores it. */
export function crc32(bytes) {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
