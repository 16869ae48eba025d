"""Telling live runs from interrupted ones: a run whose owning process died is ``interrupted``."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from aethergraph.core.engine.host import process_start_ticks
from aethergraph.storage.records import RunStatus

if TYPE_CHECKING:
    from aethergraph.core.engine.host import Host
    from aethergraph.storage.protocols import Storage

__all__ = ["owner_alive", "recover_interrupted"]

_recovered: set[int] = set()


def owner_alive(owner: str | None, host: Host) -> bool:
    """Whether the process named by ``owner`` (``host:pid:start``) still runs.

    A process on another machine cannot be checked and counts as alive.
    """
    if not owner:
        return False
    if owner == host.owner_id:
        return True
    try:
        hostname, pid, start = owner.rsplit(":", 2)
    except ValueError:
        return False
    if hostname != socket.gethostname():
        return True
    return start != "?" and process_start_ticks(int(pid)) == start


async def recover_interrupted(storage: Storage, host: Host) -> None:
    """Mark runs left ``running`` by dead processes ``interrupted`` (once per storage)."""
    if id(storage) in _recovered:
        return
    _recovered.add(id(storage))
    for status in (RunStatus.RUNNING, RunStatus.PENDING):
        offset = 0
        while True:
            batch = await storage.list_runs(status=status, limit=500, offset=offset)
            for record in batch:
                if record.run_id not in host.live and not owner_alive(record.owner, host):
                    record.status = RunStatus.INTERRUPTED
                    await storage.put_run(record)
                else:
                    offset += 1
            if len(batch) < 500:
                break
    await storage.flush()
