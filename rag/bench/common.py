"""Small helpers shared by the benchmarks."""

from __future__ import annotations

import resource
import statistics
from collections.abc import Sequence


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
