"""The journal of a graph_fn run: the steps it took, replayed in order when the run resumes.

A step is a node of the run: a ``@tool`` call, a service method marked as a step, or a journaled
value (``context.now()``, ``random()``, ``uuid()``, ``sleep()``). Its record is written before
the function sees its result, so resuming a run runs the function again from the top and each
step that finished returns its recorded result without executing. Steps are named by where they
are called: the n-th call of a tool from the run's body is ``tool_n``; a call made inside step
``s`` is ``s.tool_n``. A body that calls a step the run never took while recorded steps are still
to come has changed since the run started: it is refused instead of replayed against the wrong
records.

A step that failed is replayed as failed when the function went on after it (it caught the
error); failed steps at the end of the journal, the ones that ended the run, run again.
"""

from __future__ import annotations

import builtins
import json
from typing import TYPE_CHECKING, Any

from aethergraph.errors import JournalMismatchError, OutputContractError, StepFailedError
from aethergraph.storage.records import NodeStatus

if TYPE_CHECKING:
    from aethergraph.storage.records import NodeRecord

__all__ = ["Journal", "check_result", "replayed_error"]

_LIVE_AGAIN = (NodeStatus.RUNNING, NodeStatus.WAITING, NodeStatus.CANCELLED, NodeStatus.SKIPPED)


class Journal:
    """The recorded steps of a run being resumed."""

    __slots__ = ("_by_id", "_called", "_next", "_top", "_top_ids", "graph_id", "run_id")

    def __init__(self, run_id: str, graph_id: str, records: list[NodeRecord]) -> None:
        self.run_id = run_id
        self.graph_id = graph_id
        self._by_id = {r.node_id: r for r in records}
        self._top = [r for r in records if "." not in r.node_id]
        self._top_ids = {r.node_id for r in self._top}
        self._called: set[str] = set()
        self._next = 0  # the first recorded body step not called yet is at or after this
        # Failures after the last success ended the run: those steps run again.
        last_success = max(
            (i for i, r in enumerate(records) if r.status is NodeStatus.SUCCEEDED), default=-1
        )
        for record in records[last_success + 1 :]:
            if record.status is NodeStatus.FAILED:
                self._by_id.pop(record.node_id, None)

    def __len__(self) -> int:
        return len(self._by_id)

    def step(self, node_id: str) -> NodeRecord | None:
        """The record to replay for the step ``node_id``, or ``None`` to run it live.

        Raises:
            JournalMismatchError: when the body calls a step the run never took while steps it
                did take are still to come (the function changed since the run started).
        """
        if "." not in node_id:
            self._called.add(node_id)
            if node_id not in self._top_ids:
                top = self._top
                while self._next < len(top) and top[self._next].node_id in self._called:
                    self._next += 1
                if self._next < len(top):
                    pending = top[self._next]
                    raise JournalMismatchError(
                        f"run {self.run_id} of graph {self.graph_id!r} cannot be resumed: it "
                        f"recorded step {pending.node_id!r} (tool {pending.tool!r}) next, and "
                        f"the function now calls {node_id!r} instead, so it changed since the "
                        "run started. Resume it with the code it started with, or start a new "
                        "run."
                    )
        record = self._by_id.get(node_id)
        if record is None or record.status in _LIVE_AGAIN:
            return None
        return record


def replayed_error(record: NodeRecord) -> BaseException:
    """The error a failed step raised, rebuilt from its record for the replay.

    Built-in exception types come back as themselves (so ``except ValueError`` replays alike);
    others as ``StepFailedError`` naming the original type.
    """
    text = record.error or "error"
    name, _, message = text.partition(": ")
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            return kind(message)
        except TypeError:
            pass
    return StepFailedError(
        f"step {record.node_id!r} (tool {record.tool!r}) failed when the run first ran it: {text}"
    )


def check_result(run_id: str, node_id: str, value: Any) -> None:
    """Refuse a step result that cannot be recorded (it must be JSON to be replayed)."""
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise OutputContractError(
            f"step {node_id!r} of run {run_id} returned {type(value).__name__}, which is not "
            "JSON; a step's result is recorded so that a resumed run gets it back: return JSON "
            "values (save large or binary data as artifacts and return their uri)"
        ) from exc
