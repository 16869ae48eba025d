"""Starting a run: the prior-run checks, the claim, the record written before dispatch, execution.

Part of the run lifecycle (see the package): what both kinds of run share, from ``start_run`` to
the recorded outcome.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

from aethergraph.core.engine.lifecycle.state import (
    _ACTIVE,
    FINAL_STATUSES,
    Execution,
    RunState,
    Taken,
)
from aethergraph.core.engine.liveness import owner_alive
from aethergraph.core.engine.monitor import request_cancel, watch_process_runs
from aethergraph.core.engine.options import new_run_id
from aethergraph.core.engine.payload import same_json
from aethergraph.errors import (
    ConfigurationError,
    InputValidationError,
    RunCancelledError,
)
from aethergraph.services.runtime.base import _current_context
from aethergraph.services.runtime.registry import ensure_services_started, services_started
from aethergraph.storage.memory import MemoryStorage
from aethergraph.storage.records import (
    RunEvent,
    RunRecord,
    RunStatus,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from aethergraph.core.engine.context import NodeContext
    from aethergraph.core.engine.options import RunOptions
    from aethergraph.core.engine.runtime import Runtime
    from aethergraph.storage.protocols import Storage

__all__ = [
    "admit",
    "execute",
    "handed_over",
    "mark_stored",
    "name_child_run",
    "run_admitted",
    "start_run",
    "state_of_recorded_run",
]


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
        admitted = state_of_recorded_run(runtime, storage, record, execution, options, parent)
    else:
        found = await admit(runtime, execution, inputs, options, prepare=prepare)
        if isinstance(found, Taken):
            return await found.result()
        admitted = found
    return await run_admitted(admitted)


async def run_admitted(state: RunState) -> dict[str, Any]:
    """Execute an admitted run with the runtime's executor, here or elsewhere; its outputs."""
    executor = state.runtime.executor
    if executor.inline:
        return await execute(state)
    return await executor.submit(state.record, lambda: execute(state))


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
    state = state_of_recorded_run(runtime, storage, record, execution, options, parent, last_seq)
    if prepare is not None:
        await prepare(state)
    return state


def state_of_recorded_run(
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


def handed_over(record: RunRecord, owner: str) -> RunRecord:
    """The record of a run handed to process ``owner`` to execute it: running, owned by it.

    A waiting run goes on once its answers are in (its new owner publishes that it runs, as for
    any run it starts). The dispatcher stores this record, or hands it over to be stored.
    """
    status = RunStatus.RUNNING if record.status is RunStatus.WAITING else record.status
    return dataclasses.replace(record, owner=owner, status=status)


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
