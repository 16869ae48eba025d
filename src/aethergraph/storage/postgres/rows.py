"""How each record maps to a row of the PostgreSQL schema and back, JSON and words included."""

from __future__ import annotations

from typing import Any

from aethergraph.storage.json_rows import (
    ARTIFACT_COLUMNS,
    EVENT_COLUMNS,
    LOG_COLUMNS,
    NODE_COLUMNS,
    RUN_COLUMNS,
    WAIT_COLUMNS,
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
    RunEvent,
    RunRecord,
    words,
)

__all__ = [
    "ARTIFACT_COLUMNS",
    "EVENT_COLUMNS",
    "LOG_COLUMNS",
    "NODE_COLUMNS",
    "RUN_COLUMNS",
    "RUN_EVENT_COLUMNS",
    "WAIT_COLUMNS",
    "artifact_record",
    "artifact_row",
    "dump",
    "event_record",
    "event_row",
    "load",
    "log_record",
    "log_row",
    "node_record",
    "node_row",
    "run_event_record",
    "run_event_row",
    "run_record",
    "run_row",
    "wait_record",
    "wait_row",
]

RUN_EVENT_COLUMNS = ("run_id", "seq", "ts", "type", "data")


def run_row(r: RunRecord) -> tuple[Any, ...]:
    """The ``RUN_COLUMNS`` values of a run."""
    return (
        r.run_id,
        r.graph_id,
        str(r.status),
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
    )


def node_row(n: NodeRecord) -> tuple[Any, ...]:
    """The ``NODE_COLUMNS`` values of a node."""
    return (
        n.run_id,
        n.node_id,
        n.tool,
        str(n.status),
        _encode(n.inputs),
        _dump_opt(n.outputs),
        n.error,
        n.attempts,
        n.started_at,
        n.finished_at,
    )


def run_event_row(e: RunEvent) -> tuple[Any, ...]:
    """The ``RUN_EVENT_COLUMNS`` values of a run event."""
    return (e.run_id, e.seq, e.ts, e.type, _encode(e.data))


def run_event_record(row: Any) -> RunEvent:
    """The run event in a row of ``RUN_EVENT_COLUMNS``."""
    return RunEvent(row[0], row[1], row[2], row[3], _decode(row[4]))


def event_row(e: Event) -> tuple[Any, ...]:
    """The ``EVENT_COLUMNS`` values of an event, then its words."""
    lexemes = words(" ".join([e.text or "", e.topic or "", e.kind, " ".join(e.tags)]))
    return (
        e.id,
        e.ts,
        e.kind,
        e.scope_id,
        e.topic,
        _dump_opt(e.data),
        e.text,
        list(e.tags),
        _encode(e.metrics),
        _dump_opt(e.inputs),
        _dump_opt(e.outputs),
        e.run_id,
        e.graph_id,
        e.node_id,
        e.session_id,
        sorted(set(lexemes)),
    )


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
        list(row[7]),
        _decode(row[8]),
        _load_opt(row[9]),
        _load_opt(row[10]),
        *row[11:15],
    )
