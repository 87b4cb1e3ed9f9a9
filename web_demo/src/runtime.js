// LiteRT.js (@litertjs/core, pinned in package.json): load the WebAssembly runtime once, compile a model for
// an accelerator, run it on raw input tensor bytes and return raw output bytes, and time the runs.
//
// Raw bytes in and out, not LiteRT.js's Tensor and CompiledModel classes: in 2.5.3 they know float32, int32
// and uint8 tensors only (loadAndCompile throws "Element type INT8 is not supported" on any int8 export). On
// WASM the page makes the calls those classes make on the Wasm bindings (loadModel, compileModel,
// createManaged, lock, run) with the model's own tensor types. On WebGPU the input must be a GPU buffer
// (builds without JSPI cannot copy host memory to the GPU during a run: "Asyncify is not defined"), which
// only the Tensor class can fill: WebGPU runs float32 models.

import {getGlobalLiteRt, loadLiteRt, Tensor} from '@litertjs/core';

import {ModelError} from './metadata.js';

const WASM_DIR = new URL('../node_modules/@litertjs/core/wasm/', import.meta.url).href;
const FLOAT32 = 1; // litert::ElementType
const RECENT = 10; // the inference time shown is the mean of this many recent runs

let runtime = null;

/**
 * Loads the WebAssembly runtime: the threaded build when the page is cross-origin isolated (served with
 * COOP/COEP headers, as python -m squeezekit.serve does), else the single-threaded one. Loads once: every
 * call gets the same promise.
 */
export function initRuntime() {
  runtime ??= load();
  return runtime;
}

async function load() {
  const isolated = globalThis.crossOriginIsolated === true;
  let threaded = false;
  if (isolated) {
    try {
      await loadLiteRt(WASM_DIR, {threads: true});
      threaded = true;
    } catch (err) {
      console.warn(`threaded LiteRT.js unavailable (${err.message}); using one thread`);
    }
  }
  if (!threaded) await loadLiteRt(WASM_DIR);
  return {
    threaded,
    crossOriginIsolated: isolated,
    maxThreads: threaded ? Math.max(1, navigator.hardwareConcurrency || 1) : 1,
    // LiteRT.js's default environment asks the browser for a WebGPU device when it loads.
    webgpu: getGlobalLiteRt().getDefaultEnvironment().webGpuDevice ? await adapterName() : null,
  };
}

async function adapterName() {
  const adapter = await navigator.gpu.requestAdapter();
  return (adapter && (adapter.info?.description || adapter.info?.vendor)) || 'WebGPU';
}

/**
 * A compiled model: `accelerator` 'wasm' (XNNPACK in WebAssembly, `threads` CPU threads) or 'webgpu'.
 * `bytes` is the .tflite (a Uint8Array), copied into the Wasm heap; `source` names it in messages.
 */
export async function compile(bytes, {accelerator = 'wasm', threads = 1, source = 'the model'} = {}) {
  const rt = await initRuntime();
  if (accelerator === 'webgpu' && !rt.webgpu) throw new Error('this browser has no WebGPU adapter; use WASM');
  const runner = new Runner(bytes, accelerator,
                            accelerator === 'wasm' ? Math.max(1, Math.min(threads, rt.maxThreads)) : 1, source);
  try {
    return await runner.compile();
  } catch (err) {
    runner.delete();
    throw err;
  }
}

/**
 * The model's tensor type with batch 1 where the file says -1 (exports keep Keras' dynamic batch; LiteRT
 * cannot size a dynamic layout): {type (a LiteRtRankedTensorType to delete), shape, element, bytes}.
 */
function batchOne(wasm, modelType) {
  const layout = modelType.layout();
  const dims = layout.dimensions();
  const shape = Array.from({length: dims.size()}, (_, i) => Math.max(1, dims.get(i)));
  const element = modelType.elementType().value;
  dims.delete();
  layout.delete();
  modelType.delete();
  const vector = new wasm.VectorInt32();
  for (const d of shape) vector.push_back(d);
  const fixed = wasm.LiteRtLayout.create(vector);
  vector.delete();
  const type = wasm.LiteRtRankedTensorType.create({value: element}, fixed);
  fixed.delete();
  return {type, shape, element, bytes: type.bytes()};
}

/**
 * A model compiled for 'wasm' (XNNPACK on `threads` threads) or 'webgpu', any tensor type: raw bytes in and
 * out, and the times of its recent runs.
 */
class Runner {
  constructor(bytes, accelerator, threads, source) {
    const wasm = getGlobalLiteRt().liteRtWasm;
    const env = getGlobalLiteRt().getDefaultEnvironment();
    const ptr = wasm._malloc(bytes.byteLength); // LiteRT reads the flatbuffer in place: keep it until delete
    wasm.HEAPU8.set(bytes, ptr);
    let model;
    try {
      model = wasm.loadModel(env.liteRtEnvironment, ptr, bytes.byteLength);
    } catch (err) {
      wasm._free(ptr);
      throw err;
    }
    this.accelerator = accelerator;
    this.threads = threads;
    this.times = [];
    this.input = batchOne(wasm, model.getInputTensorType(0, 0));
    const output = batchOne(wasm, model.getOutputTensorType(0, 0));
    output.type.delete();
    this.inputBytes = this.input.bytes;
    this.outputBytes = output.bytes;
    if (accelerator === 'webgpu' && this.input.element !== FLOAT32) {
      this.input.type.delete();
      model.delete();
      wasm._free(ptr);
      throw new ModelError(`${source}: LiteRT.js 2.5.3 feeds WebGPU float32 tensors only; run this model on ` +
                           'WASM, or export it with --float32 for WebGPU');
    }
    this.wasm = wasm;
    this.env = env;
    this.ptr = ptr;
    this.model = model;
    this.compiled = null;
  }

  async compile() {
    const options = {environment: this.env, accelerator: this.accelerator, cpuOptions: {numThreads: this.threads},
                     gpuOptions: {}, webNNOptions: {}};
    this.compiled = await this.wasm.compileModel(this.env.liteRtEnvironment, this.model, options);
    return this;
  }

  /** Input tensor bytes -> output tensor bytes (Uint8Arrays); the time of the run is recorded. */
  async run(inputBytes) {
    if (inputBytes.length !== this.inputBytes) {
      throw new Error(`${inputBytes.length} input bytes for a model whose input holds ${this.inputBytes}`);
    }
    const start = performance.now();
    this.pending = this.invoke(inputBytes);
    let out;
    try {
      out = await this.pending;
    } finally {
      this.pending = null;
    }
    this.times.push(performance.now() - start);
    if (this.times.length > RECENT) this.times.shift();
    return out;
  }

  /** Frees the runner once its run in flight (a camera frame, say) is over. */
  retire() {
    const free = () => this.delete();
    if (this.pending) this.pending.then(free, free);
    else free();
  }

  /** Mean milliseconds of the recent runs: the figure the page shows. */
  get meanMs() {
    return this.times.length ? this.times.reduce((a, b) => a + b, 0) / this.times.length : NaN;
  }

  async invoke(inputBytes) {
    if (this.accelerator === 'webgpu') return this.invokeGpu(inputBytes);
    const wasm = this.wasm;
    const buffer = wasm.LiteRtTensorBuffer.createManaged(this.env.liteRtEnvironment,
                                                         wasm.LiteRtTensorBufferType.HOST_MEMORY, this.input.type,
                                                         this.inputBytes);
    try {
      const ptr = buffer.lock(wasm.LiteRtTensorBufferLockMode.WRITE);
      wasm.HEAPU8.set(inputBytes, ptr); // HEAPU8 read after lock: the heap may have grown
      buffer.unlock();
      const outputs = await this.compiled.run(0, [buffer]);
      try {
        const p = outputs[0].lock(wasm.LiteRtTensorBufferLockMode.READ);
        const bytes = wasm.HEAPU8.slice(p, p + this.outputBytes);
        outputs[0].unlock();
        return bytes;
      } finally {
        for (const o of outputs) o.delete();
      }
    } finally {
      buffer.delete();
    }
  }

  async invokeGpu(inputBytes) {
    const requirements = this.compiled.getInputBufferRequirements(0, 0);
    const supported = requirements.supportedTypes();
    const bufferType = supported.get(0).value;
    supported.delete();
    requirements.delete();
    const host = new Tensor(new Float32Array(inputBytes.slice().buffer), this.input.shape);
    const device = await host.copyTo(bufferType);
    host.delete();
    try {
      const outputs = await this.compiled.run(0, [device.liteRtTensorBuffer]);
      const results = outputs.map((o) => new Tensor(o));
      try {
        const back = await results[0].copyTo('wasm');
        const bytes = new Uint8Array(back.toTypedArray().slice().buffer);
        back.delete();
        return bytes;
      } finally {
        for (const r of results) r.delete();
      }
    } finally {
      device.delete();
    }
  }

  /** False when WebGPU could not take the whole graph and LiteRT runs it on the CPU instead. */
  get fullyAccelerated() {
    return this.compiled.isFullyAccelerated();
  }

  delete() {
    if (this.compiled) this.compiled.delete();
    this.input.type.delete();
    this.model.delete();
    this.wasm._free(this.ptr);
  }
}
