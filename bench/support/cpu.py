"""CPU time and memory of a process tree, from /proc (Linux); CPU per phase of a run."""

from __future__ import annotations

import os
import resource
import subprocess
import time
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> tuple[list[int], dict[int, list[str]]]:
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        stats[int(entry)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        if current in stats:
            found.append(current)
        todo.extend(children.get(current, []))
    return found, stats


def tree_cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and all its descendants."""
    pids, stats = _tree(pid)
    return sum((int(stats[p][11]) + int(stats[p][12])) / CLOCK_TICKS for p in pids)


def postgres_cpu_seconds() -> float:
    """CPU seconds of the PostgreSQL server that Django's default connection reaches (on this
    machine): its postmaster's own and its exited children's (cutime, cstime: backends that
    ended) plus the live processes under it. Readable when the bench runs as root or as the
    server's OS user, which is how `make services` runs on these machines."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    return postmaster_cpu_seconds(parent_pid(backend))


def parent_pid(pid: int) -> int:
    """The parent of `pid` (a PostgreSQL backend's is its postmaster)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    return int(raw[raw.rindex(")") + 2 :].split()[1])


def postmaster_cpu_seconds(postmaster: int) -> float:
    """`postgres_cpu_seconds` of the server whose postmaster is `postmaster`."""
    pids, stats = _tree(postmaster)
    own = stats[postmaster]
    exited = (int(own[13]) + int(own[14])) / CLOCK_TICKS
    return exited + sum((int(stats[p][11]) + int(stats[p][12])) / CLOCK_TICKS for p in pids)


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and all its descendants, in MB."""
    total = 0
    for p in _tree(pid)[0]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


class Usage:
    """CPU seconds of each started process tree and of this process, between marks."""

    def __init__(self, processes: dict[str, subprocess.Popen[bytes]], own: str) -> None:
        self.processes, self.own = processes, own
        self.last = self._now()

    def _now(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        now = {name: tree_cpu_seconds(p.pid) for name, p in self.processes.items()}
        now[self.own] = usage.ru_utime + usage.ru_stime
        now["wall"] = time.monotonic()
        return now

    def mark(self) -> dict[str, Any]:
        """Wall seconds, CPU seconds per process and cores kept busy since the last mark."""
        now = self._now()
        wall = now["wall"] - self.last["wall"]
        used = {k: now[k] - self.last[k] for k in now if k != "wall"}
        self.last = now
        return {
            "wall_seconds": round(wall, 1),
            "cpu_seconds": {k: round(v, 1) for k, v in used.items()},
            "cores_busy": round(sum(used.values()) / wall, 2) if wall else None,
        }
