"""Small helpers shared by the benchmarks."""

from __future__ import annotations

import resource
import statistics
from collections.abc import Sequence
from pathlib import Path

# The most evidence recall@10 a faster query engine may lose (or gain) on a split and still be taken.
RECALL_TOLERANCE = 0.005
# The instruction sets int8 inference speed depends on (VNNI: int8 dot products), as /proc/cpuinfo names them.
INT8_CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni")


def percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 and mean of latencies in milliseconds."""
    if not values_ms:
        return {"n": 0}
    q = statistics.quantiles(values_ms, n=100, method="inclusive") if len(values_ms) > 1 else [values_ms[0]] * 99
    return {
        "n": len(values_ms),
        "p50": round(q[49], 3),
        "p95": round(q[94], 3),
        "p99": round(q[98], 3),
        "mean": round(statistics.fmean(values_ms), 3),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """Which of `INT8_CPU_FLAGS` this CPU has (none where /proc/cpuinfo is missing: not Linux)."""
    if not cpuinfo.is_file():
        return []
    flags = {f for line in cpuinfo.read_text().splitlines() if line.startswith("flags") for f in line.split()}
    return [f for f in INT8_CPU_FLAGS if f in flags]
