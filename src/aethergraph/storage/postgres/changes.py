"""Waking a process when another one changes what it waits for: ``LISTEN``/``NOTIFY``.

A write that another process may be waiting on (an answered wait, a run signal, a claim)
notifies the schema's channel in the same statement, so the notification goes out when the write
commits and never before. Each ``PostgresStorage`` listens on a connection of its own, opened on
first use; the run monitor and the holders of waiting runs wait for the runs they follow between
their looks at the store instead of polling it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["ChangeListener", "FollowedRun", "FollowedRuns", "notify_sql"]

logger = logging.getLogger(__name__)


def notify_sql(statement: str, channel_param: int) -> str:
    """``statement`` (an insert or upsert of rows with a ``run_id``) notifying each run id.

    ``channel_param`` is the number of the parameter that carries the channel name.
    """
    return (
        f"WITH changed AS ({statement} RETURNING run_id) "
        f"SELECT pg_notify(${channel_param}, run_id) FROM changed"
    )


RELISTEN_S = 5.0
"""Seconds between two attempts to listen again after ``LISTEN`` failed or its connection ended."""
UNHEARD_S = 1.0
"""While not listening, a follower is told that anything may have changed at least this often
(its caller then looks at the store)."""


class _Follower:
    """What one follower heard since it last asked: the runs notified, or that it cannot tell."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.heard: set[str] = set()
        self.unsure = False

    def tell(self, run_id: str | None) -> None:
        if run_id is None:
            self.unsure = True
        else:
            self.heard.add(run_id)
        self.event.set()


class ChangeListener:
    """Listens on the schema's channel and tells its followers which runs were notified.

    Each notification names the run whose wait or signal changed (or that was claimed). A
    follower of every run (``follow_runs``, the run monitor) learns their ids; a follower of one
    run (``follow_run``, a run held for its answer) wakes for that run only. When ``LISTEN``
    fails or its connection ends, followers are told that anything may have changed, every
    ``UNHEARD_S`` seconds, and listening is tried again every ``RELISTEN_S`` seconds.
    """

    def __init__(self, dsn: str, schema: str) -> None:
        self.channel = f"aethergraph_{schema}"[:63]  # an identifier; a clash only wakes early
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._all: set[_Follower] = set()
        self._runs: dict[str, set[_Follower]] = {}
        self._tried_at = float("-inf")

    @contextlib.asynccontextmanager
    async def follow_runs(self) -> AsyncIterator[FollowedRuns]:
        """Notifications for every run, from entering until leaving (see ``FollowedRuns``)."""
        follower = _Follower()
        self._all.add(follower)
        try:
            await self._listening()  # from here on: a look after this misses no change
            yield FollowedRuns(self, follower)
        finally:
            self._all.discard(follower)

    @contextlib.asynccontextmanager
    async def follow_run(self, run_id: str) -> AsyncIterator[FollowedRun]:
        """Notifications for one run, from entering until leaving (see ``FollowedRun``)."""
        follower = _Follower()
        followers = self._runs.setdefault(run_id, set())
        followers.add(follower)
        try:
            await self._listening()  # from here on: a look after this misses no change
            yield FollowedRun(self, follower)
        finally:
            followers.discard(follower)
            if not followers:
                self._runs.pop(run_id, None)

    async def heard(self, follower: _Follower, within: float) -> set[str] | None:
        """What ``follower`` heard since it last asked, waiting at most ``within`` seconds.

        The run ids notified (empty when none came in time), or ``None`` when it cannot be told
        which (not listening, or the connection ended meanwhile).
        """
        if not await self._listening():
            await asyncio.sleep(min(within, UNHEARD_S))
            return None
        if not follower.event.is_set():
            try:
                async with asyncio.timeout(within):
                    await follower.event.wait()
            except TimeoutError:
                return set()
        follower.event.clear()
        heard, follower.heard = follower.heard, set()
        unsure, follower.unsure = follower.unsure, False
        return None if unsure else heard

    async def _listening(self) -> bool:
        """Whether notifications are heard; tries to listen when not (once per ``RELISTEN_S``)."""
        if self._conn is not None and not self._conn.is_closed():
            return True
        loop = asyncio.get_running_loop()
        if loop.time() - self._tried_at >= RELISTEN_S:
            self._tried_at = loop.time()
            await self._listen()
        return self._conn is not None

    async def _listen(self) -> None:
        conn = None
        try:
            conn = await asyncpg.connect(self._dsn)
            await conn.add_listener(self.channel, self._notified)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if conn is not None:
                conn.terminate()
            # Other processes' answers still arrive, at the next look at the store instead.
            logger.warning(
                "cannot LISTEN for changes on %s (%s); answers from other processes are picked "
                "up by polling, and listening is tried again",
                self.channel,
                exc,
                extra={"channel": self.channel},
            )
            return
        conn.add_termination_listener(self._ended)
        self._conn = conn

    def _ended(self, _conn: Any) -> None:
        """The listening connection ended: every follower looks at the store, then listens again."""
        self._conn = None
        self._notified(None, 0, self.channel, None)

    def _notified(self, _conn: Any, _pid: int, _channel: str, run_id: str | None) -> None:
        for follower in self._all:
            follower.tell(run_id)
        if run_id is None:
            for followers in self._runs.values():
                for follower in followers:
                    follower.tell(None)
        else:
            for follower in self._runs.get(run_id, ()):
                follower.tell(run_id)

    async def close(self) -> None:
        """Stop listening; idempotent."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            await conn.close()


class FollowedRuns:
    """The notifications for every run: ``changed`` says which runs changed."""

    def __init__(self, listener: ChangeListener, follower: _Follower) -> None:
        self._listener = listener
        self._follower = follower

    async def changed(self, within: float) -> set[str] | None:
        """The ids of the runs changed since the last return; empty after ``within`` seconds.

        ``None`` when it cannot be told which runs changed (look at all of them then).
        """
        return await self._listener.heard(self._follower, within)


class FollowedRun:
    """The notifications for one run: ``changed`` says whether it changed."""

    def __init__(self, listener: ChangeListener, follower: _Follower) -> None:
        self._listener = listener
        self._follower = follower

    async def changed(self, within: float) -> bool:
        """Whether the run changed since the last return; ``False`` after ``within`` seconds.

        While nothing can be heard, ``True`` after ``within`` seconds or ``UNHEARD_S``, whichever
        is sooner (look at the store then).
        """
        return await self._listener.heard(self._follower, within) != set()
