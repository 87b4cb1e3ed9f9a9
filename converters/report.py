"""The verification report written beside every export: what is in the file and how faithful it is.

Data first (``Report``, saved as JSON), Markdown for people second. The TFLite side runs in
``ai_edge_litert`` with its default XNNPACK delegate, as an app would run it.
"""

from __future__ import annotations

import gzip
from dataclasses import asdict, dataclass, field

import numpy as np

from converters import audit as audit_lib, graph as graph_lib, layer_errors as layer_errors_lib, rewrite


@dataclass
class Report:
    file: str
    model: str
    paper_name: str
    flavour: str
    recipe: str
    quantization: str  # how int8 ranges were found, or "" for float flavours
    size_bytes: int
    gzip_bytes: int
    trainable_params: int
    bytes_per_param: float
    inputs: list
    outputs: list
    op_count: int
    ops: list  # inventory rows: op, dtypes, count
    xnnpack: dict  # partitions, ops_outside
    int8_problems: list
    agreement: dict | None  # against the float Keras model: samples, data, top1_agreement, max_abs_difference
    accuracy: dict | None  # on labelled held-out data: samples, data, keras_top1, tflite_top1
    seconds: dict = field(default_factory=dict)  # trace, qat, conversion, optimization
    notes: list = field(default_factory=list)
    optimization: dict | None = None  # converters.rewrite.optimize's decision: mode, applied, candidates
    # Quantized flavours: each op's error against the float32 file (converters.layer_errors), in node order,
    # and its summary (images, reference, output and logit SNR).
    layer_errors: list | None = None
    quantization_error: dict | None = None
    selective: dict | None = None  # converters.selective's choice: mode, asked, target, layers, tried rows
    # converters.audit's checks of the flavour (int8, int16x8, int4, float16; None for the others): flavour,
    # problems, and for float16 the reduced_precision_support value. int8_problems repeats int8's problems.
    audit: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def to_markdown(self) -> str:
        kb = self.size_bytes / 1024
        lines = [
            f"# {self.file}",
            "",
            f"{self.paper_name} (`{self.model}`), {self.recipe}" + (f"; {self.quantization}" if self.quantization else ""),
            "",
            "| | |",
            "|---|---|",
            f"| size | {self.size_bytes:,} bytes ({kb:,.1f} KiB); gzip {self.gzip_bytes:,} |",
            f"| trainable parameters | {self.trainable_params:,} ({self.bytes_per_param:.3f} bytes each) |",
        ]
        for which, rows in (("input", self.inputs), ("output", self.outputs)):
            for row in rows:
                q = row.get("quantization")
                qtext = f", scale {q['scale']:.6g}, zero point {q['zero_point']}" if q else ""
                lines.append(f"| {which} | `{row['dtype']}` {row['shape']}{qtext} |")
        lines.append(f"| ops | {self.op_count} |")
        lines.append(f"| XNNPACK | {self.xnnpack['partitions']} partition(s); outside: "
                     f"{', '.join(self.xnnpack['ops_outside']) or 'none'} |")
        if self.agreement:
            a = self.agreement
            lines.append(f"| agreement with Keras | top-1 {a['top1_agreement']:.2%} on {a['samples']} images of "
                         f"{a['data']}; max output difference {a['max_abs_difference']:.4g} |")
        if self.accuracy:
            a = self.accuracy
            lines.append(f"| held-out top-1 | TFLite {a['tflite_top1']:.2%}, Keras {a['keras_top1']:.2%} "
                         f"({a['samples']} images of {a['data']}) |")
        for name, value in self.seconds.items():
            lines.append(f"| {name.replace('_', ' ')} | {value:.1f} s |")
        if self.audit is not None:
            problems = self.audit["problems"]
            lines.append(f"| {self.flavour} checks | {'passed' if not problems else '; '.join(problems)} |")
            if self.audit.get("reduced_precision_support") is not None or self.flavour == "float16":
                lines.append(f"| FP16 metadata | `{audit_lib.REDUCED_PRECISION_KEY}` = "
                             f"`{self.audit.get('reduced_precision_support')}` |")
        if self.optimization is not None:
            o = self.optimization
            lines.append(f"| exact rewrites | {o['mode']}: {', '.join(o['applied']) or 'no rewrite applied'} |")
        if self.quantization_error:
            e = self.quantization_error
            parts = [f"{what} {e[key]:.1f} dB" for what, key in (("logits", "logit_snr_db"), ("output", "output_snr_db"))
                     if e.get(key) is not None]
            lines.append(f"| SNR against float32 | {', '.join(parts) or 'not measured'} ({e['images']} images) |")
        lines += ["", "## Ops", "", "| op | dtypes (inputs->outputs) | count |", "|---|---|---|"]
        lines += [f"| {r['op']} | {r['dtypes']} | {r['count']} |" for r in self.ops]
        if self.selective:
            sel = self.selective
            lines += ["", "## Selective precision", "",
                      f"{sel['mode']} ({sel['asked']}): {len(sel['layers'])} layer(s) "
                      f"{'in float32' if sel['mode'] == 'keep_float' else 'with 16-bit activations'}"
                      + (f": {', '.join(sel['layers'])}" if sel["layers"] else "") + ".", ""]
            if sel.get("tried"):
                lines += [f"Tried on {sel['images']} images (top-1 agreement with the float model; target "
                          f"{sel['target']:.1%}); host latency at 1 thread, median of interleaved runs:", "",
                          "| layers | agreement | bytes | host ms |", "|---:|---:|---:|---:|"]
                for row in sel["tried"]:
                    ms = f"{row['host_us'] / 1e3:.2f}" if row.get("host_us") else ""
                    mark = " (over budget)" if not row.get("within_budget", True) else ""
                    lines.append(f"| {row['layers']} | {row['agreement']:.2%} | {row['bytes']:,}{mark} | {ms} |")
        if self.layer_errors:
            lines += ["", "## Quantization error by op", "",
                      f"The ops that lose the most SNR against the float32 file on {self.quantization_error['images']} "
                      "images (SNR: of the op's output, accumulated; SNR lost: its worst input's SNR minus its "
                      "output's; added noise: the noise-to-signal power it adds). Every op is in the .report.json "
                      "under `layer_errors`.", ""]
            lines += layer_errors_lib.describe(self.layer_errors)
        if self.optimization and self.optimization["candidates"]:
            lines += ["", "## Exact rewrites", ""] + [f"- {line}" for line in rewrite.describe(self.optimization)]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def interpreter(content: bytes, num_threads: int = 2):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=content, num_threads=num_threads)


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float model inputs -> the input tensor's dtype, by its scale and zero point."""
    dtype = detail["dtype"]
    if dtype == np.float32:
        return x.astype(np.float32)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return y.astype(np.float32)
    scale, zero = detail["quantization"]
    return (y.astype(np.float32) - zero) * scale


def run(content: bytes, images: np.ndarray, batch: int = 64, num_threads: int = 2) -> np.ndarray:
    """Float outputs of the .tflite on preprocessed float ``images`` (quantized in and out as needed)."""
    it = interpreter(content, num_threads)
    index = it.get_input_details()[0]["index"]
    outputs, current = [], None
    for start in range(0, len(images), batch):
        x = images[start:start + batch]
        if current != len(x):
            it.resize_tensor_input(index, [len(x)] + list(x.shape[1:]))
            it.allocate_tensors()
            current = len(x)
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        it.set_tensor(index, quantize(x, inp))
        it.invoke()
        outputs.append(dequantize(it.get_tensor(out["index"]), out))
    return np.concatenate(outputs)


def xnnpack_partitions(content: bytes) -> dict:
    """How the default delegate took the graph: its partitions and the ops left to the builtin kernels."""
    it = interpreter(content, 1)
    it.allocate_tensors()
    nodes = it._get_ops_details()  # original nodes, then the delegate nodes that replaced them
    delegates = [n for n in nodes if n["op_name"] == "DELEGATE"]
    originals = [n for n in nodes if n["op_name"] != "DELEGATE"]
    producer = {int(t): n for n in originals for t in n["outputs"]}
    covered = set()
    for d in delegates:  # walk back from a partition's outputs to its inputs
        stop = {int(t) for t in d["inputs"]}
        todo = [int(t) for t in d["outputs"]]
        while todo:
            t = todo.pop()
            node = producer.get(t)
            if t in stop or node is None or node["index"] in covered:
                continue
            covered.add(node["index"])
            todo.extend(int(i) for i in node["inputs"] if i >= 0)
    outside = [n["op_name"] for n in originals if n["index"] not in covered]
    return {"partitions": len(delegates), "ops_outside": outside}


def agreement(reference: np.ndarray, outputs: np.ndarray, data: str) -> dict:
    return {"samples": int(len(reference)), "data": data,
            "top1_agreement": float(np.mean(reference.argmax(-1) == outputs.argmax(-1))),
            "max_abs_difference": float(np.max(np.abs(reference - outputs)))}


def accuracy(reference: np.ndarray, outputs: np.ndarray, labels: np.ndarray, data: str) -> dict:
    return {"samples": int(len(labels)), "data": data,
            "keras_top1": float(np.mean(reference.argmax(-1) == labels)),
            "tflite_top1": float(np.mean(outputs.argmax(-1) == labels))}


def build(content: bytes, *, file: str, model: str, paper_name: str, recipe, quantization: str,
          trainable_params: int, reference: np.ndarray | None = None, outputs: np.ndarray | None = None,
          labels: np.ndarray | None = None, data: str = "", seconds: dict | None = None,
          notes: list | None = None, optimization: dict | None = None, layer_errors: list | None = None,
          quantization_error: dict | None = None, selective: dict | None = None) -> Report:
    """``selective``: ``converters.selective``'s choice (mode, layers, tried rows); the int8 audit allows its
    layers, and only them, at their other precision."""
    g = graph_lib.read(content)
    kept = set()
    if selective and selective.get("layers"):
        from converters.profiling import layers as layers_lib

        chosen = set(selective["layers"])
        kept = {g.tensors[g.ops[row.index].outputs[0]].name for row in layers_lib.read(content, g)
                if row.layer in chosen}
    problems = audit_lib.problems(g, recipe.flavour, float_io=recipe.float_io, kept_tensors=kept)
    checked = None
    if recipe.flavour in audit_lib.AUDITED:
        checked = {"flavour": recipe.flavour, "problems": problems}
        if recipe.flavour == "float16":
            checked["reduced_precision_support"] = audit_lib.fp16_metadata(g)
    return Report(
        file=file, model=model, paper_name=paper_name, flavour=recipe.flavour, recipe=recipe.describe(),
        quantization=quantization, size_bytes=len(content), gzip_bytes=len(gzip.compress(content, 9)),
        trainable_params=trainable_params, bytes_per_param=len(content) / max(trainable_params, 1),
        inputs=g.io("inputs"), outputs=g.io("outputs"), op_count=len(g.ops), ops=g.inventory(),
        xnnpack=xnnpack_partitions(content), int8_problems=problems if recipe.flavour == "int8" else [],
        agreement=agreement(reference, outputs, data) if reference is not None else None,
        accuracy=accuracy(reference, outputs, labels, data) if labels is not None else None,
        seconds=dict(seconds or {}), notes=list(notes or []), optimization=optimization, audit=checked,
        layer_errors=layer_errors, quantization_error=quantization_error, selective=selective,
    )
