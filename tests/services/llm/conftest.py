"""Fixtures: the local fake providers (one server for the session) and fresh LLM services."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from aethergraph.services.llm import LLMService
from tests.services.llm.fake_providers import GOOD_KEY, FakeProviders

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator


@pytest.fixture(scope="session")
def providers_server() -> Iterator[FakeProviders]:
    server = FakeProviders()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake(providers_server: FakeProviders) -> FakeProviders:
    """The fake providers, with an empty script and no recorded requests."""
    providers_server.reset()
    return providers_server


@pytest.fixture
async def service(fake: FakeProviders) -> AsyncIterator[LLMService]:
    """A fresh service with ``default`` on the fake OpenAI and ``claude`` on the fake Anthropic."""
    svc = LLMService()
    svc.register(
        "default",
        provider="openai",
        model="fake-gpt",
        base_url=fake.openai_url,
        api_key=GOOD_KEY,
        embed_model="fake-embed",
    )
    svc.register(
        "claude", provider="anthropic", model="fake-claude", base_url=fake.base, api_key=GOOD_KEY
    )
    try:
        yield svc
    finally:
        await svc.close()
