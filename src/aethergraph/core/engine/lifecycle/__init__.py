"""The run lifecycle: the only code that creates run records and changes run and node status.

Both kinds of run — a graph_fn (or tool) run and a task-graph run — are an ``Execution`` started
by ``start_run``, which does for both what a run needs: the prior-run checks for a given run id,
the claim that makes one process the run's owner, the record written before the run is handed to
the executor, the timeout, cancellation, and the outcome. Every status change goes through
``RunState.transition`` (or the node methods), which checks the transition table, stores the
record and publishes an event on the run's stream.
"""

from aethergraph.core.engine.lifecycle.admission import (
    admit,
    execute,
    handed_over,
    mark_stored,
    name_child_run,
    run_admitted,
    start_run,
    state_of_recorded_run,
)
from aethergraph.core.engine.lifecycle.state import (
    FINAL_STATUSES,
    ROOT_NODE,
    Execution,
    RunState,
    Taken,
)

__all__ = [
    "FINAL_STATUSES",
    "ROOT_NODE",
    "Execution",
    "RunState",
    "Taken",
    "admit",
    "execute",
    "handed_over",
    "mark_stored",
    "name_child_run",
    "run_admitted",
    "start_run",
    "state_of_recorded_run",
]
