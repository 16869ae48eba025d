"""What the SQL backends share: columns, the JSON codec, and how rows are read and written.

Logs, artifacts and waits map alike in SQLite and PostgreSQL, and runs and nodes read back alike;
how runs and nodes are written, and events, have a module per backend.
"""

from __future__ import annotations

import json
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from aethergraph.storage.records import (
    Artifact,
    LogEntry,
    NodeRecord,
    NodeStatus,
    RunRecord,
    RunStatus,
    WaitRecord,
    WaitStatus,
)

__all__ = [
    "from_micros",
    "micros",
    "ARTIFACT_COLUMNS",
    "EVENT_COLUMNS",
    "LOG_COLUMNS",
    "NODE_COLUMNS",
    "RUN_COLUMNS",
    "WAIT_COLUMNS",
    "artifact_record",
    "artifact_row",
    "decode",
    "dump",
    "dump_opt",
    "encode",
    "load",
    "load_opt",
    "log_record",
    "log_row",
    "node_record",
    "run_record",
    "wait_record",
    "wait_row",
]


# The columns of the tables, the same in both backends (runs and nodes are mapped per backend).
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
    "graph_digest",
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


def encode(value: Any) -> str:
    """A JSON value as compact text (the fast encoder; a circular value raises as json does)."""
    if _fast_encode is None:
        return _checked_encode(value)
    try:
        return "".join(_fast_encode(value, 0))
    except RecursionError:
        return _checked_encode(value)


decode = json.JSONDecoder().decode


def micros(t: float) -> int | float:
    """A timestamp for a text row: whole microseconds when that is exact, else the float itself.

    Writing a float costs about six times an int, and the runtime's clock has microsecond
    resolution (``SystemClock``): its times go in as ints, any other time as it is.
    """
    us = round(t * 1e6)
    return us if us / 1e6 == t else t


def from_micros(v: float) -> float:
    """A timestamp read from a text row: an int is microseconds (see ``micros``)."""
    return v / 1e6 if type(v) is int else v


dump = encode
"""A JSON value as compact text (``encode``, under the name the row functions use)."""
load = decode
"""The JSON value in a text (``decode``)."""


def dump_opt(value: Any) -> str | None:
    """``dump``, with ``None`` kept as ``None`` (NULL)."""
    return None if value is None else encode(value)


def load_opt(text: str | None) -> Any:
    """``load``, with ``None`` kept as ``None``."""
    return None if text is None else decode(text)


def log_row(entry: LogEntry) -> tuple[Any, ...]:
    """The ``LOG_COLUMNS`` values of a log entry."""
    return (
        entry.run_id,
        entry.ts,
        entry.level,
        entry.message,
        entry.node_id,
        entry.graph_id,
        encode(entry.extra),
    )


def log_record(row: Any) -> LogEntry:
    """The log entry in a row of ``LOG_COLUMNS``."""
    return LogEntry(row[0], row[1], row[2], row[3], row[4], row[5], decode(row[6]))


def run_record(row: Any) -> RunRecord:
    """The run in a row of ``RUN_COLUMNS``."""
    return RunRecord(
        row[0],
        row[1],
        RunStatus(row[2]),
        row[3],
        decode(row[4]),
        load_opt(row[5]),
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
        row[13],
    )


def node_record(row: Any) -> NodeRecord:
    """The node in a row of ``NODE_COLUMNS``."""
    return NodeRecord(
        row[0],
        row[1],
        row[2],
        NodeStatus(row[3]),
        decode(row[4]),
        load_opt(row[5]),
        row[6],
        row[7],
        row[8],
        row[9],
    )


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
        encode(a.labels),
        encode(a.metrics),
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
        decode(row[8]),
        decode(row[9]),
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
        str(w.status),  # a plain str: a str subclass makes sqlite3 look for an adapter
        dump_opt(w.options),
        w.channel,
        w.created_at,
        w.deadline,
        dump_opt(w.reply),
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
        load_opt(row[6]),
        row[7],
        row[8],
        row[9],
        load_opt(row[10]),
    )
