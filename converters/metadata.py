"""Metadata inside the .tflite: everything an app needs to feed the model and read its output.

Two layers, both inside the one file (no side files):

1. **Standard TFLite metadata** (schema 1.x, the ``TFLITE_METADATA`` buffer that Android's
   ``MetadataExtractor`` and the Task Library read): model name, description and version; the input as an
   image with its ``NormalizationOptions`` (mean, std) and value range; the output with ``labels.txt`` as
   its ``TENSOR_AXIS_LABELS`` file.
2. **squeezekit.json**, a model-level associated file (type ``DESCRIPTIONS``) with the facts the standard
   schema cannot say: the channel order (Caffe-trained SqueezeNeXts take BGR), the crop fraction, the input
   and output quantization, whether the output is probabilities, and where the model came from.

Associated files are a zip archive appended to the flatbuffer, as the TFLite metadata populator does:
interpreters ignore the bytes after the flatbuffer, and any zip reader finds the archive from the end, so
``zipfile.ZipFile(io.BytesIO(content))`` (or ``java.util.zip``) reads ``labels.txt`` and ``squeezekit.json``.
The format of squeezekit.json is documented in BUILD.md ("Model metadata").
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass

import flatbuffers
import numpy as np

from converters import flatbuffer, graph
from converters.errors import MetadataError

FORMAT = "squeezekit-tflite/1"
METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
LABELS_FILE = "labels.txt"
INFO_FILE = "squeezekit.json"


@dataclass
class ModelInfo:
    """What the exporter knows about the model beyond its graph."""

    model: str  # registry name
    paper_name: str
    convention: str
    class_names: list[str]
    channel_order: str  # "RGB" or "BGR"
    mean: list[float]  # 0-255 units, in channel_order
    std: list[float]
    crop_fraction: float
    flavour: str  # one of converters.tflite.FLAVOURS: float32, float16, dynamic, int8, int16x8, int4
    trained: bool
    source: str = ""  # e.g. the weights file or "untrained registry model"
    quantization: str = ""  # "post-training (N images)" / "quantization-aware training (N epochs)"
    version: str = ""


def _tensor_md(schema, name: str, description: str):
    md = schema.TensorMetadataT()
    md.name = name
    md.description = description
    return md


def _standard_metadata(info: ModelInfo, size: tuple[int, int]) -> bytes:
    from converters.third_party.tflite_metadata import metadata_schema_py_generated as schema

    image = _tensor_md(schema, "image", f"{info.channel_order} image, {size[0]}x{size[1]}, resized so the short "
                       f"side is {size[0]}/{info.crop_fraction:.4g} and center-cropped; pixels 0-255 are "
                       f"normalized as (pixel - mean) / std in {info.channel_order} order.")
    image.content = schema.ContentT()
    image.content.contentPropertiesType = schema.ContentProperties.ImageProperties
    image.content.contentProperties = schema.ImagePropertiesT()
    # The schema knows RGB and GRAYSCALE only: a BGR model says UNKNOWN rather than mislead a reader.
    image.content.contentProperties.colorSpace = (schema.ColorSpaceType.RGB if info.channel_order == "RGB"
                                                  else schema.ColorSpaceType.UNKNOWN)
    norm = schema.ProcessUnitT()
    norm.optionsType = schema.ProcessUnitOptions.NormalizationOptions
    norm.options = schema.NormalizationOptionsT()
    norm.options.mean = [float(m) for m in info.mean]
    norm.options.std = [float(s) for s in info.std]
    image.processUnits = [norm]
    image.stats = schema.StatsT()
    image.stats.max = [(255.0 - m) / s for m, s in zip(info.mean, info.std)]
    image.stats.min = [(0.0 - m) / s for m, s in zip(info.mean, info.std)]

    probs = _tensor_md(schema, "probability", f"Probabilities of the {len(info.class_names)} classes.")
    probs.content = schema.ContentT()
    probs.content.contentPropertiesType = schema.ContentProperties.FeatureProperties
    probs.content.contentProperties = schema.FeaturePropertiesT()
    probs.stats = schema.StatsT()
    probs.stats.max = [1.0]
    probs.stats.min = [0.0]
    labels = schema.AssociatedFileT()
    labels.name = LABELS_FILE
    labels.description = "Class names, one per line, in output order."
    labels.type = schema.AssociatedFileType.TENSOR_AXIS_LABELS
    probs.associatedFiles = [labels]

    sub = schema.SubGraphMetadataT()
    sub.inputTensorMetadata = [image]
    sub.outputTensorMetadata = [probs]
    model = schema.ModelMetadataT()
    model.name = f"{info.paper_name} ({info.model}, {info.flavour})"
    model.description = (f"{info.paper_name} image classifier, {info.convention} convention, "
                         f"{'trained' if info.trained else 'untrained'}; exported by squeezekit.")
    model.version = info.version
    model.author = "squeezekit"
    described = schema.AssociatedFileT()
    described.name = INFO_FILE
    described.description = "squeezekit metadata (JSON): channel order, crop, quantization, provenance."
    described.type = schema.AssociatedFileType.DESCRIPTIONS
    model.associatedFiles = [described]
    model.subgraphMetadata = [sub]
    model.minParserVersion = "1.0.0"
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), METADATA_IDENTIFIER)
    return bytes(builder.Output())


def info_json(info: ModelInfo, g: graph.Graph) -> dict:
    inp, out = g.io("inputs")[0], g.io("outputs")[0]
    return {
        "format": FORMAT,
        "model": info.model,
        "paper_name": info.paper_name,
        "convention": info.convention,
        "flavour": info.flavour,
        "trained": info.trained,
        "source": info.source,
        "quantization": info.quantization,
        "input": {
            "shape": inp["shape"], "dtype": inp["dtype"], "quantization": inp.get("quantization"),
            "channel_order": info.channel_order, "mean": list(info.mean), "std": list(info.std),
            "pixel_range": [0, 255], "crop_fraction": info.crop_fraction,
        },
        "output": {"shape": out["shape"], "dtype": out["dtype"], "quantization": out.get("quantization"),
                   "kind": "probabilities", "labels": LABELS_FILE},
        "classes": len(info.class_names),
        "squeezekit_version": info.version,
    }


def attach(content: bytes, info: ModelInfo) -> bytes:
    """``content`` with the standard metadata buffer and the zip of labels.txt and squeezekit.json."""
    g = graph.read(content)
    shape = g.io("inputs")[0]["shape"]
    classes = g.io("outputs")[0]["shape"][-1]
    if len(info.class_names) != classes:
        raise MetadataError(f"{len(info.class_names)} class names for a model with {classes} outputs.")
    body = flatbuffer.rewrite(content, {METADATA_NAME: _standard_metadata(info, (shape[1], shape[2]))})
    # Appending to the flatbuffer (zipfile's "a" mode on non-zip bytes) writes offsets from the start of
    # the file, as the TFLite metadata populator does, so every zip reader (java.util.zip too) finds them.
    out = io.BytesIO(body)
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_entry(LABELS_FILE), "\n".join(info.class_names) + "\n")
        zf.writestr(_entry(INFO_FILE), json.dumps(info_json(info, g), indent=2) + "\n")
    return out.getvalue()


def _entry(name: str) -> zipfile.ZipInfo:
    """A zip entry with a fixed time (zip's epoch), so the same model exports to the same bytes."""
    entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    entry.compress_type = zipfile.ZIP_DEFLATED
    entry.external_attr = 0o600 << 16  # what writestr gives a plain name
    return entry


def read(content: bytes) -> tuple[dict, list[str]]:
    """``(squeezekit.json as a dict, class names)`` of an exported .tflite; a one-line ``MetadataError`` when
    the file has none, or when the zip or the JSON in it is damaged or lacks what a reader needs."""
    import zlib

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            names = set(zf.namelist())
            if INFO_FILE not in names:
                raise KeyError(INFO_FILE)
            raw_info, raw_labels = zf.read(INFO_FILE), zf.read(LABELS_FILE)
    except (zipfile.BadZipFile, KeyError) as err:
        if isinstance(err, zipfile.BadZipFile) and b"PK\x03\x04" in content:  # a zip was there, now unreadable
            raise MetadataError(f"the file's metadata zip is damaged (BadZipFile: {err})", "export the model again.",
                                param="tflite") from None
        raise MetadataError("the file carries no squeezekit metadata",
                            "attach it with converters.metadata.attach (squeezekit's export does).",
                            param="tflite") from None
    except (zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as err:
        raise MetadataError(f"the file's metadata zip is damaged ({type(err).__name__}: "
                            f"{(str(err).splitlines() or [''])[0]})", "export the model again.",
                            param="tflite") from None
    try:
        info = json.loads(raw_info)
        labels = raw_labels.decode().split("\n")[:-1]
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        raise MetadataError(f"the file's {INFO_FILE} or {LABELS_FILE} is damaged ({type(err).__name__})",
                            "export the model again.", param="tflite") from None
    problem = _info_problem(info, labels)
    if problem:
        raise MetadataError(f"the file's {INFO_FILE} {problem}", "export the model again.", param="tflite")
    return info, labels


def _info_problem(info, labels: list[str]) -> str | None:
    """What makes ``info`` (a parsed squeezekit.json) unusable to a reader, or None."""
    if not isinstance(info, dict) or not isinstance(info.get("input"), dict):
        return "is not a squeezekit metadata object"
    spec = info["input"]
    if spec.get("channel_order") not in ("RGB", "BGR"):
        return f"gives an unknown channel order {spec.get('channel_order')!r}"
    for key in ("mean", "std"):
        values = spec.get(key)
        if (not isinstance(values, list) or len(values) != 3
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in values)
                or (key == "std" and 0 in values)):
            return f"gives no usable input {key} (three numbers{', none 0' if key == 'std' else ''})"
    crop = spec.get("crop_fraction")
    if not isinstance(crop, (int, float)) or isinstance(crop, bool) or not 0 < crop <= 1:
        return f"gives no usable crop fraction ({crop!r})"
    if info.get("classes") != len(labels):
        return f"says {info.get('classes')!r} classes but {LABELS_FILE} has {len(labels)}"
    return None


def read_standard(content: bytes):
    """The standard ``ModelMetadataT`` (object API of the vendored schema), or None."""
    from converters.third_party.tflite_metadata import metadata_schema_py_generated as schema

    data = graph.metadata_buffer(content, METADATA_NAME)
    if data is None:
        return None
    return schema.ModelMetadataT.InitFromPackedBuf(bytearray(data), 0)
