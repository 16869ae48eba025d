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
import shlex
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aethergraph.core.graph.validation import suggest
from aethergraph.errors import ConfigurationError, NodeTimeoutError
from aethergraph.services.artifacts import Artifacts
from aethergraph.services.console import ConsoleChannel, choice_from_answer, interactive
from aethergraph.storage.records import WaitRecord

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from types import TracebackType

    from aethergraph.services.scope import NodeScope
    from aethergraph.storage.protocols import Storage

__all__ = [
    "Button",
    "ChannelAdapter",
    "ChannelSession",
    "FileChannel",
    "Message",
    "Progress",
    "Stream",
    "WaitHost",
    "choice_from_answer",
    "get_channel_adapter",
    "register_channel",
    "set_channel_alias",
    "set_default_channel",
]

_MISSING: Any = object()
UPLOAD_KIND = "upload"


@dataclass(frozen=True, slots=True)
class Button:
    """One button of ``send_buttons``: the ``label`` people see and the ``value`` it stands for."""

    label: str
    value: str | None = None


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
# One part of a ``file:`` channel name: it starts with a letter or digit, so never ``.``/``..``.
_SAFE_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_MAX_DEPTH = 8


def _file_channel_path(key: str, folder: Path) -> Path:
    """``<folder>/channels/<name>.jsonl`` for ``file:<name>``; the name may hold sub-folders."""
    name = key[len("file:") :]
    parts = name.split("/")
    bad = [p for p in parts if not _SAFE_PART.fullmatch(p)]
    if bad or len(parts) > _MAX_DEPTH:
        problem = f"{bad[0]!r} is not a valid part" if bad else f"more than {_MAX_DEPTH} parts"
        raise ConfigurationError(
            f"channel {key!r}: the file name {name!r} has {problem}. It names a file inside the "
            "workspace's channels folder: '/'-separated parts of letters, digits, '.', '_' or "
            f"'-', each starting with a letter or digit, at most {_MAX_DEPTH} deep (no '..', "
            "no absolute path, no control characters), such as 'file:runs/today'"
        )
    return folder / "channels" / f"{name}.jsonl"


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
    if resolved.startswith("console:"):  # the published API's ``console:stdin`` and kin
        return resolved, _adapters["console"]
    if resolved.startswith("file:"):
        # In-memory runs have no workspace folder: their file channels go to the temp folder.
        folder = (
            Path(workspace)
            if workspace != "memory"
            else Path(tempfile.gettempdir()) / "aethergraph-memory"
        )
        path = _file_channel_path(resolved, folder)
        # One adapter per file, not per key: the same key in another workspace is another file.
        file_channel = _file_channels.get(path)
        if file_channel is None:
            file_channel = _file_channels[path] = FileChannel(path)
        return resolved, file_channel
    known = sorted({*_adapters, *_aliases})
    raise ConfigurationError(
        f"no channel {resolved!r} (known: {', '.join(known)}, or 'file:NAME'); register one with "
        f"aethergraph.runtime.register_channel(key, adapter).{suggest(resolved, known)}"
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


class Stream:
    """A message sent in pieces: ``delta(text)`` as they come, then ``end(full_text=...)``."""

    def __init__(self, session: ChannelSession) -> None:
        self._session = session
        self._parts: list[str] = []
        self.ended = False

    async def delta(self, text: str) -> None:
        """Send the next piece of the message."""
        if self.ended:
            raise ValueError("stream.delta() after stream.end(): open a new channel().stream()")
        self._parts.append(str(text))
        await self._session._emit("stream_delta", str(text))

    async def end(self, full_text: str | None = None) -> None:
        """Finish the message; ``full_text`` (default: the pieces joined) is the whole of it."""
        if self.ended:
            return
        self.ended = True
        text = "".join(self._parts) if full_text is None else str(full_text)
        await self._session._emit("stream_end", text, {"streamed": bool(self._parts)})

    async def __aenter__(self) -> Stream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.end()


class ChannelSession:
    """``context.channel(key)``: messages and questions from one node on one channel."""

    def __init__(
        self, scope: NodeScope, storage: Storage, waits: WaitHost, key: str | None = None
    ) -> None:
        self._scope = scope
        self._storage = storage
        self._waits = waits
        self.key, self._adapter = get_channel_adapter(key, storage.location)

    def _artifacts(self) -> Artifacts:
        # A NodeContext's own artifacts() also reports saves on the run's event stream.
        bound = getattr(self._scope, "artifacts", None)
        return bound() if callable(bound) else Artifacts(self._scope, self._storage)

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

    async def send_file(
        self,
        url: str | Path | None = None,
        *,
        file_bytes: bytes | None = None,
        filename: str | None = None,
        title: str | None = None,
        caption: str | None = None,
    ) -> None:
        """Tell people about a file: a path or url, or ``file_bytes`` kept as an artifact.

        Bytes are saved into the workspace (an artifact of kind ``file``) and the message gives
        its local path and uri.
        """
        if (url is None) == (file_bytes is None):
            raise ValueError("send_file() takes a path or url, or file_bytes=..., not both")
        label = title or caption
        if file_bytes is None:
            shown = str(url)
            await self._emit("file", label or filename or Path(shown).name, {"path": shown})
            return
        artifacts = self._artifacts()
        saved = await artifacts.save_bytes(file_bytes, kind="file", name=filename, mime=None)
        local = await artifacts.as_local_file(saved)
        data = {"path": local, "uri": saved.uri, "filename": filename}
        await self._emit("file", label or filename or saved.uri, data)

    async def send_image(self, path: str | Path, *, caption: str | None = None) -> None:
        """Tell people about an image file."""
        await self._emit("image", caption or Path(path).name, {"path": str(path)})

    async def send_buttons(
        self,
        text: str,
        buttons: Sequence[str | Button],
        *,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Offer choices without waiting for one (use ``ask_choice`` to wait).

        A button is a label or a ``Button(label, value)``; ``meta`` travels with the message.
        """
        items = [b if isinstance(b, Button) else Button(str(b)) for b in buttons]
        data = {
            "buttons": [{"label": b.label, "value": b.value or b.label} for b in items],
            "meta": dict(meta or {}),
        }
        await self._emit("buttons", text, data, options=[b.label for b in items])

    def stream(self) -> Stream:
        """A message sent in pieces: ``async with channel().stream() as s: await s.delta(t)``."""
        return Stream(self)

    async def ask_files(
        self,
        prompt: str,
        *,
        accept: Sequence[str] | None = None,
        multiple: bool = False,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Ask for files: ``{"text": answer, "files": [artifact, ...]}`` (JSON index entries).

        On the console, people answer with local paths (quoted when they hold spaces); each
        file is stored as an artifact of kind ``upload``. ``accept`` lists suffixes such as
        ``".csv"``.
        """
        wanted = [a.lower() for a in accept or ()]

        def check(text: str) -> str | None:
            return _files_problem(text, wanted, multiple)

        reply = await self._ask("files", prompt, None, timeout_s, _MISSING, check)
        text = reply["text"]
        problem = check(text)
        if problem is not None:
            raise ValueError(f"ask_files {prompt!r}: {problem}")
        artifacts = self._artifacts()
        batch = uuid.uuid4().hex
        files = []
        for path in shlex.split(text):
            saved = await artifacts.save_file(path, kind=UPLOAD_KIND, labels={"upload": batch})
            files.append(saved.to_json())
        return {"text": text, "files": files}

    async def get_latest_uploads(self) -> list[dict[str, Any]]:
        """The files of this run's latest ``ask_files`` answer, as JSON index entries."""
        found = await self._artifacts().search(kind=UPLOAD_KIND, scope="run")
        if not found:
            return []
        batch = found[0].labels.get("upload")
        return [a.to_json() for a in reversed(found) if a.labels.get("upload") == batch]

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
        check: Callable[[str], str | None] | None = None,
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

        announced = False

        async def announce(opened: WaitRecord) -> None:
            nonlocal announced
            announced = True
            await self._emit("prompt", prompt, {"wait_id": opened.wait_id, "kind": kind}, options)

        source = self._adapter.answer_source()

        async def read_local(opened: WaitRecord) -> str:
            assert source is not None
            if not announced and isinstance(self._adapter, ConsoleChannel) and interactive():
                # A resumed run waits on a question an earlier process asked: ask it again.
                await announce(opened)
            while True:
                text = await source(opened)
                problem = check(text) if check is not None else None
                if problem is None:
                    return text
                await self._emit("text", f"{problem}; please answer again:")

        try:
            return await self._waits.wait(
                record,
                local=read_local if source is not None else None,
                timeout_s=timeout_s,
                announce=announce,
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


def _files_problem(text: str, accept: list[str], multiple: bool) -> str | None:
    """Why an answer to ``ask_files`` names no usable files, or None when it does."""
    try:
        paths = shlex.split(text)
    except ValueError as exc:
        return f"cannot read the paths in {text!r} ({exc}); quote paths that hold spaces"
    if not paths:
        return "answer with the path of a local file"
    if len(paths) > 1 and not multiple:
        return f"one file is asked for, got {len(paths)} paths"
    for path in paths:
        if not Path(path).is_file():
            return f"no file at {path!r}"
        if accept and not any(path.lower().endswith(a) for a in accept):
            return f"{path!r} is not one of the accepted kinds ({', '.join(accept)})"
    return None


def _options(options: Sequence[str]) -> list[str]:
    opts = [str(o) for o in options]
    if not opts:
        raise ValueError("options must name at least one choice")
    return opts
