"""Waking a process when another one changes what it waits for: ``LISTEN``/``NOTIFY``.

A write that another process may be waiting on (an answered wait, a run signal) notifies the
schema's channel in the same statement, so the notification goes out when the write commits and
never before. Each ``PostgresStorage`` listens on a connection of its own, opened on first use; the
run monitor awaits ``changes()`` between its looks at the store instead of sleeping through them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["ChangeListener", "FollowedRun", "notify_sql"]

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
"""While not listening, a wait returns after this many seconds (bounded by its caller's timeout)
as if notified: its callers look at the store then."""


class ChangeListener:
    """Listens on the schema's channel; ``wait`` returns at the next notification.

    Each notification names the run whose wait or signal changed, so a caller following one run
    (a run held for its answer, see ``follow``) wakes for that run only. When ``LISTEN`` fails or
    its connection ends, waits return every ``UNHEARD_S`` seconds instead, and listening is tried
    again every ``RELISTEN_S`` seconds.
    """

    def __init__(self, dsn: str, schema: str) -> None:
        self.channel = f"aethergraph_{schema}"[:63]  # an identifier; a clash only wakes early
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._flag: asyncio.Event | None = None
        self._runs: dict[str, set[asyncio.Event]] = {}
        self._tried_at = float("-inf")

    async def wait(self) -> None:
        """Return at the next notification since the last return (bound it with a timeout)."""
        flag = self._flag
        if flag is None:
            flag = self._flag = asyncio.Event()
        if not await self._listening():
            await asyncio.sleep(UNHEARD_S)
            return
        await flag.wait()
        flag.clear()

    @contextlib.asynccontextmanager
    async def follow(self, run_id: str) -> AsyncIterator[FollowedRun]:
        """Notifications for one run, from entering until leaving (see ``FollowedRun``)."""
        event = asyncio.Event()
        followers = self._runs.setdefault(run_id, set())
        followers.add(event)
        try:
            yield FollowedRun(self, event)
        finally:
            followers.discard(event)
            if not followers:
                self._runs.pop(run_id, None)

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
        except (OSError, asyncpg.PostgresError) as exc:
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
        """The listening connection ended: every waiter looks at the store, then listens again."""
        self._conn = None
        self._notified(None, 0, self.channel, None)

    def _notified(self, _conn: Any, _pid: int, _channel: str, run_id: str | None) -> None:
        if self._flag is not None:
            self._flag.set()
        for followers in self._runs.values() if run_id is None else (self._runs.get(run_id, ()),):
            for event in followers:
                event.set()

    async def close(self) -> None:
        """Stop listening; idempotent."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            await conn.close()


class FollowedRun:
    """The notifications for one run: ``changed`` returns at each (or when its time is up)."""

    def __init__(self, listener: ChangeListener, event: asyncio.Event) -> None:
        self._listener = listener
        self._event = event

    async def changed(self, within: float) -> bool:
        """Whether the run changed: ``True`` at a notification for it since the last return.

        ``False`` after ``within`` seconds seconds without one. While nothing can be heard, ``True``
        after ``UNHEARD_S`` (or ``False`` when ``within`` is shorter): look at the store then.
        """
        if not await self._listener._listening():
            await asyncio.sleep(min(within, UNHEARD_S))
            return within >= UNHEARD_S
        try:
            async with asyncio.timeout(within):
                await self._event.wait()
        except TimeoutError:
            return False
        self._event.clear()
        return True
