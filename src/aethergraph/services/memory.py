"""``context.memory()``: an append-only event log with provenance, scoped to the session or the run.

Every event carries who wrote it (run, graph, node, session) and a ``text`` that full-text search
matches; when the caller gives none, it is derived from the data so ``search`` still finds the
event.
Each write is flushed before it returns.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aethergraph.services.kv import json_value
from aethergraph.storage.memory import words
from aethergraph.storage.records import Event

if TYPE_CHECKING:
    from aethergraph.services.scope import EventSink, NodeScope
    from aethergraph.storage.protocols import Storage

__all__ = ["Memory", "metric_values"]

TOOL_RESULT = "tool_result"
DEFAULT_SEVERITY = 2
# How many tool results ``last_by_name`` looks through when full-text narrowing finds nothing.
_SCAN_LIMIT = 1000


def metric_values(metrics: Mapping[str, Any] | None, what: str) -> dict[str, float]:
    """``metrics`` as a dict of finite floats; ``TypeError``/``ValueError`` name a bad key."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise TypeError(f"{what} must be a dict of name to number, got {type(metrics).__name__}")
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"{what} keys must be non-empty str, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{what}[{key!r}] must be a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"{what}[{key!r}] must be a finite number, got {value!r}")
        out[key] = float(value)
    return out


def _names(values: str | Iterable[str] | None, what: str) -> list[str]:
    """A list of str from one str or an iterable of them (duplicates dropped, order kept)."""
    if values is None:
        return []
    items = [values] if isinstance(values, str) else list(values)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"memory {what} must be str, got {type(item).__name__}: {item!r}")
    return list(dict.fromkeys(items))


def _nonempty(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"memory {what} must be a str, got {type(value).__name__}: {value!r}")
    if not value:
        raise ValueError(f"memory {what} must be a non-empty str")
    return value


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"memory limit must be an int >= 1, got {limit!r}")
    return limit


def _kind_of(value: Any) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "json"


def _io_list(values: Any, what: str) -> list[dict[str, Any]] | None:
    """Inputs or outputs as ``[{"name", "kind", "value"}, ...]``, from that or ``{name: value}``."""
    if values is None:
        return None
    if isinstance(values, Mapping):
        items: list[Any] = [{"name": k, "value": v} for k, v in values.items()]
    elif isinstance(values, Sequence) and not isinstance(values, str | bytes):
        items = list(values)
    else:
        raise TypeError(
            f"memory {what} must be a list of {{'name', 'kind', 'value'}} dicts or a dict of "
            f"name to value, got {type(values).__name__}"
        )
    out: list[dict[str, Any]] = []
    for item in items:
        if (
            not isinstance(item, Mapping)
            or not isinstance(item.get("name"), str)
            or not item["name"]
        ):
            raise TypeError(f"memory {what} items need a non-empty str 'name', got {item!r}")
        entry = {"kind": _kind_of(item.get("value")), "value": None, **item}
        out.append(json_value(entry, f"memory {what} item {item['name']!r}"))
    return out


def _annotations(severity: int, stage: str | None, signal: str | None) -> list[str]:
    """The tags that keep ``severity`` (when not the default), ``stage`` and ``signal``."""
    if isinstance(severity, bool) or not isinstance(severity, int):
        raise TypeError(f"memory severity must be an int, got {type(severity).__name__}")
    tags = [] if severity == DEFAULT_SEVERITY else [f"severity:{severity}"]
    for name, value in (("stage", stage), ("signal", signal)):
        if value is not None:
            tags.append(f"{name}:{_nonempty(value, name)}")
    return tags


def _ref(value: Any, name: str) -> list[dict[str, Any]] | None:
    """``inputs_ref``/``outputs_ref`` as the one ``inputs``/``outputs`` entry of kind ``ref``."""
    if value is None:
        return None
    return [{"name": name, "kind": "ref", "value": json_value(value, f"memory {name}")}]


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class Memory:
    """The memory event log as seen by one node."""

    def __init__(self, scope: NodeScope, store: Storage, events: EventSink | None = None) -> None:
        self._scope = scope
        self._store = store
        self._events = events

    @property
    def scope_id(self) -> str:
        """Where events are kept and read: the session when the run has one, else the run."""
        return self._scope.session_id or self._scope.run_id

    async def record(
        self,
        kind: str,
        data: Any = None,
        *,
        tags: Iterable[str] | None = None,
        severity: int = DEFAULT_SEVERITY,
        stage: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        signal: str | None = None,
        text: str | None = None,
        inputs_ref: Any = None,
        outputs_ref: Any = None,
        topic: str | None = None,
    ) -> Event:
        """Append an event of ``kind`` with JSON ``data``; ``text`` defaults to the data as text.

        ``severity``, ``stage`` and ``signal`` are kept as tags (``stage:train``), so
        ``search(tags=[...])`` finds them; ``inputs_ref``/``outputs_ref`` (JSON references, such
        as artifact uris) are kept as ``inputs``/``outputs`` entries of kind ``ref``. The event's
        properties of the same names read them back.
        """
        stored = json_value(data, "memory data")
        if text is None and stored is not None:
            text = _as_text(stored)
        return await self._append(
            kind,
            data=stored,
            tags=[*_names(tags, "tags"), *_annotations(severity, stage, signal)],
            metrics=metrics,
            text=text,
            topic=topic,
            inputs=_ref(inputs_ref, "inputs_ref"),
            outputs=_ref(outputs_ref, "outputs_ref"),
        )

    async def write_result(
        self,
        topic: str,
        *,
        inputs: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        outputs: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        tags: Iterable[str] | None = None,
        metrics: Mapping[str, Any] | None = None,
        message: str | None = None,
        severity: int = DEFAULT_SEVERITY,
    ) -> Event:
        """Record a ``tool_result`` for ``topic``; its data is the outputs as ``{name: value}``.

        ``inputs``/``outputs`` are lists of ``{"name", "kind", "value"}`` dicts or a plain
        ``{name: value}`` dict. ``severity`` is kept as ``record()`` keeps it.
        """
        _nonempty(topic, "topic")
        if message is not None and not isinstance(message, str):
            raise TypeError(f"memory message must be a str, got {type(message).__name__}")
        ins = _io_list(inputs, "inputs")
        outs = _io_list(outputs, "outputs")
        parts = [message] if message else []
        parts.append(topic)
        # ``last_by_name`` relies on every output name being in the text.
        parts.extend(f"{o['name']}: {_as_text(o['value'])}" for o in outs or [])
        return await self._append(
            TOOL_RESULT,
            data={o["name"]: o["value"] for o in outs or []},
            tags=[*_names(tags, "tags"), *_annotations(severity, None, None)],
            metrics=metrics,
            text="\n".join(parts),
            topic=topic,
            inputs=ins,
            outputs=outs,
        )

    async def _append(
        self,
        kind: str,
        *,
        data: Any,
        tags: Iterable[str] | None,
        metrics: Mapping[str, Any] | None,
        text: str | None,
        topic: str | None,
        inputs: list[dict[str, Any]] | None = None,
        outputs: list[dict[str, Any]] | None = None,
    ) -> Event:
        _nonempty(kind, "kind")
        if text is not None and not isinstance(text, str):
            raise TypeError(f"memory text must be a str, got {type(text).__name__}")
        if topic is not None and not isinstance(topic, str):
            raise TypeError(f"memory topic must be a str, got {type(topic).__name__}")
        s = self._scope
        event = Event(
            id=uuid.uuid4().hex,
            ts=time.time(),
            kind=kind,
            scope_id=self.scope_id,
            topic=topic,
            data=data,
            text=text,
            tags=_names(tags, "tags"),
            metrics=metric_values(metrics, "memory metrics"),
            inputs=inputs,
            outputs=outputs,
            run_id=s.run_id,
            graph_id=s.graph_id,
            node_id=s.node_id,
            session_id=s.session_id,
        )
        await self._store.append_event(event)
        if self._events is not None:
            self._events.publish(
                "memory",
                {
                    "event_id": event.id,
                    "kind": event.kind,
                    "topic": event.topic,
                    "node_id": s.node_id,
                },
                event.ts,
            )
        await self._store.flush()
        return event

    async def recent(self, *, kinds: Iterable[str] | None = None, limit: int = 50) -> list[Event]:
        """The newest ``limit`` events in scope (optionally of ``kinds``), oldest first."""
        return await self._store.query_events(
            scope_id=self.scope_id, kinds=_names(kinds, "kinds") or None, limit=_limit(limit)
        )

    async def recent_data(
        self, *, kinds: Iterable[str] | None = None, limit: int = 50
    ) -> list[Any]:
        """The ``data`` of ``recent(kinds=kinds, limit=limit)``, oldest first."""
        return [e.data for e in await self.recent(kinds=kinds, limit=limit)]

    async def last_by_name(self, name: str) -> Any:
        """The value of the newest ``tool_result`` output named ``name`` in scope, or ``None``."""
        _nonempty(name, "output name")
        # Every tool result's text holds its output names, so a full-text query narrows the
        # search without missing a newer match; fall back to scanning when it finds nothing.
        if words(name):
            found = _last_output(await self._tool_results(text=name, limit=200), name)
            if found is not None:
                return found[0]
        found = _last_output(await self._tool_results(limit=_SCAN_LIMIT), name)
        return found[0] if found is not None else None

    async def get_last_outputs_for_topic(self, topic: str) -> dict[str, Any] | None:
        """``{name: value}`` of the newest ``tool_result`` for ``topic`` in scope, or ``None``."""
        _nonempty(topic, "topic")
        events = await self._store.query_events(
            scope_id=self.scope_id, kinds=[TOOL_RESULT], topic=topic, limit=1
        )
        if not events:
            return None
        return {o["name"]: o.get("value") for o in events[-1].outputs or []}

    async def search(
        self,
        query: str | None = None,
        *,
        kinds: Iterable[str] | None = None,
        tags: Iterable[str] | None = None,
        limit: int = 50,
    ) -> list[Event]:
        """Events in scope whose text has every word of ``query``: the newest, oldest first."""
        if query is not None and not isinstance(query, str):
            raise TypeError(f"memory search() query must be a str, got {type(query).__name__}")
        return await self._store.query_events(
            scope_id=self.scope_id,
            kinds=_names(kinds, "kinds") or None,
            tags=_names(tags, "tags") or None,
            text=query or None,
            limit=_limit(limit),
        )

    async def _tool_results(self, *, limit: int, text: str | None = None) -> list[Event]:
        return await self._store.query_events(
            scope_id=self.scope_id, kinds=[TOOL_RESULT], text=text, limit=limit
        )


def _last_output(events: list[Event], name: str) -> tuple[Any] | None:
    """``(value,)`` of the newest output named ``name`` (a tuple, since the value may be None)."""
    for event in reversed(events):
        for output in event.outputs or []:
            if output.get("name") == name:
                return (output.get("value"),)
    return None
