"""Older import path for ``NodeContext``; kept so code written for it runs unchanged."""

from aethergraph.core.engine.context import NodeContext

__all__ = ["NodeContext"]
