"""Waking a process when another one changes what it waits for: ``LISTEN``/``NOTIFY``.

A write that another process may be waiting on (an answered wait, a run signal) notifies the
schema's channel in the same statement, so the notification goes out when the write commits and
never before. Each ``PostgresStorage`` listens on a connection of its own, opened on first use; the
run monitor awaits ``changes()`` between its looks at the store instead of sleeping through them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

__all__ = ["ChangeListener", "notify_sql"]

logger = logging.getLogger(__name__)


def notify_sql(statement: str, channel_param: int) -> str:
    """``statement`` (an insert or upsert of rows with a ``run_id``) notifying each run id.

    ``channel_param`` is the number of the parameter that carries the channel name.
    """
    return (
        f"WITH changed AS ({statement} RETURNING run_id) "
        f"SELECT pg_notify(${channel_param}, run_id) FROM changed"
    )


class ChangeListener:
    """Listens on the schema's channel; ``wait`` returns at the next notification."""

    def __init__(self, dsn: str, schema: str) -> None:
        self.channel = f"aethergraph_{schema}"[:63]  # an identifier; a clash only wakes early
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._flag: asyncio.Event | None = None

    async def wait(self) -> None:
        """Return at the next notification since the last return (bound it with a timeout)."""
        flag = self._flag
        if flag is None:
            flag = self._flag = asyncio.Event()
            await self._listen()
        await flag.wait()
        flag.clear()

    async def _listen(self) -> None:
        try:
            self._conn = await asyncpg.connect(self._dsn)
            await self._conn.add_listener(self.channel, self._notified)
        except (OSError, asyncpg.PostgresError) as exc:
            # Other processes' answers still arrive, at the monitor's poll instead of at once.
            logger.warning(
                "cannot LISTEN for changes on %s (%s); answers from other processes are picked "
                "up by polling",
                self.channel,
                exc,
                extra={"channel": self.channel},
            )

    def _notified(self, *_args: Any) -> None:
        if self._flag is not None:
            self._flag.set()

    async def close(self) -> None:
        """Stop listening; idempotent."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            await conn.close()
