"""Percentiles for the benchmarks' JSON."""

from __future__ import annotations

from typing import Any


def percentile(values: list[float], q: float) -> float | None:
    """The value below which a share `q` of `values` lies (nearest rank); None if empty."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else None


def ms(values: list[float], digits: int = 1) -> dict[str, Any]:
    """count, p50, p99 and max of durations in seconds, as milliseconds."""

    def r(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, digits)

    return {
        "count": len(values),
        "p50_ms": r(percentile(values, 0.5)),
        "p99_ms": r(percentile(values, 0.99)),
        "max_ms": r(max(values) if values else None),
    }
