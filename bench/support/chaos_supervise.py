"""The supervisor of bench/chaos.py: the Procfile's processes and the private PostgreSQL and
Redis as units that can be killed and are then restarted after a short delay, as systemd or
Kubernetes would, with every outage recorded (killed, restarted, back)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from bench.support import procfile
from bench.support.chaos_cluster import Postgres, Redis, port_open

KINDS = ("web", "worker", "escalator", "beat", "redis", "postgres")
# Procfile name -> Celery node name prefix (the -n option)
NODES = {"worker": "ingest", "escalator": "escalator"}


@dataclass
class Outage:
    """One killed unit: when it was killed, restarted and answering again (time.time())."""

    kind: str
    mode: str
    killed_at: float
    restarted_at: float = 0.0
    back_at: float = 0.0
    together_with: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": time.strftime("%H:%M:%S", time.gmtime(self.killed_at)),
            "kind": self.kind,
            "mode": self.mode,
            "together_with": self.together_with,
            "down_seconds": round(self.back_at - self.killed_at, 2),
            "restart_to_back_seconds": round(self.back_at - self.restarted_at, 2),
        }


def kill_plan(kills: int, seed: int) -> list[tuple[str, ...]]:
    """`kills` kills of every kind: half of them one at a time (rounds over every kind in a
    shuffled order), the rest two at once (pairs of the kinds killed least so far)."""
    rng = random.Random(seed)  # noqa: S311 - a plan, not a secret
    plan: list[tuple[str, ...]] = []
    singles = (kills + 1) // 2
    for _ in range(singles):
        order = list(KINDS)
        rng.shuffle(order)
        plan += [(kind,) for kind in order]
    counts = dict.fromkeys(KINDS, singles)
    pairs = list(combinations(KINDS, 2))
    while min(counts.values()) < kills:
        rng.shuffle(pairs)
        pair = min(pairs, key=lambda p: counts[p[0]] + counts[p[1]])
        plan.append(pair)
        counts[pair[0]] += 1
        counts[pair[1]] += 1
    return plan


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(raw[raw.rindex(")") + 2 :].split()[1]) == pid and b"spawn_main" in cmdline:
            found.append(int(entry))
    return found


class Supervisor:
    """Starts, kills and restarts every unit of the rig."""

    def __init__(
        self, env: dict[str, str], postgres: Postgres, redis: Redis, web_port: int, delay: float
    ) -> None:
        self.env, self.postgres, self.redis = env, postgres, redis
        self.web_port, self.delay = web_port, delay
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.outages: list[Outage] = []
        self.web_kills = 0
        self.host = socket.gethostname()
        # Held while units are killed and restarted: the watchdog waits for it.
        self.lock = threading.Lock()
        self.exits: list[Outage] = []  # processes that exited without being killed
        self._watching = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, daemon=True)

    # --- processes ------------------------------------------------------------------------

    def start(self, name: str) -> None:
        self.processes[name] = procfile.start(name, self.env, new_session=True)

    def start_all(self) -> None:
        for name in ("web", "worker", "escalator", "beat"):
            self.start(name)
        procfile.wait_for_port(self.web_port)
        for name in NODES:
            self.wait_ready(name, timeout=180)
        self._watching.set()
        self._watchdog.start()

    def _watch(self) -> None:
        """A process that exits without being killed is restarted after the delay too, as
        systemd's Restart=always or a Kubernetes pod would, and recorded in `exits`."""
        while self._watching.is_set():
            time.sleep(0.5)
            with self.lock:
                for name, process in list(self.processes.items()):
                    if process.poll() is None or not self._watching.is_set():
                        continue
                    outage = Outage(
                        name, f"exited on its own (status {process.returncode})", time.time()
                    )
                    time.sleep(self.delay)
                    outage.restarted_at = time.time()
                    self.start(name)
                    self.wait_ready(name)
                    outage.back_at = time.time()
                    self.exits.append(outage)

    def _killpg(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait()

    def stop_all(self) -> None:
        self._watching.clear()
        with self.lock:
            pass  # a restart under way finishes first
        for name, process in self.processes.items():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._killpg(name)

    def wait_ready(self, name: str, timeout: float = 120) -> bool:
        """Until the unit answers: the web port, a Celery node's ping, Redis's port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if name == "web" and port_open(self.web_port) and self._web_workers() >= 2:
                return True
            if name in NODES and self._pinged(f"{NODES[name]}@{self.host}"):
                return True
            if name == "redis" and port_open(self.redis.port):
                return True
            if name in ("beat", "postgres"):
                return True  # beat: started is ready; pg_ctl start -w waited already
            time.sleep(0.2)
        return False

    def _web_workers(self) -> int:
        return len(_children(self.processes["web"].pid))

    def _pinged(self, node: str) -> bool:
        from opsduty.celery import app

        try:
            # A fresh connection each time: the rig's own pooled one may be a dead Redis's.
            with app.connection_for_write() as broker:
                return bool(app.control.ping(destination=[node], timeout=1.0, connection=broker))
        except Exception:  # noqa: BLE001 - Redis may be down too: not answered yet
            time.sleep(0.5)
            return False

    # --- kills ----------------------------------------------------------------------------

    def _kill(self, kind: str) -> str:
        """SIGKILL the unit (a process group: the process and its pool children); the mode."""
        if kind == "postgres":
            self.postgres.kill()
            return "pg_ctl -m immediate"
        if kind == "redis":
            self.redis.kill()
            return "SIGKILL"
        if kind == "web":
            self.web_kills += 1
            workers = _children(self.processes["web"].pid)
            if self.web_kills % 2 and workers:
                # One of uvicorn's worker processes; its master starts another.
                os.kill(random.choice(workers), signal.SIGKILL)  # noqa: S311
                return "SIGKILL one uvicorn worker (uvicorn restarts it)"
        self._killpg(kind)
        return "SIGKILL process group"

    def _restart(self, kind: str, mode: str) -> None:
        if kind == "postgres":
            self.postgres.start()
        elif kind == "redis":
            self.redis.start()
        elif not mode.startswith("SIGKILL one"):
            self.start(kind)

    def kill_and_restart(self, kinds: tuple[str, ...]) -> list[Outage]:
        """Kill `kinds` at once; after the delay restart them (the servers first), then wait
        until each is back."""
        with self.lock:
            return self._kill_and_restart(kinds)

    def _kill_and_restart(self, kinds: tuple[str, ...]) -> list[Outage]:
        outages = []
        for kind in kinds:
            killed_at = time.time()
            outage = Outage(
                kind, "", killed_at, together_with="+".join(k for k in kinds if k != kind)
            )
            outage.mode = self._kill(kind)
            outages.append(outage)
        time.sleep(self.delay)
        for outage in sorted(outages, key=lambda o: KINDS.index(o.kind), reverse=True):
            outage.restarted_at = time.time()
            self._restart(outage.kind, outage.mode)
        for outage in outages:
            if not self.wait_ready(outage.kind):
                outage.mode += " (not back after 120 s)"
            outage.back_at = time.time()
        self.outages += outages
        return outages
