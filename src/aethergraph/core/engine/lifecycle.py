"""The run lifecycle: the only code that creates run records and changes run and node status.

Both kinds of run — a graph_fn (or tool) run and a task-graph run — are an ``Execution`` started
by ``start_run``, which does for both what a run needs: the prior-run checks for a given run id,
the claim that makes one process the run's owner, the record written before the run is handed to
the executor, the timeout, cancellation, and the outcome. Every status change goes through
``RunState.transition`` (or the node methods), which checks the transition table, stores the
record and publishes an event on the run's stream.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from typing import TYPE_CHECKING, Any, Protocol

from aethergraph.core.engine.context import NodeContext
from aethergraph.core.engine.failure import annotate, describe
from aethergraph.core.engine.journal import Journal, check_result, replayed_error
from aethergraph.core.engine.liveness import owner_alive
from aethergraph.core.engine.monitor import request_cancel, watch_process_runs
from aethergraph.core.engine.options import new_run_id
from aethergraph.core.engine.payload import json_node_inputs, same_json
from aethergraph.core.engine.waits import RunWaits
from aethergraph.errors import (
    ConfigurationError,
    InputValidationError,
    NodeTimeoutError,
    RunCancelledError,
    RunWaitingError,
)
from aethergraph.services.runtime.base import _current_context
from aethergraph.services.runtime.registry import ensure_services_started, services_started
from aethergraph.storage.memory import MemoryStorage
from aethergraph.storage.records import (
    NodeRecord,
    NodeStatus,
    RunEvent,
    RunRecord,
    RunStatus,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from aethergraph.core.engine.options import RunOptions
    from aethergraph.core.engine.runtime import Runtime
    from aethergraph.storage.protocols import Storage

__all__ = [
    "FINAL_STATUSES",
    "ROOT_NODE",
    "Execution",
    "Taken",
    "RunState",
    "admit",
    "execute",
    "mark_stored",
    "name_child_run",
    "start_run",
]

FINAL_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.INTERRUPTED)
"""A ``run_status`` event with one of these ends a run's stream (until it is resumed)."""

_ACTIVE = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.WAITING)
ROOT_NODE = "root"
"""The node id of a graph_fn's own body."""


class Execution(Protocol):
    """What differs between the kinds of run: how inputs are checked and how the body runs."""

    kind: str
    graph_id: str
    digest: str | None
    durable: bool

    def check_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The run's stored inputs, or an ``InputValidationError`` naming the input."""

    async def execute(self, state: RunState) -> dict[str, Any]:
        """Run the body and return the outputs (raise what the run raised)."""


class Taken:
    """A run id that is already taken: by a finished run (its outputs) or a run live here."""

    __slots__ = ("live", "outputs")

    def __init__(self, outputs: dict[str, Any] | None = None, live: RunState | None = None) -> None:
        self.outputs = outputs
        self.live = live

    async def result(self) -> dict[str, Any]:
        """The finished run's outputs, or those of the live run once it ends."""
        if self.live is not None:
            return await self.live.outcome()
        return self.outputs or {}


class RunState:
    """One run live in this process: its record, event numbering, waits and cancel flags."""

    __slots__ = (
        "_counters",
        "_nodes",
        "_seq",
        "_waits",
        "_watchers",
        "cancel_requested",
        "children",
        "durable",
        "execution",
        "graph_id",
        "inline_child",
        "journal",
        "journaled",
        "limiter",
        "max_concurrency",
        "parent_run_id",
        "record",
        "resumed",
        "retry",
        "run_id",
        "runtime",
        "session_id",
        "storage",
        "suspend_on_wait",
        "suspend_reason",
        "suspend_requested",
        "task",
        "timeout_s",
        "wakeup",
    )

    def __init__(
        self,
        runtime: Runtime,
        storage: Storage,
        record: RunRecord,
        *,
        durable: bool = False,
        last_seq: int = 0,
    ) -> None:
        self.runtime = runtime
        self.storage = storage
        self.record = record
        self.run_id = record.run_id
        self.graph_id = record.graph_id
        self.session_id = record.session_id
        self.parent_run_id = record.parent_run_id
        self.durable = durable
        self.cancel_requested = False
        # Leave the run ``waiting`` in the workspace at its next wait instead of hosting it.
        self.suspend_on_wait = False
        self.suspend_requested = False
        self.suspend_reason: str | None = None
        self.task: asyncio.Task[Any] | None = None
        self.children: set[asyncio.Task[Any]] | None = None
        """Child runs this run spawned in the background; the run ends after them."""
        self.inline_child = False
        self.resumed = last_seq > 0
        """Whether the run ran before (it has events): a graph_fn run then replays its journal."""
        self.journal: Journal | None = None
        self.journaled = False
        """Whether each finished step is committed before the body sees it (graph_fn runs)."""
        """The steps a resumed graph_fn run took before (``None``: every step runs live)."""
        """Whether the run executes on its parent run's task (a child run awaited in place)."""
        self._waits: RunWaits | None = None
        self.limiter: asyncio.Semaphore | None = None
        self.max_concurrency: int | None = None
        self.retry: Any = None
        self.execution: Execution | None = None
        self.timeout_s: float | None = None
        self._counters: dict[str, int] | None = None
        self._nodes: dict[str, NodeRecord] = {}
        self._seq = itertools.count(last_seq + 1)
        self._watchers: list[asyncio.Future[dict[str, Any]]] | None = None
        self.wakeup: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] | None = None
        """Flags set on every publish, for in-process ``watch_run`` followers."""

    @property
    def waits(self) -> RunWaits:
        """The run's waits (made on first use: most runs never ask anything)."""
        waits = self._waits
        if waits is None:
            waits = self._waits = RunWaits(self)
        return waits

    # -- events -----------------------------------------------------------------------------
    def publish(self, type: str, data: dict[str, Any], ts: float | None = None) -> None:
        """Append an event to the run's stream (thread-safe; ``data`` must be JSON)."""
        if ts is None:
            ts = self.runtime.clock.time()
        self.storage.append_run_event(RunEvent(self.run_id, next(self._seq), ts, type, data))
        if self.wakeup:
            for loop, flag in self.wakeup:
                if _on_loop(loop):
                    flag.set()
                else:
                    loop.call_soon_threadsafe(flag.set)

    # -- run status -------------------------------------------------------------------------
    async def transition(
        self, to: RunStatus, *, error: str | None = None, outputs: dict[str, Any] | None = None
    ) -> None:
        """Move the run to ``to`` (as the table allows), store it durably, publish the change."""
        record = self.record
        if record.status is to:
            return
        if not record.status.can_become(to):
            raise RuntimeError(
                f"run {self.run_id}: status {record.status} cannot become {to} (a bug in the "
                "engine; please report it)"
            )
        record.status = to
        now = self.runtime.clock.time()
        if to in FINAL_STATUSES:
            record.finished_at = now
            record.error = error
            if outputs is not None:
                record.outputs = outputs
        await self.storage.put_run(record)
        data: dict[str, Any] = {"status": to._value_}
        if error is not None:
            data["error"] = error
        self.publish("run_status", data, now)
        await self.storage.flush()

    # -- nodes ------------------------------------------------------------------------------
    def next_node_id(self, name: str, under: str = ROOT_NODE) -> str:
        """A node id unique in the run, named by where it is called.

        The n-th call of ``name`` from the run's body is ``name_n``; from inside node ``s`` it
        is ``s.name_n``. Ids of a resumed run thus repeat those of its first run, whatever
        steps are replayed instead of executed.
        """
        counters = self._counters
        if counters is None:
            counters = self._counters = {}
        key = name if under == ROOT_NODE else f"{under}.{name}"
        n = counters.get(key, 0) + 1
        counters[key] = n
        return f"{key}_{n}"

    async def replay(self, record: NodeRecord) -> dict[str, Any]:
        """Return (or raise) what a journaled step did, without executing it again."""
        self.publish(
            "node",
            {
                "node_id": record.node_id,
                "tool": record.tool,
                "status": record.status._value_,
                "attempt": record.attempts,
                "replayed": True,
            },
        )
        if record.status is NodeStatus.SUCCEEDED:
            return record.outputs or {}
        error = replayed_error(record)
        annotate(error, self.run_id, self.graph_id, record.node_id)
        raise error

    async def run_step(self, under: str, name: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``call`` as a journaled step named ``name`` inside node ``under``; its result.

        The result (JSON) is recorded before it is returned, so a resumed run gets it back
        without calling again. ``call`` runs with the step's own context, whose ``step_key``
        names the step stably across resumes.
        """
        node_id = self.next_node_id(name.replace(".", "_"), under)  # "." separates nesting
        journal = self.journal
        if journal is not None:
            recorded = journal.step(node_id)
            if recorded is not None:
                return (await self.replay(recorded)).get("result")
        record = await self.node_started(node_id, name, {}, 1)
        token = _current_context.set(NodeContext(self, node_id))
        try:
            result = await call()
            check_result(self.run_id, node_id, result)
        except BaseException as exc:
            cancelled = isinstance(exc, asyncio.CancelledError)
            status = NodeStatus.CANCELLED if cancelled else NodeStatus.FAILED
            await self.node_finished(record, status, error=describe(exc))
            raise
        finally:
            _current_context.reset(token)
        await self.node_finished(record, NodeStatus.SUCCEEDED, outputs={"result": result})
        return result

    async def node_started(
        self, node_id: str, tool: str, inputs: dict[str, Any], attempt: int
    ) -> NodeRecord:
        """Record that a node (attempt) is running (its inputs in JSON form, or an error)."""
        inputs = json_node_inputs(inputs, tool, node_id, self.run_id)
        now = self.runtime.clock.time()
        record = NodeRecord(
            self.run_id, node_id, tool, NodeStatus.RUNNING, inputs, None, None, attempt, now
        )
        await self.storage.put_node(record)
        self._nodes[node_id] = record
        if self._waits is not None:
            self._waits.node_started(node_id)
        self.publish(
            "node", {"node_id": node_id, "tool": tool, "status": "running", "attempt": attempt}, now
        )
        return record

    async def node_waits(self, node_id: str, waiting: bool) -> None:
        """Mark a running node as waiting for an answer, or as running again once answered."""
        record = self._nodes.get(node_id)  # a graph_fn's own body has no node record
        to = NodeStatus.WAITING if waiting else NodeStatus.RUNNING
        if record is None or record.status is to or not record.status.can_become(to):
            return
        record.status = to
        await self.storage.put_node(record)
        self.publish(
            "node",
            {
                "node_id": node_id,
                "tool": record.tool,
                "status": to._value_,
                "attempt": record.attempts,
            },
        )

    async def node_finished(
        self,
        record: NodeRecord,
        to: NodeStatus,
        *,
        outputs: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Record how a running node ended: succeeded, failed or cancelled."""
        if not record.status.can_become(to):
            raise RuntimeError(
                f"node {record.node_id!r} of run {self.run_id}: status {record.status} cannot "
                f"become {to} (a bug in the engine; please report it)"
            )
        self._nodes.pop(record.node_id, None)
        record.status = to
        record.outputs = outputs
        record.error = error
        record.finished_at = now = self.runtime.clock.time()
        if self.journaled:
            # A graph_fn sees a step's result only once it is journaled: a crash right after
            # must not run a step again that the function already went on from.
            await self.storage.journal_node(record)
        else:
            await self.storage.put_node(record)
        data: dict[str, Any] = {
            "node_id": record.node_id,
            "tool": record.tool,
            "status": str(to),
            "attempt": record.attempts,
            "duration_ms": (now - (record.started_at or now)) * 1000,
        }
        if error is not None:
            data["error"] = error
        self.publish("node", data, now)

    async def node_skipped(self, node_id: str, tool: str, reason: str) -> None:
        """Record a node that will not run because a node it depends on failed."""
        record = NodeRecord(self.run_id, node_id, tool, NodeStatus.SKIPPED, {}, error=reason)
        await self.storage.put_node(record)
        self.publish(
            "node", {"node_id": node_id, "tool": tool, "status": "skipped", "error": reason}
        )

    # -- outcome ----------------------------------------------------------------------------
    async def outcome(self) -> dict[str, Any]:
        """Wait for this run to end; its outputs, or what it raised."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if self._watchers is None:
            self._watchers = []
        self._watchers.append(fut)
        return await fut

    def _settle(self, outputs: dict[str, Any] | None, error: BaseException | None) -> None:
        for fut in self._watchers or ():
            if fut.done():
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(outputs or {})

    async def succeed(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """Record the run's outputs durably, then tell whoever awaits ``outcome()``."""
        await self.transition(RunStatus.SUCCEEDED, outputs=outputs)
        if self._watchers:
            self._settle(outputs, None)
        return outputs

    async def fail(
        self, exc: BaseException, *, deadline: asyncio.Timeout | None, timeout_s: float | None
    ) -> BaseException:
        """Record why the run ended; return the exception the caller should see.

        A cancellation by ``cancel_run`` becomes ``RunCancelledError`` (and the task is
        uncancelled: the run was cancelled, not its caller); any other cancellation (Ctrl-C, the
        caller giving up) leaves the run ``interrupted`` and resumable, or ``waiting`` when it
        stopped at an open question; a wait that stops hosting the run leaves it ``waiting``;
        the run's own deadline becomes ``NodeTimeoutError``; anything else is the user's
        exception, unchanged.
        """
        raised = exc
        task = self.task
        if isinstance(exc, asyncio.CancelledError):
            if self.suspend_requested and task is not None:
                task.uncancel()
                why = f" ({self.suspend_reason})" if self.suspend_reason else ""
                raised = RunWaitingError(
                    f"run {self.run_id} of graph {self.graph_id!r} waits for an answer{why}; "
                    "it is kept in the workspace: answer it with aethergraph.runtime.reply("
                    f"{self.run_id!r}, ...) or `aethergraph reply {self.run_id} ...` from any "
                    "process, which resumes it"
                )
                await asyncio.shield(self.transition(RunStatus.WAITING))
                self._settle(None, raised)
                return raised
            if self.cancel_requested:
                if self.inline_child:
                    # The cancel is the parent's too: let it reach the parent unchanged.
                    await asyncio.shield(self.transition(RunStatus.CANCELLED, error=describe(exc)))
                    self._settle(None, exc)
                    return exc
                if task is not None and task.cancelling():
                    task.uncancel()  # the run was cancelled, not the task awaiting it
                raised = RunCancelledError(
                    f"run {self.run_id} of graph {self.graph_id!r} was cancelled"
                )
                to = RunStatus.CANCELLED
            elif self.durable and self.record.status is RunStatus.WAITING:
                to = RunStatus.WAITING  # stopped at an open question: it stays asked
            else:
                to = RunStatus.INTERRUPTED
        elif deadline is not None and deadline.expired():
            to = RunStatus.FAILED
            raised = NodeTimeoutError(
                f"run {self.run_id} of graph {self.graph_id!r} ran past its timeout_s={timeout_s}"
            )
        else:
            to = RunStatus.FAILED
        await asyncio.shield(self.transition(to, error=describe(raised)))
        self._settle(None, raised)
        return raised


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


# -- starting a run ----------------------------------------------------------------------------


async def start_run(
    runtime: Runtime,
    execution: Execution,
    inputs: Mapping[str, Any],
    options: RunOptions,
    *,
    prepare: Callable[[RunState], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """Admit a run, hand it to the executor, and return its outputs.

    A ``run_id`` that names a finished run returns its outputs; one live in this process awaits
    it (see ``admit`` for the rest).
    """
    parent = _current_context.get()
    options = name_child_run(options, execution)
    if options.run_id is None and prepare is None:
        # A fresh run id names no stored run: nothing to check or claim (the common path).
        record = _new_record(runtime, execution, execution.check_inputs(inputs), options, parent)
        storage = runtime.storage(options.workspace)
        await storage.put_run(record)
        admitted = _admitted(runtime, storage, record, execution, options, parent)
    else:
        found = await admit(runtime, execution, inputs, options, prepare=prepare)
        if isinstance(found, Taken):
            return await found.result()
        admitted = found
    executor = runtime.executor
    if executor.inline:
        return await execute(admitted)
    return await executor.submit(admitted.record, lambda: execute(admitted))


def name_child_run(options: RunOptions, execution: Execution) -> RunOptions:
    """``options`` with the run id of a child run started from a node without one.

    A child run's id is named by where it is started (``parent.node.graph_n``), so a parent
    resumed by replay finds its finished children instead of running them again.
    """
    parent = _current_context.get()
    if options.run_id is not None or parent is None:
        return options
    child = parent._run.next_node_id(execution.graph_id, parent.node_id)
    return options.with_run_id(f"{parent.run_id}.{child}")


async def admit(
    runtime: Runtime,
    execution: Execution,
    inputs: Mapping[str, Any],
    options: RunOptions,
    *,
    prepare: Callable[[RunState], Awaitable[None]] | None = None,
) -> RunState | Taken:
    """Check, claim and record a run; its state, ready for ``execute``, or what it already is.

    Returns the outputs of a finished run with ``options.run_id``, or the live state of one
    running in this process (``Taken``). One that is interrupted, failed or waiting (with its
    owner gone) is claimed and resumed with its stored inputs. ``prepare`` runs once a stored run
    is claimed, before it executes (``reply()`` stores its answer there, so a resume that cannot
    happen leaves the wait open). The record is stored before this returns.
    """
    resuming = options.run_id is not None and not inputs
    stored_inputs = None if resuming else execution.check_inputs(inputs)
    storage = runtime.storage(options.workspace)
    parent = _current_context.get()
    run_id = options.run_id
    last_seq = 0
    if run_id is None:
        assert stored_inputs is not None
        record = _new_record(runtime, execution, stored_inputs, options, parent)
        await storage.put_run(record)
    else:
        claimed = await _claim(runtime, storage, execution, run_id, stored_inputs, options)
        if not isinstance(claimed, RunRecord):
            return claimed
        record = claimed
        last_seq = await storage.last_run_event_seq(run_id)
    state = _admitted(runtime, storage, record, execution, options, parent, last_seq)
    if prepare is not None:
        await prepare(state)
    return state


def _admitted(
    runtime: Runtime,
    storage: Storage,
    record: RunRecord,
    execution: Execution,
    options: RunOptions,
    parent: NodeContext | None,
    last_seq: int = 0,
) -> RunState:
    """The state of a run whose record is stored, ready for ``execute``."""
    state = RunState(runtime, storage, record, durable=execution.durable, last_seq=last_seq)
    runtime.live[record.run_id] = state  # live from admission: a cancel finds it at once
    state.execution = execution
    state.timeout_s = options.timeout_s
    if options.max_concurrency is not None:
        state.max_concurrency = options.max_concurrency
        state.limiter = asyncio.Semaphore(options.max_concurrency)
    state.retry = options.retry
    if parent is not None:
        parent._run.publish(
            "child_run",
            {"child_run_id": record.run_id, "graph_id": record.graph_id, "node_id": parent.node_id},
        )
    return state


def _new_record(
    runtime: Runtime,
    execution: Execution,
    inputs: dict[str, Any],
    options: RunOptions,
    parent: NodeContext | None,
    run_id: str | None = None,
) -> RunRecord:
    now = runtime.clock.time()
    return RunRecord(
        run_id or new_run_id(),
        execution.graph_id,
        RunStatus.RUNNING,
        execution.kind,
        inputs,
        None,
        None,
        now,
        now,
        None,
        parent.run_id if parent is not None else None,
        options.session_id or (parent.session_id if parent is not None else None),
        runtime.owner_id,
        execution.digest,
    )


async def execute(state: RunState) -> dict[str, Any]:
    """Execute an admitted run on this task and record how it ended; its outputs."""
    runtime = state.runtime
    execution = state.execution
    assert execution is not None, "execute() takes a run that admit() returned"
    timeout_s = state.timeout_s
    task = state.task = asyncio.current_task()
    parent = _current_context.get()
    state.inline_child = parent is not None and parent._run.task is task
    state.publish("run_status", {"status": "running"}, state.record.started_at)
    if not isinstance(state.storage, MemoryStorage):  # no other process shares memory
        watch_process_runs(runtime, state.storage)
    timeout = runtime.clock.timeout(timeout_s) if timeout_s is not None else None
    try:
        if state.cancel_requested:  # cancelled between admission and execution
            raise asyncio.CancelledError
        if timeout is None:
            if not services_started():
                await ensure_services_started()
            outputs = await execution.execute(state)
        else:
            async with timeout:  # the run's timeout covers the services it waits for
                if not services_started():
                    await ensure_services_started()
                outputs = await execution.execute(state)
        if state.children:
            # A run ends after the child runs it spawned (their records say how they ended).
            await asyncio.gather(*state.children, return_exceptions=True)
    except BaseException as exc:
        if state.children:
            await _stop_children(state)
        raised = await state.fail(exc, deadline=timeout, timeout_s=timeout_s)
        if raised is exc:
            raise
        raise raised from (None if isinstance(exc, asyncio.CancelledError) else exc)
    finally:
        runtime.live.pop(state.run_id, None)
    return await state.succeed(outputs)


async def _stop_children(state: RunState) -> None:
    """Cancel the child runs a failing or cancelled run spawned, and wait until they stopped."""
    for child in list(state.runtime.live.values()):
        if child.parent_run_id == state.run_id and not child.inline_child:
            request_cancel(state.runtime, child)  # one not yet started stops when it starts
    await asyncio.shield(asyncio.gather(*(state.children or ()), return_exceptions=True))


async def _claim(
    runtime: Runtime,
    storage: Storage,
    execution: Execution,
    run_id: str,
    inputs: dict[str, Any] | None,
    options: RunOptions,
) -> RunRecord | Taken:
    """Make this process the owner of run ``run_id``, or say what the run already is.

    Returns the claimed record, the outputs of a finished run, or the state of a run live in
    this process. Two processes claiming at once: one wins, the other sees the winner alive and
    is refused.
    """
    parent = _current_context.get()
    for _attempt in range(5):
        prior = await storage.get_run(run_id)
        if prior is None:
            fresh = inputs if inputs is not None else execution.check_inputs({})
            record = _new_record(runtime, execution, fresh, options, parent, run_id)
            if await storage.claim_run(record, expect_status=None, expect_owner=None):
                return record
            continue
        done = _check_prior(prior, execution, inputs)
        if done is not None:
            return Taken(outputs=done)
        live = runtime.live.get(run_id)
        if live is not None:
            return Taken(live=live)
        if prior.status in _ACTIVE and await owner_alive(prior, runtime, storage):
            raise ConfigurationError(
                f"run {run_id} is {prior.status} in another live process ({prior.owner}); "
                "reply to it, cancel it, or wait for it there"
            )
        if prior.status in (RunStatus.RUNNING, RunStatus.PENDING):
            await mark_stored(storage, prior, RunStatus.INTERRUPTED, runtime)
            continue
        claimed = dataclasses.replace(
            prior,
            status=RunStatus.RUNNING,
            owner=runtime.owner_id,
            error=None,
            finished_at=None,
            started_at=runtime.clock.time(),
        )
        if await storage.claim_run(claimed, expect_status=prior.status, expect_owner=prior.owner):
            return claimed
    raise ConfigurationError(
        f"run {run_id} is being claimed by another process at the same time; try again"
    )


def _check_prior(
    prior: RunRecord, execution: Execution, inputs: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The stored outputs of a finished run, ``None`` to go on, or an error for a mismatch."""
    if prior.graph_id != execution.graph_id:
        raise ConfigurationError(
            f"run {prior.run_id} belongs to graph {prior.graph_id!r}, not "
            f"{execution.graph_id!r}: a run id names one durable run. Use a new run_id; to "
            "share memory and artifacts across runs, give them the same session_id=... "
            f"({'its session is ' + repr(prior.session_id) if prior.session_id else 'it has none'})"
        )
    if inputs is not None and not same_json(inputs, prior.inputs):
        raise InputValidationError(
            f"run {prior.run_id} was started with inputs {prior.inputs}; resuming it with "
            "other inputs would mix two computations. Resume with the same inputs (or none), "
            "or start a new run"
        )
    if prior.status is RunStatus.SUCCEEDED:
        return prior.outputs or {}
    if prior.status is RunStatus.CANCELLED:
        raise RunCancelledError(f"run {prior.run_id} was cancelled; start a new run instead")
    if prior.graph_digest is not None and prior.graph_digest != execution.digest:
        raise ConfigurationError(
            f"graph {execution.graph_id!r} has changed since run {prior.run_id} started (its "
            "nodes or wiring differ), so its checkpoints no longer match; resume it with the "
            "code it started with, or start a new run. Changing what a tool does inside is fine."
        )
    return None


async def mark_stored(
    storage: Storage, prior: RunRecord, to: RunStatus, runtime: Runtime
) -> RunRecord | None:
    """Change the status of a run that no process hosts; the new record, or ``None`` if raced.

    For runs whose owner is gone (interrupted) or that nobody hosts (a waiting run cancelled
    from outside). The change is a compare-and-set on the stored status and owner.
    """
    if prior.status is to or not prior.status.can_become(to):
        return None
    changed = dataclasses.replace(prior, status=to)
    if to in FINAL_STATUSES:
        changed.finished_at = runtime.clock.time()
    if not await storage.claim_run(changed, expect_status=prior.status, expect_owner=prior.owner):
        return None
    seq = await storage.last_run_event_seq(prior.run_id) + 1
    storage.append_run_event(
        RunEvent(prior.run_id, seq, runtime.clock.time(), "run_status", {"status": str(to)})
    )
    await storage.flush()
    return changed


def annotate_node(exc: BaseException, state: RunState, node_id: str) -> None:
    """Name the run and node where ``exc`` was raised (once, innermost)."""
    annotate(exc, state.run_id, state.graph_id, node_id)
