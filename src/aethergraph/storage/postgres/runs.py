"""The run tables in PostgreSQL: runs and their claims, nodes, run events, owners, signals.

(Leaving a signal is ``PostgresStorage.signal_run``: it notifies the run's owner too.)

``PostgresRuns`` is the part of ``PostgresStorage`` the run lifecycle uses. Run and node records,
run events and log entries are held in memory when stored (from any thread; a record stored
again replaces the one held), and written in one statement, one round trip, before anything reads
them, at ``flush()``, or at most ``FLUSH_DEADLINE`` seconds after the first was held (as SQLite
holds them until its next commit); ``journal_node`` writes at once, claims are written at once.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import threading
from typing import TYPE_CHECKING, Any

import asyncpg

from aethergraph.storage.postgres import rows
from aethergraph.storage.postgres.changes import notify_sql
from aethergraph.storage.postgres.sql import Where, insert, select, upsert, upsert_unnest

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aethergraph.storage.postgres.changes import ChangeListener
    from aethergraph.storage.records import NodeRecord, RunEvent, RunRecord, RunStatus

__all__ = ["FLUSH_DEADLINE", "PostgresRuns"]

logger = logging.getLogger(__name__)

FLUSH_DEADLINE = 0.05
"""Seconds within which held run events and log entries are written when nobody flushed."""

_SELECT_RUNS = select("runs", rows.RUN_COLUMNS)
_STATUS, _OWNER = rows.RUN_COLUMNS.index("status"), rows.RUN_COLUMNS.index("owner")
_INSERT_RUN = f"{insert('runs', rows.RUN_COLUMNS)} ON CONFLICT (run_id) DO NOTHING RETURNING 1"
_n = len(rows.RUN_COLUMNS)
# A claim notifies the run's id: a process holding the run (waiting for its answer) wakes when
# another one, or another loop of its own, changes it (cancels it, takes it over).
_CLAIM_RUN = notify_sql(
    "UPDATE runs SET "
    + ", ".join(f"{c} = ${i}" for i, c in enumerate(rows.RUN_COLUMNS[1:], start=2))
    + f" WHERE run_id = $1 AND status = ${_n + 1} AND owner IS NOT DISTINCT FROM ${_n + 2}",
    _n + 3,
)
_RUN_TYPES = ("text",) * 7 + ("float8",) * 3 + ("text",) * 4
_NODE_TYPES = ("text",) * 7 + ("int4", "float8", "float8")
_EVENT_TYPES = ("text", "bigint", "float8", "text", "text")
_LOG_TYPES = ("text", "float8", "text", "text", "text", "text", "text")
_LIST_NODES = f"{select('nodes', rows.NODE_COLUMNS)} WHERE run_id = $1 ORDER BY seq"


def _arrays(first: int, types: tuple[str, ...]) -> str:
    return ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(types))


@functools.cache
def _write_statement(runs: bool, nodes: bool, events: bool, logs: bool) -> str:
    """One statement writing held rows of the kinds given, one array parameter per column.

    It returns the ``(run_id, seq)`` of the run events it stored (a taken one is not).
    """
    parts, n = [], 1
    if runs:
        parts.append(
            "put_runs AS ("
            + upsert_unnest("runs", rows.RUN_COLUMNS, _RUN_TYPES, ("run_id",), n)
            + ")"
        )
        n += len(_RUN_TYPES)
    if nodes:
        key = ("run_id", "node_id")
        statement = upsert_unnest("nodes", rows.NODE_COLUMNS, _NODE_TYPES, key, n)
        parts.append(f"put_nodes AS ({statement})")
        n += len(_NODE_TYPES)
    if events:
        parts.append(
            f"put_events AS (INSERT INTO run_events ({', '.join(rows.RUN_EVENT_COLUMNS)}) "
            f"SELECT * FROM unnest({_arrays(n, _EVENT_TYPES)}) ON CONFLICT (run_id, seq) "
            # The same event written again (a write whose outcome was unknown) is stored.
            "DO UPDATE SET ts = EXCLUDED.ts WHERE (run_events.ts, run_events.type, "
            "run_events.data) = (EXCLUDED.ts, EXCLUDED.type, EXCLUDED.data) "
            "RETURNING run_id, seq)"
        )
        n += len(_EVENT_TYPES)
    if logs:
        parts.append(
            f"put_logs AS (INSERT INTO logs ({', '.join(rows.LOG_COLUMNS)}) "
            f"SELECT * FROM unnest({_arrays(n, _LOG_TYPES)}))"
        )
    stored = "SELECT run_id, seq FROM put_events" if events else "SELECT NULL, NULL WHERE false"
    return f"WITH {', '.join(parts)} {stored}"


_LIST_RUN_EVENTS = (
    f"{select('run_events', rows.RUN_EVENT_COLUMNS)} WHERE run_id = $1 AND seq > $2 "
    "ORDER BY seq LIMIT $3"
)
_LAST_RUN_EVENT = "SELECT max(seq) FROM run_events WHERE run_id = $1"
_BEAT = upsert("owners", ("owner", "heartbeat_at"), ("owner",))
_HEARTBEATS = "SELECT owner, heartbeat_at FROM owners WHERE owner = ANY($1::text[])"
# SKIP LOCKED: a signal another process is taking is left to it, never returned twice.
_TAKE_SIGNALS = (
    "DELETE FROM run_signals WHERE seq IN (SELECT seq FROM run_signals WHERE run_id = "
    "ANY($1::text[]) FOR UPDATE SKIP LOCKED) RETURNING seq, run_id, signal"
)


def _first(row: Any) -> Any:
    return row[0]


class PostgresRuns:
    """Runs, nodes, run events, owners and signals, through one connection pool."""

    _pool: asyncpg.Pool
    _changes: ChangeListener

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._held_lock = threading.Lock()
        self._held_events: list[tuple[Any, ...]] = []
        self._held_logs: list[tuple[Any, ...]] = []
        # The latest row of each run and node, in the order first held (a node's first row
        # gives its place among the run's nodes).
        self._held_runs: dict[str, tuple[Any, ...]] = {}
        self._held_nodes: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._armed = False  # a deadline write is pending (under _held_lock)
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_writes: set[asyncio.Task[None]] = set()
        self._refused: list[str] = []
        self._writing_held = asyncio.Lock()

    # -- held rows -------------------------------------------------------------------------
    def _hold(
        self,
        held: list[tuple[Any, ...]] | dict[Any, tuple[Any, ...]],
        row: tuple[Any, ...],
        key: Any = None,
    ) -> None:
        """Hold a row: appended to a list, or in a dict under ``key`` (replacing one held)."""
        with self._held_lock:
            if isinstance(held, list):
                held.append(row)
            else:
                held[key] = row
            arm, self._armed = not self._armed, True
        if arm:  # from any thread: the deadline runs on the storage's loop
            self._loop.call_soon_threadsafe(self._arm)

    def _arm(self) -> None:
        self._deadline = self._loop.call_later(FLUSH_DEADLINE, self._write_by_deadline)

    def _write_by_deadline(self) -> None:
        self._deadline = None
        task = self._loop.create_task(self._write_held_or_log())
        self._deadline_writes.add(task)
        task.add_done_callback(self._deadline_writes.discard)

    async def _write_held_or_log(self) -> None:
        try:
            await self._write_held()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            logger.warning("could not write held run events and logs; the next flush retries")

    async def _stop_deadline_writes(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._deadline_writes:
            await asyncio.gather(*self._deadline_writes, return_exceptions=True)

    async def _write_held(self) -> None:
        """Write the held rows in one statement; a read after this returns sees them."""
        async with self._writing_held:
            with self._held_lock:
                events, self._held_events = self._held_events, []
                logs, self._held_logs = self._held_logs, []
                runs, self._held_runs = self._held_runs, {}
                nodes, self._held_nodes = self._held_nodes, {}
                self._armed = False
            if not (events or logs or nodes or runs):
                return
            params: list[Any] = []
            for held in (runs.values(), nodes.values(), events, logs):
                if held:
                    params.extend(zip(*held, strict=True))
            statement = _write_statement(bool(runs), bool(nodes), bool(events), bool(logs))
            # Once sent, the statement may be applied whatever happens to its caller: a cancel
            # waits for its outcome, so rows written are never held (and written) again.
            write = asyncio.ensure_future(self._pool.fetch(statement, *params))
            cancelled: asyncio.CancelledError | None = None
            while not write.done():
                try:
                    await asyncio.wait([write])
                except asyncio.CancelledError as exc:
                    cancelled = exc
            try:
                written = write.result()
            except BaseException:
                with self._held_lock:  # nothing was written: the next write retries them
                    self._held_events[:0], self._held_logs[:0] = events, logs
                    self._held_runs = {**runs, **self._held_runs}  # newer ones held win
                    self._held_nodes = {**nodes, **self._held_nodes}
                if cancelled is not None:
                    raise cancelled from None  # the caller asked to stop: it does
                raise
            if events:
                taken = collections.Counter((e[0], e[1]) for e in events)
                taken.subtract((r[0], r[1]) for r in written)
                self._refused.extend(
                    f"run event {seq} of run {run_id!r}: its seq is taken"
                    for (run_id, seq), n in taken.items()
                    for _ in range(n)
                )
            if cancelled is not None:
                raise cancelled

    # -- runs ------------------------------------------------------------------------------
    async def put_run(self, record: RunRecord) -> None:
        """Insert or replace a run record (held until needed in the database)."""
        self._hold(self._held_runs, rows.run_row(record), record.run_id)

    async def release_run(self, run_id: str) -> None:
        """Stop holding the run's record: the process it is handed to stores it from now on.

        A write of held rows already under way finishes first, so no row of the run written
        by this process can land after one of its new owner's.
        """
        async with self._writing_held:
            with self._held_lock:
                self._held_runs.pop(run_id, None)

    async def get_run(self, run_id: str) -> RunRecord | None:
        """The run record, or ``None``."""
        await self._write_held()
        row = await self._pool.fetchrow(f"{_SELECT_RUNS} WHERE run_id = $1", run_id)
        return rows.run_record(row) if row is not None else None

    async def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        graph_id: str | None = None,
        session_id: str | None = None,
        parent_run_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Matching runs, newest first."""
        where = Where()
        where.equal(
            status=None if status is None else str(status),
            graph_id=graph_id,
            session_id=session_id,
            parent_run_id=parent_run_id,
        )
        page = f"LIMIT {where.mark(max(limit, 0))} OFFSET {where.mark(max(offset, 0))}"
        await self._write_held()
        sql = f"{_SELECT_RUNS}{where} ORDER BY created_at DESC, seq DESC {page}"
        return [rows.run_record(r) for r in await self._pool.fetch(sql, *where.params)]

    async def claim_run(
        self, record: RunRecord, *, expect_status: RunStatus | None, expect_owner: str | None
    ) -> bool:
        """Store the record only if the stored run is as expected, in one atomic statement.

        A run this process stored last, and holds still, is that row once written (writing
        held rows replaces the stored ones): it is compared with here, and the claim written
        with the others, in one round trip.
        """
        row = rows.run_row(record)
        with self._held_lock:
            held = self._held_runs.get(record.run_id)
            if held is not None:
                won = expect_status is not None and (held[_STATUS], held[_OWNER]) == (
                    str(expect_status),
                    expect_owner,
                )
                if won:
                    self._held_runs[record.run_id] = row
        if held is not None:
            await self._write_held()
            return won
        await self._write_held()  # other held runs go first, as they were stored first
        if expect_status is None:
            return await self._pool.fetchval(_INSERT_RUN, *row) is not None
        channel = self._changes.channel
        return bool(
            await self._pool.fetch(_CLAIM_RUN, *row, str(expect_status), expect_owner, channel)
        )

    # -- nodes -----------------------------------------------------------------------------
    async def put_node(self, record: NodeRecord) -> None:
        """Insert or replace a node record (held); a replaced node keeps its place."""
        self._hold(self._held_nodes, rows.node_row(record), (record.run_id, record.node_id))

    async def journal_node(self, record: NodeRecord) -> None:
        """Store a finished step; it is committed when this returns."""
        self._hold(self._held_nodes, rows.node_row(record), (record.run_id, record.node_id))
        await self._write_held()

    async def list_nodes(self, run_id: str) -> list[NodeRecord]:
        """The run's nodes in first-stored order."""
        await self._write_held()
        return [rows.node_record(r) for r in await self._pool.fetch(_LIST_NODES, run_id)]

    # -- run events ------------------------------------------------------------------------
    def append_run_event(self, event: RunEvent) -> None:
        """Keep one run event (thread-safe; held until needed in the database)."""
        self._hold(self._held_events, rows.run_event_row(event))

    async def list_run_events(
        self, run_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[RunEvent]:
        """The run's events after ``after``, in ``seq`` order, at most ``limit``."""
        await self._write_held()
        found = await self._pool.fetch(_LIST_RUN_EVENTS, run_id, after, max(limit, 0))
        return [rows.run_event_record(r) for r in found]

    async def last_run_event_seq(self, run_id: str) -> int:
        """The highest ``seq`` stored for the run, 0 when none."""
        await self._write_held()
        return int(await self._pool.fetchval(_LAST_RUN_EVENT, run_id) or 0)

    # -- owners and signals ----------------------------------------------------------------
    async def beat(self, owner: str, at: float) -> None:
        """Record the owner's heartbeat."""
        await self._pool.execute(_BEAT, owner, at)

    async def heartbeats(self, owners: Sequence[str]) -> dict[str, float]:
        """The last beat of each owner that has one."""
        return {r[0]: r[1] for r in await self._pool.fetch(_HEARTBEATS, list(owners))}

    async def take_run_signals(self, run_ids: Sequence[str]) -> list[tuple[str, str]]:
        """Remove and return the pending signals of these runs, oldest first."""
        if not run_ids:
            return []
        taken = sorted(await self._pool.fetch(_TAKE_SIGNALS, list(run_ids)), key=_first)
        return [(r[1], r[2]) for r in taken]
