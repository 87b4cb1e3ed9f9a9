"""The LiteRT C API in ``libLiteRt.so`` (ai-edge-litert 2.3.0), driven through ctypes: the runtime's own
per-op profiler, which no Python interpreter class exposes.

A compiled model is created with opaque options, as LiteRT's C++ ``Options`` builds them:

- identifier ``"xnnpack"``, a TOML payload (``num_threads = 2``, ``kernel_mode = "builtin"``): the CPU
  accelerator's settings. ``"delegate"`` runs the graph through XNNPACK (the default, fastest path; the
  profiler then reports XNNPACK's internal operators); ``"builtin"`` runs TFLite's own kernels, one profiler
  event per TFLite op.
- identifier ``"runtime_options_string"``, payload ``enable_profiling = true``: attaches the profiler that
  ``LiteRtCompiledModelGetProfiler`` returns.

This is a C interface, not a stable Python API: the signatures and the ``ProfiledEventData`` layout below
were checked against the 2.3.0 wheel (``requirements.txt`` pins it) and ``tests/converters/
test_profiling_host.py`` holds them to it. The C library logs to stderr; model creation runs with stderr
captured so the CLI stays quiet, and the captured lines come back in the error when creation fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from converters import graph
from converters.errors import LiteRtError

_V = ctypes.c_void_p
_SIZE = ctypes.c_size_t
_STATUS_OK = 0
_HW_CPU = 1  # kLiteRtHwAcceleratorCpu
_LOCK_WRITE = 1  # kLiteRtTensorBufferLockModeWrite
# LiteRtElementType mirrors TfLiteType.
_ELEMENT_TYPES = {1: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8,
                  10: np.float16}
_RANKED_TYPE_BYTES = 512  # LiteRtRankedTensorType is 72-76 bytes; it is passed back to the library opaque
KERNEL_MODES = ("delegate", "builtin")

# tflite::Profiler::EventType
EVENT_DEFAULT = 1
EVENT_OPERATOR = 2  # a TFLite node; metadata1 is its node index
EVENT_DELEGATE_OPERATOR = 4
EVENT_DELEGATE_PROFILED_OPERATOR = 8  # an XNNPACK operator inside the delegate; metadata1 is its index there


class _MemoryUsage(ctypes.Structure):  # tflite::profiling::memory::MemoryUsage
    _fields_ = [("mem_footprint_kb", ctypes.c_int64), ("total_allocated_bytes", ctypes.c_size_t),
                ("in_use_allocated_bytes", ctypes.c_size_t)]


class _ProfiledEventData(ctypes.Structure):  # litert/c/litert_profiler_event.h, 104 bytes
    _fields_ = [("tag", ctypes.c_char_p), ("event_type", ctypes.c_int), ("start_timestamp_us", ctypes.c_uint64),
                ("elapsed_time_us", ctypes.c_uint64), ("begin_mem_usage", _MemoryUsage),
                ("end_mem_usage", _MemoryUsage), ("event_metadata1", ctypes.c_uint64),
                ("event_metadata2", ctypes.c_uint64), ("event_source", ctypes.c_int)]


@dataclass(frozen=True)
class Event:
    tag: str  # TFLite op name ("CONV_2D"), XNNPACK operator ("Convolution (NHWC, QC8) IGEMM"), or "Invoke"
    kind: int  # EVENT_*
    elapsed_us: int
    index: int  # node index (EVENT_OPERATOR) or XNNPACK operator index (EVENT_DELEGATE_PROFILED_OPERATOR)


_SIGNATURES = {
    "LiteRtCreateEnvironment": [ctypes.c_int, _V, ctypes.POINTER(_V)],
    "LiteRtDestroyEnvironment": [_V],
    "LiteRtCreateModelFromBuffer": [_V, _V, _SIZE, ctypes.POINTER(_V)],
    "LiteRtDestroyModel": [_V],
    "LiteRtCreateOptions": [ctypes.POINTER(_V)],
    "LiteRtDestroyOptions": [_V],
    "LiteRtSetOptionsHardwareAccelerators": [_V, ctypes.c_int],
    "LiteRtCreateOpaqueOptions": [ctypes.c_char_p, _V, _V, ctypes.POINTER(_V)],
    "LiteRtAddOpaqueOptions": [_V, _V],
    "LiteRtCreateCompiledModel": [_V, _V, _V, ctypes.POINTER(_V)],
    "LiteRtDestroyCompiledModel": [_V],
    "LiteRtGetModelSignature": [_V, _SIZE, ctypes.POINTER(_V)],
    "LiteRtGetNumSignatureInputs": [_V, ctypes.POINTER(_SIZE)],
    "LiteRtGetNumSignatureOutputs": [_V, ctypes.POINTER(_SIZE)],
    "LiteRtGetSignatureInputTensorByIndex": [_V, _SIZE, ctypes.POINTER(_V)],
    "LiteRtGetSignatureOutputTensorByIndex": [_V, _SIZE, ctypes.POINTER(_V)],
    "LiteRtGetRankedTensorType": [_V, _V],
    "LiteRtGetCompiledModelInputBufferRequirements": [_V, _SIZE, _SIZE, ctypes.POINTER(_V)],
    "LiteRtGetCompiledModelOutputBufferRequirements": [_V, _SIZE, _SIZE, ctypes.POINTER(_V)],
    "LiteRtCreateManagedTensorBufferFromRequirements": [_V, _V, _V, ctypes.POINTER(_V)],
    "LiteRtDestroyTensorBuffer": [_V],
    "LiteRtGetTensorBufferPackedSize": [_V, ctypes.POINTER(_SIZE)],
    "LiteRtLockTensorBuffer": [_V, ctypes.POINTER(_V), ctypes.c_int],
    "LiteRtUnlockTensorBuffer": [_V],
    "LiteRtRunCompiledModel": [_V, _SIZE, _SIZE, _V, _SIZE, _V],
    "LiteRtCompiledModelGetProfiler": [_V, ctypes.POINTER(_V)],
    "LiteRtStartProfiler": [_V],
    "LiteRtStopProfiler": [_V],
    "LiteRtResetProfiler": [_V],
    "LiteRtGetNumProfilerEvents": [_V, ctypes.POINTER(ctypes.c_int)],
    "LiteRtGetProfilerEvents": [_V, ctypes.c_int, ctypes.POINTER(_ProfiledEventData)],
}
_VOID = {"LiteRtDestroyEnvironment", "LiteRtDestroyModel", "LiteRtDestroyOptions", "LiteRtDestroyCompiledModel",
         "LiteRtDestroyTensorBuffer"}


@functools.lru_cache(maxsize=None)
def library():
    import ai_edge_litert

    path = os.path.join(os.path.dirname(ai_edge_litert.__file__), "libLiteRt.so")
    try:
        lib = ctypes.CDLL(path)
    except OSError as err:
        raise LiteRtError(f"cannot load {path} ({err}); reinstall ai-edge-litert==2.3.0.") from None
    for name, argtypes in _SIGNATURES.items():
        fn = getattr(lib, name, None)
        if fn is None:
            raise LiteRtError(f"{path} has no {name}: this code needs ai-edge-litert==2.3.0.")
        fn.argtypes = argtypes
        fn.restype = None if name in _VOID else ctypes.c_int
    return lib


@functools.lru_cache(maxsize=None)
def _libc():
    libc = ctypes.CDLL(None)
    libc.strdup.restype = _V
    libc.strdup.argtypes = [ctypes.c_char_p]
    return libc


# litert/c/litert_common.h
_STATUS_NAMES = {1: "invalid argument", 2: "memory allocation failure", 3: "runtime failure",
                 4: "missing input tensor", 5: "unsupported", 6: "not found", 8: "wrong version",
                 500: "file I/O error", 501: "invalid flatbuffer", 504: "compilation failure"}


def _check(status: int, what: str, log: str = "") -> None:
    if status != _STATUS_OK:
        detail = "; ".join(l.split("] ", 1)[-1] for l in log.splitlines() if "ERROR" in l)
        name = _STATUS_NAMES.get(status, "error")
        raise LiteRtError(f"LiteRT {what} failed ({name}, status {status})" + (f": {detail}" if detail else ""))


@contextlib.contextmanager
def _captured_stderr():
    """Route fd 2 (where the C library logs) to a temporary file; yields a callable that reads it."""
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield lambda: (sink.seek(0), sink.read().decode(errors="replace"))[1]
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class CompiledModel:
    """One .tflite compiled for the CPU: ``run()`` times one inference, ``profile()`` records its events."""

    def __init__(self, content: bytes, *, threads: int = 1, kernel_mode: str = "delegate",
                 profiling: bool = False, seed: int = 0):
        if kernel_mode not in KERNEL_MODES:
            raise ValueError(f"kernel_mode {kernel_mode!r} is not one of {', '.join(KERNEL_MODES)}")
        graph.verify(content)  # a corrupt flatbuffer is refused here, in Python, not by a crash in the library
        self._lib = lib = library()
        self._content = ctypes.create_string_buffer(bytes(content), len(content))  # must outlive the model
        self._env = _V()
        self._model = _V()
        self._compiled = _V()
        self._buffers: list[_V] = []
        self._profiler = _V()
        with _captured_stderr() as log:
            try:
                _check(lib.LiteRtCreateEnvironment(0, None, ctypes.byref(self._env)), "environment creation")
                _check(lib.LiteRtCreateModelFromBuffer(self._env, self._content, len(content),
                                                       ctypes.byref(self._model)), "model loading", log())
                self._compile(threads, kernel_mode, profiling, log)
                self._inputs = self._make_buffers("Input", seed)
                self._outputs = self._make_buffers("Output", seed)
            except LiteRtError:
                self.close()
                raise
        if profiling:
            _check(lib.LiteRtCompiledModelGetProfiler(self._compiled, ctypes.byref(self._profiler)), "profiler")

    def _compile(self, threads, kernel_mode, profiling, log):
        lib, libc = self._lib, _libc()
        options = _V()
        _check(lib.LiteRtCreateOptions(ctypes.byref(options)), "options")
        try:
            _check(lib.LiteRtSetOptionsHardwareAccelerators(options, _HW_CPU), "CPU selection")
            payloads = [("xnnpack", f'num_threads = {int(threads)}\nkernel_mode = "{kernel_mode}"\n')]
            if profiling:
                payloads.append(("runtime_options_string", "enable_profiling = true\n"))
            free = ctypes.cast(libc.free, _V)
            for identifier, text in payloads:
                opaque = _V()
                data = libc.strdup(text.encode())  # the options list owns it and frees it with free()
                _check(lib.LiteRtCreateOpaqueOptions(identifier.encode(), data, free, ctypes.byref(opaque)),
                       f"{identifier} options")
                _check(lib.LiteRtAddOpaqueOptions(options, opaque), f"{identifier} options")
            _check(lib.LiteRtCreateCompiledModel(self._env, self._model, options, ctypes.byref(self._compiled)),
                   "compilation", log())
        finally:
            lib.LiteRtDestroyOptions(options)

    def _make_buffers(self, io: str, seed: int):
        lib = self._lib
        signature = _V()
        _check(lib.LiteRtGetModelSignature(self._model, 0, ctypes.byref(signature)), "signature")
        count = _SIZE()
        _check(getattr(lib, f"LiteRtGetNumSignature{io}s")(signature, ctypes.byref(count)), "signature")
        rng = np.random.default_rng(seed)
        handles = []
        for i in range(count.value):
            tensor = _V()
            _check(getattr(lib, f"LiteRtGetSignature{io}TensorByIndex")(signature, i, ctypes.byref(tensor)),
                   f"{io.lower()} tensor")
            ranked = ctypes.create_string_buffer(_RANKED_TYPE_BYTES)
            _check(lib.LiteRtGetRankedTensorType(tensor, ranked), f"{io.lower()} tensor type")
            # {element_type: int32, layout: {rank: 7 bits (+ has_strides), dims: int32[]}}: a dynamic
            # batch (-1) becomes 1, as an app runs the model.
            words = np.frombuffer(ranked.raw, dtype=np.int32).copy()
            rank = int(words[1] & 0x7F)
            dims = words[2:2 + rank]
            dims[dims < 0] = 1
            ranked = ctypes.create_string_buffer(words.tobytes(), _RANKED_TYPE_BYTES)
            requirements = _V()
            _check(getattr(lib, f"LiteRtGetCompiledModel{io}BufferRequirements")(
                self._compiled, 0, i, ctypes.byref(requirements)), f"{io.lower()} buffer requirements")
            handle = _V()
            _check(lib.LiteRtCreateManagedTensorBufferFromRequirements(self._env, ranked, requirements,
                                                                       ctypes.byref(handle)),
                   f"{io.lower()} buffer")
            self._buffers.append(handle)
            handles.append(handle)
            if io == "Input":
                self._fill(handle, _ELEMENT_TYPES.get(int(words[0]), np.uint8), rng)
        return (_V * len(handles))(*handles)

    def _fill(self, handle, dtype, rng):
        """Inputs get realistic values (floats in [-1, 1], integers over their range), not NaN bit patterns
        that would send the float kernels down slow paths."""
        lib = self._lib
        size = _SIZE()
        _check(lib.LiteRtGetTensorBufferPackedSize(handle, ctypes.byref(size)), "buffer size")
        n = size.value // np.dtype(dtype).itemsize
        if np.issubdtype(dtype, np.floating):
            values = rng.uniform(-1, 1, n).astype(dtype)
        else:
            info = np.iinfo(dtype)
            values = rng.integers(max(info.min, -128), min(info.max, 127), n, endpoint=True).astype(dtype)
        address = _V()
        _check(lib.LiteRtLockTensorBuffer(handle, ctypes.byref(address), _LOCK_WRITE), "buffer lock")
        try:
            ctypes.memmove(address, values.tobytes(), values.nbytes)
        finally:
            lib.LiteRtUnlockTensorBuffer(handle)

    def run(self) -> float:
        """One inference; returns its wall time in microseconds."""
        start = time.perf_counter()
        status = self._lib.LiteRtRunCompiledModel(self._compiled, 0, len(self._inputs), self._inputs,
                                                  len(self._outputs), self._outputs)
        elapsed = (time.perf_counter() - start) * 1e6
        _check(status, "inference")
        return elapsed

    def profile(self) -> tuple[float, list[Event]]:
        """One profiled inference: its wall time (µs) and the profiler's events, in the order recorded."""
        if not self._profiler:
            raise LiteRtError("this model was compiled without profiling=True")
        lib = self._lib
        _check(lib.LiteRtResetProfiler(self._profiler), "profiler reset")
        _check(lib.LiteRtStartProfiler(self._profiler), "profiler start")
        try:
            wall = self.run()
        finally:
            lib.LiteRtStopProfiler(self._profiler)
        count = ctypes.c_int()
        _check(lib.LiteRtGetNumProfilerEvents(self._profiler, ctypes.byref(count)), "profiler events")
        raw = (_ProfiledEventData * count.value)()
        _check(lib.LiteRtGetProfilerEvents(self._profiler, count, raw), "profiler events")
        events = [Event((e.tag or b"").decode(errors="replace"), e.event_type, int(e.elapsed_time_us),
                        int(e.event_metadata1)) for e in raw]
        return wall, events

    def close(self) -> None:
        with _captured_stderr():  # the library logs each accelerator it destroys
            self._release()

    def _release(self) -> None:
        lib = self._lib
        for handle in self._buffers:
            lib.LiteRtDestroyTensorBuffer(handle)
        self._buffers = []
        if self._compiled:
            lib.LiteRtDestroyCompiledModel(self._compiled)
            self._compiled = _V()
        if self._model:
            lib.LiteRtDestroyModel(self._model)
            self._model = _V()
        if self._env:
            lib.LiteRtDestroyEnvironment(self._env)
            self._env = _V()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()
