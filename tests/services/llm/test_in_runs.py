"""``context.llm()`` in runs: the tool loop runs child nodes; calls are recorded with the run."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import NodeContext, graph_fn, tool
from aethergraph.runtime import list_nodes_async, list_run_events_async
from aethergraph.services.llm import LLMService, llm_service, register_llm_client, usage_totals
from aethergraph.testing import scripted_llm as scripted
from tests.services.llm.fake_providers import GOOD_KEY

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.services.llm.fake_providers import FakeProviders

pytestmark = pytest.mark.usefixtures("workspace")


@tool(outputs=["sum"])
def add(a: int, b: int) -> dict[str, int]:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return {"sum": a + b}


@tool
async def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@pytest.fixture
async def profiles(fake: FakeProviders) -> AsyncIterator[FakeProviders]:
    """``default`` (OpenAI) and ``claude`` (Anthropic) on the fake providers, for every run."""
    register_llm_client(
        "default", provider="openai", model="fake-gpt", base_url=fake.openai_url, api_key=GOOD_KEY
    )
    register_llm_client(
        "claude", provider="anthropic", model="fake-claude", base_url=fake.base, api_key=GOOD_KEY
    )
    try:
        yield fake
    finally:
        llm_service.unregister("default")
        llm_service.unregister("claude")
        await llm_service.close()  # the clients made on this test's event loop


@graph_fn
async def agent(question: str, profile: str, *, context: NodeContext) -> dict[str, Any]:
    text, usage = await context.llm(profile).chat(question, tools=[add, multiply])
    return {"text": text, "usage": usage, "run_id": context.run_id}


@pytest.mark.parametrize("profile", ["default", "claude"])
async def test_the_tool_loop_runs_each_call_as_a_child_node_and_answers(
    profiles: FakeProviders, profile: str
) -> None:
    profiles.script.append(
        {"tool_calls": [("add", {"a": 2, "b": 3}), ("multiply", {"a": 4, "b": 5})]}
    )
    out = await agent("2+3 and 4*5?", profile)
    nodes = await list_nodes_async(out["run_id"])
    # The model's reply is a journaled step; the tools it called are nodes inside it.
    children = {n.node_id: n for n in nodes if n.node_id != "root"}
    assert sorted(children) == ["llm_chat_1", "llm_chat_1.add_1", "llm_chat_1.multiply_1"]
    assert children["llm_chat_1.add_1"].inputs == {"a": 2, "b": 3}
    assert children["llm_chat_1.add_1"].outputs == {"sum": 5}
    assert children["llm_chat_1.multiply_1"].outputs == {"result": 20}
    second = profiles.requests[-1]
    if profile == "default":
        results = [m["content"] for m in second["messages"] if m["role"] == "tool"]
        assert results == ['{"sum": 5}', "20"]
        offered = profiles.requests[0]["tools"]
        assert offered[0]["function"]["parameters"]["properties"]["a"] == {
            "type": "integer",
            "description": "The first number.",
        }
    else:
        blocks = second["messages"][-1]["content"]
        assert [b["content"] for b in blocks] == ['{"sum": 5}', "20"]
    assert out["text"].startswith("echo:")
    assert out["usage"]["total_tokens"] > 0


async def test_every_call_is_recorded_with_the_run_and_totals_are_readable(
    profiles: FakeProviders,
) -> None:
    profiles.script.append({"tool_calls": [("add", {"a": 1, "b": 1})]})
    out = await agent("1+1?", "default")
    events = [e for e in await list_run_events_async(out["run_id"]) if e.type == "llm_call"]
    assert len(events) == 2
    first = events[0].data
    assert first["node_id"] == "root"
    assert (first["profile"], first["provider"], first["model"]) == (
        "default",
        "openai",
        "fake-gpt",
    )
    assert first["finish_reason"] == "tool_calls"
    assert first["tool_calls"] == ["add"]
    assert first["messages"] == [{"role": "user", "content": "1+1?"}]
    assert events[1].data["reply"] == out["text"]
    totals = usage_totals(await list_run_events_async(out["run_id"]))
    assert totals["total_tokens"] == out["usage"]["total_tokens"]
    assert totals["calls"] == 2
    assert GOOD_KEY not in repr([e.data for e in events])


async def test_capture_off_keeps_messages_and_replies_out_of_the_events(
    profiles: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AETHERGRAPH_LLM__CAPTURE", "off")
    out = await agent("secret question", "default")
    (event,) = [e for e in await list_run_events_async(out["run_id"]) if e.type == "llm_call"]
    assert "messages" not in event.data
    assert "reply" not in event.data
    assert event.data["total_tokens"] > 0


async def test_a_failed_call_is_recorded_with_its_error(profiles: FakeProviders) -> None:
    register_llm_client(
        "default",
        provider="openai",
        model="m",
        base_url=profiles.openai_url,
        api_key="sk-bad-KEY-42424242",
    )

    @graph_fn
    async def failing(*, context: NodeContext) -> dict[str, Any]:
        try:
            await context.llm().chat("hi")
        except Exception as err:
            return {"error": str(err), "run_id": context.run_id}
        return {}

    out = await failing()
    (event,) = [e for e in await list_run_events_async(out["run_id"]) if e.type == "llm_call"]
    assert "HTTP 401" in event.data["error"]
    assert "KEY-42424242" not in repr(event.data)


async def test_named_profiles_come_from_the_environment(
    fake: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AETHERGRAPH_LLM__PROFILES__FAST__PROVIDER", "openai")
    monkeypatch.setenv("aethergraph_llm__profiles__fast__model", "env-model")
    monkeypatch.setenv("AETHERGRAPH_LLM__PROFILES__FAST__BASE_URL", fake.openai_url)
    monkeypatch.setenv("OPENAI_API_KEY", GOOD_KEY)
    service = LLMService()
    try:
        text, usage = await service.bind(None)("Fast").chat("hi")
    finally:
        await service.close()
    assert text == "echo: hi"
    assert usage["model"] == "env-model"


async def test_register_llm_client_replaces_the_profile(profiles: FakeProviders) -> None:
    client = register_llm_client(
        "default", provider="openai", model="second", base_url=profiles.openai_url, api_key=GOOD_KEY
    )
    _, usage = await client.chat("hi")
    assert usage["model"] == "second"


async def test_scripted_llm_answers_a_profile_offline_in_this_task() -> None:
    @graph_fn
    async def summarize(*, context: NodeContext) -> dict[str, Any]:
        text, _ = await context.llm("offline").chat("summarize this")
        return {"text": text}

    with scripted(["a summary"], profile="offline") as llm:
        assert (await summarize())["text"] == "a summary"
    assert llm.prompts == [[{"role": "user", "content": "summarize this"}]]


async def test_scripted_llm_drives_the_tool_loop() -> None:
    @graph_fn
    async def calc(*, context: NodeContext) -> dict[str, Any]:
        text, _ = await context.llm().chat("2+2", tools=[add])
        return {"text": text}

    script = [
        {"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 2}}]},
        lambda m: m[-1]["content"],
    ]
    with scripted(script):
        assert (await calc())["text"] == '{"sum": 4}'


def test_importing_aethergraph_does_not_import_the_sdks() -> None:
    code = (
        "import sys, aethergraph, aethergraph.runtime, aethergraph.testing, "
        "aethergraph.services.llm, aethergraph.services.mcp\n"
        "print(sorted(m for m in ('openai', 'anthropic', 'mcp') if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
