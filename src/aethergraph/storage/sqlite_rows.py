"""How each record maps to a row of the SQLite workspace schema and back, JSON included.

JSON payloads are stored as compact text, ``None`` as NULL. The tables and their columns are in
``sqlite_schema``; a ``*_row`` function gives a record's values in its table's ``*_COLUMNS`` order
(runs and nodes maybe without ``LEAN_NULLS``), a ``*_record`` function reads them back.
"""

from __future__ import annotations

from typing import Any

from aethergraph.storage.json_rows import (
    artifact_record,
    artifact_row,
    dump,
    load,
    log_record,
    log_row,
    node_record,
    run_record,
    wait_record,
    wait_row,
)
from aethergraph.storage.json_rows import decode as _decode
from aethergraph.storage.json_rows import dump_opt as _dump_opt
from aethergraph.storage.json_rows import encode as _encode
from aethergraph.storage.json_rows import load_opt as _load_opt
from aethergraph.storage.records import (
    Event,
    NodeRecord,
    NodeStatus,
    RunRecord,
    RunStatus,
    words,
)

__all__ = [
    "artifact_record",
    "artifact_row",
    "dump",
    "event_record",
    "event_row",
    "event_words",
    "load",
    "log_record",
    "log_row",
    "node_record",
    "node_row",
    "run_record",
    "run_row",
    "wait_record",
    "wait_row",
]


# Binding None, or a ``str`` subclass, makes the sqlite3 module look for an adapter, and fail, each
# time (~0.7 µs a value on CPython 3.11). So statuses are bound as plain strings, and when a run or
# node has None in every one of its ``LEAN_NULLS`` columns (the common case) its row leaves them
# out, for an upsert that writes NULL there itself (see ``sqlite_schema.upserts``).
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
            r.graph_digest,
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
        r.graph_digest,
        seq,
    )


def node_row(n: NodeRecord, inputs: str | None = None) -> tuple[Any, ...]:
    """The ``NODE_COLUMNS`` values of a node; without ``LEAN_NULLS`` if all None.

    ``inputs`` is the inputs' JSON text when the caller has it already (encoded when the node
    started: a node's inputs are what it was called with, whatever its body did to them).
    """
    status = n.status
    if inputs is None:
        inputs = _encode(n.inputs)
    if n.error is None:
        return (
            n.run_id,
            n.node_id,
            n.tool,
            _NODE_STATUS.get(status, status),
            inputs,
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
        inputs,
        _dump_opt(n.outputs),
        n.error,
        n.attempts,
        n.started_at,
        n.finished_at,
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


def _joined_words(text: str) -> str:
    return " ".join(words(text))


def event_words(e: Event) -> tuple[str, str, str, str] | None:
    """The words of the event's text, topic, kind and tags for ``events_fts``; ``None``: none."""
    indexed = (
        _joined_words(e.text or ""),
        _joined_words(e.topic or ""),
        _joined_words(e.kind),
        _joined_words(" ".join(e.tags)),
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
