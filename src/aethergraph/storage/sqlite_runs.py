"""The run tables of a SQLite workspace: runs and their claims, nodes, run events, owners, signals.

``SQLiteRuns`` is the part of ``SQLiteStorage`` that the run lifecycle uses; claims, heartbeats and
signals are committed before they return, since other processes act on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aethergraph.errors import StorageError
from aethergraph.storage import sqlite_schema as schema
from aethergraph.storage.records import NodeStatus
from aethergraph.storage.sqlite_events import LAST_SEQ, PAGES_AFTER, events_after
from aethergraph.storage.sqlite_rows import dump, node_record, node_row, run_record, run_row
from aethergraph.storage.sqlite_writer import PUT_RUN, REJECTABLE, Writer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aethergraph.storage.records import NodeRecord, RunEvent, RunRecord, RunStatus
    from aethergraph.storage.sqlite_steplog import StepLog

__all__ = ["MAX_KEYS", "SQLiteRuns", "marks", "select", "where_equal"]

MAX_KEYS = 500  # per statement: well under SQLite's limit on bound parameters


def select(table: str, columns: Sequence[str]) -> str:
    """A select of ``columns`` from ``table``."""
    return f"SELECT {', '.join(columns)} FROM {table}"


def marks(n: int) -> str:
    """``n`` parameter marks, comma separated."""
    return ", ".join(["?"] * n)


def where_equal(**columns: object) -> tuple[list[str], list[object]]:
    """``column = ?`` clauses and their parameters, for the columns given a value."""
    given = {c: v for c, v in columns.items() if v is not None}
    return [f"{c} = ?" for c in given], list(given.values())


_SELECT_RUNS = select("runs", schema.RUN_COLUMNS)
_GET_RUN = f"{_SELECT_RUNS} WHERE run_id = ?"
_CLAIMED = "SELECT status, owner, seq FROM runs WHERE run_id = ?"
_LIST_NODES = f"{select('nodes', schema.NODE_COLUMNS)} WHERE run_id = ? ORDER BY seq"
_BEAT = schema.upsert("owners", ("owner", "heartbeat_at"), ("owner",))
_SIGNAL = "INSERT INTO run_signals (run_id, signal) VALUES (?, ?)"
_PENDING_SIGNALS = "SELECT seq, run_id, signal FROM run_signals ORDER BY seq"
_ACTIVE_RUN_STATUSES = frozenset(schema.ACTIVE_RUN_STATUSES)
_FINISHED_NODE = frozenset(s.value for s in NodeStatus if s.is_terminal)


class SQLiteRuns:
    """Runs, nodes, run events, owners and signals, through one ``Writer``."""

    _writer: Writer
    _steps: StepLog
    _inputs_text: dict[tuple[str, str], tuple[dict[str, Any], str]]
    """The inputs (JSON) of the nodes running in this process, by (run_id, node_id)."""

    # -- runs ------------------------------------------------------------------------------
    async def put_run(self, record: RunRecord) -> None:
        """Insert or replace a run record (held until needed in the database)."""
        self._writer.hold_run(record)

    async def get_run(self, run_id: str) -> RunRecord | None:
        """The run record, or ``None``."""
        rows = await self._writer.read_held(_GET_RUN, (run_id,))
        return run_record(rows[0]) if rows else None

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
        clauses, params = where_equal(
            status=status, graph_id=graph_id, session_id=session_id, parent_run_id=parent_run_id
        )
        if status in _ACTIVE_RUN_STATUSES:
            clauses.append(schema.ACTIVE_RUNS)  # lets SQLite use the partial index runs_active
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"{_SELECT_RUNS}{where} ORDER BY created_at DESC, seq DESC LIMIT ? OFFSET ?"
        rows = await self._writer.read_held(sql, [*params, max(limit, 0), max(offset, 0)])
        return [run_record(r) for r in rows]

    async def claim_run(
        self, record: RunRecord, *, expect_status: RunStatus | None, expect_owner: str | None
    ) -> bool:
        """Store the record only if the stored run is as expected; committed when it is stored."""
        writer = self._writer

        def claim() -> bool:
            # BEGIN IMMEDIATE holds SQLite's write lock from the read to the commit.
            writer.begin()
            stored = writer.query(_CLAIMED, (record.run_id,))
            if expect_status is None:
                won = not stored
            else:
                won = bool(stored) and stored[0][:2] == (expect_status, expect_owner)
            if won:
                row = run_row(record, stored[0][2] if stored else schema.next_seq())
                try:
                    writer.execute(PUT_RUN[len(row)], row)
                except REJECTABLE as exc:
                    raise StorageError(f"cannot store run {record.run_id!r}: {exc}") from exc
            writer.commit()
            return won

        return await writer.call(claim)

    def _final_runs(self, run_ids: list[str]) -> set[str]:
        """Which of the runs have a final record in the database (the writer's lock held)."""
        final: set[str] = set()
        for start in range(0, len(run_ids), MAX_KEYS):
            chunk = run_ids[start : start + MAX_KEYS]
            sql = (
                f"SELECT run_id FROM runs WHERE run_id IN ({marks(len(chunk))}) "
                f"AND NOT {schema.ACTIVE_RUNS}"
            )
            final.update(r for (r,) in self._writer.query(sql, chunk))
        return final

    # -- nodes -----------------------------------------------------------------------------
    async def put_node(self, record: NodeRecord) -> None:
        """Insert or replace a node record (held until needed); a replaced node keeps its place."""
        if (
            record.status is NodeStatus.RUNNING
            and record.outputs is None
            and record.error is None
            and record.finished_at is None
        ):
            # A node that starts: its row is made only if a commit comes before its end.
            self._writer.hold_running(record, self._inputs_of(record))
            return
        self._writer.hold_node(self._node_row(record))

    async def journal_node(self, record: NodeRecord) -> None:
        """Store a finished step so that it survives a crash of this process on return.

        Written ahead to the run's step file (one line, no transaction); the row follows with
        the next commit.
        """
        row = self._node_row(record)
        self._steps.append(row)
        self._writer.hold_node(row)

    def _node_row(self, record: NodeRecord) -> tuple[Any, ...]:
        """The node's row, its inputs encoded once (``_inputs_of``)."""
        return node_row(record, self._inputs_of(record))

    def _inputs_of(self, record: NodeRecord) -> str:
        """The node's inputs as JSON, encoded when it starts and kept until it finishes.

        The text kept is used again only for the very inputs object it was made from.
        """
        key = (record.run_id, record.node_id)
        inputs = record.inputs
        finished = record.status._value_ in _FINISHED_NODE
        kept = self._inputs_text.pop(key, None) if finished else self._inputs_text.get(key)
        if kept is not None and kept[0] is inputs:
            return kept[1]
        text = dump(inputs)
        if not finished:
            self._inputs_text[key] = (inputs, text)
        return text

    async def list_nodes(self, run_id: str) -> list[NodeRecord]:
        """The run's nodes in first-stored order."""
        rows = [node_record(r) for r in await self._writer.read_held(_LIST_NODES, (run_id,))]
        nodes, adopted = self._steps.overlay(run_id, rows)
        for record in adopted:  # steps of a process that died before committing them
            self._writer.hold_node(self._node_row(record))
        return nodes

    # -- run events ------------------------------------------------------------------------
    def append_run_event(self, event: RunEvent) -> None:
        """Keep one run event (thread-safe; held until needed in the database)."""
        self._writer.hold_run_event(event)

    async def list_run_events(
        self, run_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[RunEvent]:
        """The run's events after ``after``, in ``seq`` order, at most ``limit``."""
        pages = await self._writer.read_held(PAGES_AFTER, (run_id, after))
        return events_after(run_id, pages, after, max(limit, 0))

    async def last_run_event_seq(self, run_id: str) -> int:
        """The highest ``seq`` stored for the run, 0 when none."""
        rows = await self._writer.read_held(LAST_SEQ, (run_id,))
        return int(rows[0][0] or 0)

    # -- owners and signals ----------------------------------------------------------------
    async def beat(self, owner: str, at: float) -> None:
        """Record the owner's heartbeat, committed."""
        writer = self._writer

        def beat() -> None:
            writer.execute(_BEAT, (owner, at))
            writer.commit()

        await writer.call(beat)

    async def heartbeats(self, owners: Sequence[str]) -> dict[str, float]:
        """The last beat of each owner that has one."""
        wanted = list(dict.fromkeys(owners))
        found: dict[str, float] = {}
        for start in range(0, len(wanted), MAX_KEYS):
            chunk = wanted[start : start + MAX_KEYS]
            sql = f"SELECT owner, heartbeat_at FROM owners WHERE owner IN ({marks(len(chunk))})"
            found.update(await self._writer.read(sql, chunk))
        return found

    async def signal_run(self, run_id: str, signal: str) -> None:
        """Leave a signal for the run's owner, committed."""
        writer = self._writer

        def send() -> None:
            writer.execute(_SIGNAL, (run_id, signal))
            writer.commit()

        await writer.call(send)

    async def take_run_signals(self, run_ids: Sequence[str]) -> list[tuple[str, str]]:
        """Remove and return the pending signals of these runs, oldest first, committed."""
        writer = self._writer
        wanted = set(run_ids)

        def take() -> list[tuple[str, str]]:
            # A read first, without SQLite's write lock: there are almost never any signals.
            pending = [p for p in writer.query(_PENDING_SIGNALS, ()) if p[1] in wanted]
            if not pending:
                return []
            taken: set[int] = set()
            seqs = [p[0] for p in pending]
            for start in range(0, len(seqs), MAX_KEYS):
                chunk = seqs[start : start + MAX_KEYS]
                sql = f"DELETE FROM run_signals WHERE seq IN ({marks(len(chunk))}) RETURNING seq"
                taken.update(s for (s,) in writer.execute(sql, chunk).fetchall())
            writer.commit()
            # Another process may have taken some between the read and the delete.
            return [(run_id, signal) for seq, run_id, signal in pending if seq in taken]

        return await writer.call(take)
