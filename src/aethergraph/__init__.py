"""AetherGraph: a Python-first runtime for agentic and scientific workflows.

Write ``@graph_fn`` agents and ``@tool`` operations, or explicit ``@graphify`` task graphs; every
node gets a ``context`` with logging, kv, memory, artifacts, channels and your own services.
"""

import logging as _logging

import aethergraph.core.engine.runner_service  # noqa: F401 - installs the runner built-in
from aethergraph.core.engine.context import NodeContext
from aethergraph.core.engine.graph_fn import graph_fn
from aethergraph.core.engine.graphify import graphify
from aethergraph.core.engine.retry import RetryPolicy
from aethergraph.core.engine.run import run, run_async
from aethergraph.core.engine.tool import tool
from aethergraph.server.lifecycle import (
    start_server,
    start_server_async,
    stop_server,
    stop_server_async,
)
from aethergraph.services.channel import Button
from aethergraph.services.runtime.base import Service
from aethergraph.services.runtime.registry import register_context_service

__all__ = [
    "Button",
    "NodeContext",
    "RetryPolicy",
    "Service",
    "__version__",
    "graph_fn",
    "graphify",
    "register_context_service",
    "run",
    "run_async",
    "start_server",
    "start_server_async",
    "stop_server",
    "stop_server_async",
    "tool",
]

__version__ = "0.1.0"

_logging.getLogger("aethergraph").addHandler(_logging.NullHandler())
