"""The ``Runtime``: where runs are kept, their clock and executor, and the runs live here.

Every module-level call (``run``, ``configure``, ``list_runs``, ...) works on the *current*
runtime: a context variable with a process-wide default. ``Runtime.scoped()`` makes a child
runtime with its own storage and clock; ``aethergraph.testing.memory_runtime()`` is one. The
service registry, the channels and the catalog of graphs and tools are the process's, the same
for every runtime. A runtime opens its storage lazily, so ``import aethergraph`` does no I/O.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import socket
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from aethergraph.core.engine.clock import Clock, SystemClock
from aethergraph.core.engine.executor import Executor, InProcessExecutor
from aethergraph.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from aethergraph.core.engine.lifecycle import RunState
    from aethergraph.core.engine.placement import Placement
    from aethergraph.storage.protocols import Storage

__all__ = ["DEFAULT_WORKSPACE", "Runtime", "current_runtime", "process_start_ticks"]

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


class Runtime:
    """Where runs are kept (storage), their clock and executor, and the runs live in this process.

    Attributes:
        owner_id: ``host:pid:start`` of this process, recorded as the owner of the runs it hosts.
        owner_loop: The loop that owns the services while a server runs, else ``None``.
        live: Runs executing in this process, by run id (shared by scoped runtimes).
        clock: Wall time and timeouts (``aethergraph.testing.ManualClock`` in tests).
        executor: Where runs execute (in this process by default).
    """

    def __init__(
        self,
        *,
        parent: Runtime | None = None,
        storage: Storage | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.parent = parent
        self.root: Runtime = parent.root if parent is not None else self
        self.owner_id: str = parent.owner_id if parent is not None else _process_identity()
        self._owner_loop: asyncio.AbstractEventLoop | None = None
        self._placement: Placement | None = None
        # Live runs are the process's: a cancel or reply from any thread or scope must find them.
        self.live: dict[str, RunState] = parent.live if parent is not None else {}
        # Runs this process handed to another one to execute (a Ray worker) and answers for
        # until they end: their stored record may still name this process as their owner.
        self.dispatched: set[str] = parent.dispatched if parent is not None else set()
        self.clock: Clock = clock or (parent.clock if parent is not None else SystemClock())
        self.executor: Executor = InProcessExecutor()
        self._workspace: Path | None = None
        self._default: Storage | None = storage
        self._by_path: dict[Path, Storage] = {}
        self._by_url: dict[str, Storage] = {}
        self._database_url: str | None = None
        self._artifact_root: Path | None = None
        if parent is None:
            atexit.register(self._flush_at_exit)

    @property
    def owner_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop that owns the services while a server runs (one per process), else ``None``."""
        return self.root._owner_loop

    @owner_loop.setter
    def owner_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self.root._owner_loop = loop

    @property
    def placement(self) -> Placement | None:
        """Where placed tools (``@tool(resources=...)``) run: ``None`` is in their node.

        The process's: a Ray worker sets it for every run it hosts.
        """
        return self.root._placement

    @placement.setter
    def placement(self, placement: Placement | None) -> None:
        self.root._placement = placement

    # -- configuration ----------------------------------------------------------------------
    def workspace(self) -> Path:
        """The configured workspace, else ``AETHERGRAPH_WORKSPACE``, else ``./aethergraph_data``."""
        if self._workspace is not None:
            return self._workspace
        return Path(os.environ.get("AETHERGRAPH_WORKSPACE") or DEFAULT_WORKSPACE).absolute()

    def configure(
        self,
        *,
        workspace: str | os.PathLike[str] | None = None,
        storage: Storage | None = None,
        database_url: str | None = None,
        artifact_root: str | os.PathLike[str] | None = None,
        executor: str | Executor | None = None,
        ray_address: str | None = None,
        num_workers: int = 2,
        max_runs_per_worker: int = 8,
    ) -> None:
        """Choose where runs are kept (a workspace, PostgreSQL, a backend) and where they execute.

        ``artifact_root`` keeps the blob bytes of PostgreSQL storage in that shared folder
        instead of the database. ``executor="ray"`` dispatches runs to ``num_workers`` Ray actors
        (``aethergraph[ray]``) of the cluster at ``ray_address`` (``None``: a local one);
        ``"in_process"`` is the default.
        """
        if executor is not None:
            self.executor = _make_executor(executor, ray_address, num_workers, max_runs_per_worker)
        if sum(x is not None for x in (workspace, storage, database_url)) > 1:
            raise ConfigurationError(
                "configure() takes one of workspace, storage and database_url, not several"
            )
        if artifact_root is not None:
            if workspace is not None or storage is not None:
                raise ConfigurationError(
                    "configure(artifact_root=...) keeps the blobs of PostgreSQL storage; a "
                    "workspace or a storage object keeps its own, so give database_url with it"
                )
            self._artifact_root = Path(artifact_root).absolute()
            self._default = None
        if workspace is not None:
            self._workspace = Path(workspace).absolute()
            self._database_url = None
            self._artifact_root = None
            self._default = None
        if database_url is not None:
            if not database_url.startswith(("postgresql://", "postgres://")):
                raise ConfigurationError(
                    f"database_url {database_url!r} is not a PostgreSQL URL; give "
                    "postgresql://user@host:port/database (optionally ?schema=NAME)"
                )
            self._database_url = database_url
            self._default = None
        if storage is not None:
            self._artifact_root = None
            self._default = storage

    def storage(self, workspace: str | os.PathLike[str] | None = None) -> Storage:
        """The storage for ``workspace`` (default: the configured one), opened on first use."""
        if workspace is None:
            if self._default is None:
                url = self._database_url
                if url is None and self._workspace is None:
                    url = os.environ.get("AETHERGRAPH_DATABASE_URL") or None
                if url is None:
                    if self._artifact_root is not None:
                        raise ConfigurationError(
                            f"configure(artifact_root={str(self._artifact_root)!r}) keeps the "
                            "blobs of PostgreSQL storage, but runs are kept in the workspace "
                            f"{str(self.workspace())!r}; give database_url=postgresql://... too "
                            "(the workspace keeps its blobs in its own folder)"
                        )
                    self._default = self._open(self.workspace())
                else:
                    self._default = self._connect(url)
            return self._default
        return self._open(Path(workspace).absolute())

    def _open(self, path: Path) -> Storage:
        root = self.root
        store = root._by_path.get(path)
        if store is None:
            if path.exists() and not path.is_dir():
                raise ConfigurationError(
                    f"workspace {str(path)!r} exists and is not a folder; point "
                    "AETHERGRAPH_WORKSPACE or configure(workspace=...) at a folder"
                )
            from aethergraph.storage.sqlite import SQLiteStorage  # sqlite3 only when used

            store = root._by_path[path] = SQLiteStorage(path)
        return store

    def _connect(self, url: str) -> Storage:
        artifact_root = self._artifact_root
        if artifact_root is None and (found := os.environ.get("AETHERGRAPH_ARTIFACT_ROOT")):
            artifact_root = Path(found).absolute()
        root = self.root
        key = f"{url} {artifact_root}"
        store = root._by_url.get(key)
        if store is None:
            if not url.startswith(("postgresql://", "postgres://")):
                raise ConfigurationError(
                    f"AETHERGRAPH_DATABASE_URL {url!r} is not a PostgreSQL URL; give "
                    "postgresql://user@host:port/database (optionally ?schema=NAME)"
                )
            try:  # asyncpg only when used
                from aethergraph.storage.postgres.database import PostgresDatabase
            except ImportError as exc:
                raise ConfigurationError(
                    "PostgreSQL storage needs asyncpg: pip install 'aethergraph[postgres]'"
                ) from exc
            store = root._by_url[key] = PostgresDatabase(url, artifact_root=artifact_root)
        return store

    def all_live(self) -> list[RunState]:
        """The runs live in this process."""
        return list(self.live.values())

    # -- scoping ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def scoped(
        self,
        *,
        storage: Storage | None = None,
        workspace: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
    ) -> Iterator[Runtime]:
        """Make a child runtime current until the block exits (own storage and clock)."""
        child = Runtime(parent=self, storage=storage, clock=clock)
        if workspace is not None:
            child.configure(workspace=workspace)
        elif storage is None:
            child._workspace, child._default = self._workspace, self._default
            child._database_url = self._database_url
            child._artifact_root = self._artifact_root
        token = _current.set(child)
        try:
            yield child
        finally:
            _current.reset(token)

    def _flush_at_exit(self) -> None:
        stores = list(self._by_path.values())
        if not stores:
            return
        with contextlib.suppress(Exception):
            asyncio.run(_close_all(stores))

    def __repr__(self) -> str:
        where = self._default.location if self._default is not None else str(self.workspace())
        return f"<Runtime {where!r} live={len(self.live)}>"


def _make_executor(
    executor: str | Executor, address: str | None, num_workers: int, max_runs_per_worker: int
) -> Executor:
    if not isinstance(executor, str):
        return executor
    if executor == "in_process":
        return InProcessExecutor()
    if executor != "ray":
        raise ConfigurationError(
            f"unknown executor {executor!r}; use 'in_process', 'ray' or an Executor object"
        )
    try:  # ray only when used
        from aethergraph.core.engine.executors.ray import RayExecutor
    except ImportError as exc:
        raise ConfigurationError(
            f"executor='ray' needs Ray: pip install 'aethergraph[ray]' ({exc})"
        ) from exc
    return RayExecutor(
        address=address, num_workers=num_workers, max_runs_per_worker=max_runs_per_worker
    )


async def _close_all(stores: list[Storage]) -> None:
    for store in stores:
        await store.close()


_process_runtime = Runtime()
_current: ContextVar[Runtime] = ContextVar("aethergraph_runtime", default=_process_runtime)


def current_runtime() -> Runtime:
    """The runtime of this context: a scoped one inside ``Runtime.scoped()``, else the process's."""
    return _current.get()
