"""The real ``openai`` and ``anthropic`` SDKs against the local fake providers over HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pydantic import BaseModel

from aethergraph.errors import ConfigurationError, LLMError
from tests.services.llm.fake_providers import GOOD_KEY

if TYPE_CHECKING:
    from aethergraph.services.llm import LLMService
    from tests.services.llm.fake_providers import FakeProviders

PROFILES = ["default", "claude"]


class City(BaseModel):
    name: str
    population: int


@pytest.mark.parametrize("profile", PROFILES)
async def test_chat_returns_the_text_and_the_usage(service: LLMService, profile: str) -> None:
    text, usage = await service.bind(None)(profile).chat(
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]
    )
    assert text == "echo: hello there"
    assert usage["prompt_tokens"] == 4
    assert usage["completion_tokens"] == 3
    assert usage["total_tokens"] == 7
    assert usage["model"] == ("fake-gpt" if profile == "default" else "fake-claude")
    assert usage["latency_ms"] > 0


@pytest.mark.parametrize("profile", PROFILES)
async def test_a_string_prompt_is_one_user_message(
    service: LLMService, fake: FakeProviders, profile: str
) -> None:
    text, _ = await service.bind(None)(profile).chat("just this", model="other-model")
    assert text == "echo: just this"
    sent = fake.requests[-1]
    assert sent["model"] == "other-model"
    assert sent["messages"][-1]["role"] == "user"


@pytest.mark.parametrize("profile", PROFILES)
async def test_chat_stream_hands_each_delta_and_returns_text_and_usage(
    service: LLMService, profile: str
) -> None:
    deltas: list[str] = []
    text, usage = await service.bind(None)(profile).chat_stream(
        "stream these four words", on_delta=deltas.append
    )
    assert text == "echo: stream these four words"
    assert "".join(deltas) == text
    assert len(deltas) == 5
    assert usage["completion_tokens"] == 5
    assert usage["prompt_tokens"] == 4


async def test_stream_yields_deltas_and_async_on_delta_is_awaited(service: LLMService) -> None:
    llm = service.bind(None)()
    assert [d async for d in llm.stream("a b")] == ["echo:", " a", " b"]
    seen: list[str] = []

    async def on_delta(delta: str) -> None:
        seen.append(delta)

    await llm.chat_stream("c", on_delta=on_delta)
    assert seen == ["echo:", " c"]


async def test_embed_returns_one_vector_per_text_in_order(
    service: LLMService, fake: FakeProviders
) -> None:
    vectors = await service.bind(None)().embed(["one", "three"])
    assert vectors == [[3.0, 0.0, 0.5], [5.0, 1.0, 0.5]]
    assert fake.requests[-1]["model"] == "fake-embed"


async def test_embed_on_anthropic_says_to_use_an_openai_compatible_profile(
    service: LLMService,
) -> None:
    with pytest.raises(LLMError, match="no embeddings API"):
        await service.bind(None)("claude").embed(["x"], model="any")


async def test_raw_reaches_the_profile_base_url_with_its_auth(
    service: LLMService, fake: FakeProviders
) -> None:
    listed = await service.bind(None)().raw(method="GET", path="/models")
    assert listed["data"][0]["id"] == "fake-model"
    assert fake.headers[-1]["authorization"] == f"Bearer {GOOD_KEY}"


@pytest.mark.parametrize("profile", PROFILES)
async def test_output_schema_returns_the_validated_model(
    service: LLMService, fake: FakeProviders, profile: str
) -> None:
    fake.script.append({"text": '{"name": "Oslo", "population": 700000}'})
    city, usage = await service.bind(None)(profile).chat("Oslo?", output_schema=City)
    assert city == City(name="Oslo", population=700000)
    assert usage["total_tokens"] > 0
    if profile == "default":
        assert fake.requests[-1]["response_format"]["type"] == "json_schema"
    else:
        assert "JSON schema" in fake.requests[-1]["system"]


async def test_an_invalid_structured_reply_is_retried_once_with_the_error(
    service: LLMService, fake: FakeProviders
) -> None:
    fake.script.extend(
        [{"text": '{"name": "Oslo"}'}, {"text": '{"name": "Oslo", "population": 1}'}]
    )
    schema = {"type": "object", "required": ["name", "population"]}
    obj, _ = await service.bind(None)().chat("Oslo?", output_schema=schema)
    assert obj == {"name": "Oslo", "population": 1}
    retry = fake.requests[-1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": '{"name": "Oslo"}'}
    assert "population" in retry[-1]["content"]


async def test_a_structured_reply_invalid_twice_raises_with_the_reply(
    service: LLMService, fake: FakeProviders
) -> None:
    fake.script.extend([{"text": "not json"}, {"text": "still not json"}])
    with pytest.raises(LLMError, match="still not json") as caught:
        await service.bind(None)().chat("Oslo?", output_schema=City)
    assert caught.value.profile == "default"


@pytest.mark.parametrize("profile", PROFILES)
async def test_a_429_is_retried_by_the_sdk_then_succeeds(
    service: LLMService, fake: FakeProviders, profile: str
) -> None:
    fake.script.append({"status": 429})
    text, _ = await service.bind(None)(profile).chat("again")
    assert text == "echo: again"
    assert len(fake.requests) == 2


@pytest.mark.parametrize("profile", PROFILES)
async def test_a_401_is_a_clear_error_without_the_key(
    service: LLMService, fake: FakeProviders, profile: str
) -> None:
    key = "sk-wrong-SECRET-987654321"
    provider = "openai" if profile == "default" else "anthropic"
    base = fake.openai_url if profile == "default" else fake.base
    service.register(profile, provider=provider, model="m", base_url=base, api_key=key)
    with pytest.raises(LLMError) as caught:
        await service.bind(None)(profile).chat("hi")
    message = str(caught.value)
    assert key not in message
    assert "SECRET" not in message
    assert "HTTP 401" in message
    assert f"profile {profile!r}" in message
    assert "API key" in message
    assert (caught.value.status, caught.value.provider) == (401, provider)


async def test_a_500_after_the_sdk_retries_is_an_llm_error_with_the_status(
    service: LLMService, fake: FakeProviders
) -> None:
    fake.script.extend([{"status": 500}] * 3)
    with pytest.raises(LLMError, match="HTTP 500: scripted 500") as caught:
        await service.bind(None)().chat("hi")
    assert caught.value.status == 500


async def test_a_profile_without_configuration_names_the_variables_and_the_call() -> None:
    from aethergraph.services.llm import LLMService

    with pytest.raises(ConfigurationError) as caught:
        await LLMService().bind(None)("Fast").chat("hi")
    message = str(caught.value)
    assert "AETHERGRAPH_LLM__PROFILES__FAST__MODEL" in message
    assert "register_llm_client('fast'" in message
