"""The process-wide registry of custom services, their test overrides and their lifecycle.

The registry lives as long as the process. Overrides live in a context variable, so an override is
seen only by the task that made it and the runs that task starts. Lifecycle state is kept per event
loop: a service used under one ``asyncio.run()`` and again under a later one is started anew on
the new loop instead of reusing clients bound to a dead one.

A service's ``start()`` and ``close()`` are bounded: by its ``start_timeout_s`` and
``close_timeout_s`` attributes when it has them, else ``START_TIMEOUT_S`` and
``CLOSE_TIMEOUT_S``. A start that runs past its limit fails like a start that raised (the runs
that use the service fail with a ``ServiceError`` naming it; the others go on); a close that runs
past it is logged, naming the service, and the other services are still closed.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import weakref
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from aethergraph.errors import ConfigurationError, ServiceError, ServiceNotFoundError
from aethergraph.services.runtime.base import Service

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

__all__ = [
    "BUILTIN_ACCESSORS",
    "CLOSE_TIMEOUT_S",
    "START_TIMEOUT_S",
    "BuiltinService",
    "bind_builtin",
    "CONTEXT_FIELDS",
    "ServiceInfo",
    "close_services",
    "ensure_services_started",
    "get_ext_context_service",
    "list_ext_context_services",
    "override_context_service",
    "register_builtin",
    "register_context_service",
    "resolve_service",
    "service_accessor",
    "service_infos",
    "services_started",
    "unregister_context_service",
]

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
"""How long a service's ``start()`` may take, unless the service sets ``start_timeout_s``."""

CLOSE_TIMEOUT_S = 10.0
"""How long a service's ``close()`` may take, unless the service sets ``close_timeout_s``."""

BUILTIN_ACCESSORS = frozenset(
    {
        "artifacts",
        "channel",
        "kv",
        "llm",
        "logger",
        "mcp",
        "memory",
        "runner",
    }
)
"""Accessor names the runtime owns; a custom service may not shadow them."""

CONTEXT_FIELDS = frozenset(
    {
        "run_id",
        "graph_id",
        "node_id",
        "session_id",
        "parent_run_id",
        "step_key",
        "now",
        "random",
        "uuid",
        "sleep",
    }
)
"""NodeContext attributes that are not services."""


class _Entry:
    """One registered (or overriding) service and the loop it was last started on."""

    __slots__ = ("has_close", "has_start", "name", "service", "start_error", "started_loop")

    def __init__(self, name: str, service: object) -> None:
        self.name = name
        self.service = service
        self.has_start = _hook(service, "start") is not None
        # A service with close() and no start() is "started" too, so that it is closed.
        self.has_close = _hook(service, "close") is not None
        self.started_loop: asyncio.AbstractEventLoop | None = None
        self.start_error: ServiceError | None = None
        """Why the last start failed; raised to the runs that then use the service."""

    def unusable(self) -> ServiceError | None:
        """Why ``context.<name>()`` cannot hand out the service now, or ``None`` if it can."""
        if self.start_error is not None:
            cause = self.start_error.__cause__
            return _chained(ServiceError(str(self.start_error)), cause)
        if self.has_start and self.started_loop is None:
            return ServiceError(
                f"service {self.name!r} has a start() that has not run: it was registered after "
                "this run began. Register services before starting the runs that use them."
            )
        return None


def _chained(error: ServiceError, cause: BaseException | None) -> ServiceError:
    error.__cause__ = cause
    return error


_registry: dict[str, _Entry] = {}
_generation = 0
_EMPTY: Mapping[str, _Entry] = MappingProxyType({})
# None (not an empty mapping) when nothing is overridden: the hot path tests it for free.
_overrides: ContextVar[Mapping[str, _Entry] | None] = ContextVar(
    "aethergraph_service_overrides", default=None
)


def _active_overrides() -> Mapping[str, _Entry]:
    return _overrides.get() or _EMPTY


def _hook(service: object, name: str) -> Any:
    fn = getattr(service, name, None)
    if fn is None or not callable(fn):
        return None
    # Service's own start/close do nothing: skip them so plain services cost nothing to start.
    if getattr(type(service), name, None) is getattr(Service, name):
        return None
    return fn


class BuiltinService:
    """The provider behind a built-in accessor: shared by all runs, bound to each node on use.

    Subclasses may define ``async start()`` / ``async close()``; the registry runs them like a
    custom service's. ``bind(ctx)`` returns what ``context.<name>`` gives the node.
    """

    def bind(self, ctx: Any) -> Any:
        """The per-node object (or, for accessors taking a key, a callable of the key)."""
        raise NotImplementedError(f"{type(self).__name__} must define bind(ctx)")


_builtins: dict[str, _Entry] = {}


def register_builtin(name: str, provider: BuiltinService) -> None:
    """Install the provider of built-in accessor ``name`` (the runtime's own, not users')."""
    global _generation
    if name not in BUILTIN_ACCESSORS:
        raise ConfigurationError(f"{name!r} is not a built-in accessor name")
    _builtins[name] = _Entry(name, provider)
    _generation += 1


def bind_builtin(name: str, ctx: Any, *, keyed: bool = False) -> Any:
    """What ``context.<name>`` gives node ``ctx``: an override in this task, else the provider's.

    ``keyed`` accessors (``channel(key)``, ``llm(profile)``, ``mcp(server)``) get a callable of
    the key; an override stands for every key.
    """
    overrides = _overrides.get()
    entry = overrides.get(name) if overrides is not None else None
    if entry is None:
        entry = _builtins.get(name)
        if entry is None:
            raise ServiceError(f"built-in service {name!r} is not installed in this runtime")
        if entry.has_start:
            error = entry.unusable()
            if error is not None:
                raise error
        return entry.service.bind(ctx)  # type: ignore[attr-defined]
    service = entry.service
    if keyed:
        return lambda *_args, **_kwargs: service
    return service


def _check_name(name: object, *, builtin_ok: bool = False) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigurationError(
            f"service name {name!r} is not a Python identifier; use letters, digits and "
            "underscores, not starting with a digit (e.g. 'trainer', 'k8s_jobs')"
        )
    if name.startswith("_"):
        raise ConfigurationError(
            f"service name {name!r} starts with an underscore; such names are private to "
            f"NodeContext. Pick a public name such as {name.lstrip('_')!r}"
        )
    if name in BUILTIN_ACCESSORS and not builtin_ok:
        raise ConfigurationError(
            f"service name {name!r} would shadow the built-in context.{name}(); built-ins are "
            f"not replaceable ({', '.join(sorted(BUILTIN_ACCESSORS))}). Register under another "
            f"name, e.g. 'my_{name}' (in tests, override_context_service({name!r}, fake) swaps "
            "it for one block)"
        )
    if name in CONTEXT_FIELDS:
        raise ConfigurationError(
            f"service name {name!r} is a NodeContext field; pick another name, e.g. '{name}_svc'"
        )
    return name


def register_context_service(name: str, service: object, *, scope: str | None = None) -> None:
    """Make ``service`` reachable as ``context.<name>()`` in every node of every run.

    ``service`` is an instance, or the import path of its factory (``"pkg.mod:make"``) with a
    ``scope`` of ``worker``, ``run`` or ``cluster`` (see ``services.runtime.remote``); only the
    import-path form reaches Ray workers. Registering a name again replaces the service (the
    earlier instance, if it was started, is still closed by ``close_services()``).

    Raises:
        ConfigurationError: (a ``ValueError``) when the name breaks a naming rule.
    """
    global _generation
    if isinstance(service, str):
        from aethergraph.services.runtime.remote import ImportedService

        service = ImportedService(_check_name(name), service, scope or "worker")
    elif scope is not None:
        raise ConfigurationError(
            f"register_context_service({name!r}, ..., scope={scope!r}): a scope goes with an "
            f"import path, e.g. register_context_service({name!r}, 'pkg.mod:make', scope={scope!r})"
        )
    _check_instance(_check_name(name), service)
    _registry[name] = _Entry(name, service)
    _generation += 1


def _check_instance(name: str, service: object) -> None:
    if isinstance(service, type):
        raise ConfigurationError(
            f"register_context_service({name!r}, {service.__name__}) was given the class "
            f"{service.__name__}, not an instance of it; register an instance: "
            f"register_context_service({name!r}, {service.__name__}(...))"
        )


def unregister_context_service(name: str) -> object:
    """Remove a registered service and return it."""
    global _generation
    entry = _registry.pop(name, None)
    if entry is None:
        raise _not_found(name)
    _generation += 1
    return entry.service


def get_ext_context_service(name: str) -> object:
    """The service registered under ``name`` (or overriding it in this task)."""
    return resolve_service(name).service


def list_ext_context_services() -> list[str]:
    """Registered service names, including overrides visible in this task, sorted."""
    return sorted(set(_registry) | (set(_active_overrides()) - BUILTIN_ACCESSORS))


@contextmanager
def override_context_service(name: str, service: object) -> Iterator[object]:
    """Use ``service`` for ``name`` in this task and the runs it starts, until the block exits."""
    overrides = dict(_active_overrides())
    _check_instance(_check_name(name, builtin_ok=True), service)
    overrides[name] = _Entry(name, service)
    token = _overrides.set(MappingProxyType(overrides))
    try:
        yield service
    finally:
        _overrides.reset(token)


def _not_found(name: str) -> ServiceNotFoundError:
    names = list_ext_context_services()
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(names) if names else "none"
    if name in BUILTIN_ACCESSORS:
        fix = (
            f"{name!r} is a built-in: use context.{name}() in a node (configure it as the "
            "README's section on it says), not the registry of custom services."
        )
    else:
        try:
            _check_name(name)
        except ConfigurationError as refused:
            fix = f"That name cannot be registered: {refused}"
        else:
            fix = f"Register one with register_context_service({name!r}, instance)."
    return ServiceNotFoundError(
        f"no service named {name!r} is registered (registered: {listed}).{hint} {fix}"
    )


def resolve_service(name: str) -> _Entry:
    """The entry ``context.<name>()`` uses in this task: an override, else the registered one."""
    overrides = _overrides.get()
    if overrides is not None:
        entry = overrides.get(name)
        if entry is not None:
            return entry
    entry = _registry.get(name)
    if entry is None:
        raise _not_found(name)
    return entry


_accessors: dict[str, Callable[..., Any]] = {}


def service_accessor(name: str) -> Callable[..., Any]:
    """``context.<name>``: calling it returns the service, or forwards arguments to __call__.

    A plain closure per name (not an object with ``__call__``) that resolves overrides and the
    registry inline: it is on the path of every call to a custom service.
    """
    found = _accessors.get(name)
    if found is not None:
        return found

    def accessor(*args: Any, **kwargs: Any) -> Any:
        overrides = _overrides.get()
        entry = overrides.get(name) if overrides is not None else None
        if entry is None:
            entry = _registry.get(name)
            if entry is None:
                raise _not_found(name)
        if entry.has_start:
            error = entry.unusable()
            if error is not None:
                raise error
        service = entry.service
        if args or kwargs:
            if not callable(service):
                raise TypeError(
                    f"context.{name}(...) was called with arguments, but service {name!r} "
                    f"({type(service).__name__}) is not callable; call context.{name}() to get "
                    "it, or define __call__ on it"
                )
            return service(*args, **kwargs)
        return service

    accessor.__name__ = accessor.__qualname__ = name
    _accessors[name] = accessor
    return accessor


# -- lifecycle ---------------------------------------------------------------------------------


class _LoopServices:
    """What was started on one event loop, in start order."""

    __slots__ = ("checked", "started", "starting")

    def __init__(self) -> None:
        self.started: list[tuple[str, object]] = []
        self.starting: dict[int, asyncio.Future[None]] = {}
        self.checked = -1


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopServices] = (
    weakref.WeakKeyDictionary()
)


_last: tuple[asyncio.AbstractEventLoop | None, _LoopServices | None] = (None, None)


def _loop_state() -> tuple[asyncio.AbstractEventLoop, _LoopServices]:
    global _last
    loop = asyncio.get_running_loop()
    cached_loop, cached = _last
    if cached_loop is loop and cached is not None:
        return loop, cached
    state = _loops.get(loop)
    if state is None:
        state = _loops[loop] = _LoopServices()
    _last = (loop, state)
    return loop, state


def services_started() -> bool:
    """Whether every service this task can reach is already started on this loop (fast path)."""
    cached_loop, cached = _last
    return (
        cached is not None
        and cached.checked == _generation
        and cached_loop is asyncio.get_running_loop()
        and _overrides.get() is None
    )


async def ensure_services_started() -> None:
    """Start, once per event loop, every service this task can reach that has a ``start()``.

    Concurrent callers wait for the same start. A failing start is logged and kept on the
    service: the runs that then call ``context.<name>()`` fail with a ``ServiceError`` naming it
    (runs that never use it are unaffected), and the next run tries to start it again.
    """
    loop, state = _loop_state()
    overrides = _active_overrides()
    if state.checked == _generation and not overrides:
        return
    # A service shadowed by an override in this task is not used here, so it is not started:
    # overriding a real client in a test must not make the test connect to the real thing.
    registered = (*_builtins.items(), *_registry.items())
    entries = [e for n, e in registered if n not in overrides] + list(overrides.values())
    all_started = True
    for entry in entries:
        if (entry.has_start or entry.has_close) and entry.started_loop is not loop:
            try:
                await _start(entry, loop, state)
            except ServiceError as error:
                entry.start_error = error
                all_started = False
                logger.warning("%s", error, extra={"service": entry.name})
            else:
                entry.start_error = None
    if not overrides and all_started:
        state.checked = _generation


async def _start(entry: _Entry, loop: asyncio.AbstractEventLoop, state: _LoopServices) -> None:
    key = id(entry.service)
    if any(s is entry.service for _, s in state.started):
        entry.started_loop = loop
        return
    pending = state.starting.get(key)
    if pending is None:
        pending = loop.create_future()
        state.starting[key] = pending
        start = _hook(entry.service, "start")
        limit = _limit(entry.service, "start_timeout_s", START_TIMEOUT_S)
        try:
            if start is not None:
                async with asyncio.timeout(limit):
                    await start()
        except BaseException as exc:
            del state.starting[key]
            if isinstance(exc, TimeoutError):
                why = (
                    f"its start() did not finish within {limit} s (set start_timeout_s on the "
                    "service to allow longer)"
                )
            else:
                why = f"{type(exc).__name__}: {exc}"
            error = ServiceError(
                f"service {entry.name!r} ({type(entry.service).__name__}) failed to start: "
                f"{why}. Fix its start() and run again; it will be started anew on the next run."
            )
            pending.set_exception(error)
            pending.exception()  # the failing caller reports it; waiters see it too
            if isinstance(exc, Exception):
                raise error from exc
            raise
        state.started.append((entry.name, entry.service))
        del state.starting[key]
        pending.set_result(None)
    else:
        await asyncio.shield(pending)
    entry.started_loop = loop


async def close_services() -> None:
    """Close every service started on this event loop, in reverse start order, once each.

    A failing ``close()`` is logged and the others are still closed. Calling it again closes
    nothing more until services are started again.
    """
    _loop, state = _loop_state()
    while state.started:
        name, service = state.started.pop()
        for entry in (*_builtins.values(), *_registry.values(), *_active_overrides().values()):
            if entry.service is service:
                entry.started_loop = None
        state.checked = -1
        closer = _hook(service, "close")
        if closer is None:
            continue
        limit = _limit(service, "close_timeout_s", CLOSE_TIMEOUT_S)
        try:
            async with asyncio.timeout(limit):
                await closer()
        except TimeoutError:
            logger.error(
                "service %r did not finish closing within %s s; going on without it (set "
                "close_timeout_s on the service to allow longer)",
                name,
                limit,
                extra={"service": name},
            )
        except Exception:
            logger.exception("service %r failed to close", name, extra={"service": name})


def _limit(service: object, attribute: str, default: float) -> float:
    limit = getattr(service, attribute, None)
    if isinstance(limit, int | float) and not isinstance(limit, bool) and limit > 0:
        return float(limit)
    return default


class ServiceInfo:
    """What the registry knows of one service, for status pages."""

    __slots__ = ("name", "service_type", "started")

    def __init__(self, name: str, service_type: str, started: bool) -> None:
        self.name = name
        self.service_type = service_type
        self.started = started

    def to_json(self) -> dict[str, Any]:
        """The info as a JSON-ready dict."""
        return {"name": self.name, "type": self.service_type, "started": self.started}


def service_infos() -> list[ServiceInfo]:
    """Every registered service with whether it is started on some live event loop."""
    return [
        ServiceInfo(
            name,
            type(e.service).__name__,
            (not e.has_start) or (e.started_loop is not None and not e.started_loop.is_closed()),
        )
        for name, e in sorted(_registry.items())
    ]
