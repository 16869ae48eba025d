"""The public surface is declared and locked: names, import paths, and what importing costs."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import aethergraph
from aethergraph.core.engine.tool import Tool

EXPECTED_ALL = [
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


def test_top_level_all_is_the_locked_sorted_list() -> None:
    assert aethergraph.__all__ == EXPECTED_ALL
    assert aethergraph.__all__ == sorted(aethergraph.__all__)


def test_every_name_in_all_is_importable_from_the_package() -> None:
    for name in aethergraph.__all__:
        assert hasattr(aethergraph, name), name


def test_version_is_a_string() -> None:
    assert isinstance(aethergraph.__version__, str)
    assert aethergraph.__version__


# (module, name) pairs that must all name the object of the canonical path on the right.
SAME_OBJECTS = [
    # SPEC section 2: the top-level package
    ("aethergraph", "graph_fn", "aethergraph.core.engine.graph_fn", "graph_fn"),
    ("aethergraph", "tool", "aethergraph.core.engine.tool", "tool"),
    ("aethergraph", "graphify", "aethergraph.core.engine.graphify", "graphify"),
    ("aethergraph", "NodeContext", "aethergraph.core.engine.context", "NodeContext"),
    ("aethergraph", "Service", "aethergraph.services.runtime.base", "Service"),
    ("aethergraph", "run", "aethergraph.core.engine.run", "run"),
    ("aethergraph", "run_async", "aethergraph.core.engine.run", "run_async"),
    ("aethergraph", "start_server", "aethergraph.server.lifecycle", "start_server"),
    ("aethergraph", "stop_server", "aethergraph.server.lifecycle", "stop_server"),
    ("aethergraph", "start_server_async", "aethergraph.server.lifecycle", "start_server_async"),
    ("aethergraph", "stop_server_async", "aethergraph.server.lifecycle", "stop_server_async"),
    (
        "aethergraph",
        "register_context_service",
        "aethergraph.services.runtime.registry",
        "register_context_service",
    ),
    # aethergraph.runner
    ("aethergraph.runner", "run", "aethergraph", "run"),
    ("aethergraph.runner", "run_async", "aethergraph", "run_async"),
    # aethergraph.services.runtime.base
    ("aethergraph.services.runtime.base", "Service", "aethergraph", "Service"),
    ("aethergraph.services.runtime.base", "BaseContextService", "aethergraph", "Service"),
    # aethergraph.runtime: service and runtime management
    *[
        ("aethergraph.runtime", name, "aethergraph.services.runtime.registry", name)
        for name in (
            "register_context_service",
            "unregister_context_service",
            "override_context_service",
            "get_ext_context_service",
            "list_ext_context_services",
            "close_services",
        )
    ],
    (
        "aethergraph.runtime",
        "set_default_channel",
        "aethergraph.services.channel",
        "set_default_channel",
    ),
    (
        "aethergraph.runtime",
        "set_channel_alias",
        "aethergraph.services.channel",
        "set_channel_alias",
    ),
    ("aethergraph.runtime", "register_channel", "aethergraph.services.channel", "register_channel"),
    *[
        ("aethergraph.runtime", name, "aethergraph.core.engine.runs", name)
        for name in (
            "list_runs",
            "list_runs_async",
            "get_run",
            "get_run_async",
            "cancel_run",
            "cancel_run_async",
            "reply",
            "reply_async",
        )
    ],
    ("aethergraph.runtime", "RunStatus", "aethergraph.storage.records", "RunStatus"),
    ("aethergraph.runtime", "NodeStatus", "aethergraph.storage.records", "NodeStatus"),
    # aethergraph.services.runtime.registry: register_context_service and friends
    *[
        ("aethergraph.services.runtime.registry", name, "aethergraph.runtime", name)
        for name in (
            "register_context_service",
            "get_ext_context_service",
            "list_ext_context_services",
            "override_context_service",
            "unregister_context_service",
            "close_services",
        )
    ],
    # The older, documented import paths
    ("aethergraph.core.runtime.base_service", "Service", "aethergraph", "Service"),
    ("aethergraph.core.runtime.base_service", "BaseContextService", "aethergraph", "Service"),
    ("aethergraph.core.runtime.node_context", "NodeContext", "aethergraph", "NodeContext"),
    (
        "aethergraph.core.runtime.runtime_services",
        "register_context_service",
        "aethergraph",
        "register_context_service",
    ),
    ("aethergraph.core.runtime.graph_runner", "run_async", "aethergraph", "run_async"),
    ("aethergraph", "Button", "aethergraph.services.channel", "Button"),
    *[
        ("aethergraph.core.tools", name, "aethergraph.tools", name)
        for name in ("send_text", "ask_text", "wait_text", "ask_approval", "ask_choice")
    ],
    ("aethergraph.server.start", "start", "aethergraph", "start_server"),
    ("aethergraph.server.start", "stop", "aethergraph", "stop_server"),
    ("aethergraph.server.start", "start_server", "aethergraph", "start_server"),
    ("aethergraph.server.start", "stop_server", "aethergraph", "stop_server"),
    # The test kit re-exports the scoped override
    (
        "aethergraph.testing",
        "override_context_service",
        "aethergraph.runtime",
        "override_context_service",
    ),
]


@pytest.mark.parametrize(
    ("module", "name", "canonical_module", "canonical_name"),
    SAME_OBJECTS,
    ids=[f"{m}.{n}" for m, n, _, _ in SAME_OBJECTS],
)
def test_documented_import_path_names_the_same_object(
    module: str, name: str, canonical_module: str, canonical_name: str
) -> None:
    got = getattr(importlib.import_module(module), name)
    expected = getattr(importlib.import_module(canonical_module), canonical_name)
    assert got is expected


def test_base_context_service_is_an_alias_of_service() -> None:
    from aethergraph.services.runtime.base import BaseContextService, Service

    assert BaseContextService is Service


@pytest.mark.parametrize(
    "module",
    ["aethergraph.runner", "aethergraph.runtime", "aethergraph.testing", "aethergraph.tools"],
)
def test_documented_modules_declare_all_and_export_what_they_declare(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__all__ == sorted(mod.__all__)
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"


@pytest.mark.parametrize("name", ["send_text", "ask_text", "wait_text", "ask_approval"])
def test_builtin_channel_tools_are_ordinary_tools(name: str) -> None:
    import aethergraph.tools

    assert isinstance(getattr(aethergraph.tools, name), Tool)


def test_channel_tools_declare_the_documented_outputs() -> None:
    from aethergraph.tools import ask_approval, ask_text, wait_text

    assert ask_text.outputs == ("text",)
    assert wait_text.outputs == ("text",)
    assert set(ask_approval.outputs or ()) == {"approved", "choice"}


def test_import_aethergraph_does_not_import_web_frameworks() -> None:
    code = (
        "import json, sys\n"
        "import aethergraph, aethergraph.runtime, aethergraph.runner, aethergraph.tools\n"
        "print(json.dumps(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'httpx') "
        "if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert json.loads(done.stdout) == []
