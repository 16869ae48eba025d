"""A run live in this process: its record, event numbering, waits and the status changes it makes.

Part of the run lifecycle (see the package): ``RunState.transition`` and the node methods are,
with the admission module, the only code that changes run and node status.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any, Protocol

from aethergraph.core.engine.context import NodeContext
from aethergraph.core.engine.failure import annotate, describe
from aethergraph.core.engine.journal import Journal, check_result, replayed_error
from aethergraph.core.engine.payload import json_node_inputs
from aethergraph.core.engine.waits import RunWaits
from aethergraph.errors import (
    NodeTimeoutError,
    RunCancelledError,
    RunWaitingError,
)
from aethergraph.services.runtime.base import _current_context
from aethergraph.storage.records import (
    NodeRecord,
    NodeStatus,
    RunEvent,
    RunRecord,
    RunStatus,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from aethergraph.core.engine.runtime import Runtime
    from aethergraph.storage.protocols import Storage

__all__ = ["FINAL_STATUSES", "ROOT_NODE", "Execution", "RunState", "Taken"]

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
        names the step stably across resumes. Outside a graph_fn (in a task-graph node, which
        runs again as a whole when resumed) there is nothing to journal: ``call`` just runs.
        """
        if not self.journaled:
            return await call()
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
            # In whole microseconds: a short number, quick to write as text.
            "duration_ms": round((now - (record.started_at or now)) * 1e6) / 1000,
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
