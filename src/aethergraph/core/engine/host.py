"""The process's hosting of runs: which workspace, which storage, which loop owns the services.

There is one ``Host`` per process. It opens storage lazily (``import aethergraph`` does no I/O),
keeps the runs that are live in this process so ``reply`` and ``cancel_run`` can reach them, and
remembers the event loop that owns the services while a server runs.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from aethergraph.errors import ConfigurationError

if TYPE_CHECKING:
    from aethergraph.core.engine.run_state import RunState
    from aethergraph.storage.protocols import Storage

__all__ = ["DEFAULT_WORKSPACE", "Host", "get_host"]

DEFAULT_WORKSPACE = "aethergraph_data"


def _process_identity() -> str:
    """``host:pid:start`` naming this process; the start time tells a reused pid apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{process_start_ticks(os.getpid())}"


def process_start_ticks(pid: int) -> str:
    """The kernel's start time of ``pid`` (Linux), or ``?`` when it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "?"
    # Fields after the command name (which may contain spaces) start after the last ')'.
    return stat.rsplit(")", 1)[1].split()[19]


class Host:
    """Process-wide runtime state."""

    def __init__(self) -> None:
        self.owner_id = _process_identity()
        self.owner_loop: asyncio.AbstractEventLoop | None = None
        self.live: dict[str, RunState] = {}
        self._workspace: Path | None = None
        self._default: Storage | None = None
        self._by_path: dict[Path, Storage] = {}
        atexit.register(self._flush_at_exit)

    # -- configuration ----------------------------------------------------------------------
    def workspace(self) -> Path:
        """The configured workspace, else ``AETHERGRAPH_WORKSPACE``, else ``./aethergraph_data``."""
        if self._workspace is not None:
            return self._workspace
        return Path(os.environ.get("AETHERGRAPH_WORKSPACE") or DEFAULT_WORKSPACE).absolute()

    def configure(
        self, *, workspace: str | os.PathLike[str] | None = None, storage: Storage | None = None
    ) -> None:
        """Choose the workspace folder, or a storage backend (e.g. ``MemoryStorage``)."""
        if workspace is not None and storage is not None:
            raise ConfigurationError("configure() takes a workspace or a storage, not both")
        if workspace is not None:
            self._workspace = Path(workspace).absolute()
            self._default = None
        if storage is not None:
            self._default = storage

    def snapshot(self) -> tuple[Path | None, Storage | None]:
        """The current configuration, for ``restore``."""
        return self._workspace, self._default

    def restore(self, saved: tuple[Path | None, Storage | None]) -> None:
        """Go back to a configuration taken with ``snapshot``."""
        self._workspace, self._default = saved

    def storage(self, workspace: str | os.PathLike[str] | None = None) -> Storage:
        """The storage for ``workspace`` (default: the configured one), opened on first use."""
        if workspace is None:
            if self._default is None:
                self._default = self._open(self.workspace())
            return self._default
        return self._open(Path(workspace).absolute())

    def _open(self, path: Path) -> Storage:
        store = self._by_path.get(path)
        if store is None:
            if path.exists() and not path.is_dir():
                raise ConfigurationError(
                    f"workspace {str(path)!r} exists and is not a folder; point "
                    "AETHERGRAPH_WORKSPACE or configure(workspace=...) at a folder"
                )
            from aethergraph.storage.sqlite import SQLiteStorage

            store = self._by_path[path] = SQLiteStorage(path)
        return store

    def _flush_at_exit(self) -> None:
        stores = list(self._by_path.values())
        if not stores:
            return
        with contextlib.suppress(Exception):
            asyncio.run(_close_all(stores))

    @staticmethod
    def now() -> float:
        """Wall-clock time for records."""
        return time.time()


async def _close_all(stores: list[Storage]) -> None:
    for store in stores:
        await store.close()


_host = Host()


def get_host() -> Host:
    """The process's host."""
    return _host
