"""The whole AetherGraph exception tree.

Setup mistakes subclass ``ValueError``/``TypeError``, run failures ``RuntimeError`` and an unknown
service ``AttributeError``, so callers can catch either the AetherGraph class or the builtin::

    AetherGraphError
    ├── ConfigurationError (ValueError)        bad option, bad name, bad workspace
    │   ├── GraphDefinitionError               invalid graph_fn / tool / graphify declaration
    │   ├── InputValidationError               inputs that do not match a graph's parameters
    │   └── JournalMismatchError               a resumed graph_fn calls other steps than before
    ├── ServiceNotFoundError (AttributeError)  context.<name>() for a name nobody registered
    ├── ServiceError (RuntimeError)            a custom service failed to start
    ├── RunError (RuntimeError)                a run could not complete
    │   ├── OutputContractError                a declared output is missing
    │   ├── NodeTimeoutError (+ TimeoutError)  a node or a wait ran past its timeout
    │   ├── RunCancelledError                  the run was cancelled
    │   ├── RunWaitingError                    the run stopped here to wait for an answer
    │   ├── GraphNotFoundError                 a stored run names a graph nobody imported
    │   ├── DependencyFailedError              a node was skipped because a dependency failed
    │   └── StepFailedError                    a journaled step failed (replayed on resume)
    ├── ChannelError (RuntimeError)            a channel could not deliver or obtain an answer
    ├── LLMError (RuntimeError)                a model provider refused or failed a call
    ├── MCPError (RuntimeError)                an MCP server refused or failed a call
    ├── StorageError (RuntimeError)            the workspace could not be read or written
    │   ├── RunNotFoundError (+ KeyError)      no run with that id
    │   └── ArtifactNotFoundError (+ KeyError) no artifact with that id
    └── ServerError (RuntimeError)             the sidecar server could not start or stop

User exceptions raised inside a node are never wrapped: they propagate unchanged, with a note (see
``BaseException.add_note``) that names the run and the node.
"""

from __future__ import annotations

__all__ = [
    "AetherGraphError",
    "ArtifactNotFoundError",
    "ChannelError",
    "ConfigurationError",
    "DependencyFailedError",
    "GraphDefinitionError",
    "GraphNotFoundError",
    "InputValidationError",
    "JournalMismatchError",
    "LLMError",
    "MCPError",
    "NodeTimeoutError",
    "OutputContractError",
    "RunCancelledError",
    "RunError",
    "RunNotFoundError",
    "RunWaitingError",
    "ServerError",
    "ServiceError",
    "ServiceNotFoundError",
    "StepFailedError",
    "StorageError",
]


class AetherGraphError(Exception):
    """Root of every error AetherGraph raises itself."""


class ConfigurationError(AetherGraphError, ValueError):
    """A setup mistake: a bad option, name, declaration or workspace."""


class GraphDefinitionError(ConfigurationError):
    """A graph_fn, tool or graphify declaration is invalid."""


class InputValidationError(ConfigurationError):
    """Inputs given to a run do not match what the graph declares."""


class JournalMismatchError(ConfigurationError):
    """A graph_fn run being resumed now calls other steps than it recorded (its code changed)."""


class ServiceNotFoundError(AetherGraphError, AttributeError):
    """``context.<name>()`` was used for a name that no service is registered under."""


class ServiceError(AetherGraphError, RuntimeError):
    """A custom service failed to start."""


class RunError(AetherGraphError, RuntimeError):
    """A run could not complete for a reason of the runtime's own."""


class OutputContractError(RunError):
    """A graph or tool returned outputs that do not match its declaration."""


class NodeTimeoutError(RunError, TimeoutError):
    """A node, or a wait for a reply, ran past its timeout."""


class RunCancelledError(RunError):
    """The run was cancelled with ``cancel_run``."""


class RunWaitingError(RunError):
    """The run waits for an answer and was left waiting in the workspace; ``reply()`` resumes it."""


class GraphNotFoundError(RunError):
    """A stored run names a graph that no imported module defines."""


class DependencyFailedError(RunError):
    """A node was skipped because a node it depends on failed."""


class StepFailedError(RunError):
    """A journaled step failed with an error of a type that cannot be rebuilt for the replay."""


class ChannelError(AetherGraphError, RuntimeError):
    """A channel could not deliver a message or obtain an answer."""


class LLMError(AetherGraphError, RuntimeError):
    """A model provider refused or failed a call (the SDK's own retries included).

    Attributes:
        status: The HTTP status the provider answered with, or ``None`` (no answer, bad reply).
        provider: The provider of the profile (``"openai"``, ``"anthropic"``, ...).
        profile: The profile the call was made with.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        provider: str | None = None,
        profile: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.provider = provider
        self.profile = profile


class MCPError(AetherGraphError, RuntimeError):
    """An MCP server could not be reached, or answered a call with an error.

    Attributes:
        server: The registered name of the server.
        tool: The tool (or resource, prompt) the call was for, or ``None``.
    """

    def __init__(self, message: str, *, server: str | None = None, tool: str | None = None) -> None:
        super().__init__(message)
        self.server = server
        self.tool = tool


class StorageError(AetherGraphError, RuntimeError):
    """The workspace could not be read or written."""


class RunNotFoundError(StorageError, KeyError):
    """No run with the given id exists in the workspace."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a message reads better plain.
        return str(self.args[0]) if self.args else ""


class ServerError(AetherGraphError, RuntimeError):
    """The sidecar server could not start or stop."""


class ArtifactNotFoundError(StorageError, KeyError):
    """No artifact with the given id exists in the workspace."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
