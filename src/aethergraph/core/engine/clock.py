"""Clocks: the wall time records carry and the deadlines runs keep.

The engine reads time and opens timeout scopes through the runtime's clock, so tests swap in
``ManualClock`` and move time forward by hand instead of sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Wall time and timeout scopes."""

    def time(self) -> float:
        """Seconds since the epoch."""

    def timeout(self, seconds: float | None) -> asyncio.Timeout:
        """A timeout scope expiring ``seconds`` from now (``None``: never)."""


class SystemClock:
    """The real clock: ``time.time()`` to the microsecond, and ``asyncio.timeout``."""

    __slots__ = ()

    def time(self) -> float:
        """Seconds since the epoch, in whole microseconds (stored as text at little cost)."""
        return time.time_ns() // 1000 / 1e6

    def timeout(self, seconds: float | None) -> asyncio.Timeout:
        """``asyncio.timeout(seconds)``."""
        return asyncio.timeout(seconds)


class ManualClock:
    """A clock that moves only when ``advance()`` is called; its timeouts expire then.

    Use it through ``aethergraph.testing.memory_runtime(clock=ManualClock())``; ``advance`` must be
    called on the event loop whose timeouts it should expire.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._order = itertools.count()
        self._deadlines: list[tuple[float, int, asyncio.Timeout]] = []

    def time(self) -> float:
        """The clock's current time."""
        return self._now

    def timeout(self, seconds: float | None) -> asyncio.Timeout:
        """A scope that expires once the clock has advanced ``seconds`` past now."""
        scope = asyncio.timeout(None)
        if seconds is not None:
            heapq.heappush(self._deadlines, (self._now + seconds, next(self._order), scope))
        return scope

    def advance(self, seconds: float) -> None:
        """Move time forward; every timeout scope whose deadline passed expires at once."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds!r})")
        self._now += seconds
        loop = asyncio.get_running_loop()
        while self._deadlines and self._deadlines[0][0] <= self._now:
            _deadline, _n, scope = heapq.heappop(self._deadlines)
            if scope.when() is None and not scope.expired():
                try:
                    scope.reschedule(loop.time())
                except RuntimeError:
                    continue  # the scope was never entered, or has been left: nothing to expire
