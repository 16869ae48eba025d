"""The SQLite workspace schema: its tables, and how each record maps to a row and back.

Most tables keep an ``INTEGER PRIMARY KEY`` named ``seq`` (the rowid, stable across ``VACUUM``)
beside the record's own key, which is ``UNIQUE``: upserts keep ``seq``, so "first stored" and
"newest stored" orderings match the in-memory backend. ``runs`` is the exception, being the table
written once per run: a ``WITHOUT ROWID`` table keyed by ``run_id`` alone, so storing a run touches
one b-tree for the row and one for the listing order. Its ``seq`` is an ordinary column, given on
first store from ``next_seq`` (a per-process counter started at the wall clock in nanoseconds, so
later processes continue above earlier ones) and kept by upserts. JSON payloads are stored as text,
``None`` as NULL.

Full-text search indexes the words of an event (see ``words``) rather than its raw text: with the
``ascii`` tokenizer, and ``_`` as a token character, each of those words is exactly one token, so
SQLite and the in-memory backend split and match text identically.

Any change here bumps ``SCHEMA_VERSION``, kept in ``PRAGMA user_version``, and teaches ``migrate``
to bring older workspaces up to date.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any

from aethergraph.errors import StorageError
from aethergraph.storage.memory import words
from aethergraph.storage.records import (
    Artifact,
    Event,
    LogEntry,
    NodeRecord,
    NodeStatus,
    RunRecord,
    RunStatus,
    WaitRecord,
    WaitStatus,
)

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence
    from pathlib import Path

__all__ = [
    "ACTIVE_RUNS",
    "ACTIVE_RUN_STATUSES",
    "ARTIFACT_COLUMNS",
    "DDL",
    "EVENT_COLUMNS",
    "LEAN_NULLS",
    "LOG_COLUMNS",
    "NODE_COLUMNS",
    "RUN_COLUMNS",
    "SCHEMA_VERSION",
    "WAIT_COLUMNS",
    "artifact_record",
    "artifact_row",
    "dump",
    "event_record",
    "event_row",
    "event_words",
    "insert",
    "log_record",
    "load",
    "log_row",
    "migrate",
    "next_seq",
    "node_record",
    "node_row",
    "run_record",
    "run_row",
    "upsert",
    "upserts",
    "wait_record",
    "wait_row",
]

SCHEMA_VERSION = 2

RUN_COLUMNS = (
    "run_id",
    "graph_id",
    "status",
    "kind",
    "inputs",
    "outputs",
    "error",
    "created_at",
    "started_at",
    "finished_at",
    "parent_run_id",
    "session_id",
    "owner",
)
NODE_COLUMNS = (
    "run_id",
    "node_id",
    "tool",
    "status",
    "inputs",
    "outputs",
    "error",
    "attempts",
    "started_at",
    "finished_at",
)
EVENT_COLUMNS = (
    "id",
    "ts",
    "kind",
    "scope_id",
    "topic",
    "data",
    "text",
    "tags",
    "metrics",
    "inputs",
    "outputs",
    "run_id",
    "graph_id",
    "node_id",
    "session_id",
)
LOG_COLUMNS = ("run_id", "ts", "level", "message", "node_id", "graph_id", "extra")
ARTIFACT_COLUMNS = (
    "id",
    "uri",
    "sha256",
    "size",
    "kind",
    "created_at",
    "name",
    "mime",
    "labels",
    "metrics",
    "suggested_uri",
    "pinned",
    "run_id",
    "graph_id",
    "node_id",
    "session_id",
)
WAIT_COLUMNS = (
    "wait_id",
    "run_id",
    "node_id",
    "kind",
    "prompt",
    "status",
    "options",
    "channel",
    "created_at",
    "deadline",
    "reply",
)

ACTIVE_RUN_STATUSES = ("pending", "running", "waiting", "interrupted")
"""The statuses of runs that are not over: the only ones ``runs_active`` indexes."""

# Equalities joined by OR rather than ``status IN (...)``: SQLite evaluates an IN list of more than
# two values by building a temporary table, on every insert into runs.
ACTIVE_RUNS = f"({' OR '.join(f'status = {s!r}' for s in ACTIVE_RUN_STATUSES)})"
"""The ``WHERE`` of ``runs_active``; a query must repeat it word for word to use the index."""

_RUNS_TABLE = """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT NOT NULL PRIMARY KEY, seq INTEGER NOT NULL, graph_id TEXT NOT NULL,
        status TEXT NOT NULL, kind TEXT NOT NULL, inputs TEXT NOT NULL, outputs TEXT, error TEXT,
        created_at REAL NOT NULL, started_at REAL, finished_at REAL, parent_run_id TEXT,
        session_id TEXT, owner TEXT) WITHOUT ROWID"""
# Lists are newest first: each index ends with (created_at, seq). ``runs_created_at`` serves every
# listing, filtering by graph_id or by a status that is over included: such a list reads runs
# newest first until it has a page of matches. Runs that are over (nearly all) cost the partial
# indexes nothing, nor do runs without a session or a parent; ``x = ?`` still uses the session and
# parent ones, and a status filter repeats ``ACTIVE_RUNS`` to use ``runs_active`` (which recovery
# after a crash reads).
_RUNS_INDEXES = (
    "CREATE INDEX IF NOT EXISTS runs_created_at ON runs (created_at, seq)",
    f"CREATE INDEX IF NOT EXISTS runs_active ON runs (status, created_at, seq) WHERE {ACTIVE_RUNS}",
    """CREATE INDEX IF NOT EXISTS runs_session_id ON runs (session_id, created_at, seq)
        WHERE session_id IS NOT NULL""",
    """CREATE INDEX IF NOT EXISTS runs_parent_run_id ON runs (parent_run_id, created_at, seq)
        WHERE parent_run_id IS NOT NULL""",
)

DDL = (
    _RUNS_TABLE,
    *_RUNS_INDEXES,
    """CREATE TABLE IF NOT EXISTS nodes (
        seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, node_id TEXT NOT NULL, tool TEXT NOT NULL,
        status TEXT NOT NULL, inputs TEXT NOT NULL, outputs TEXT, error TEXT,
        attempts INTEGER NOT NULL, started_at REAL, finished_at REAL, UNIQUE (run_id, node_id))""",
    """CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY, id TEXT NOT NULL, ts REAL NOT NULL, kind TEXT NOT NULL,
        scope_id TEXT NOT NULL, topic TEXT, data TEXT, text TEXT, tags TEXT NOT NULL,
        metrics TEXT NOT NULL, inputs TEXT, outputs TEXT, run_id TEXT, graph_id TEXT,
        node_id TEXT, session_id TEXT)""",
    "CREATE INDEX IF NOT EXISTS events_scope_id ON events (scope_id)",
    "CREATE INDEX IF NOT EXISTS events_run_id ON events (run_id)",
    """CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5 (
        text, topic, kind, tags, content = '', tokenize = "ascii tokenchars '_'")""",
    """CREATE TABLE IF NOT EXISTS logs (
        seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, ts REAL NOT NULL, level TEXT NOT NULL,
        message TEXT NOT NULL, node_id TEXT, graph_id TEXT, extra TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS logs_run_id ON logs (run_id)",
    """CREATE TABLE IF NOT EXISTS kv (
        key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS artifacts (
        seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, uri TEXT NOT NULL,
        sha256 TEXT NOT NULL, size INTEGER NOT NULL, kind TEXT NOT NULL, created_at REAL NOT NULL,
        name TEXT, mime TEXT, labels TEXT NOT NULL, metrics TEXT NOT NULL, suggested_uri TEXT,
        pinned INTEGER NOT NULL, run_id TEXT, graph_id TEXT, node_id TEXT, session_id TEXT)""",
    "CREATE INDEX IF NOT EXISTS artifacts_created_at ON artifacts (created_at)",
    "CREATE INDEX IF NOT EXISTS artifacts_run_id ON artifacts (run_id)",
    """CREATE INDEX IF NOT EXISTS artifacts_session_id ON artifacts (session_id, created_at)
        WHERE session_id IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS waits (
        seq INTEGER PRIMARY KEY, wait_id TEXT NOT NULL UNIQUE, run_id TEXT NOT NULL,
        node_id TEXT NOT NULL, kind TEXT NOT NULL, prompt TEXT NOT NULL, status TEXT NOT NULL,
        options TEXT, channel TEXT NOT NULL, created_at REAL NOT NULL, deadline REAL,
        reply TEXT)""",
    "CREATE INDEX IF NOT EXISTS waits_run_id ON waits (run_id)",
    "CREATE INDEX IF NOT EXISTS waits_status ON waits (status)",
)


# Version 1 kept runs in a rowid table (seq INTEGER PRIMARY KEY, run_id UNIQUE) with five indexes.
_RUNS_FROM_V1 = (
    "ALTER TABLE runs RENAME TO runs_v1",
    _RUNS_TABLE,
    f"INSERT INTO runs (seq, {', '.join(RUN_COLUMNS)}) "
    f"SELECT seq, {', '.join(RUN_COLUMNS)} FROM runs_v1",
    "DROP TABLE runs_v1",  # and its indexes, whose names the new ones take
    *_RUNS_INDEXES,
)


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the database at ``path`` to ``SCHEMA_VERSION``; refuse one from a newer version."""
    if _version(conn) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")  # another process may be migrating it too: take turns
    try:
        version = _version(conn)
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{path} has schema version {version}, newer than this aethergraph knows "
                f"({SCHEMA_VERSION}); upgrade aethergraph to open this workspace"
            )
        if version == 1:
            for statement in _RUNS_FROM_V1:
                conn.execute(statement)
        for statement in DDL:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def insert(table: str, columns: Sequence[str]) -> str:
    """An insert of one row's ``columns``."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['?'] * len(columns))})"


def upsert(
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    *,
    keep: Sequence[str] = (),
    nulls: Sequence[str] = (),
) -> str:
    """An insert that updates the row in place when ``key`` exists, keeping ``seq`` and ``keep``.

    The columns in ``nulls`` are not given: the row gets NULL there, inserted or updated.
    """
    updates = [f"{c} = excluded.{c}" for c in columns if c not in key and c not in keep]
    updates += [f"{c} = NULL" for c in nulls]
    on = ", ".join(key)
    return f"{insert(table, columns)} ON CONFLICT ({on}) DO UPDATE SET {', '.join(updates)}"


def upserts(
    table: str, columns: Sequence[str], key: Sequence[str], *, keep: Sequence[str] = ()
) -> dict[int, str]:
    """The upserts of the rows ``*_row`` makes for ``table``, by row length: see ``LEAN_NULLS``."""
    lean = [c for c in columns if c not in LEAN_NULLS[table]]
    return {
        len(columns): upsert(table, columns, key, keep=keep),
        len(lean): upsert(table, lean, key, keep=keep, nulls=LEAN_NULLS[table]),
    }


_seq = itertools.count(time.time_ns())


def _restart_seq() -> None:
    global _seq
    _seq = itertools.count(time.time_ns())


if hasattr(os, "register_at_fork"):  # a forked child must not repeat its parent's numbers
    os.register_at_fork(after_in_child=_restart_seq)


def next_seq() -> int:
    """A number above every one this process gave before, and (clock permitting) earlier ones."""
    return next(_seq)


# ``JSONEncoder.encode`` builds a new C encoder per call; one built once, without the check for
# circular references, costs under half as much. A circular value then overflows the recursion
# limit instead, and is encoded again the standard way for the standard error.
_checked_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_fast_encode = (
    c_make_encoder(
        None,  # no circular-reference markers
        json.JSONEncoder().default,
        encode_basestring,
        None,  # no indent
        ":",
        ",",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan, as JSONEncoder does by default
    )
    if c_make_encoder is not None
    else None
)


def _encode(value: Any) -> str:
    if _fast_encode is None:
        return _checked_encode(value)
    try:
        return "".join(_fast_encode(value, 0))
    except RecursionError:
        return _checked_encode(value)


_decode = json.JSONDecoder().decode


def dump(value: Any) -> str:
    """A JSON value as compact text."""
    return _encode(value)


def load(text: str) -> Any:
    """The JSON value in ``text``."""
    return _decode(text)


def _dump_opt(value: Any) -> str | None:
    return None if value is None else _encode(value)


def _load_opt(text: str | None) -> Any:
    return None if text is None else _decode(text)


# Binding None, or a ``str`` subclass, makes the sqlite3 module look for an adapter, and fail, each
# time (~0.7 µs a value on CPython 3.11). So statuses are bound as plain strings, and when a run or
# node has None in every one of its ``LEAN_NULLS`` columns (the common case) its row leaves them
# out, for an upsert that writes NULL there itself (see ``upserts``).
LEAN_NULLS = {"runs": ("error", "parent_run_id", "session_id"), "nodes": ("error",)}
_RUN_STATUS = {s: s.value for s in RunStatus}
_NODE_STATUS = {s: s.value for s in NodeStatus}


def run_row(r: RunRecord, seq: int) -> tuple[Any, ...]:
    """The ``RUN_COLUMNS`` values of a run, then ``seq``; without ``LEAN_NULLS`` if all None."""
    status = r.status
    if r.error is None and r.parent_run_id is None and r.session_id is None:
        return (
            r.run_id,
            r.graph_id,
            _RUN_STATUS.get(status, status),
            r.kind,
            _encode(r.inputs),
            _dump_opt(r.outputs),
            r.created_at,
            r.started_at,
            r.finished_at,
            r.owner,
            seq,
        )
    return (
        r.run_id,
        r.graph_id,
        _RUN_STATUS.get(status, status),
        r.kind,
        _encode(r.inputs),
        _dump_opt(r.outputs),
        r.error,
        r.created_at,
        r.started_at,
        r.finished_at,
        r.parent_run_id,
        r.session_id,
        r.owner,
        seq,
    )


def run_record(row: Any) -> RunRecord:
    """The run in a row of ``RUN_COLUMNS``."""
    return RunRecord(
        row[0],
        row[1],
        RunStatus(row[2]),
        row[3],
        _decode(row[4]),
        _load_opt(row[5]),
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
    )


def node_row(n: NodeRecord) -> tuple[Any, ...]:
    """The ``NODE_COLUMNS`` values of a node; without ``LEAN_NULLS`` if all None."""
    status = n.status
    if n.error is None:
        return (
            n.run_id,
            n.node_id,
            n.tool,
            _NODE_STATUS.get(status, status),
            _encode(n.inputs),
            _dump_opt(n.outputs),
            n.attempts,
            n.started_at,
            n.finished_at,
        )
    return (
        n.run_id,
        n.node_id,
        n.tool,
        _NODE_STATUS.get(status, status),
        _encode(n.inputs),
        _dump_opt(n.outputs),
        n.error,
        n.attempts,
        n.started_at,
        n.finished_at,
    )


def node_record(row: Any) -> NodeRecord:
    """The node in a row of ``NODE_COLUMNS``."""
    return NodeRecord(
        row[0],
        row[1],
        row[2],
        NodeStatus(row[3]),
        _decode(row[4]),
        _load_opt(row[5]),
        row[6],
        row[7],
        row[8],
        row[9],
    )


def event_row(e: Event) -> tuple[Any, ...]:
    """The ``EVENT_COLUMNS`` values of an event."""
    return (
        e.id,
        e.ts,
        e.kind,
        e.scope_id,
        e.topic,
        _dump_opt(e.data),
        e.text,
        _encode(e.tags),
        _encode(e.metrics),
        _dump_opt(e.inputs),
        _dump_opt(e.outputs),
        e.run_id,
        e.graph_id,
        e.node_id,
        e.session_id,
    )


def event_words(e: Event) -> tuple[str, str, str, str] | None:
    """The words of the event's text, topic, kind and tags for ``events_fts``; ``None``: none."""
    indexed = (
        " ".join(words(e.text or "")),
        " ".join(words(e.topic or "")),
        " ".join(words(e.kind)),
        " ".join(words(" ".join(e.tags))),
    )
    return indexed if any(indexed) else None


def event_record(row: Any) -> Event:
    """The event in a row of ``EVENT_COLUMNS``."""
    return Event(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        _load_opt(row[5]),
        row[6],
        _decode(row[7]),
        _decode(row[8]),
        _load_opt(row[9]),
        _load_opt(row[10]),
        row[11],
        row[12],
        row[13],
        row[14],
    )


def log_row(entry: LogEntry) -> tuple[Any, ...]:
    """The ``LOG_COLUMNS`` values of a log entry."""
    return (
        entry.run_id,
        entry.ts,
        entry.level,
        entry.message,
        entry.node_id,
        entry.graph_id,
        _encode(entry.extra),
    )


def log_record(row: Any) -> LogEntry:
    """The log entry in a row of ``LOG_COLUMNS``."""
    return LogEntry(row[0], row[1], row[2], row[3], row[4], row[5], _decode(row[6]))


def artifact_row(a: Artifact) -> tuple[Any, ...]:
    """The ``ARTIFACT_COLUMNS`` values of an artifact."""
    return (
        a.id,
        a.uri,
        a.sha256,
        a.size,
        a.kind,
        a.created_at,
        a.name,
        a.mime,
        _encode(a.labels),
        _encode(a.metrics),
        a.suggested_uri,
        a.pinned,
        a.run_id,
        a.graph_id,
        a.node_id,
        a.session_id,
    )


def artifact_record(row: Any) -> Artifact:
    """The artifact in a row of ``ARTIFACT_COLUMNS``."""
    return Artifact(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        _decode(row[8]),
        _decode(row[9]),
        row[10],
        bool(row[11]),
        row[12],
        row[13],
        row[14],
        row[15],
    )


def wait_row(w: WaitRecord) -> tuple[Any, ...]:
    """The ``WAIT_COLUMNS`` values of a wait."""
    return (
        w.wait_id,
        w.run_id,
        w.node_id,
        w.kind,
        w.prompt,
        w.status,
        _dump_opt(w.options),
        w.channel,
        w.created_at,
        w.deadline,
        _dump_opt(w.reply),
    )


def wait_record(row: Any) -> WaitRecord:
    """The wait in a row of ``WAIT_COLUMNS``."""
    return WaitRecord(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        WaitStatus(row[5]),
        _load_opt(row[6]),
        row[7],
        row[8],
        row[9],
        _load_opt(row[10]),
    )
