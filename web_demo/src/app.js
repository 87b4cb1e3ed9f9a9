// The page: pick or drop a squeezekit .tflite (or pass ?model=URL), then photos or the camera; it shows the
// top-5 and the inference time. Everything model-specific comes from the file's own metadata.
// `window.squeezekit` exposes the same steps to scripts (the Chromium test and benchmarks/web_latency.py drive
// the page through it, so what they measure is what the page shows).

import {ModelError, readMetadata} from './metadata.js';
import {topK} from './postprocess.js';
import {preprocess, resizeAndCrop, rgbaToRgb} from './preprocess.js';
import {compile, initRuntime} from './runtime.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const DEFAULT_MODEL = 'models/model.tflite'; // where python -m squeezekit.export --web_demo puts it

let current = null; // {metadata, runner, bytes, source}
let lastInput = null;
let camera = null;

// --- Messages ----------------------------------------------------------------------------------------------

function setState(state) {
  document.body.dataset.state = state;
}

function showMessage(text) {
  $('message').textContent = text;
  $('message').hidden = !text;
}

/** One readable sentence for any failure; LiteRT's own text is cut to its first line. */
function explain(err, source) {
  if (err instanceof ModelError) return err.message;
  const first = String(err && err.message ? err.message : err).split('\n')[0].replace(/\.$/, '');
  return source ? `LiteRT.js cannot run ${source}: ${first}` : first;
}

function fail(err, source) {
  const text = explain(err, source);
  console.error(err);
  showMessage(text);
  setState('error');
  return text;
}

// --- Model -------------------------------------------------------------------------------------------------

/** Reads the metadata, then compiles for the chosen accelerator; the previous model is freed. */
async function loadModel(bytes, source) {
  setState('loading');
  showMessage('');
  const metadata = await readMetadata(bytes, source); // ModelError before LiteRT sees the bytes
  const accelerator = $('accelerator').value;
  const threads = Number($('threads').value) || 1;
  let runner;
  try {
    runner = await compile(bytes, {accelerator, threads, source});
  } catch (err) {
    throw new ModelError(explain(err, source));
  }
  if (runner.inputBytes !== metadata.inputBytes || runner.outputBytes !== metadata.outputBytes) {
    runner.delete();
    throw new ModelError(`${source}: its metadata does not describe its tensors (${metadata.inputBytes} input ` +
                         `bytes expected, the model takes ${runner.inputBytes}); export it again`);
  }
  if (current) current.runner.retire(); // a camera frame may still be running on it
  current = {metadata, runner, bytes, source};
  lastInput = null;
  $('view').width = $('view').height = metadata.size;
  const json = metadata.json;
  $('model-info').textContent = `${metadata.name}: ${metadata.size}x${metadata.size} ${metadata.channelOrder}, ` +
      `${metadata.inputType} in, ${metadata.labels.length} classes` + (json.trained === false ? ', untrained' : '') +
      ` · ${source}`;
  $('top5').replaceChildren();
  $('timing').textContent = '';
  $('camera').disabled = !navigator.mediaDevices;
  $('benchmark').disabled = true;
  setState('ready');
  return summary();
}

async function loadModelUrl(url) {
  const response = await fetch(url);
  if (!response.ok) throw new ModelError(`cannot fetch ${url}: HTTP ${response.status}`);
  return loadModel(new Uint8Array(await response.arrayBuffer()), url.split('/').pop());
}

/** Recompiles the current model for the accelerator and threads now selected. */
async function recompile() {
  if (!current) return;
  try {
    await loadModel(current.bytes, current.source);
  } catch (err) {
    fail(err, current.source);
  }
}

function summary() {
  const r = current && current.runner;
  return {name: current ? current.metadata.name : null, accelerator: r ? r.accelerator : null,
          threads: r ? r.threads : null, size: current ? current.metadata.size : null};
}

// --- Images ------------------------------------------------------------------------------------------------

/** A Blob -> RGB pixels, decoded without colour management (as Pillow reads the file). */
async function decode(blob) {
  const bitmap = await createImageBitmap(blob, {colorSpaceConversion: 'none', premultiplyAlpha: 'none'});
  const {width, height} = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return {rgb: rgbaToRgb(ctx.getImageData(0, 0, width, height).data, width, height), width, height};
}

/** Pixels -> preprocess -> run -> top-5, shown on the page. */
async function classifyPixels({rgb, width, height}, name) {
  if (!current) throw new ModelError('choose a model first');
  const {metadata, runner} = current;
  const input = preprocess(rgb, width, height, metadata);
  const output = await runner.run(input);
  lastInput = input;
  const top5 = topK(output, metadata, 5);
  show(resizeAndCrop(rgb, width, height, metadata.size, metadata.cropFraction), top5, name);
  $('benchmark').disabled = false;
  return {top5, input, output, ms: runner.times[runner.times.length - 1], meanMs: runner.meanMs};
}

function show(crop, top5, name) {
  const size = current.metadata.size;
  const rgba = new Uint8ClampedArray(size * size * 4);
  for (let i = 0; i < size * size; i++) {
    rgba.set(crop.subarray(i * 3, i * 3 + 3), i * 4);
    rgba[i * 4 + 3] = 255;
  }
  $('view').getContext('2d').putImageData(new ImageData(rgba, size, size), 0, 0);
  $('photo-name').textContent = name || '';
  $('top5').replaceChildren(...top5.map(({index, label, probability}) => {
    const li = document.createElement('li');
    li.dataset.index = index;
    li.dataset.probability = probability;
    li.textContent = `${(probability * 100).toFixed(2)}%  ${label}`;
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.style.width = `${Math.max(0, Math.min(1, probability)) * 100}%`;
    li.append(bar);
    return li;
  }));
  showTiming();
}

/** The figure a user reads: mean of the recent runs, with the accelerator and threads that produced it. */
function showTiming() {
  const r = current.runner;
  const where = r.accelerator === 'wasm' ? `WASM, ${r.threads} thread${r.threads > 1 ? 's' : ''}` :
      `WebGPU${r.fullyAccelerated ? '' : ' (some ops on the CPU)'}`;
  $('timing').textContent = `inference ${r.meanMs.toFixed(2)} ms (mean of the last ${r.times.length} ` +
      `run${r.times.length > 1 ? 's' : ''}) · ${where}`;
  $('timing').dataset.meanMs = r.meanMs;
}

async function classifyBlob(blob, name) {
  let pixels;
  try {
    pixels = await decode(blob);
  } catch {
    throw new ModelError(`cannot read ${name} as an image`);
  }
  return classifyPixels(pixels, name);
}

/** `runs` more runs on the last input (after one warm-up), shown as the page's figure. */
async function benchmark(runs = 20) {
  if (!current || !lastInput) throw new ModelError('classify a photo first');
  const r = current.runner;
  await r.run(lastInput);
  r.times.length = 0;
  const times = [];
  for (let i = 0; i < runs; i++) {
    await r.run(lastInput);
    times.push(r.times[r.times.length - 1]);
  }
  showTiming();
  const sorted = [...times].sort((a, b) => a - b);
  return {meanMs: r.meanMs, medianMs: sorted[Math.floor(sorted.length / 2)], times, shown: $('timing').textContent};
}

// --- Camera ------------------------------------------------------------------------------------------------

async function toggleCamera() {
  if (camera) {
    stopCamera();
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({video: {facingMode: 'environment'}, audio: false});
    const video = $('video');
    video.srcObject = stream;
    await video.play();
    camera = {stream, canvas: new OffscreenCanvas(1, 1), frames: 0};
    $('camera').textContent = 'Stop camera';
    requestAnimationFrame(cameraFrame);
  } catch (err) {
    fail(new ModelError(`cannot open the camera (${err.name}): choose photos instead`));
  }
}

function stopCamera() {
  if (!camera) return;
  for (const track of camera.stream.getTracks()) track.stop();
  camera = null;
  $('camera').textContent = 'Start camera';
}

async function cameraFrame() {
  if (!camera || !current) return;
  const video = $('video');
  const {videoWidth: w, videoHeight: h} = video;
  if (w && h) {
    const canvas = camera.canvas;
    if (canvas.width !== w || canvas.height !== h) [canvas.width, canvas.height] = [w, h];
    const ctx = canvas.getContext('2d', {willReadFrequently: true});
    ctx.drawImage(video, 0, 0, w, h);
    try {
      await classifyPixels({rgb: rgbaToRgb(ctx.getImageData(0, 0, w, h).data, w, h), width: w, height: h},
                           `camera ${w}x${h}`);
      camera && camera.frames++;
    } catch (err) {
      stopCamera();
      fail(err);
      return;
    }
  }
  if (camera) requestAnimationFrame(cameraFrame);
}

// --- Wiring ------------------------------------------------------------------------------------------------

async function onFiles(files) {
  for (const file of files) {
    try {
      if (file.name.toLowerCase().endsWith('.tflite')) {
        stopCamera();
        await loadModel(new Uint8Array(await file.arrayBuffer()), file.name);
      } else {
        showMessage('');
        await classifyBlob(file, file.name);
        setState('ready');
      }
    } catch (err) {
      fail(err, file.name);
    }
  }
}

async function start() {
  let rt;
  try {
    rt = await initRuntime();
  } catch (err) {
    fail(new ModelError(`LiteRT.js did not load (${explain(err)}): run npm ci in web_demo/ and serve it ` +
                        'with python -m squeezekit.serve web_demo/'));
    return;
  }
  const threads = $('threads');
  for (let n = 1; n <= rt.maxThreads; n++) threads.add(new Option(String(n), String(n)));
  threads.value = String(Math.min(Number(params.get('threads')) || rt.maxThreads, rt.maxThreads));
  threads.disabled = rt.maxThreads === 1;
  threads.title = rt.threaded ? '' : 'one thread: the page is not cross-origin isolated (serve it with ' +
      'python -m squeezekit.serve)';
  const webgpu = $('accelerator').querySelector('option[value=webgpu]');
  webgpu.disabled = !rt.webgpu;
  webgpu.textContent = rt.webgpu ? `WebGPU (${rt.webgpu})` : 'WebGPU (not available in this browser)';
  if (params.get('accelerator') === 'webgpu' && rt.webgpu) $('accelerator').value = 'webgpu';
  $('accelerator').addEventListener('change', recompile);
  threads.addEventListener('change', recompile);
  $('model-file').addEventListener('change', (e) => onFiles(e.target.files));
  $('photo-file').addEventListener('change', (e) => onFiles(e.target.files));
  $('camera').addEventListener('click', toggleCamera);
  $('benchmark').addEventListener('click', () => benchmark().catch((err) => fail(err)));
  addEventListener('dragover', (e) => {
    e.preventDefault();
    document.body.classList.add('dragging');
  });
  addEventListener('dragleave', () => document.body.classList.remove('dragging'));
  addEventListener('drop', (e) => {
    e.preventDefault();
    document.body.classList.remove('dragging');
    onFiles(e.dataTransfer.files);
  });

  const url = params.get('model') || DEFAULT_MODEL;
  setState('empty');
  $('model-info').textContent = 'No model loaded: choose a .tflite or drop one here.';
  try {
    const response = await fetch(url);
    if (response.ok) await loadModel(new Uint8Array(await response.arrayBuffer()), url.split('/').pop());
    else if (params.has('model')) fail(new ModelError(`cannot fetch ${url}: HTTP ${response.status}`));
  } catch (err) {
    fail(err, url.split('/').pop());
  }
}

function base64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** For scripts: each call returns plain JSON values (tensors as base64), or throws with the page's message. */
window.squeezekit = {
  ready: start(),
  async loadModel(url) {
    try {
      return await loadModelUrl(url);
    } catch (err) {
      throw new Error(fail(err, url.split('/').pop()));
    }
  },
  async classifyUrl(url) {
    const response = await fetch(url);
    const result = await classifyBlob(await response.blob(), url.split('/').pop());
    return {top5: result.top5, input: base64(result.input), output: base64(result.output), ms: result.ms};
  },
  benchmark,
  async setOptions({accelerator, threads}) {
    if (accelerator) $('accelerator').value = accelerator;
    if (threads) $('threads').value = String(threads);
    if (current) await loadModel(current.bytes, current.source);
    return summary();
  },
  async state() {
    const rt = await initRuntime();
    return {...rt, ...summary(), state: document.body.dataset.state, message: $('message').textContent,
            cameraFrames: camera ? camera.frames : 0};
  },
};
