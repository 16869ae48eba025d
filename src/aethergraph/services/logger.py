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

from aethergraph.errors import ConfigurationError
from aethergraph.storage.records import LogEntry

if TYPE_CHECKING:
    from aethergraph.services.scope import EventSink, NodeScope
    from aethergraph.storage.protocols import LogStore

__all__ = ["RunLogger", "show_logs"]

_log = logging.getLogger(__name__)

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
        """Log ``msg`` with the node's identity; keep it with the run at ``keep_level`` and up.

        Never raises into the caller (as ``logging`` itself does not): a record that cannot be
        kept is reported on this module's logger instead.
        """
        if level >= self._keep_level:
            try:
                self._keep(level, msg, args, kwargs)
            except Exception:  # noqa: BLE001 - a log call must not fail the node
                _log.warning(
                    "a log record of node %r in run %s could not be kept with the run",
                    self._scope.node_id,
                    self._scope.run_id,
                    exc_info=True,
                )
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
        return _text(text)
    fmt_args: object = args
    if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
        fmt_args = args[0]
    try:
        return _text(text % fmt_args)
    except (TypeError, ValueError, KeyError):
        return _text(f"{text} {tuple(_json_safe(a) for a in args)!r}")


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
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # Past about 4,300 digits, int -> str raises (sys.set_int_max_str_digits).
        return value if value.bit_length() < 14_000 else f"<int of {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth >= _MAX_DEPTH:
        return _repr(value)
    if isinstance(value, Mapping):
        return {
            _text(k) if isinstance(k, str) else str(_json_safe(k, depth + 1)): _json_safe(
                v, depth + 1
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_json_safe(v, depth + 1) for v in value]
    return _repr(value)


def _repr(value: object) -> str:
    try:
        return _text(repr(value))
    except Exception:  # noqa: BLE001 - a repr that fails still names the type
        return f"<{type(value).__name__} (repr failed)>"


def _text(text: str) -> str:
    """``text`` as valid Unicode: lone surrogates (from os.listdir, say) become escapes."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class _RunFields(logging.Filter):
    """Give every record the run and node fields the format prints ("-" outside a run)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in ("run_id", "node_id"):
            if not hasattr(record, name):
                setattr(record, name, "-")
        return True


_shown: logging.Handler | None = None


def show_logs(level: str | int = "info") -> None:
    """Print the records of the ``aethergraph`` loggers at ``level`` and up, with run and node.

    The library configures no handler by itself (the convention for libraries); this is the
    one-call switch for scripts and notebooks. It prints through ``rich`` when that is
    installed, else to standard error. Calling it again changes the level.
    """
    global _shown
    value = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(value, int):
        raise ConfigurationError(
            f"log_level {level!r} is not a logging level; use debug, info, warning or error"
        )
    package = logging.getLogger("aethergraph")
    if _shown is None:
        _shown = _handler()
        _shown.addFilter(_RunFields())
        package.addHandler(_shown)
    _shown.setLevel(value)
    package.setLevel(value)


def _handler() -> logging.Handler:
    fmt = "[%(run_id)s %(node_id)s] %(message)s"
    try:
        from rich.logging import RichHandler
    except ImportError:
        handler: logging.Handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s " + fmt))
        return handler
    handler = RichHandler(show_path=False, rich_tracebacks=False)
    handler.setFormatter(logging.Formatter(fmt))
    return handler
