// Decoded pixels -> the model's input tensor bytes, as squeezekit.classify feeds the model (and the Android
// demo's Preprocessor.kt, of which this is a port): short side to round(size / crop_fraction) with Pillow's
// BILINEAR filter, the centered size x size crop, channel order, (pixel - mean) / std in float32, then for an
// int8/uint8 input numpy's round-half-to-even quantization. Images are RGB Uint8Arrays, 3 bytes a pixel.

import {TENSOR_TYPES} from './metadata.js';

/** RGBA bytes (ImageData.data) -> RGB bytes; alpha is dropped, as Pillow's convert("RGB") does. */
export function rgbaToRgb(rgba, width, height) {
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    rgb[i * 3] = rgba[i * 4];
    rgb[i * 3 + 1] = rgba[i * 4 + 1];
    rgb[i * 3 + 2] = rgba[i * 4 + 2];
  }
  return rgb;
}

/** Python's round() and Java's Math.rint: to the nearest integer, halves to even. */
export function rint(x) {
  const r = Math.round(x); // halves up
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The whole path for one image: RGB pixels (width x height) -> input tensor bytes (NHWC, batch 1). */
export function preprocess(rgb, width, height, metadata) {
  return toTensor(resizeAndCrop(rgb, width, height, metadata.size, metadata.cropFraction), metadata);
}

/** Short side to round(size / cropFraction) (at least size on both sides), Pillow BILINEAR, centered crop. */
export function resizeAndCrop(rgb, width, height, size, cropFraction) {
  if (!(width > 0 && height > 0)) throw new Error(`empty image ${width}x${height}`);
  const scale = (size / cropFraction) / Math.min(width, height);
  const nw = Math.max(size, rint(width * scale));
  const nh = Math.max(size, rint(height * scale));
  const resized = resize(rgb, width, height, nw, nh);
  return crop(resized, nw, Math.floor((nw - size) / 2), Math.floor((nh - size) / 2), size);
}

/** The size x size square at (left, top) of an RGB image `width` pixels wide. */
export function crop(rgb, width, left, top, size) {
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const from = ((top + y) * width + left) * 3;
    out.set(rgb.subarray(from, from + size * 3), y * size * 3);
  }
  return out;
}

/**
 * A size x size RGB crop -> tensor bytes: channels in the model's order, (v - mean) / std in float32, then
 * float32 little-endian values or quantized integers.
 */
export function toTensor(rgb, metadata) {
  const {inputType, mean, std, inputQuantization: q} = metadata;
  const n = rgb.length;
  const out = new Uint8Array(n * TENSOR_TYPES[inputType].bytes);
  const floats = inputType === 'float32' ? new DataView(out.buffer) : null;
  const bgr = metadata.channelOrder === 'BGR';
  for (let p = 0; p < n; p += 3) {
    for (let c = 0; c < 3; c++) {
      const v = rgb[p + (bgr ? 2 - c : c)];
      const x = Math.fround(Math.fround(v - mean[c]) / std[c]);
      if (floats !== null) floats.setFloat32((p + c) * 4, x, true);
      else out[p + c] = quantize(x, q, inputType) & 0xff;
    }
  }
  return out;
}

/**
 * numpy's np.clip(np.round(x / scale + zero_point), min, max) on float32: the division and the addition in
 * float32, rounded half to even, clamped to the type's range (infinities clamp too).
 */
export function quantize(x, q, type) {
  const v = Math.fround(Math.fround(x / q.scale) + q.zeroPoint);
  const r = rint(v);
  const {min, max} = TENSOR_TYPES[type];
  return r < min ? min : r > max ? max : r;
}

// --- Pillow's Image.resize(size, Image.BILINEAR) for 8-bit RGB -------------------------------------------
// A port of PillowResize.kt (Pillow 13, src/libImaging/Resample.c): a separable two-pass convolution with the
// triangle filter, whose support grows with the downscale factor; coefficients normalized to sum 1, in 22-bit
// fixed point; every pass rounds and clips to 8 bits, so the pass order is visible and follows Pillow's.

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1); // the rounding bias every sum starts from

function bilinear(x) {
  const a = x < 0 ? -x : x;
  return a < 1 ? 1 - a : 0;
}

/** precompute_coeffs + normalize_coeffs_8bpc for the box [0, inSize) of an axis resized to outSize. */
export function coefficients(inSize, outSize) {
  const scale = Math.fround(inSize) / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = 1.0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const pre = new Float64Array(outSize * ksize);
  const bounds = new Int32Array(outSize * 2);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let ww = 0;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    const k = xx * ksize;
    for (let x = 0; x < xmax; x++) {
      const w = bilinear((x + xmin - center + 0.5) * ss);
      pre[k + x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) if (ww !== 0) pre[k + x] /= ww;
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  const one = 2 ** PRECISION_BITS;
  const kk = new Int32Array(pre.length);
  for (let i = 0; i < pre.length; i++) {
    const v = pre[i];
    kk[i] = v < 0 ? Math.trunc(-0.5 + v * one) : Math.trunc(0.5 + v * one);
  }
  return {ksize, bounds, kk};
}

function clip8(sum) {
  const v = sum >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Pillow 13's pass order: vertical first exactly when the height shrinks and loses more than twice as many
 * pixels as the width does (python-pillow/Pillow#9549; pinned by the Android demo's PillowResizeTest).
 */
export function verticalFirst(width, height, outWidth, outHeight) {
  return outHeight < height && height - outHeight > 2 * (width - outWidth);
}

/** `rgb` (width x height) resized to outWidth x outHeight as Pillow's BILINEAR does; always a new array. */
export function resize(rgb, width, height, outWidth, outHeight) {
  if (!(width > 0 && height > 0 && outWidth > 0 && outHeight > 0)) {
    throw new Error(`sizes must be positive: ${width}x${height} -> ${outWidth}x${outHeight}`);
  }
  if (width === outWidth && height === outHeight) return rgb.slice(0, width * height * 3);
  const needHorizontal = outWidth !== width;
  const needVertical = outHeight !== height;
  const vert = coefficients(height, outHeight);
  const horiz = needHorizontal ? coefficients(width, outWidth) : null;
  if (horiz !== null && needVertical && verticalFirst(width, height, outWidth, outHeight)) {
    const tall = vertical(rgb, width, outHeight, vert);
    return horizontal(tall, width, 0, outHeight, outWidth, horiz);
  }
  const yFirst = vert.bounds[0];
  const yLast = vert.bounds[outHeight * 2 - 2] + vert.bounds[outHeight * 2 - 1];
  let image = rgb;
  let w = width;
  if (horiz !== null) {
    // Only the source rows the vertical pass reads; shift its bounds to match.
    for (let i = 0; i < outHeight; i++) vert.bounds[i * 2] -= yFirst;
    image = horizontal(image, w, yFirst, yLast - yFirst, outWidth, horiz);
    w = outWidth;
  }
  if (needVertical) image = vertical(image, w, outHeight, vert);
  return image;
}

/** One output pixel: `count` taps of `src` from `start`, `stride` bytes apart, weighted by kk[k...]. */
function convolve(src, start, stride, count, kk, k, out, o) {
  let r = HALF;
  let g = HALF;
  let b = HALF;
  for (let i = 0, p = start; i < count; i++, p += stride) {
    const w = kk[k + i];
    r = (r + Math.imul(src[p], w)) | 0;
    g = (g + Math.imul(src[p + 1], w)) | 0;
    b = (b + Math.imul(src[p + 2], w)) | 0;
  }
  out[o] = clip8(r);
  out[o + 1] = clip8(g);
  out[o + 2] = clip8(b);
}

function horizontal(src, srcWidth, offset, rows, outWidth, c) {
  const out = new Uint8Array(outWidth * rows * 3);
  for (let yy = 0; yy < rows; yy++) {
    const row = (yy + offset) * srcWidth;
    for (let xx = 0; xx < outWidth; xx++) {
      convolve(src, (row + c.bounds[xx * 2]) * 3, 3, c.bounds[xx * 2 + 1], c.kk, xx * c.ksize, out,
               (yy * outWidth + xx) * 3);
    }
  }
  return out;
}

function vertical(src, width, outHeight, c) {
  const out = new Uint8Array(width * outHeight * 3);
  for (let yy = 0; yy < outHeight; yy++) {
    for (let xx = 0; xx < width; xx++) {
      convolve(src, (c.bounds[yy * 2] * width + xx) * 3, width * 3, c.bounds[yy * 2 + 1], c.kk, yy * c.ksize, out,
               (yy * width + xx) * 3);
    }
  }
  return out;
}
