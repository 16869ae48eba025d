"""``RayExecutor``: runs dispatched to a pool of async Ray actors, with PostgreSQL as the store.

The unit of dispatch is a whole run. The caller's process admits the run (``admit``) as usual and
hands its record to a worker actor, which takes the run over and executes it with the ordinary
in-process engine on the actor's own event loop. A new run goes as it is held (the worker stores
it with its first write); one with a stored past is handed over by a compare-and-set of the
record's owner, from the caller to the worker. Until the call ends the caller answers for the run
(``Runtime.dispatched``). Every worker reads and writes the same PostgreSQL schema, so the run's
events, nodes, waits and outcome are where the caller, the sidecar and the CLI look.

Graphs reach workers by import path: the worker imports the module that defines the graph, which
registers it there as it does here. A graph defined in ``__main__`` (a script, a notebook) cannot
be found that way and is refused with a message saying what to do.

Backpressure: each worker runs at most ``max_runs_per_worker`` runs at a time; a submission
beyond the pool's capacity waits for a slot (its caller awaits; nothing is buffered for it).

A run waiting for a human holds no slot: it stops on its worker at the wait (its state is in
PostgreSQL) and the dispatching process holds it until a reply from any process answers it, then
sends it to any worker, where it resumes (``waiting_runs``).

A tool declared with ``resources`` runs its body as a Ray task with those resources
(``ray_placement``), while its node stays with the run on the worker.

When a worker dies, its task graph runs are resubmitted to another worker and resume from their
checkpoints (finished nodes do not run again); its graph_fn runs are marked interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import logging
import sys
from typing import TYPE_CHECKING, Any, Protocol, cast

import ray
from ray.exceptions import RayActorError, RayTaskError, TaskCancelledError

from aethergraph.core.engine.catalog import find_graph
from aethergraph.core.engine.executor import BackgroundTasks
from aethergraph.core.engine.executors.ray_placement import RayPlacement
from aethergraph.core.engine.executors.waiting_runs import (
    hold_until_answered,
    release_waiting,
    stored_outcome,
)
from aethergraph.core.engine.failure import describe
from aethergraph.core.engine.lifecycle import (
    execute,
    handed_over,
    mark_stored,
    state_of_recorded_run,
)
from aethergraph.core.engine.liveness import BEAT_S
from aethergraph.core.engine.monitor import beat_if_due
from aethergraph.core.engine.options import NO_OPTIONS
from aethergraph.core.engine.run import execution_of
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.core.engine.signature import DeclaredFunction
from aethergraph.errors import ConfigurationError, GraphNotFoundError, RunError, RunWaitingError
from aethergraph.services.runtime.registry import (
    get_ext_context_service,
    list_ext_context_services,
    register_context_service,
)
from aethergraph.services.runtime.remote import ImportedService
from aethergraph.storage.json_rows import run_record
from aethergraph.storage.postgres.rows import run_row
from aethergraph.storage.records import RunStatus

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    from aethergraph.core.engine.runtime import Runtime
    from aethergraph.storage.records import RunRecord

__all__ = ["RayExecutor", "graph_module"]

logger = logging.getLogger(__name__)

Outputs = dict[str, Any]

CANCEL_GRACE_S = 10.0
"""Seconds a cancelled run is given to stop on its worker before it is marked interrupted."""

_modules: dict[int, str] = {}


class _SharedStorage(Protocol):
    """What the dispatcher needs of the storage shared with its workers, beyond ``Storage``."""

    async def release_run(self, run_id: str) -> None: ...


def graph_module(graph: Any, graph_id: str) -> str:
    """The importable module that defines ``graph``; ``ConfigurationError`` when there is none."""
    found = _modules.get(id(graph))
    if found is None:
        if isinstance(graph, DeclaredFunction):
            found = graph.fn.__module__
        else:  # a task graph: the module holding it as a global
            found = next(
                (
                    name
                    for name, module in list(sys.modules.items())
                    if any(v is graph for v in list(vars(module).values()))
                ),
                "",
            )
        _modules[id(graph)] = found
    if found in ("", "__main__", "__mp_main__"):
        where = "in __main__ (a script or a notebook)" if found else "outside any module"
        raise ConfigurationError(
            f"graph {graph_id!r} is defined {where}, so Ray workers cannot import it; move it "
            "into a module of its own (say myproject/graphs.py) and import it from there, or "
            "ship that module to the cluster with Ray's runtime env (py_modules=[...])"
        )
    return found


async def take_over(
    runtime: Runtime, module: str, handed: RunRecord, expect_owner: str | None, fresh: bool
) -> Outputs:
    """Make this process the owner of a run handed to it, then execute it here; its outputs.

    ``handed`` is the run's record as the dispatcher left it for this process: stored, with
    this process as its owner, or (``fresh``: a run admitted there that never executed) not
    stored by the dispatcher at all, for this process to store with its first write. A record
    owned by another process is claimed from ``expect_owner`` first.
    """
    storage = runtime.storage()
    run_id, graph_id = handed.run_id, handed.graph_id
    try:
        importlib.import_module(module)
        graph = find_graph(graph_id, run_id=run_id)
    except (ImportError, GraphNotFoundError) as exc:
        error = ConfigurationError(
            f"a Ray worker cannot import module {module!r}, which defines graph {graph_id!r} "
            f"(run {run_id}): {exc}. Make it importable on every worker: install it, put its "
            "folder on PYTHONPATH, or ship it with Ray's runtime env (py_modules=[...])"
        )
        prior = handed if fresh else await storage.get_run(run_id)
        if prior is not None and prior.owner == runtime.owner_id:  # handed here: not running
            if fresh:
                await storage.put_run(prior)
            failed = dataclasses.replace(prior, error=describe(error))
            await mark_stored(storage, failed, RunStatus.FAILED, runtime)
        raise error from exc
    execution = execution_of(graph)
    claimed = dataclasses.replace(handed, owner=runtime.owner_id)
    if fresh:
        await storage.put_run(claimed)  # held: written with this run's first write
    elif handed.owner != runtime.owner_id and not await storage.claim_run(
        claimed, expect_status=handed.status, expect_owner=expect_owner
    ):
        raise RunError(
            f"run {run_id} of graph {graph_id!r} was taken by {handed.owner} before this worker "
            "could start it"
        )
    last_seq = 0 if fresh else await storage.last_run_event_seq(run_id)
    state = state_of_recorded_run(runtime, storage, claimed, execution, NO_OPTIONS, None, last_seq)
    # At a wait for an answer the run stops here (RunWaitingError), freeing this worker's slot;
    # the dispatcher holds it until it is answered and sends it to a worker again.
    state.suspend_on_wait = True
    return await execute(state)


Handover = tuple[str, "str | None", "list[tuple[str, str, str]]", "tuple[Any, ...]", bool]
"""What a worker gets to take a run over: the graph's module, the run's expected owner, the
services to register by import path, the run's record as a row of plain values (``run_row``),
and whether it is fresh (not stored by the dispatcher: see ``take_over``)."""


class _Worker:
    """One async worker actor: the ordinary engine on the actor's loop, runs taken over by id."""

    def __init__(self, database_url: str, artifact_root: str | None) -> None:
        runtime = current_runtime()
        runtime.configure(database_url=database_url, artifact_root=artifact_root)
        runtime.placement = RayPlacement(database_url, artifact_root)  # @tool(resources=...)

    async def owner(self) -> str:
        """This worker's owner id, as recorded on the runs it hosts; opens the store first.

        A run handed over with its record makes no read before it appends its first event, which
        needs the store open on this actor's loop.
        """
        runtime = current_runtime()
        await runtime.storage().last_run_event_seq("")
        return runtime.owner_id

    async def run(self, handover: Handover) -> Outputs:
        """Take the run over and execute it; its outputs (or what it raised).

        Everything comes in one argument of plain values: Ray serializes each argument of a
        call on its own, and plain values without pickle.
        """
        module, expect_owner, services, row, fresh = handover
        for name, path, scope in services:
            try:
                known = get_ext_context_service(name)
            except AttributeError:
                known = None
            if not (
                isinstance(known, ImportedService) and (known.path, known.scope) == (path, scope)
            ):
                register_context_service(name, path, scope=scope)
        handed = run_record(row)
        return await take_over(current_runtime(), module, handed, expect_owner, fresh)


@dataclasses.dataclass
class _Slot:
    actor: Any
    owner: str
    inflight: int = 0
    alive: bool = True


class RayExecutor:
    """Runs execute on a pool of async Ray worker actors sharing a PostgreSQL store.

    Args:
        address: The Ray cluster: ``None`` starts or joins a local one, ``"auto"`` or
            ``ray://host:port`` joins a running cluster.
        num_workers: Worker actors in the pool.
        max_runs_per_worker: Runs one worker executes at once.
    """

    inline = False

    def __init__(
        self, *, address: str | None = None, num_workers: int = 2, max_runs_per_worker: int = 8
    ) -> None:
        if num_workers < 1 or max_runs_per_worker < 1:
            raise ConfigurationError(
                f"RayExecutor needs num_workers >= 1 and max_runs_per_worker >= 1, got "
                f"{num_workers} and {max_runs_per_worker}"
            )
        self.address = address
        self.num_workers = num_workers
        self.max_runs_per_worker = max_runs_per_worker
        self._slots: list[_Slot] = []
        self._database_url: str | None = None
        self._artifact_root: str | None = None
        self._free: dict[asyncio.AbstractEventLoop, asyncio.Condition] = {}
        self._background = BackgroundTasks()

    @property
    def workers(self) -> list[Any]:
        """The live worker actor handles."""
        return [s.actor for s in self._slots if s.alive]

    async def start(self) -> None:
        """Connect to Ray and start the worker actors (once)."""
        async with self._condition():
            if not self._slots:
                await self._start()

    async def _start(self) -> None:
        runtime = current_runtime()
        url = getattr(runtime.storage(), "url", None)
        if not isinstance(url, str):
            raise ConfigurationError(
                "the Ray executor keeps runs in PostgreSQL, shared by its workers; set "
                "AETHERGRAPH_DATABASE_URL=postgresql://... or configure(database_url=...) "
                f"(runs are now kept in {runtime.storage().location})"
            )
        self._database_url = url
        # The workers keep artifact bytes where this process does (the database, or the root).
        root = getattr(runtime.storage(), "artifact_root", None)
        self._artifact_root = None if root is None else str(root)
        if not ray.is_initialized():
            await asyncio.to_thread(ray.init, address=self.address, log_to_driver=False)
        await asyncio.gather(*(self._add_worker() for _ in range(self.num_workers)))

    async def _add_worker(self) -> None:
        actor: Any = (
            ray.remote(_Worker)
            .options(max_concurrency=self.max_runs_per_worker, num_cpus=0)
            .remote(self._database_url, self._artifact_root)
        )
        owner: str = await actor.owner.remote()
        self._slots.append(_Slot(actor, owner))

    def submit(
        self, record: RunRecord, execute: Callable[[], Coroutine[Any, Any, Outputs]]
    ) -> Awaitable[Outputs]:
        """Dispatch the recorded run to a worker; await it for the outputs."""
        return self._dispatch(record)  # ``execute`` is for this process: the worker runs it

    async def _dispatch(self, record: RunRecord) -> Outputs:
        runtime = current_runtime()
        storage = runtime.storage()
        try:
            if not self._slots:
                await self.start()
            graph = find_graph(record.graph_id, run_id=record.run_id)
            module = graph_module(graph, record.graph_id)
            services = await _shipped_services()
        except ConfigurationError as exc:
            runtime.live.pop(record.run_id, None)
            await mark_stored(storage, record, RunStatus.FAILED, runtime)
            exc.add_note(f"run {record.run_id} was not dispatched to Ray and is marked failed")
            raise
        local = runtime.live.get(record.run_id)
        back_at_wait = local is not None and local.suspend_on_wait  # reply(): back at a wait
        current = record
        while True:
            slot = await self._take_slot()
            try:
                return await self._on_worker(runtime, slot, current, module, services)
            except RayTaskError as exc:
                error = _unwrapped(exc)
                if not isinstance(error, RunWaitingError):
                    raise error from None
                waiting = error  # it stopped on its worker at a wait: its slot is free now
            except RayActorError as exc:
                current = await self._worker_died(runtime, slot, record, exc)
                continue
            finally:
                await self._give_back(slot)
            if back_at_wait:
                await release_waiting(runtime, record.run_id, slot.owner)
                raise waiting from None
            held = await hold_until_answered(runtime, record.run_id, slot.owner)
            if held is None:  # another process took it over: its outcome is in the store
                return await stored_outcome(runtime, record.run_id)
            current = held

    async def _on_worker(
        self,
        runtime: Runtime,
        slot: _Slot,
        current: RunRecord,
        module: str,
        services: list[tuple[str, str, str]],
    ) -> Outputs:
        """Hand the run over to the worker of ``slot``; its outputs (or what it raised there)."""
        storage = runtime.storage()
        run_id = current.run_id
        local = runtime.live.pop(run_id, None)  # the worker hosts it from here on
        # Until the call ends this process answers for the run, whose stored record may still
        # name it as the owner: a reader here must not take the run for an orphan.
        runtime.dispatched.add(run_id)
        try:
            handed = handed_over(current, slot.owner)  # a held waiting run goes on, answered
            # A run admitted here that never executed is this process's alone: no other can
            # claim it while it runs (its owner is alive), so it is handed over as it is held,
            # and the worker writes it with its first write. Any other run is handed over in
            # the store, before the worker starts: a compare-and-set from here to the worker.
            fresh = local is not None and not local.resumed and current.status is RunStatus.RUNNING
            if fresh:
                await cast("_SharedStorage", storage).release_run(run_id)
            elif not await storage.claim_run(
                handed, expect_status=current.status, expect_owner=current.owner
            ):
                raise RunError(
                    f"run {run_id} of graph {current.graph_id!r} was taken by another process "
                    "before it reached a Ray worker"
                )
            handover: Handover = (module, slot.owner, services, run_row(handed), fresh)
            ref = slot.actor.run.remote(handover)
            try:
                outputs: Outputs = await ref
            except asyncio.CancelledError:
                # The caller gave up (Ctrl-C, a timeout): the run stops on the worker too, left
                # interrupted and resumable, as it would be in process.
                ray.cancel(ref)
                await asyncio.shield(_interrupt(runtime, ref, current, slot.owner))
                raise
            return outputs
        finally:
            runtime.dispatched.discard(run_id)

    async def _worker_died(
        self, runtime: Runtime, slot: _Slot, record: RunRecord, exc: RayActorError
    ) -> RunRecord:
        """Replace the dead worker; the stored run to resubmit, or raise why it cannot be."""
        if slot.alive:
            slot.alive = False
            logger.warning(
                "Ray worker %s died; starting another", slot.owner, extra={"owner": slot.owner}
            )
            await self._add_worker()
        storage = runtime.storage()
        stored = await _stored_or_restored(runtime, record)
        if stored.status is not RunStatus.RUNNING:
            raise RunError(
                f"run {record.run_id} ended {stored.status} as its Ray worker died: {exc}"
            ) from exc
        if stored.kind == "graphify":
            return stored  # resumes from its checkpoints on another worker
        await mark_stored(storage, stored, RunStatus.INTERRUPTED, runtime)
        raise RunError(
            f"run {record.run_id} of graph {record.graph_id!r} was interrupted: its Ray worker "
            f"died ({type(exc).__name__}); resume it with run(graph, run_id={record.run_id!r})"
        ) from exc

    async def _take_slot(self) -> _Slot:
        cond = self._condition()
        runtime = current_runtime()
        async with cond:
            while True:
                live = [s for s in self._slots if s.alive and s.inflight < self.max_runs_per_worker]
                if live:
                    slot = min(live, key=lambda s: s.inflight)
                    slot.inflight += 1
                    return slot
                # A run waiting here for a slot is recorded with this process as its owner:
                # beat meanwhile, so that readers on other hosts know the process is alive.
                await beat_if_due(runtime, runtime.storage())
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(BEAT_S):
                        await cond.wait()

    async def _give_back(self, slot: _Slot) -> None:
        slot.inflight -= 1
        cond = self._condition()
        async with cond:
            cond.notify()

    def _condition(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        cond = self._free.get(loop)
        if cond is None:
            for old in [k for k in self._free if k.is_closed()]:
                del self._free[old]
            cond = self._free[loop] = asyncio.Condition()
        return cond

    def background(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start ``work`` as a task of this process (the run monitor, background runs)."""
        return self._background.start(work)

    async def close(self) -> None:
        """Cancel this loop's background tasks and stop the worker actors."""
        await self._background.cancel()
        slots, self._slots = self._slots, []
        for slot in slots:
            if slot.alive:
                ray.kill(slot.actor)


async def _shipped_services() -> list[tuple[str, str, str]]:
    """The custom services as (name, import path, scope), for the workers to register.

    Refuses services registered as instances, which cannot be sent. Cluster services get their
    actor here, owned by this process, so that it outlives any one worker.
    """
    shipped: list[tuple[str, str, str]] = []
    for name in list_ext_context_services():
        service = get_ext_context_service(name)
        if not isinstance(service, ImportedService):
            raise ConfigurationError(
                f"service {name!r} is registered as an instance ({type(service).__name__}), "
                "which cannot reach Ray workers; register it by the import path of its factory: "
                f"register_context_service({name!r}, 'yourpackage.module:make_{name}', "
                "scope='worker') (or scope='run' or 'cluster')"
            )
        if service.scope == "cluster":
            await service.start()
        shipped.append((name, service.path, service.scope))
    return shipped


async def _interrupt(runtime: Runtime, ref: Any, record: RunRecord, worker: str) -> None:
    """Once a cancelled call has settled, mark the run interrupted if its worker never started it.

    A run the worker started was marked interrupted there, as the cancel reached it.
    """
    with contextlib.suppress(RayTaskError, RayActorError, TaskCancelledError, TimeoutError):
        async with asyncio.timeout(CANCEL_GRACE_S):
            await ref
    stored = await _stored_or_restored(runtime, record)
    if stored.status is RunStatus.RUNNING and stored.owner in (worker, runtime.owner_id):
        await mark_stored(runtime.storage(), stored, RunStatus.INTERRUPTED, runtime)


async def _stored_or_restored(runtime: Runtime, record: RunRecord) -> RunRecord:
    """The stored record of a run dispatched from here, after its worker stopped.

    A run handed over fresh (see ``take_over``) is stored by its worker with its first write:
    when the worker stopped before that, the record admitted here is stored again and returned.
    """
    storage = runtime.storage()
    stored = await storage.get_run(record.run_id)
    if stored is None:
        await storage.put_run(record)
        stored = record
    return stored


def _unwrapped(exc: RayTaskError) -> BaseException:
    """The exception the run raised on the worker, as the in-process executor would raise it."""
    cause = exc.cause
    return cause if isinstance(cause, BaseException) else exc
