"""Channels: how nodes talk to people. ``context.channel(key)`` sends messages and asks questions.

An adapter delivers messages (console, file, ...). Asking opens a wait through the run's
``WaitHost``, which records a durable continuation and resolves it with whichever answer comes
first: the adapter's own local input (the console reads standard input), ``reply()`` from code,
or the server. The channel turns answers into values (``ask_approval`` gives
``{"approved", "choice"}``).
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aethergraph.errors import ConfigurationError, NodeTimeoutError
from aethergraph.services.console import ConsoleChannel, choice_from_answer
from aethergraph.storage.records import WaitRecord

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from types import TracebackType

    from aethergraph.services.scope import NodeScope
    from aethergraph.storage.protocols import Storage

__all__ = [
    "ChannelAdapter",
    "ChannelSession",
    "FileChannel",
    "Message",
    "Progress",
    "WaitHost",
    "choice_from_answer",
    "get_channel_adapter",
    "register_channel",
    "set_channel_alias",
    "set_default_channel",
]

_MISSING: Any = object()


@dataclass(slots=True)
class Message:
    """One outgoing message."""

    kind: str
    text: str = ""
    run_id: str = ""
    node_id: str = ""
    options: list[str] | None = None
    data: dict[str, Any] = field(default_factory=dict)


class ChannelAdapter(Protocol):
    """Delivers messages somewhere; may also offer a local source of answers."""

    async def send(self, message: Message) -> None:
        """Deliver one message."""

    def answer_source(self) -> Callable[[WaitRecord], Awaitable[str]] | None:
        """A coroutine function reading an answer locally (raising EOFError when it never can)."""


class WaitHost(Protocol):
    """The run side of a wait: records it, marks the run waiting, and returns the answer."""

    async def wait(
        self,
        record: WaitRecord,
        *,
        local: Callable[[WaitRecord], Awaitable[str]] | None,
        timeout_s: float | None,
        announce: Callable[[WaitRecord], Awaitable[None]],
    ) -> dict[str, Any]:
        """Open the wait (``announce`` it if new) and return ``{"text": ..., "choice": ...}``."""


class FileChannel:
    """Appends every message as a JSON line to a file; answers come only through ``reply()``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    async def send(self, message: Message) -> None:
        """Append the message as one JSON line."""
        line = json.dumps({"ts": time.time(), **_message_json(message)}, default=repr)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def answer_source(self) -> None:
        """Files cannot answer."""
        return None


def _message_json(message: Message) -> dict[str, Any]:
    return {
        "kind": message.kind,
        "text": message.text,
        "run_id": message.run_id,
        "node_id": message.node_id,
        "options": message.options,
        "data": message.data,
    }


_adapters: dict[str, ChannelAdapter] = {"console": ConsoleChannel()}
_aliases: dict[str, str] = {}
_file_channels: dict[Path, FileChannel] = {}
_default_key = "console"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def register_channel(key: str, adapter: ChannelAdapter) -> None:
    """Make ``adapter`` reachable as ``context.channel(key)``."""
    if not key or not isinstance(key, str):
        raise ConfigurationError(f"channel key must be a non-empty string, got {key!r}")
    _adapters[key] = adapter


def set_default_channel(key: str) -> None:
    """Use ``key`` for ``context.channel()`` with no key."""
    global _default_key
    _default_key = key


def set_channel_alias(alias: str, key: str) -> None:
    """Let ``context.channel(alias)`` mean ``context.channel(key)``."""
    if not alias or not isinstance(alias, str):
        raise ConfigurationError(f"channel alias must be a non-empty string, got {alias!r}")
    _aliases[alias] = key


def get_channel_adapter(key: str | None, workspace: str) -> tuple[str, ChannelAdapter]:
    """Resolve a key (or alias, or the default) to its adapter.

    ``file:NAME`` is built in: messages go to ``<workspace>/channels/NAME.jsonl``.
    """
    resolved = _aliases.get(key, key) if key else _aliases.get(_default_key, _default_key)
    adapter = _adapters.get(resolved)
    if adapter is not None:
        return resolved, adapter
    if resolved.startswith("file:"):
        name = resolved[5:]
        if not _SAFE_NAME.match(name):
            raise ConfigurationError(
                f"channel {resolved!r}: the file name {name!r} must be letters, digits, '.', '_' "
                "or '-' (it names a file inside the workspace's channels folder)"
            )
        # In-memory runs have no workspace folder: their file channels go to the temp folder.
        folder = (
            Path(workspace)
            if workspace != "memory"
            else Path(tempfile.gettempdir()) / "aethergraph-memory"
        )
        path = folder / "channels" / f"{name}.jsonl"
        # One adapter per file, not per key: the same key in another workspace is another file.
        file_channel = _file_channels.get(path)
        if file_channel is None:
            file_channel = _file_channels[path] = FileChannel(path)
        return resolved, file_channel
    known = sorted({*_adapters, *_aliases})
    raise ConfigurationError(
        f"no channel {resolved!r} (known: {', '.join(known)}, or 'file:NAME'); register one with "
        "aethergraph.runtime.register_channel(key, adapter)"
    )


class Progress:
    """A progress report: ``update(n)``/``advance(k)``, then ``done()`` (or use ``async with``)."""

    def __init__(self, session: ChannelSession, title: str, total: int | None) -> None:
        self._session = session
        self.title = title
        self.total = total
        self.current = 0

    async def update(self, current: int, *, note: str | None = None) -> None:
        """Report that ``current`` units are done."""
        self.current = current
        await self._session._emit("progress", self._text(note), self._data(done=False))

    async def advance(self, step: int = 1, *, note: str | None = None) -> None:
        """Report ``step`` more units done."""
        await self.update(self.current + step, note=note)

    async def done(self, *, note: str | None = None) -> None:
        """Report completion."""
        if self.total is not None:
            self.current = self.total
        await self._session._emit("progress", self._text(note or "done"), self._data(done=True))

    def _text(self, note: str | None) -> str:
        of = f"/{self.total}" if self.total is not None else ""
        return f"{self.title}: {self.current}{of}" + (f" ({note})" if note else "")

    def _data(self, *, done: bool) -> dict[str, Any]:
        return {"title": self.title, "current": self.current, "total": self.total, "done": done}

    async def __aenter__(self) -> Progress:
        await self.update(0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.done()


class ChannelSession:
    """``context.channel(key)``: messages and questions from one node on one channel."""

    def __init__(
        self, scope: NodeScope, storage: Storage, waits: WaitHost, key: str | None = None
    ) -> None:
        self._scope = scope
        self._waits = waits
        self.key, self._adapter = get_channel_adapter(key, storage.location)

    async def _emit(
        self,
        kind: str,
        text: str,
        data: dict[str, Any] | None = None,
        options: list[str] | None = None,
    ) -> None:
        await self._adapter.send(
            Message(kind, text, self._scope.run_id, self._scope.node_id, options, data or {})
        )

    async def send_text(self, text: str) -> None:
        """Send a line of text."""
        await self._emit("text", str(text))

    async def send_file(self, path: str | Path, *, caption: str | None = None) -> None:
        """Tell people about a file (its path and caption)."""
        await self._emit("file", caption or Path(path).name, {"path": str(path)})

    async def send_image(self, path: str | Path, *, caption: str | None = None) -> None:
        """Tell people about an image file."""
        await self._emit("image", caption or Path(path).name, {"path": str(path)})

    async def send_buttons(self, text: str, buttons: Sequence[str]) -> None:
        """Offer choices without waiting for one (use ``ask_choice`` to wait)."""
        await self._emit("buttons", text, options=[str(b) for b in buttons])

    def progress(self, *, title: str, total: int | None = None) -> Progress:
        """A progress report for this node."""
        return Progress(self, title, total)

    async def _ask(
        self,
        kind: str,
        prompt: str,
        options: list[str] | None,
        timeout_s: float | None,
        default: Any,
    ) -> dict[str, Any]:
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError(f"{kind}: timeout_s must be > 0, got {timeout_s}")
        now = time.time()
        record = WaitRecord(
            wait_id="",
            run_id=self._scope.run_id,
            node_id=self._scope.node_id,
            kind=kind,
            prompt=prompt,
            options=options,
            channel=self.key,
            created_at=now,
            deadline=now + timeout_s if timeout_s is not None else None,
        )

        async def announce(opened: WaitRecord) -> None:
            await self._emit("prompt", prompt, {"wait_id": opened.wait_id, "kind": kind}, options)

        try:
            return await self._waits.wait(
                record, local=self._adapter.answer_source(), timeout_s=timeout_s, announce=announce
            )
        except NodeTimeoutError:
            if default is _MISSING:
                raise
            return {"text": default, "choice": default, "default": True}

    async def ask_text(
        self, prompt: str, *, timeout_s: float | None = None, default: Any = _MISSING
    ) -> Any:
        """Ask a question and return the answer text (or ``default`` on timeout, if given)."""
        reply = await self._ask("text", prompt, None, timeout_s, default)
        return reply["text"]

    async def wait_text(self, *, timeout_s: float | None = None, default: Any = _MISSING) -> Any:
        """Wait for the next text message, without a prompt (or ``default`` on timeout)."""
        reply = await self._ask("wait_text", "", None, timeout_s, default)
        return reply["text"]

    async def ask_choice(
        self,
        prompt: str,
        options: Sequence[str],
        *,
        timeout_s: float | None = None,
        default: Any = _MISSING,
    ) -> str:
        """Ask to pick one of ``options`` (by number or label); return the option."""
        opts = _options(options)
        reply = await self._ask("choice", prompt, opts, timeout_s, default)
        return reply["choice"]  # type: ignore[no-any-return]

    async def ask_approval(
        self,
        prompt: str,
        options: Sequence[str] = ("Approve", "Reject"),
        *,
        timeout_s: float | None = None,
        default: Any = _MISSING,
    ) -> dict[str, Any]:
        """Ask for approval: ``{"approved": choice is the first option, "choice": choice}``."""
        opts = _options(options)
        reply = await self._ask("approval", prompt, opts, timeout_s, default)
        choice = reply["choice"]
        return {"approved": choice == opts[0], "choice": choice}


def _options(options: Sequence[str]) -> list[str]:
    opts = [str(o) for o in options]
    if not opts:
        raise ValueError("options must name at least one choice")
    return opts
