"""The built-in ``llm`` service: ``context.llm(profile)`` over the providers' official SDKs.

``llm_service`` is the one process-wide provider the engine registers as the built-in ``llm``;
``register_llm_client`` configures its profiles. Importing this package does not import
``openai`` or ``anthropic``: a profile imports its SDK on first use.
"""

from aethergraph.services.llm.client import LLMClient, usage_totals
from aethergraph.services.llm.profiles import Profile
from aethergraph.services.llm.scripted import ScriptedLLM
from aethergraph.services.llm.service import (
    LLMAccessor,
    LLMService,
    llm_service,
    register_llm_client,
    scripted_llm,
)

__all__ = [
    "LLMAccessor",
    "LLMClient",
    "LLMService",
    "Profile",
    "ScriptedLLM",
    "llm_service",
    "register_llm_client",
    "scripted_llm",
    "usage_totals",
]
