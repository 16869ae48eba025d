"""LLM profiles: what the environment and register_llm_client configure, and what they refuse."""

from __future__ import annotations

import pytest

from aethergraph.errors import ConfigurationError
from aethergraph.services.llm import LLMService, Profile
from aethergraph.services.llm.profiles import profile_from_env


def test_an_environment_profile_reads_every_field_case_insensitively() -> None:
    env = {
        "AETHERGRAPH_LLM__PROFILES__FAST__PROVIDER": "Anthropic",
        "aethergraph_llm__profiles__fast__model": "claude-x",
        "AETHERGRAPH_LLM__PROFILES__FAST__TIMEOUT": "12.5",
        "AETHERGRAPH_LLM__PROFILES__FAST__EMBED_MODEL": "e",
        "AETHERGRAPH_LLM__PROFILES__FAST__API_KEY": "sk-secret-value",
    }
    profile = profile_from_env("fast", env)
    assert (profile.provider, profile.model, profile.timeout) == ("anthropic", "claude-x", 12.5)
    assert profile.embed_model == "e"
    assert "sk-secret-value" not in repr(profile)


def test_the_default_profile_falls_back_to_the_providers_usual_key() -> None:
    env = {"AETHERGRAPH_LLM__DEFAULT__MODEL": "gpt-x", "OPENAI_API_KEY": "sk-usual"}
    profile = profile_from_env("default", env)
    assert profile.provider == "openai"
    assert profile.resolved_api_key(env) == "sk-usual"


def test_an_incomplete_profile_names_the_missing_variable() -> None:
    env = {"AETHERGRAPH_LLM__DEFAULT__PROVIDER": "openai"}
    with pytest.raises(ConfigurationError, match="has no MODEL: set AETHERGRAPH_LLM__DEFAULT__"):
        profile_from_env("default", env)


def test_a_bad_timeout_and_an_unknown_variable_are_refused() -> None:
    prefix = "AETHERGRAPH_LLM__DEFAULT__"
    with pytest.raises(ConfigurationError, match="TIMEOUT='soon' is not a number"):
        profile_from_env("default", {f"{prefix}MODEL": "m", f"{prefix}TIMEOUT": "soon"})
    with pytest.raises(ConfigurationError, match=r"unknown variable.*MODLE"):
        profile_from_env("default", {f"{prefix}MODEL": "m", f"{prefix}MODLE": "x"})


def test_an_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="use one of anthropic, azure"):
        Profile(name="x", provider="skynet", model="m")


async def test_a_hosted_provider_without_a_key_says_where_to_put_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    service = LLMService()
    service.register("cloud", provider="openai", model="m")
    with pytest.raises(ConfigurationError, match="AETHERGRAPH_LLM__PROFILES__CLOUD__API_KEY"):
        await service.bind(None)("cloud").chat("hi")


async def test_settings_the_sdk_refuses_are_a_configuration_error_naming_the_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    service = LLMService()
    service.register("az", provider="azure", model="m", base_url="https://x.invalid", api_key="k")
    with pytest.raises(ConfigurationError, match=r"profile 'az' \(azure\): the openai SDK refused"):
        await service.bind(None)("az").chat("hi")
