"""The analytics' periodic work: folding the rollups' new rows (services.rollups_compact)."""

from __future__ import annotations

from celery import shared_task

from analytics import services


@shared_task(name="analytics.compact")
def rollups_compact() -> int:
    """Fold new rollup rows until none are left (in batches); how many were folded."""
    folded = 0
    while True:
        done = services.rollups_compact()
        folded += done
        if done < services.COMPACT_BATCH:
            return folded
