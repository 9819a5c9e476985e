"""Whether bfloat16 autocast is fast on this CPU.

bf16 autocast is a speed-up only where oneDNN has native bf16 kernels (AVX512-BF16, AMX). Elsewhere torch falls
back to a scalar GEMM on one thread: on a 2-core AMD EPYC (AVX2) a me5-small training step (forward + backward,
batch 32 x 64 tokens) took 56 s under bf16 against 1.9 s in fp32, and a forward pass (32 x 128) 9.3 s against
1.3 s. A run configured for bf16 on such a CPU would silently take 7-30x longer, so callers say so up front.
"""

from __future__ import annotations

import functools


@functools.cache
def cpu_bf16_native() -> bool:
    """True where torch's CPU bf16 matmuls use native kernels; True too when torch cannot tell (never a false alarm)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return True


def cpu_capability() -> str:
    """torch's CPU kernel level (`AVX2`, `AVX512`...), plus `AMX` where the CPU has AMX tiles: torch names no AMX
    level, yet bf16 speed differs several-fold between AVX512 alone and AMX."""
    import torch

    try:
        level = torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        return "unknown"
    try:
        amx = bool(torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        amx = False
    return f"{level}, AMX" if amx else level


def slow_bf16_reason(device_type: str = "cpu") -> str | None:
    """Why bf16 autocast on `device_type` would be slow here, or None when it is not."""
    if device_type != "cpu" or cpu_bf16_native():
        return None
    return (f"this CPU ({cpu_capability()}) has no native bfloat16 kernels: under bf16 autocast torch falls back "
            "to a one-thread scalar GEMM, measured 30x slower per training step and 7x slower per forward pass "
            "than fp32 on an AVX2 CPU")
