"""How each record maps to a row of the SQLite workspace schema and back, JSON included.

JSON payloads are stored as compact text, ``None`` as NULL. The tables and their columns are in
``sqlite_schema``; a ``*_row`` function gives a record's values in its table's ``*_COLUMNS`` order
(runs and nodes maybe without ``LEAN_NULLS``), a ``*_record`` function reads them back.
"""

from __future__ import annotations

import json
import re
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

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

__all__ = [
    "artifact_record",
    "artifact_row",
    "dump",
    "event_record",
    "event_row",
    "event_words",
    "index_words",
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
        row[13],
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


_WORD = re.compile(r"\w+", re.UNICODE)


def index_words(text: str) -> list[str]:
    """The lower-cased words of ``text``, each one token of ``events_fts`` (see sqlite_schema)."""
    return [w.lower() for w in _WORD.findall(text)]


def _joined_words(text: str) -> str:
    return " ".join(index_words(text))


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
