"""Older import path for ``run_async``; kept so code written for it runs unchanged."""

from aethergraph.core.engine.run import run, run_async

__all__ = ["run", "run_async"]
