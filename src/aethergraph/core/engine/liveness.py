"""Telling live runs from interrupted ones: whether the process that owns a run still runs.

On this machine the kernel answers exactly: the pid, its start time, and whether it has exited (a
process killed a moment ago stays a zombie until its parent reaps it, and counts as dead). A
process on another machine, or one recorded under another host name (a container restarted on the
same volume), is alive while it keeps beating: the run monitor of every process hosting runs
records a heartbeat every ``BEAT_S`` seconds, and an owner silent for ``LEASE_S`` seconds is taken
for dead.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aethergraph.core.engine.runtime import Runtime
    from aethergraph.storage.protocols import Storage
    from aethergraph.storage.records import RunRecord

__all__ = ["BEAT_S", "LEASE_S", "owner_alive"]

BEAT_S = 5.0
"""Seconds between two heartbeats of a process that hosts runs."""
LEASE_S = 30.0
"""Seconds of silence after which an owner on another host is taken for dead."""

_HOSTNAME = socket.gethostname()


async def owner_alive(record: RunRecord, runtime: Runtime, storage: Storage) -> bool:
    """Whether the process recorded as the owner of ``record`` still hosts it."""
    owner = record.owner
    if not owner:
        return False
    if owner == runtime.owner_id:
        return record.run_id in runtime.live or record.run_id in runtime.dispatched
    try:
        hostname, pid, start = owner.rsplit(":", 2)
    except ValueError:
        return False
    if hostname == _HOSTNAME and start != "?":
        return pid.isdigit() and _runs(int(pid), start)
    beats = await storage.heartbeats([owner])
    last = max(beats.get(owner, 0.0), record.started_at or record.created_at)
    return runtime.clock.time() - last < LEASE_S


def _runs(pid: int, start: str) -> bool:
    """Whether process ``pid``, started at kernel time ``start``, still runs (not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # Fields after the command name (which may contain spaces) start after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0] not in ("Z", "X", "x") and fields[19] == start
