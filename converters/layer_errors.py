"""Where an int8 file loses accuracy: the quantization error of every op, measured against the float file.

Both files run on the same preprocessed images with every intermediate tensor kept (TFLite's builtin
kernels: XNNPACK fuses the graph and keeps none). Each op's output in the quantized file is dequantized and
compared with the same tensor of the float file (tensors are matched by name: one SavedModel converts to
both, so the fused ops keep the same names; where a name is missing, by layer name and op):

- ``snr_db``: signal-to-noise ratio of the op's output, 10 log10(sum f^2 / sum (q - f)^2) over the images.
  It is the error accumulated up to and including this op.
- ``snr_drop_db``: how much SNR the op loses, min SNR(activation inputs) - SNR(output). It separates what an
  op adds from what its inputs bring, so a badly ranged op ranks first even though everything after it
  inherits its error. Ops are ranked by it (``rank`` 1 is the worst); an op fed only by a float graph input
  (the input's QUANTIZE) has no drop to rank: its reference is exact.
- ``added_noise``: the same in linear terms, NSR(output) - max NSR(activation inputs), NSR = 10^(-SNR/10):
  what the op adds to the noise power (late ops, already noisy, add more in these terms for the same step).
- ``max_abs_error``, ``output_scale`` (the output tensor's first scale: a range much wider than the data
  shows as a coarse step) and the relative step ``scale_to_rms`` = scale / RMS of the float output.

This is the comparison of intermediate tensors that tf.lite.experimental.QuantizationDebugger's whole-model
mode makes, computed from the two finished files: it works the same for calibrated, quantization-aware
trained and compressed exports, and for files rewritten after conversion.
"""

from __future__ import annotations

import math

import numpy as np

from converters import graph as graph_lib

EXACT_SNR_DB = 200.0  # reported for an error of exactly zero (JSON has no infinity)
DEFAULT_IMAGES = 32


def interpreter(content: bytes):
    """An interpreter on TFLite's builtin kernels that keeps every intermediate tensor (XNNPACK keeps none)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=content, num_threads=1, experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return it


def _dequantized(it, tensor: graph_lib.Tensor) -> np.ndarray:
    value = it.get_tensor(tensor.index).astype(np.float64)
    if tensor.dtype in ("INT8", "UINT8", "INT16") and tensor.scale:
        scale = np.asarray(tensor.scale, dtype=np.float64)
        zero = np.asarray(tensor.zero_point, dtype=np.float64)
        if scale.size > 1:  # per-axis activations do not occur in these files, but stay correct if they do
            shape = [1] * value.ndim
            shape[tensor.quantized_dimension] = scale.size
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        value = (value - zero) * scale
    return value


def _feed(it, g: graph_lib.Graph, image: np.ndarray) -> None:
    t = g.tensors[g.inputs[0]]
    x = image[None].astype(np.float32)
    if t.dtype in ("INT8", "UINT8", "INT16"):
        info = np.iinfo({"INT8": np.int8, "UINT8": np.uint8, "INT16": np.int16}[t.dtype])
        x = np.clip(np.round(x / t.scale[0] + t.zero_point[0]), info.min, info.max).astype(info.dtype)
    it.set_tensor(t.index, x)
    it.invoke()


def _layer_names(content: bytes, g: graph_lib.Graph) -> dict[int, str]:
    from converters.profiling import layers

    return {row.index: row.layer for row in layers.read(content, g)}


def _match(fg: graph_lib.Graph, f_layers: dict, qg: graph_lib.Graph, q_layers: dict) -> dict[int, int]:
    """Quantized tensor index -> float tensor index, for every op output both files have."""
    by_name = {fg.tensors[o].name: o for op in fg.ops for o in op.outputs}
    by_name.update({fg.tensors[i].name: i for i in fg.inputs})
    by_layer: dict[tuple[str, str], list[int]] = {}
    for op in fg.ops:
        by_layer.setdefault((f_layers.get(op.index, ""), op.name), []).append(op.outputs[0])
    pairs = {}
    for op in qg.ops:
        out = op.outputs[0]
        name = qg.tensors[out].name
        if name in by_name:
            pairs[out] = by_name[name]
            continue
        key = (q_layers.get(op.index, ""), op.name)
        if key[0] and len(by_layer.get(key, ())) == 1:
            pairs[out] = by_layer[key][0]
    for i in qg.inputs:
        if qg.tensors[i].name in by_name:
            pairs[i] = by_name[qg.tensors[i].name]
    return pairs


def measure(float_content: bytes, quant_content: bytes, images: np.ndarray,
            limit: int = DEFAULT_IMAGES) -> list[dict]:
    """One entry per op of ``quant_content`` (in node order), ranked by the SNR it loses.

    ``images`` are float32, preprocessed as the float file expects (the quantized file's input is quantized
    from them, as an app does). The first ``limit`` are used.
    """
    fg, qg = graph_lib.read(float_content), graph_lib.read(quant_content)
    q_layers = _layer_names(quant_content, qg)
    pairs = _match(fg, _layer_names(float_content, fg), qg, q_layers)
    fit, qit = interpreter(float_content), interpreter(quant_content)
    signal = {t: 0.0 for t in pairs}
    noise = {t: 0.0 for t in pairs}
    worst = {t: 0.0 for t in pairs}
    for image in images[:limit]:
        _feed(fit, fg, image)
        _feed(qit, qg, image)
        for q, f in pairs.items():
            ref = _dequantized(fit, fg.tensors[f])
            got = _dequantized(qit, qg.tensors[q])
            if ref.shape != got.shape:
                continue
            diff = got - ref
            signal[q] += float(np.sum(ref * ref))
            noise[q] += float(np.sum(diff * diff))
            worst[q] = max(worst[q], float(np.max(np.abs(diff))) if diff.size else 0.0)
    count = min(len(images), limit)

    def nsr(t: int) -> float | None:
        if t not in pairs or signal[t] == 0.0:
            return None
        return noise[t] / signal[t]

    produced = {o for op in qg.ops for o in op.outputs} | set(qg.inputs)
    rows = []
    for op in qg.ops:
        out = op.outputs[0]
        t = qg.tensors[out]
        ratio = nsr(out)
        layer = q_layers.get(op.index, "")
        row = {"node": op.index, "op": op.name, "layer": layer, "tensor": t.name,
               "output_scale": float(t.scale[0]) if t.scale else None,
               "snr_db": None, "snr_drop_db": None, "added_noise": None, "max_abs_error": None, "scale_to_rms": None,
               "rank": None}
        if ratio is not None:
            row["snr_db"] = EXACT_SNR_DB if ratio == 0.0 else min(EXACT_SNR_DB, -10.0 * math.log10(ratio))
            elements = count * max(1, int(np.prod(t.shape)))
            rms = math.sqrt(signal[out] / elements)
            row["max_abs_error"] = worst[out]
            if t.scale and rms > 0:
                row["scale_to_rms"] = float(t.scale[0]) / rms
            inputs, measured = [], []
            for i in op.inputs:
                if i < 0 or i not in produced:
                    continue  # constants (weights, biases, shapes)
                source = qg.tensors[i]
                if i in qg.inputs and source.dtype == "FLOAT32":
                    inputs.append(0.0)  # a float graph input is the reference itself
                elif nsr(i) is not None:
                    inputs.append(nsr(i))
                    measured.append(nsr(i))
            row["added_noise"] = ratio - max(inputs, default=0.0)
            if measured:
                worst_in = max(measured)
                snr_in = EXACT_SNR_DB if worst_in == 0.0 else min(EXACT_SNR_DB, -10.0 * math.log10(worst_in))
                row["snr_drop_db"] = snr_in - row["snr_db"]
        rows.append(row)
    ranked = sorted((r for r in rows if r["snr_drop_db"] is not None), key=lambda r: -r["snr_drop_db"])
    for rank, row in enumerate(ranked, 1):
        row["rank"] = rank
    return rows


def worst(rows: list[dict], n: int = 5) -> list[dict]:
    """The ``n`` ops that lose the most SNR, worst first."""
    return sorted((r for r in rows if r["rank"] is not None), key=lambda r: r["rank"])[:n]


def describe(rows: list[dict], n: int = 5) -> list[str]:
    """Markdown table lines of the worst ``n`` ops."""
    lines = ["| rank | node | op | layer | SNR (dB) | SNR lost (dB) | added noise | output scale / RMS |",
             "|---:|---:|---|---|---:|---:|---:|---:|"]
    for r in worst(rows, n):
        step = f"{r['scale_to_rms']:.3g}" if r["scale_to_rms"] is not None else ""
        lines.append(f"| {r['rank']} | {r['node']} | {r['op']} | {r['layer'] or r['tensor']} | {r['snr_db']:.1f} | "
                     f"{r['snr_drop_db']:.1f} | {r['added_noise']:.3g} | {step} |")
    return lines


def summarize(quant_content: bytes, rows: list[dict], images: int) -> dict:
    """The figures a report leads with: SNR of the file's output and, when a SOFTMAX makes it, of the logits
    that feed the SOFTMAX (softmax saturates, so its SNR understates what the quantization did)."""
    g = graph_lib.read(quant_content)
    by_tensor = {g.ops[r["node"]].outputs[0]: r for r in rows}
    output = by_tensor.get(g.outputs[0], {}).get("snr_db")
    logits = None
    producer = {o: op for op in g.ops for o in op.outputs}
    op = producer.get(g.outputs[0])
    while op is not None and op.name in ("DEQUANTIZE", "QUANTIZE"):  # a float or uint8 output edge
        op = producer.get(op.inputs[0])
        if output is None and op is not None:  # a requantized output has no float twin: take what it copies
            output = by_tensor.get(op.outputs[0], {}).get("snr_db")
    if op is not None and op.name == "SOFTMAX":
        source = producer.get(op.inputs[0])
        while source is not None and source.name in ("DEQUANTIZE", "QUANTIZE"):  # a requantization (mixed bits)
            source = producer.get(source.inputs[0])
        logits = by_tensor.get(source.outputs[0] if source else op.inputs[0], {}).get("snr_db")
    return {"images": images, "reference": "the float32 .tflite of the same model", "output_snr_db": output,
            "logit_snr_db": logits}
