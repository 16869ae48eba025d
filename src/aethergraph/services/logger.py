"""``context.logger()``: a logging adapter that stamps node identity and keeps records with the run.

Records go to the ``aethergraph.run`` logger as usual (the package only adds a ``NullHandler``, so
nothing is printed unless the application configures logging), and every record at or above the
keep level is also kept with the run whatever the logger's own level, so it can be read back later.
"""

from __future__ import annotations

import logging
import math
import sys
import time
import traceback
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from aethergraph.storage.records import LogEntry

if TYPE_CHECKING:
    from aethergraph.services.scope import EventSink, NodeScope
    from aethergraph.storage.protocols import LogStore

__all__ = ["RunLogger"]

_IDENTITY = ("run_id", "graph_id", "node_id", "session_id")
# Attributes a LogRecord sets itself; ``extra`` may not overwrite them (logging raises KeyError).
_RESERVED = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)
_MAX_DEPTH = 20


class RunLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger for one node: identity on every record, records at ``keep_level`` and up kept.

    Safe to call from worker threads: it holds no mutable state and ``LogStore.append_log`` is
    thread-safe.
    """

    def __init__(
        self,
        scope: NodeScope,
        store: LogStore,
        events: EventSink | None = None,
        *,
        keep_level: int = logging.INFO,
    ) -> None:
        super().__init__(logging.getLogger("aethergraph.run"))
        self._scope = scope
        self._store = store
        self._events = events
        self._keep_level = keep_level

    @property
    def keep_level(self) -> int:
        """The lowest level kept with the run."""
        return self._keep_level

    def _identity(self) -> dict[str, str | None]:
        s = self._scope
        return {
            "run_id": s.run_id,
            "graph_id": s.graph_id,
            "node_id": s.node_id,
            "session_id": s.session_id,
        }

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        """Merge the caller's ``extra`` with the node identity, which always wins."""
        merged: dict[str, Any] = {}
        for key, value in (kwargs.get("extra") or {}).items():
            # A key the LogRecord owns would make logging raise; keep the value under another name.
            merged[f"extra_{key}" if key in _RESERVED else key] = value
        merged.update(self._identity())
        kwargs["extra"] = merged
        return msg, kwargs

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Log ``msg`` with the node's identity; keep it with the run at ``keep_level`` and up."""
        if level >= self._keep_level:
            self._keep(level, msg, args, kwargs)
        # Point the record at the caller's line, not at this method.
        kwargs["stacklevel"] = int(kwargs.get("stacklevel", 1)) + 1
        super().log(level, msg, *args, **kwargs)

    def _keep(
        self, level: int, msg: object, args: tuple[object, ...], kwargs: Mapping[str, Any]
    ) -> None:
        extra: dict[str, Any] = {}
        caller = kwargs.get("extra")
        if isinstance(caller, Mapping):
            extra = {str(k): _json_safe(v) for k, v in caller.items() if k not in _IDENTITY}
        if self._scope.session_id is not None:
            extra["session_id"] = self._scope.session_id
        exc_text = _exc_text(kwargs.get("exc_info"))
        if exc_text is not None:
            extra["exc_text"] = exc_text
        entry = LogEntry(
            run_id=self._scope.run_id,
            ts=time.time(),
            level=logging.getLevelName(level),
            message=_render(msg, args),
            node_id=self._scope.node_id,
            graph_id=self._scope.graph_id,
            extra=extra,
        )
        self._store.append_log(entry)
        if self._events is not None:
            self._events.publish(
                "log",
                {"level": entry.level, "message": entry.message, "node_id": entry.node_id},
                entry.ts,
            )


def _render(msg: object, args: tuple[object, ...]) -> str:
    """``msg % args`` the way logging does it, falling back to plain text when that fails."""
    text = str(msg)
    if not args:
        return text
    fmt_args: object = args
    if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
        fmt_args = args[0]
    try:
        return text % fmt_args
    except (TypeError, ValueError, KeyError):
        return f"{text} {args!r}"


def _exc_text(exc_info: object) -> str | None:
    """The traceback text for a logging ``exc_info`` argument, or ``None``."""
    if not exc_info:
        return None
    if isinstance(exc_info, BaseException):
        return "".join(traceback.format_exception(exc_info))
    info = exc_info if isinstance(exc_info, tuple) and len(exc_info) == 3 else sys.exc_info()
    if info[1] is None:
        return None
    return "".join(traceback.format_exception(info[0], info[1], info[2]))


def _json_safe(value: object, depth: int = 0) -> Any:
    """``value`` as JSON: anything JSON cannot hold becomes its ``repr``."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth >= _MAX_DEPTH:
        return repr(value)
    if isinstance(value, Mapping):
        return {
            k if isinstance(k, str) else str(k): _json_safe(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_json_safe(v, depth + 1) for v in value]
    return repr(value)
