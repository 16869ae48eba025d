"""The SQLite workspace schema: its tables and indexes, the statements that write them, migrations.

Most tables keep an ``INTEGER PRIMARY KEY`` named ``seq`` (the rowid, stable across ``VACUUM``)
beside the record's own key, which is ``UNIQUE``: upserts keep ``seq``, so "first stored" and
"newest stored" orderings match the in-memory backend. ``runs`` is the exception, being the table
written once per run: a ``WITHOUT ROWID`` table keyed by ``run_id`` alone, so storing a run touches
one b-tree for the row and one for the listing order. Its ``seq`` is an ordinary column, given on
first store from ``next_seq`` (a per-process counter started at the wall clock in nanoseconds, so
later processes continue above earlier ones) and kept by upserts. How a record becomes a row is in
``sqlite_rows``.

Full-text search indexes the words of an event (see ``records.words``) rather than its
raw text: with the ``ascii`` tokenizer, and ``_`` as a token character, each of those words is
exactly one token, so SQLite matches text by whole words as the in-memory backend does.

Any change here bumps ``SCHEMA_VERSION``, kept in ``PRAGMA user_version``, and teaches ``migrate``
to bring older workspaces up to date.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import TYPE_CHECKING

from aethergraph.errors import StorageError
from aethergraph.storage.json_rows import (
    ARTIFACT_COLUMNS,
    EVENT_COLUMNS,
    LOG_COLUMNS,
    NODE_COLUMNS,
    RUN_COLUMNS,
    WAIT_COLUMNS,
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
    "insert",
    "migrate",
    "next_seq",
    "upsert",
    "upserts",
]

SCHEMA_VERSION = 6

_RUN_COLUMNS_V1 = RUN_COLUMNS[:-1]  # version 3 added graph_digest

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
        session_id TEXT, owner TEXT, graph_digest TEXT, events TEXT, events_last INTEGER)
        WITHOUT ROWID"""
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

DDL_RUN_EVENT_PAGES = """CREATE TABLE IF NOT EXISTS run_event_pages (
    run_id TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    events TEXT NOT NULL, PRIMARY KEY (run_id, first_seq)) WITHOUT ROWID"""

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
    # Version 4: owners' heartbeats and signals to runs. Version 5: run events in pages.
    DDL_RUN_EVENT_PAGES,
    """CREATE TABLE IF NOT EXISTS owners (
        owner TEXT NOT NULL PRIMARY KEY, heartbeat_at REAL NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS run_signals (
        seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, signal TEXT NOT NULL)""",
)


# Version 4 kept one row per run event; each becomes a page of one.
_EVENTS_FROM_V4 = (
    DDL_RUN_EVENT_PAGES,
    """INSERT INTO run_event_pages (run_id, first_seq, last_seq, events)
        SELECT run_id, seq, seq, json_array(json_array(seq, ts, type, json(data)))
        FROM run_events""",
    "DROP TABLE run_events",
)

# Version 1 kept runs in a rowid table (seq INTEGER PRIMARY KEY, run_id UNIQUE) with five indexes.
_RUNS_FROM_V1 = (
    "ALTER TABLE runs RENAME TO runs_v1",
    _RUNS_TABLE,
    f"INSERT INTO runs (seq, {', '.join(_RUN_COLUMNS_V1)}) "
    f"SELECT seq, {', '.join(_RUN_COLUMNS_V1)} FROM runs_v1",
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
        for statement in _upgrade(version):
            conn.execute(statement)
        # Later versions only added tables, which DDL creates if they do not exist.
        for statement in DDL:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _upgrade(version: int) -> list[str]:
    """The statements that bring tables of ``version`` to this one, before ``DDL`` runs."""
    if version <= 1:
        return list(_RUNS_FROM_V1) if version == 1 else []  # 0: a new database
    steps = []
    if version == 2:
        steps.append("ALTER TABLE runs ADD COLUMN graph_digest TEXT")
    if version == 4:
        steps.extend(_EVENTS_FROM_V4)
    if version < 6:  # version 6 keeps a run's first page of events in its row
        steps += [
            "ALTER TABLE runs ADD COLUMN events TEXT",
            "ALTER TABLE runs ADD COLUMN events_last INTEGER",
        ]
    return steps


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


# The columns a run's or node's row leaves out when all of them are None, for an upsert that writes
# NULL there itself; ``sqlite_rows`` says why.
LEAN_NULLS = {"runs": ("error", "parent_run_id", "session_id"), "nodes": ("error",)}


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
