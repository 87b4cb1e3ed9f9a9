"""What this CPU offers int8 inference, and when int8 is the wrong choice on it.

XNNPACK's int8 convolutions are fast where the CPU has int8 dot-product instructions: on x86 AVX-512 VNNI,
AVX-VNNI (or AMX-INT8), on Arm the Armv8.2 dot product (SDOT/UDOT, ``asimddp``) and the Armv8.6 int8 matrix
multiply (I8MM). Without them the int8 kernels widen to 16-bit multiplies, and a 2-core AVX2 CPU runs an int8
SqueezeNext about twice as slow as float32 (1.0-SqNxt-23: 17.0 vs 7.6 ms on an AMD EPYC without VNNI). Phones
are the other way round: nearly every Arm core since 2018 (Cortex-A55/A75 on) has the dot product, and int8
is where their CPUs and NPUs are fast.

``describe()`` reads the features (Linux ``/proc/cpuinfo``, macOS ``sysctl``); ``int8_notes`` turns a
measured int8 latency, beside the float flavours' measured on the same machine, into notes for a profile.
"""

from __future__ import annotations

import os
import platform
import subprocess

# Feature flag -> what it is called; an int8 dot product is present when any of these is.
X86_INT8 = {"avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "amx_int8": "AMX-INT8"}
ARM_INT8 = {"asimddp": "Arm dot product (SDOT)", "i8mm": "Arm int8 matrix multiply (I8MM)"}
_MAC_SYSCTL = {"hw.optional.arm.FEAT_DotProd": "asimddp", "hw.optional.arm.FEAT_I8MM": "i8mm"}
PHONES = ("phones' Arm CPUs have the int8 dot product (Armv8.2, nearly every core since 2018) and run int8 "
          "faster than float32: measure there (a benchmark_model op profile) before choosing float32 for an app")


def describe(cpuinfo: str | None = None, machine: str | None = None) -> dict:
    """``{"machine", "model", "int8_features", "int8_dot_product"}`` of this CPU (or of a ``/proc/cpuinfo``
    text). ``int8_dot_product`` is None where the features cannot be read."""
    machine = machine or platform.machine()
    model, flags = "", None
    if cpuinfo is None and os.path.exists("/proc/cpuinfo"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = None
    if cpuinfo is not None:
        flags = set()
        for line in cpuinfo.splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("model name", "hardware", "cpu model") and not model:
                model = value.strip()
            elif key in ("flags", "features"):
                flags.update(value.split())
        if not flags:
            flags = None
    elif platform.system() == "Darwin" and machine == "arm64":
        flags = set()
        for name, flag in _MAC_SYSCTL.items():
            try:
                out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5).stdout
            except (OSError, subprocess.SubprocessError):
                continue
            if out.strip() == "1":
                flags.add(flag)
        model = "Apple silicon"
    if flags is None:
        return {"machine": machine, "model": model, "int8_features": [], "int8_dot_product": None}
    named = {**X86_INT8, **ARM_INT8}
    features = [named[f] for f in named if f in flags]
    return {"machine": machine, "model": model, "int8_features": features, "int8_dot_product": bool(features)}


NOTE_PREFIXES = ("int8 is the slower choice", "this CPU has no int8")  # how ``int8_notes``' notes begin


def int8_notes(int8_us: float, cpu: dict, floats: dict[str, float] | None = None) -> list[str]:
    """Notes for an int8 file's host profile: its median latency ``int8_us`` against the float flavours'
    (``floats``: flavour -> median µs, measured on the same machine) and what the CPU lacks."""
    notes = []
    slower = {f: us for f, us in (floats or {}).items() if 0 < us < int8_us}
    lacks = cpu.get("int8_dot_product") is False
    arm = str(cpu.get("machine", "")).lower().startswith(("arm", "aarch64"))
    wanted = "the Armv8.2 dot product or I8MM" if arm else "AVX-512 VNNI, AVX-VNNI or AMX-INT8"
    why = (f"it has no int8 dot-product instructions ({wanted}), so XNNPACK's int8 kernels widen to 16-bit "
           "multiplies" if lacks else "")
    if slower:
        best = min(slower, key=slower.get)
        notes.append(f"int8 is the slower choice on this CPU: {int8_us / 1e3:.2f} ms against {best} "
                     f"{slower[best] / 1e3:.2f} ms ({int8_us / slower[best]:.2f}x)"
                     + (f"; {why}" if why else "") + f". On phones it is the other way round: {PHONES}.")
    elif lacks:
        notes.append(f"this CPU has no int8 dot-product instructions ({wanted}): int8 may run slower here than "
                     f"float32 (export float32 beside it to compare); {PHONES}.")
    return notes
