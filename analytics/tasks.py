"""The analytics' background work: folding the rollups' new rows (services.rollups_compact),
the rebuilds asked for and the changes left while one ran (services.rebuilds_run)."""

from __future__ import annotations

from celery import shared_task

from analytics import services


@shared_task(name="analytics.compact")
def rollups_compact() -> int:
    """Fold new rollup rows until none are left (in batches), and run what a rebuild left
    (the sweep behind `analytics.rebuild`, whose message may be lost); how many were folded."""
    folded = 0
    while True:
        done = services.rollups_compact()
        folded += done
        if done < services.COMPACT_BATCH:
            break
    services.rebuilds_run()
    return folded


@shared_task(name="analytics.rebuild")
def rebuilds_run() -> int:
    """The rebuilds asked for (services.rebuild_request), now; how many ran."""
    return services.rebuilds_run()
