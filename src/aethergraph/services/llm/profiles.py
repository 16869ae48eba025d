"""LLM profiles: which provider, model, endpoint and key a ``context.llm(name)`` call uses.

A profile comes from ``register_llm_client`` or from the environment::

    AETHERGRAPH_LLM__DEFAULT__{PROVIDER,MODEL,BASE_URL,API_KEY,TIMEOUT,EMBED_MODEL}
    AETHERGRAPH_LLM__PROFILES__<NAME>__{PROVIDER,MODEL,...}

Names are case-insensitive. ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` are the fallback keys. The
key is kept out of ``repr`` so it cannot reach a log, an event or an error message.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aethergraph.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["OPENAI_COMPATIBLE", "PROVIDERS", "Profile", "env_prefix", "profile_from_env"]

OPENAI_COMPATIBLE: dict[str, str | None] = {
    "openai": None,
    "azure": None,
    "openrouter": "https://openrouter.ai/api/v1",
    "deepseek": "https://api.deepseek.com",
    "gemini": "https://generativelanguage.googleapis.com/v1beta/openai/",
    "lmstudio": "http://localhost:1234/v1",
    "ollama": "http://localhost:11434/v1",
    "vllm": None,
}
"""Providers served by the ``openai`` SDK, with their default base URL (``None``: the SDK's)."""

PROVIDERS = frozenset({*OPENAI_COMPATIBLE, "anthropic"})
_FIELDS = ("PROVIDER", "MODEL", "BASE_URL", "API_KEY", "TIMEOUT", "EMBED_MODEL")
_KEY_FALLBACK = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


@dataclass(frozen=True)
class Profile:
    """One configured model endpoint.

    Attributes:
        name: The profile name (lower case).
        provider: ``"openai"``, ``"anthropic"`` or an OpenAI-compatible provider name.
        model: The default chat model.
        base_url: The endpoint, or ``None`` for the provider's default.
        api_key: The key (never shown by ``repr``).
        timeout: Seconds per request attempt, or ``None`` for the SDK's default.
        embed_model: The default model for ``embed``.
        source: How the profile was configured, for messages.
    """

    name: str
    provider: str
    model: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout: float | None = None
    embed_model: str | None = None
    source: str = "register_llm_client"

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ConfigurationError(
                f"LLM profile {self.name!r} ({self.source}) names provider {self.provider!r}; "
                f"use one of {', '.join(sorted(PROVIDERS))}"
            )
        if not self.model:
            raise ConfigurationError(
                f"LLM profile {self.name!r} ({self.source}) has no model; set one "
                f"({_how_to_configure(self.name)})"
            )
        if self.timeout is not None and not (math.isfinite(self.timeout) and self.timeout > 0):
            raise ConfigurationError(
                f"LLM profile {self.name!r} ({self.source}) has timeout {self.timeout!r}; "
                "give a number of seconds > 0"
            )

    @property
    def sdk(self) -> str:
        """The SDK that serves the profile: ``"openai"`` or ``"anthropic"``."""
        return "anthropic" if self.provider == "anthropic" else "openai"

    def resolved_base_url(self) -> str | None:
        """The base URL to give the SDK (a provider's default when none is set)."""
        return self.base_url or OPENAI_COMPATIBLE.get(self.provider)

    def resolved_api_key(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The key: the profile's own, else the provider's usual variable."""
        if self.api_key:
            return self.api_key
        env = os.environ if environ is None else environ
        fallback = _KEY_FALLBACK.get(self.sdk)
        return env.get(fallback) if fallback else None


def env_prefix(name: str) -> str:
    """The environment variable prefix of profile ``name``."""
    if name == "default":
        return "AETHERGRAPH_LLM__DEFAULT__"
    return f"AETHERGRAPH_LLM__PROFILES__{name.upper()}__"


def _how_to_configure(name: str) -> str:
    prefix = env_prefix(name)
    return (
        f"set {prefix}PROVIDER and {prefix}MODEL (and {prefix}API_KEY or BASE_URL as needed), "
        f"or call aethergraph.runtime.register_llm_client({name!r}, provider=..., model=...)"
    )


def _env_values(name: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The profile's variables, matched case-insensitively."""
    prefix = env_prefix(name)
    found: dict[str, str] = {}
    for key, value in environ.items():
        upper = key.upper()
        if upper.startswith(prefix) and value != "":
            found[upper[len(prefix) :]] = value
    return found


def profile_from_env(name: str, environ: Mapping[str, str] | None = None) -> Profile:
    """The profile ``name`` as the environment configures it.

    Raises:
        ConfigurationError: when the environment does not configure the profile completely; the
            message names the variables (or the call) that would.
    """
    env = os.environ if environ is None else environ
    values = _env_values(name, env)
    if "MODEL" not in values:
        missing = "is not configured" if not values else "has no MODEL"
        raise ConfigurationError(f"LLM profile {name!r} {missing}: {_how_to_configure(name)}")
    timeout: float | None = None
    if "TIMEOUT" in values:
        try:
            timeout = float(values["TIMEOUT"])
        except ValueError:
            raise ConfigurationError(
                f"LLM profile {name!r}: {env_prefix(name)}TIMEOUT={values['TIMEOUT']!r} is not a "
                "number of seconds"
            ) from None
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ConfigurationError(
            f"LLM profile {name!r}: unknown variable(s) "
            f"{', '.join(env_prefix(name) + u for u in unknown)}; known: {', '.join(_FIELDS)}"
        )
    return Profile(
        name=name,
        provider=values.get("PROVIDER", "openai").lower(),
        model=values["MODEL"],
        base_url=values.get("BASE_URL"),
        api_key=values.get("API_KEY"),
        timeout=timeout,
        embed_model=values.get("EMBED_MODEL"),
        source=f"environment {env_prefix(name)}*",
    )
