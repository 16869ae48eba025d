"""The published API's ``aethergraph.server.start`` module: ``start``/``stop`` name the same calls.

Kept so code written for it runs unchanged; ``aethergraph.start_server`` is the documented name.
"""

from aethergraph.server.lifecycle import (
    start_server,
    start_server_async,
    stop_server,
    stop_server_async,
)

start = start_server
stop = stop_server
start_async = start_server_async
stop_async = stop_server_async

__all__ = [
    "start",
    "start_async",
    "start_server",
    "start_server_async",
    "stop",
    "stop_async",
    "stop_server",
    "stop_server_async",
]
