"""Numeric precision of the encoder families: ``auto``, ``fp32`` or ``bf16``, and where bf16 is native.

bf16 pays only where the hardware computes it natively: a CUDA GPU that supports it, or an x86 CPU
with AMX or AVX-512 BF16 (oneDNN then runs bf16 matmuls on them: ~2,780 against ~415 GFLOP/s in
fp32 for a 2048x2048 matmul on 2 cores of the CI kind of machine, docs/PLATFORM.md).  Elsewhere
oneDNN emulates bf16, slower than fp32, so ``auto`` means fp32 there.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

from stancebench.errors import UserError

PRECISIONS = ("auto", "fp32", "bf16")
# /proc/cpuinfo flags of the x86 units that compute bf16 natively.
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bf16(device: str) -> bool:
    """Whether ``device`` ("cpu" or "cuda") computes bf16 natively."""
    import torch

    if device == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return bool(set(NATIVE_BF16_FLAGS) & cpu_flags()) and torch.backends.mkldnn.is_available()


def resolve_precision(setting: str, device: str) -> str:
    """``fp32`` or ``bf16`` for ``setting`` on ``device``; ``bf16`` where it is not native is an error."""
    if setting not in PRECISIONS:
        raise UserError(f"model.params.precision={setting!r} is not one of {', '.join(PRECISIONS)}")
    if setting == "fp32":
        return "fp32"
    native = native_bf16(device)
    if setting == "bf16" and not native:
        what = "this GPU" if device == "cuda" else f"this CPU (no {' or '.join(NATIVE_BF16_FLAGS)} flag)"
        raise UserError(f"model.params.precision=bf16: {what} has no native bf16 and would emulate it, slower than "
                        "fp32; use model.params.precision=auto (bf16 where native, else fp32) or fp32")
    return "bf16" if native else "fp32"


def serving_precision(setting: str) -> str:
    """The precision a loaded model runs in on this machine's CPU: where bf16 is native (as where the run
    was), what the run computed; elsewhere fp32, rather than refuse to serve a model trained in bf16."""
    return resolve_precision("fp32" if setting == "fp32" else "auto", "cpu")


def autocast(precision: str, device: str):
    """A context that runs the forward pass in ``precision`` (bf16 autocast, or nothing for fp32)."""
    if precision != "bf16":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type=device, dtype=torch.bfloat16)
