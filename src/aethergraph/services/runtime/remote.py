"""Custom services named by import path, so that processes other than this one can build them.

``register_context_service("trainer", "myproj.services:make_trainer", scope="worker")`` registers
an ``ImportedService``: the factory at that path (a class or a function, sync or async) is called
where the service is used, not where it is registered. Its scope says how many instances exist:

- ``worker``: one per process (per Ray worker actor), built on its loop when services start, and
  closed when the process closes its services.
- ``run``: one per run, built at the run's first use, closed when services close.
- ``cluster``: one for the whole Ray cluster, in a named actor; ``context.trainer().fit(...)``
  then returns an awaitable of the actor's answer (arguments and results go by value).

With the in-process executor these behave like an instance registered the embedded way. The Ray
executor sends the registrations to its workers with each run, and refuses services registered as
instances (they cannot be sent), showing this form instead.
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any, Literal

from aethergraph.errors import ConfigurationError
from aethergraph.services.runtime.base import _current_context

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["SCOPES", "ImportedService", "Scope", "load_factory"]

Scope = Literal["worker", "run", "cluster"]
SCOPES: tuple[Scope, ...] = ("worker", "run", "cluster")
_NAMESPACE = "aethergraph"


def load_factory(path: str, *, service: str) -> Callable[[], Any]:
    """The callable at ``module:qualname``; a ``ConfigurationError`` saying what is wrong."""
    module_name, _, qualname = path.partition(":")
    if not module_name or not qualname:
        raise ConfigurationError(
            f"service {service!r}: {path!r} is not an import path; give 'package.module:factory'"
        )
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"service {service!r}: cannot import {path!r} ({exc}); the module must be importable "
            "where the service is built (on Ray workers too: install it there or ship it with "
            "the runtime env's py_modules)"
        ) from exc
    if not callable(found):
        raise ConfigurationError(f"service {service!r}: {path!r} is not callable")
    factory: Callable[[], Any] = found
    return factory


async def _build(factory: Callable[[], Any]) -> Any:
    made = factory()
    if inspect.isawaitable(made):
        made = await made
    start = getattr(made, "start", None)
    if start is not None and not isinstance(made, type):
        started = start()
        if inspect.isawaitable(started):
            await started
    return made


async def _close(instance: Any) -> None:
    close = getattr(instance, "close", None)
    if close is not None:
        closed = close()
        if inspect.isawaitable(closed):
            await closed


class ImportedService:
    """A service registered by import path; attribute access reaches the scope's instance."""

    def __init__(self, name: str, path: str, scope: str) -> None:
        if scope not in SCOPES:
            raise ConfigurationError(
                f"service {name!r}: scope {scope!r} is not one of {', '.join(SCOPES)}"
            )
        load_factory(path, service=name)  # a bad path fails at registration, here
        self.name = name
        self.path = path
        self.scope = scope
        self._instance: Any = None
        self._by_run: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<ImportedService {self.name!r} {self.path!r} scope={self.scope}>"

    async def start(self) -> None:
        """Build the worker's instance, or reach the cluster's actor (once per process)."""
        if self._instance is not None:
            return
        if self.scope == "worker":
            self._instance = await _build(load_factory(self.path, service=self.name))
        elif self.scope == "cluster":
            self._instance = _ClusterProxy(self.name, await _cluster_actor(self.name, self.path))

    async def close(self) -> None:
        """Close what this process built."""
        instances = [*self._by_run.values()]
        if self.scope == "worker" and self._instance is not None:
            instances.append(self._instance)
        self._instance, self._by_run = None, {}
        for instance in instances:
            await _close(instance)

    def current(self) -> Any:
        """The instance this run uses."""
        if self.scope != "run":
            if self._instance is None:
                raise ConfigurationError(
                    f"service {self.name!r} ({self.path}) is used before services started"
                )
            return self._instance
        ctx = _current_context.get()
        if ctx is None:
            raise ConfigurationError(
                f"service {self.name!r} has scope='run' and is used outside a run"
            )
        run_id: str = ctx.run_id
        instance = self._by_run.get(run_id)
        if instance is None:
            made = load_factory(self.path, service=self.name)()
            if inspect.isawaitable(made):
                raise ConfigurationError(
                    f"service {self.name!r}: a scope='run' factory must return the service, "
                    f"not an awaitable ({self.path})"
                )
            instance = self._by_run[run_id] = made
        return instance

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_") or (self.scope != "run" and self._instance is None):
            # Before start (the registry looks for optional settings then): not an attribute.
            raise AttributeError(
                f"service {self.name!r} ({self.path}) has no {attribute!r} before it is built"
            )
        return getattr(self.current(), attribute)


class _ClusterProxy:
    """The cluster's one instance: each method call is an awaitable call on its actor."""

    def __init__(self, name: str, actor: Any) -> None:
        self._name = name
        self._actor = actor

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        actor = self._actor

        def call(*args: Any, **kwargs: Any) -> Any:
            return actor.call.remote(method, args, kwargs)

        call.__name__ = method
        return call


class _ClusterService:
    """The Ray actor holding a ``cluster`` service's instance."""

    def __init__(self, name: str, path: str) -> None:
        self._name, self._path = name, path
        self._instance: Any = None

    async def call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._instance is None:
            self._instance = await _build(load_factory(self._path, service=self._name))
        result = getattr(self._instance, method)(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result


async def _cluster_actor(name: str, path: str) -> Any:
    import ray  # only for cluster services, which need Ray

    if not ray.is_initialized():
        raise ConfigurationError(
            f"service {name!r} has scope='cluster', which needs Ray: configure(executor='ray') "
            "before the first run, or use scope='worker'"
        )
    return (
        ray.remote(_ClusterService)
        .options(name=f"service:{name}", namespace=_NAMESPACE, get_if_exists=True, num_cpus=0)
        .remote(name, path)
    )
