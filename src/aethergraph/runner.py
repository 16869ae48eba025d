"""Running graphs: ``run`` (sync) and ``run_async``. Re-export only."""

from aethergraph.core.engine.run import run, run_async

__all__ = ["run", "run_async"]
