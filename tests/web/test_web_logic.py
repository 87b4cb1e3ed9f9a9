"""The web demo's pure JavaScript under Node: Pillow's BILINEAR resize bit for bit on random sizes, and the
metadata reader on well-formed and broken files (the browser test covers the rest on real exports)."""

import base64
import io
import json
import os
import shutil
import subprocess
import zipfile

import numpy as np
import pytest

HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.mjs")


def _node(op: str, cases: list) -> list:
    node = shutil.which("node")
    assert node, "Node.js 18+ is needed for the web demo's tests (README: prerequisites)"
    result = subprocess.run([node, HARNESS], input=json.dumps({"op": op, "cases": cases}), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_resize_is_pillows_bilinear_bit_for_bit():
    from PIL import Image

    rng = np.random.default_rng(0)
    sizes = [tuple(int(v) for v in rng.integers(1, 48, 4)) for _ in range(250)]
    # Pillow 13's pass order flips at outHeight < height and height - outHeight > 2 * (width - outWidth):
    # both sides of that boundary, and one-axis resizes.
    sizes += [(20, 30, 16, 21), (20, 30, 16, 22), (20, 30, 16, 23), (31, 9, 31, 40), (9, 31, 40, 31), (7, 7, 7, 7)]
    cases, expected = [], []
    for w, h, ow, oh in sizes:
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        cases.append({"rgb": _b64(rgb.tobytes()), "width": w, "height": h, "out_width": ow, "out_height": oh})
        expected.append(np.asarray(Image.fromarray(rgb).resize((ow, oh), Image.BILINEAR)).tobytes())
    answers = _node("resize", cases)
    wrong = [sizes[i] for i, (a, e) in enumerate(zip(answers, expected)) if base64.b64decode(a) != e]
    assert not wrong, f"{len(wrong)} of {len(sizes)} sizes differ from Pillow, e.g. {wrong[:5]}"


HEAD = b"\x1c\x00\x00\x00TFL3" + bytes(56)


def _info(**change):
    info = {"format": "squeezekit-tflite/1", "model": "test_model", "paper_name": "Test-Net", "flavour": "int8",
            "input": {"shape": [1, 4, 4, 3], "dtype": "int8", "quantization": {"scale": 0.5, "zero_point": -3},
                      "channel_order": "BGR", "mean": [104.0, 117.0, 123.0], "std": [1.0, 1.0, 1.0],
                      "pixel_range": [0, 255], "crop_fraction": 0.875},
            "output": {"shape": [1, 3], "dtype": "uint8", "quantization": {"scale": 0.00390625, "zero_point": 0},
                       "kind": "probabilities", "labels": "labels.txt"},
            "classes": 3}
    for key, value in change.items():
        part, _, field = key.partition("__")
        if field:
            info[part][field] = value
        else:
            info[part] = value
    return info


def _model(info=None, labels="a\nb\nc\n", method=zipfile.ZIP_DEFLATED, relative=False, raw_info=None) -> bytes:
    """HEAD + a zip with squeezekit.json and labels.txt, offsets from the start of the file (as
    converters.metadata.attach writes it) unless ``relative``."""
    buffer = io.BytesIO()
    if not relative:
        buffer.write(HEAD)
    with zipfile.ZipFile(buffer, "a" if not relative else "w", compression=method) as zf:
        zf.writestr("labels.txt", labels)
        zf.writestr("squeezekit.json", raw_info if raw_info is not None else json.dumps(info or _info()))
    return buffer.getvalue() if not relative else HEAD + buffer.getvalue()


def test_metadata_is_read_from_every_way_the_zip_is_written():
    answers = _node("metadata", [{"name": n, "bytes": _b64(b)} for n, b in [
        ("deflated.tflite", _model()), ("stored.tflite", _model(method=zipfile.ZIP_STORED)),
        ("relative.tflite", _model(relative=True))]])
    for answer in answers:
        m = answer["ok"]
        assert m["name"] == "Test-Net (int8)" and m["size"] == 4 and m["channelOrder"] == "BGR"
        assert m["inputType"] == "int8" and m["inputQuantization"] == {"scale": 0.5, "zeroPoint": -3}
        assert m["outputType"] == "uint8" and m["outputQuantization"] == {"scale": 0.00390625, "zeroPoint": 0}
        assert m["labels"] == ["a", "b", "c"] and m["inputBytes"] == 48 and m["outputBytes"] == 3
        assert m["mean"] == [104, 117, 123] and m["cropFraction"] == 0.875 and m["outputKind"] == "probabilities"


def test_broken_metadata_gets_one_readable_sentence():
    good = _model()
    central = good.rindex(b"PK\x01\x02")  # the central directory entry of squeezekit.json: break its CRC
    crc_broken = bytearray(good)
    crc_broken[central + 16] ^= 0xFF
    cases = {
        "random.tflite": (bytes(100), "random.tflite is not a TFLite model (no TFL3 file identifier)"),
        "empty.tflite": (b"", "empty.tflite is empty"),
        "bare.tflite": (HEAD, "bare.tflite has no squeezekit metadata: export it with python -m squeezekit.export "
                              "(no zip archive appended)"),
        "crc.tflite": (bytes(crc_broken), "crc.tflite has no squeezekit metadata: export it with python -m "
                                          "squeezekit.export (squeezekit.json fails its CRC check)"),
        "json.tflite": (_model(raw_info="{not json"), "json.tflite: squeezekit.json is not valid JSON"),
        "format.tflite": (_model(_info(format="other/2")),
                          "format.tflite: unsupported metadata format 'other/2' (this page reads squeezekit-tflite/1)"),
        "labels.tflite": (_model(labels="a\nb\n"), "labels.tflite is not an image classifier: 2 labels for 3 outputs"),
        "square.tflite": (_model(_info(input__shape=[1, 4, 5, 3])),
                          "square.tflite: input 4x5 is not square; the demo crops squares"),
        "quant.tflite": (_model(_info(input__quantization=None)),
                         "quant.tflite: input is int8 but has no quantization parameters"),
        "dtype.tflite": (_model(_info(output__dtype="int16")),
                         "dtype.tflite: unsupported output dtype 'int16' (float32, int8 or uint8)"),
        "shape.tflite": (_model(_info(output__shape="x")), "shape.tflite: malformed squeezekit.json"),
    }
    answers = _node("metadata", [{"name": n, "bytes": _b64(b)} for n, (b, _) in cases.items()])
    for (name, (_, expected)), answer in zip(cases.items(), answers):
        assert answer.get("type") == "ModelError" and answer["error"].startswith(expected), (name, answer)
        assert "\n" not in answer["error"]
