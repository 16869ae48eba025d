"""The console channel: messages to standard output, answers read from standard input.

Standard input is read by one daemon thread at a time, a line per request, so a pending read never
keeps the process (or ``asyncio.run``'s executor shutdown) from exiting, and a line typed while
nobody is asking is kept for the next question. End of input is final and reported as EOFError.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from aethergraph.services.channel import Message
    from aethergraph.storage.records import WaitRecord

__all__ = ["ConsoleChannel", "StdinLines", "choice_from_answer", "interactive", "read_answer"]

ANSWER_HINT = "Answer with a number or a label:"


def interactive() -> bool:
    """Whether standard input is a terminal (a person may be typing), not a pipe or a file."""
    stream = sys.stdin
    try:
        return stream is not None and not stream.closed and stream.isatty()
    except (OSError, ValueError):
        return False


class StdinLines:
    """Lines of standard input, handed to asyncio waiters one at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer: deque[str] = deque()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[str]]] = deque()
        self._reading = False
        self._eof = False

    def next_line(self) -> asyncio.Future[str]:
        """A future for the next line (without its newline); EOFError at end of input."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()
        with self._lock:
            if self._buffer:
                fut.set_result(self._buffer.popleft())
                return fut
            if self._eof:
                fut.set_exception(EOFError("standard input is at its end"))
                return fut
            self._waiters.append((loop, fut))
            if not self._reading:
                self._reading = True
                threading.Thread(target=self._read, name="aethergraph-stdin", daemon=True).start()
        return fut

    def _read(self) -> None:
        try:
            stream = sys.stdin
            line = stream.readline() if stream is not None and not stream.closed else ""
        except (OSError, ValueError):
            line = ""
        with self._lock:
            self._reading = False
            if line == "":
                self._eof = True
                waiters = list(self._waiters)
                self._waiters.clear()
                for loop, fut in waiters:
                    _deliver(loop, fut, None)
                return
            text = line.rstrip("\r\n")
            while self._waiters:
                loop, fut = self._waiters.popleft()
                if not fut.done() and not loop.is_closed():
                    _deliver(loop, fut, text)
                    break
            else:
                self._buffer.append(text)
            if self._waiters:
                self._reading = True
                threading.Thread(target=self._read, name="aethergraph-stdin", daemon=True).start()


def _deliver(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[str], text: str | None) -> None:
    def settle() -> None:
        if fut.done():
            return
        if text is None:
            fut.set_exception(EOFError("standard input is at its end"))
        else:
            fut.set_result(text)

    # The loop may have closed meanwhile: then nobody is waiting any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(settle)


_stdin = StdinLines()


def choice_from_answer(answer: str, options: Sequence[str]) -> str | None:
    """The option an answer picks: its 1-based number, or its label ignoring case."""
    text = answer.strip()
    if text.isdigit() and 1 <= int(text) <= len(options):
        return options[int(text) - 1]
    for opt in options:
        if opt.lower() == text.lower():
            return opt
    return None


class ConsoleChannel:
    """Prints messages; reads answers from standard input (a terminal or a pipe alike)."""

    async def send(self, message: Message) -> None:
        """Print the message."""
        if message.kind == "prompt":
            lines = [message.text] if message.text else []
            for i, opt in enumerate(message.options or (), start=1):
                lines.append(f"  {i}. {opt}")
            if message.options:
                lines.append(ANSWER_HINT)
            text = "\n".join(lines)
        elif message.kind == "stream_delta":
            sys.stdout.write(message.text)
            sys.stdout.flush()
            return
        elif message.kind == "stream_end":
            # The pieces are on screen already: end their line; else show the whole text.
            text = "" if message.data.get("streamed") else message.text
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
            return
        elif message.kind == "buttons":
            text = message.text + "".join(f" [{o}]" for o in message.options or ())
        elif message.kind in ("file", "image"):
            text = f"{message.text}: {message.data.get('path')}"
        else:
            text = message.text
        if text:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def answer_source(self) -> Callable[[WaitRecord], Awaitable[str]]:
        """Read the answer from standard input."""
        return read_answer


async def read_answer(wait: WaitRecord) -> str:
    """Read lines until one answers the wait; numbered options may be answered by number."""
    while True:
        try:
            line = await _stdin.next_line()
        except EOFError:
            raise EOFError(
                f"standard input ended before {wait.kind} {wait.prompt!r} was answered"
            ) from None
        if not wait.options:
            return line
        if choice_from_answer(line, wait.options) is not None:
            return line
        sys.stdout.write(
            f"{line!r} is not one of the options; answer 1-{len(wait.options)} or one of: "
            f"{', '.join(wait.options)}\n{ANSWER_HINT}\n"
        )
        sys.stdout.flush()
