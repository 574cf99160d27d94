"""``--precision auto``: the precision and compile mode this machine's CPU (or GPU) runs fastest and correctly.

Measured (benchmarks/RESULTS.md, issue 12): on Intel Xeons with AVX-512-BF16 and AMX, graph-mode
``mixed_bfloat16`` trained 1.8–2.3× faster than PyTorch eager fp32 (oneDNN's AMX kernels, which XLA
bypasses), XLA fp32 only 1.15–1.23×; on AMD CPUs without BF16 the opposite held. So: bf16 in graph
mode where the CPU has BF16 instructions, fp32 with XLA everywhere else (GPUs included, until bf16
accuracy on them is measured). ``auto`` is the default: the quickstart trained under mixed_bfloat16
reached the same held-out MAE as in float32 (178 against 176 m/s, and 0.31 against 0.32× the baseline
on independent maps).
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["BF16_CPU_FLAGS", "cpu_flags", "resolve_precision"]

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo names


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags Linux reports (empty elsewhere, or when the file cannot be read)."""
    if not sys.platform.startswith("linux"):
        return set()
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def resolve_precision(precision: str, jit_compile: bool, flags: set[str] | None = None,
                      gpus: int | None = None) -> tuple[str, bool, str]:
    """``(precision, jit_compile, reason)``: ``precision`` itself unless it is ``"auto"``.

    Args:
        precision: ``"auto"`` or a Keras dtype policy name.
        jit_compile: the configured XLA setting, kept for fp32 (bf16 runs in graph mode).
        flags: CPU flags (default: ``cpu_flags()``); gpus: number of GPUs (default: TensorFlow's count).
    """
    if precision != "auto":
        return precision, jit_compile, f"precision {precision} (configured)"
    if gpus is None:
        import tensorflow as tf

        gpus = len(tf.config.list_physical_devices("GPU"))
    if gpus:
        return "float32", jit_compile, "precision float32 (auto: GPU, bf16 accuracy not yet measured there)"
    found = sorted(set(BF16_CPU_FLAGS) & (cpu_flags() if flags is None else set(flags)))
    if found:
        return "mixed_bfloat16", False, f"precision mixed_bfloat16 in graph mode (auto: CPU has {', '.join(found)})"
    return "float32", jit_compile, "precision float32 (auto: CPU without BF16 instructions)"
