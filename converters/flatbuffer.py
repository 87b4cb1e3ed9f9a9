"""Rewriting a .tflite flatbuffer: add named metadata buffers and store repeated vectors once.

The writer; ``converters.graph`` is the reader.

A per-channel int8 tensor carries one float32 scale and one int64 zero point per channel. Weight and bias
zero points are all 0, so every conv layer's two zero-point vectors are the same bytes; flatbuffers lets
many tables point at one vector, and ``rewrite`` writes each distinct int64 vector once. For 1.0-G-SqNxt-23
that is about 100 KB of a 745 KB file. The interpreter reads the same numbers (the tests compare outputs).
"""

from __future__ import annotations

import flatbuffers
import numpy as np

TFLITE_IDENTIFIER = b"TFL3"


class _SharingBuilder(flatbuffers.Builder):
    """A Builder that writes each distinct int64 numpy vector (zero points) once and reuses its offset."""

    def __init__(self, size: int):
        super().__init__(size)
        self._shared = {}

    def CreateNumpyVector(self, x):  # noqa: N802 (flatbuffers' name)
        if isinstance(x, np.ndarray) and x.dtype == np.int64:
            key = x.tobytes()
            if key not in self._shared:
                self._shared[key] = super().CreateNumpyVector(x)
            return self._shared[key]
        return super().CreateNumpyVector(x)


def unpack(content: bytes):
    """The .tflite ``content`` as the schema's object API (``ModelT``), to edit and ``pack``."""
    from ai_edge_litert import schema_py_generated as schema

    return schema.ModelT.InitFromPackedBuf(bytearray(content), 0)


def pack(model, size_hint: int) -> bytes:
    """A ``ModelT`` as .tflite bytes, each distinct int64 vector written once."""
    builder = _SharingBuilder(size_hint)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return bytes(builder.Output())


def rewrite(content: bytes, metadata: dict[str, bytes] | None = None) -> bytes:
    """``content`` with ``metadata`` (name -> bytes) added or replaced and int64 vectors shared.

    Anything appended after the flatbuffer (a zip of associated files) is dropped: append it again.
    """
    from ai_edge_litert import schema_py_generated as schema

    model = unpack(content)
    model.metadata = list(model.metadata or [])
    for name, data in (metadata or {}).items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(data, dtype=np.uint8)
        existing = [m for m in model.metadata if (m.name or b"").decode() == name]
        if existing:
            model.buffers[existing[0].buffer] = buffer
            continue
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = name
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    return pack(model, len(content) + sum(len(d) for d in (metadata or {}).values()) + 1024)

