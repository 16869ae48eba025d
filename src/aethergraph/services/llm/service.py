"""``LLMService``: the built-in ``llm`` provider, shared by every run.

It holds the profiles and one SDK client per profile, created when the profile is first used (the
SDK is imported then) on the event loop that uses it, and closed by ``close()``. ``bind(ctx)``
gives a node its ``context.llm`` accessor. Test doubles are installed per task with
``override()``, like service overrides: other tasks keep the real profile.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from aethergraph.errors import ConfigurationError
from aethergraph.services.llm.backend import scrub
from aethergraph.services.llm.client import LLMClient
from aethergraph.services.llm.profiles import Profile, profile_from_env
from aethergraph.services.llm.scripted import ScriptedLLM
from aethergraph.services.runtime.registry import BuiltinService

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from aethergraph.core.engine.context import NodeContext
    from aethergraph.services.llm.backend import Backend

__all__ = [
    "Endpoint",
    "LLMAccessor",
    "LLMService",
    "llm_service",
    "register_llm_client",
    "scripted_llm",
]

logger = logging.getLogger(__name__)


class Endpoint(NamedTuple):
    """What a client needs to make a call: the backend and the profile's defaults."""

    profile: str
    provider: str
    model: str
    embed_model: str | None
    backend: Backend


class LLMAccessor:
    """``context.llm``: called with a profile name (default ``"default"``), its client."""

    __slots__ = ("_clients", "_ctx", "_service")

    def __init__(self, service: LLMService, ctx: NodeContext | None) -> None:
        self._service = service
        self._ctx = ctx
        self._clients: dict[str, LLMClient] = {}

    def __call__(self, profile: str = "default") -> LLMClient:
        """The client of ``profile`` (names are case-insensitive)."""
        client = self._clients.get(profile)
        if client is None:
            client = self._clients[profile] = LLMClient(self._service, self._ctx, profile.lower())
        return client


class LLMService(BuiltinService):
    """Profiles and their SDK clients; ``bind(ctx)`` is what ``context.llm`` calls."""

    def __init__(self) -> None:
        self._profiles: dict[str, Profile] = {}
        self._backends: dict[str, tuple[asyncio.AbstractEventLoop, Profile, Backend]] = {}
        self._retired: list[tuple[asyncio.AbstractEventLoop, Profile, Backend]] = []
        self._overrides: ContextVar[Mapping[str, Backend] | None] = ContextVar(
            f"aethergraph_llm_overrides_{id(self)}", default=None
        )

    def bind(self, ctx: NodeContext | None) -> LLMAccessor:
        """The accessor a node uses: ``bind(ctx)(profile)`` is its client for ``profile``."""
        return LLMAccessor(self, ctx)

    def register(
        self,
        profile: str,
        *,
        provider: str,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        embed_model: str | None = None,
    ) -> LLMClient:
        """Configure ``profile`` (replacing an earlier one) and return its client.

        The client returned here records nothing (there is no run); inside a node use
        ``context.llm(profile)``, whose calls are recorded with the run.
        """
        name = profile.lower()
        self._profiles[name] = Profile(
            name=name,
            provider=provider.lower(),
            model=model,
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            embed_model=embed_model,
        )
        # The old client is closed by close(); the next call builds one for the new profile.
        self._retire(name)
        return LLMClient(self, None, name)

    def unregister(self, profile: str) -> None:
        """Forget a registered profile (the environment may still configure it)."""
        name = profile.lower()
        self._profiles.pop(name, None)
        self._retire(name)

    def profile(self, name: str) -> Profile:
        """The profile ``name``: registered, else from the environment.

        Raises:
            ConfigurationError: naming the variables or the call that would configure it.
        """
        found = self._profiles.get(name)
        return found if found is not None else profile_from_env(name)

    def profiles(self) -> list[str]:
        """Names of the registered profiles, sorted."""
        return sorted(self._profiles)

    @contextmanager
    def override(self, profile: str, backend: Backend) -> Iterator[Backend]:
        """Serve ``profile`` from ``backend`` in this task and the runs it starts, in the block."""
        current = dict(self._overrides.get() or {})
        current[profile.lower()] = backend
        token = self._overrides.set(MappingProxyType(current))
        try:
            yield backend
        finally:
            self._overrides.reset(token)

    def endpoint(self, name: str) -> Endpoint:
        """The backend and defaults of profile ``name`` for the running loop."""
        overrides = self._overrides.get()
        if overrides is not None and name in overrides:
            backend = overrides[name]
            model = getattr(backend, "model", "scripted")
            embed_model = getattr(backend, "embed_model", None)
            return Endpoint(name, backend.provider, model, embed_model, backend)
        loop = asyncio.get_running_loop()
        held = self._backends.get(name)
        if held is not None and held[0] is loop:
            _, profile, backend = held
        else:
            profile = self.profile(name)
            backend = _make_backend(profile)
            self._backends[name] = (loop, profile, backend)
        return Endpoint(name, profile.provider, profile.model, profile.embed_model, backend)

    def _retire(self, name: str) -> None:
        held = self._backends.pop(name, None)
        if held is not None:
            self._retired.append(held)

    async def start(self) -> None:
        """Forget clients of loops that have ended; clients are made on first use, not here.

        Defined so that the registry's lifecycle also calls ``close()`` on this loop.
        """
        for name, (loop, _profile, _backend) in list(self._backends.items()):
            if loop.is_closed():
                del self._backends[name]
        self._retired = [held for held in self._retired if not held[0].is_closed()]

    async def close(self) -> None:
        """Close every SDK client opened on this loop (others died with their loop)."""
        loop = asyncio.get_running_loop()
        held = list(self._backends.values()) + self._retired
        self._backends.clear()
        self._retired = []
        for owner, profile, backend in held:
            if owner is not loop:
                continue
            try:
                await backend.close()
            except Exception:  # a failing close must not stop the others
                logger.exception("closing the client of LLM profile %r failed", profile.name)


def _make_backend(profile: Profile) -> Backend:
    try:
        __import__(profile.sdk)
    except ImportError as err:
        raise ConfigurationError(
            f"LLM profile {profile.name!r} needs the {profile.sdk!r} package, which is not "
            "installed; install it with: pip install 'aethergraph[llm]'"
        ) from err
    from aethergraph.services.llm.anthropic_backend import AnthropicBackend
    from aethergraph.services.llm.openai_backend import OpenAIBackend

    make = AnthropicBackend if profile.sdk == "anthropic" else OpenAIBackend
    try:
        return make(profile)
    except ConfigurationError:
        raise
    except Exception as err:  # the SDK refused the settings: say which profile
        raise ConfigurationError(
            f"LLM profile {profile.name!r} ({profile.provider}): the {profile.sdk} SDK refused "
            f"its settings: {scrub(str(err), profile)}"
        ) from err


llm_service = LLMService()
"""The process-wide provider: ``context.llm(profile)`` is ``llm_service.bind(ctx)(profile)``."""


def register_llm_client(
    profile: str,
    *,
    provider: str,
    model: str,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    embed_model: str | None = None,
) -> LLMClient:
    """Configure LLM profile ``profile`` for every run (a later call replaces it).

    Args:
        profile: The profile name (``"default"`` is what ``context.llm()`` uses).
        provider: ``"openai"``, ``"anthropic"``, or an OpenAI-compatible provider (``"azure"``,
            ``"openrouter"``, ``"deepseek"``, ``"gemini"``, ``"lmstudio"``, ``"ollama"``,
            ``"vllm"``).
        model: The default chat model.
        base_url: The endpoint (any OpenAI-compatible server), or the provider's default.
        api_key: The key; defaults to ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``.
        timeout: Seconds per request attempt.
        embed_model: The default model for ``embed``.

    Returns:
        A client for the profile whose calls are not recorded with any run (for scripts).
    """
    return llm_service.register(
        profile,
        provider=provider,
        model=model,
        base_url=base_url,
        api_key=api_key,
        timeout=timeout,
        embed_model=embed_model,
    )


@contextmanager
def scripted_llm(
    script: Iterable[Any] | Callable[[list[dict[str, Any]]], Any],
    *,
    profile: str = "default",
    model: str = "scripted",
) -> Iterator[ScriptedLLM]:
    """Answer LLM profile ``profile`` from ``script`` in this task and the runs it starts.

    ``script`` is a list of replies (texts; dicts, answered as JSON; ``{"tool_calls": [...]}``
    to call tools; or functions of the messages), or one function of the messages.
    """
    scripted = ScriptedLLM(script, model=model)
    with llm_service.override(profile, scripted):
        yield scripted
