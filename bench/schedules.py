"""Schedule benchmark: the 120-day timeline and the who-is-on-call lookup.

Builds, through the schedule services, a schedule in Europe/Oslo (DST inside the window) in
a new bench organization with five layers of mixed shapes and 200 overrides, then measures:

- timeline: `schedule_selectors.schedule_shifts` over 120 days (the database reads of every
  layer version and override included), and the pure `shifts.final_shifts` alone on the
  same inputs;
- lookup: `schedule_selectors.oncall_user_ids` with a freshly loaded Schedule row each time,
  as the escalation engine calls it (`targets.step_targets`): the row read is part of the
  figure. Cold = the first lookup after the process cache was emptied (it computes the
  cached two-day timeline); warm = lookups at random instants inside the cached window.
  And the uncached pure `shifts.oncall_at`.

Beside each figure (bench/support/baseline.py): the raw-PostgreSQL baseline measured in the
same run from one connection (the calls here are made one after another from one), the calls
a second that one client makes (`calls_per_second_one_client`, from the mean) and its share of
that baseline, and CPU of this process (`app`: the code measured runs in it), PostgreSQL and
Redis per call: `cpu_ms_per_timeline` for the timelines, `cpu_ms_per_lookup` for the lookups,
`cpu_ms_per_read` for the row reads and the timeline's inputs. Nothing here is an event.
JSON on stdout, a Markdown table on stderr.

    eval "$(make -s services)"; .venv/bin/python manage.py migrate
    .venv/bin/python bench/schedules.py

Environment: BENCH_REPEAT (timeline repetitions, default 50), BENCH_LOOKUPS (warm lookups,
default 2000), BENCH_COLD (cold lookups, default 50).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as clock
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
os.environ["OPSDUTY_DEBUG"] = "0"  # DEBUG would keep every query in memory

import django  # noqa: E402

django.setup()

from django.utils import timezone  # noqa: E402

from bench.support import baseline  # noqa: E402
from escalations.models import Frequency, Rotation, Schedule  # noqa: E402
from escalations.schedules import services as ss  # noqa: E402
from escalations.schedules import shifts  # noqa: E402
from escalations.schedules.selectors import (  # noqa: E402
    CACHE_AHEAD,
    oncall_forget,
    oncall_user_ids,
    schedule_inputs,
    schedule_shifts,
)
from opsduty import services  # noqa: E402
from opsduty.models import Team, User  # noqa: E402

REPEAT = int(os.environ.get("BENCH_REPEAT", "50"))
LOOKUPS = int(os.environ.get("BENCH_LOOKUPS", "2000"))
COLD = int(os.environ.get("BENCH_COLD", "50"))
ZONE = "Europe/Oslo"
WINDOW = timedelta(days=120)
OVERRIDES = 200
PEOPLE = 12


def _layers(start: date, users: list[User]) -> list[tuple[str, ss.LayerInput]]:
    """The five layers, lowest priority first (each new layer goes on top)."""
    u = users
    return [
        (
            "daily rolling, 3 groups",
            ss.LayerInput(
                name="Daily rolling",
                rotation=Rotation.ROLLING,
                groups=[[u[0]], [u[1], u[2]], [u[3]]],
                frequency=Frequency.DAILY,
                start_date=start,
                handoff_time=clock(9, 0),
                shift_minutes=24 * 60,
            ),
        ),
        (
            "weekly rolling on Mon/Wed/Fri, 10 h shifts",
            ss.LayerInput(
                name="Weekly by day",
                rotation=Rotation.ROLLING,
                groups=[[u[4]], [u[5]]],
                frequency=Frequency.WEEKLY,
                by_day=[0, 2, 4],
                start_date=start,
                handoff_time=clock(8, 0),
                shift_minutes=10 * 60,
            ),
        ),
        (
            "monthly plain on the 1st and 15th, 2-day shifts",
            ss.LayerInput(
                name="Monthly",
                rotation=Rotation.PLAIN,
                groups=[[u[6], u[7]]],
                frequency=Frequency.MONTHLY,
                by_day=[1, 15],
                start_date=start,
                handoff_time=clock(18, 0),
                shift_minutes=48 * 60,
            ),
        ),
        (
            "daily plain every 2 days, 12 h shifts",
            ss.LayerInput(
                name="Every other night",
                rotation=Rotation.PLAIN,
                groups=[[u[8]]],
                frequency=Frequency.DAILY,
                interval=2,
                start_date=start,
                handoff_time=clock(20, 0),
                shift_minutes=12 * 60,
            ),
        ),
        (
            "weekly rolling until +90 days",
            ss.LayerInput(
                name="Weekly until",
                rotation=Rotation.ROLLING,
                groups=[[u[9]], [u[10]], [u[11]]],
                frequency=Frequency.WEEKLY,
                start_date=start,
                handoff_time=clock(9, 0),
                shift_minutes=7 * 24 * 60,
                repeat_until=start + timedelta(days=90),
            ),
        ),
    ]


def build() -> tuple[Schedule, datetime, list[str]]:
    """A bench organization with the schedule; returns it, the window start and the layers."""
    stamp = time.strftime("%Y%m%d%H%M%S")
    org = services.organization_create(name="Bench schedules", domain=f"bench-sched-{stamp}")
    team = Team.objects.create(organization=org, name="Bench")
    users = []
    for number in range(PEOPLE):
        user = services.user_create(
            organization=org,
            email=f"oncall{number}@bench-sched-{stamp}.test",
            password=None,
            first_name=f"Person {number}",
        )
        services.team_add_member(team=team, user=user, by=None)
        users.append(user)
    schedule = ss.schedule_create(team=team, by=None, name="Bench", timezone_name=ZONE)
    # Layers must start in the future: the day after tomorrow (whatever the hour in Oslo),
    # so the whole window is covered and every override starts in the future too.
    first_day = timezone.now().date() + timedelta(days=2)
    described = []
    for description, data in _layers(first_day, users):
        ss.layer_create(schedule=schedule, by=None, data=data)
        described.append(description)
    window_start = ss.localize(datetime.combine(first_day, clock(0, 0)), ZONE)
    rng = random.Random(7)
    for _ in range(OVERRIDES):
        start = window_start + timedelta(
            minutes=rng.randrange(0, int(WINDOW.total_seconds()) // 60)
        )
        length = timedelta(minutes=rng.choice([30, 60, 120, 240, 480, 720, 1440]))
        ss.override_create(
            schedule=schedule, by=None, user=rng.choice(users), start=start, end=start + length
        )
    schedule.refresh_from_db()
    return schedule, window_start, described


def _figures(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
        "n": len(ordered),
    }


class _Metered:
    """Each measured loop's samples with the CPU they cost (CpuMeter) and their rate."""

    def __init__(self, base: dict[str, Any]) -> None:
        self.base = base
        self.meter = baseline.CpuMeter(own="app", own_is_product=True)

    def __call__(self, unit: str, loop: Callable[[], list[float]]) -> tuple[list[float], Any]:
        self.meter.start()
        samples = loop()
        cpu = self.meter.stop(len(samples), unit)
        rate = len(samples) / sum(samples) if sum(samples) > 0 else None
        return samples, {
            "calls_per_second_one_client": None if rate is None else round(rate, 1),
            "share_of_raw": baseline.share_of_raw(rate, self.base),
            **cpu,
        }


def _with(samples: list[float], extra: dict[str, Any]) -> dict[str, Any]:
    return {**_figures(samples), **extra}


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def main() -> None:
    schedule, window_start, described = build()
    base = baseline.measure(clients=1)
    metered = _Metered(base)
    window_end = window_start + WINDOW
    layers, overrides = schedule_inputs(schedule, window_start, window_end)
    final = shifts.final_shifts(layers, overrides, window_start, window_end)

    timeline, timeline_cpu = metered(
        "timeline",
        lambda: [
            _timed(lambda: schedule_shifts(schedule, window_start, window_end))[0]
            for _ in range(REPEAT)
        ],
    )
    pure_timeline, pure_timeline_cpu = metered(
        "timeline",
        lambda: [
            _timed(lambda: shifts.final_shifts(layers, overrides, window_start, window_end))[0]
            for _ in range(REPEAT)
        ],
    )

    def lookup(at: datetime) -> tuple[int, ...]:
        fresh = Schedule.objects.get(pk=schedule.pk)  # as the engine reads it, with its version
        return oncall_user_ids(fresh, at)

    rng = random.Random(11)

    def cold_loop() -> list[float]:
        cold = []
        for _ in range(COLD):
            oncall_forget()
            cold.append(_timed(lambda: lookup(at_base))[0])
        return cold

    at_base = window_start + timedelta(days=30)
    cold, cold_cpu = metered("lookup", cold_loop)
    oncall_forget()
    lookup(at_base)  # fills the cache for [at_base - 5 min, at_base + 2 days)
    span = int(CACHE_AHEAD.total_seconds()) - 60
    instants = [at_base + timedelta(seconds=rng.randrange(0, span)) for _ in range(LOOKUPS)]
    answers: list[tuple[int, ...]] = []

    def warm_loop() -> list[float]:
        samples = []
        for at in instants:
            elapsed, users = _timed(partial(lookup, at))
            samples.append(elapsed)
            answers.append(users)
        return samples

    warm, warm_cpu = metered("lookup", warm_loop)
    agree = sum(
        users == shifts.oncall_at(layers, overrides, at)
        for users, at in zip(answers, instants, strict=True)
    )
    pure_lookup, pure_lookup_cpu = metered(
        "lookup",
        lambda: [_timed(partial(shifts.oncall_at, layers, overrides, at))[0] for at in instants],
    )
    row_read, row_read_cpu = metered(
        "read",
        lambda: [_timed(lambda: Schedule.objects.get(pk=schedule.pk))[0] for _ in range(LOOKUPS)],
    )
    loaded = Schedule.objects.get(pk=schedule.pk)
    cached_only, cached_only_cpu = metered(
        "lookup", lambda: [_timed(partial(oncall_user_ids, loaded, at))[0] for at in instants]
    )
    inputs, inputs_cpu = metered(
        "read",
        lambda: [
            _timed(lambda: schedule_inputs(schedule, window_start, window_end))[0]
            for _ in range(REPEAT)
        ],
    )

    out: dict[str, Any] = {
        "benchmark": "schedules",
        "config": {
            "timezone": ZONE,
            "layers": described,
            "layer_versions": len(layers),
            "overrides": OVERRIDES,
            "overrides_read_for_window": len(overrides),
            "window_days": WINDOW.days,
            "final_shifts_in_window": len(final),
            "timeline_repetitions": REPEAT,
            "cold_lookups": COLD,
            "warm_lookups": LOOKUPS,
            "schedule_id": schedule.pk,
            "organization": schedule.organization.domain,
        },
        "baseline": base,
        "cpu_components": baseline.components(
            (), app="this process: the selectors and pure functions measured"
        ),
        "timeline_120_days": {
            "schedule_selectors.schedule_shifts (with DB reads)": _with(timeline, timeline_cpu),
            "shifts.final_shifts (pure)": _with(pure_timeline, pure_timeline_cpu),
            "of which schedule_inputs (the DB reads)": _with(inputs, inputs_cpu),
        },
        "oncall_lookup": {
            "oncall_user_ids cold (fresh row + cache fill)": _with(cold, cold_cpu),
            "oncall_user_ids warm (fresh row + cached)": _with(warm, warm_cpu),
            "of which the Schedule row read": _with(row_read, row_read_cpu),
            "oncall_user_ids warm, row already loaded": _with(cached_only, cached_only_cpu),
            "shifts.oncall_at (pure, uncached)": _with(pure_lookup, pure_lookup_cpu),
            "warm answers equal to shifts.oncall_at": f"{agree}/{LOOKUPS}",
        },
        "targets": {"timeline_ms_below": 20, "lookup_ms_below": 2},
        "cpus": os.cpu_count(),
        # Other work on the box inflates every figure; the 1-minute load at the end.
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out, indent=2))
    rows = []
    for group in ("timeline_120_days", "oncall_lookup"):
        for name, figures in out[group].items():
            if isinstance(figures, dict):
                rows.append(
                    (
                        f"{name}, {figures['n']} calls one after another",
                        f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms",
                        figures["share_of_raw"],
                        figures,
                    )
                )
    baseline.print_table(base, rows)


if __name__ == "__main__":
    main()
