"""``context.kv()``: a JSON key-value store with optional expiry, shared by every run.

Values are checked to be JSON and stored as their JSON round trip, so every backend returns the
same thing (a tuple comes back as a list). Each write is flushed before it returns: a value whose
``set`` has returned survives a crash.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aethergraph.storage.protocols import Storage

__all__ = ["KV", "json_value"]


def json_value(value: Any, what: str) -> Any:
    """``value`` as stored JSON (its JSON round trip), or ``TypeError`` naming ``what``.

    Args:
        value: A JSON value: dicts, lists, str, int, float (finite), bool or None.
        what: What the value is, for the error message (e.g. ``"kv value for key 'a'"``).
    """
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{what} ({type(value).__name__}) must be JSON: dicts, lists, str, int, finite float, "
            f"bool or None ({err}); convert it first, e.g. to a dict or a str"
        ) from err


def _check_key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"kv key must be a str, got {type(key).__name__}: {key!r}")
    if not key:
        raise ValueError("kv key must be a non-empty str")
    return key


def _expires_at(ttl_s: float | None, now: Callable[[], float]) -> float | None:
    if ttl_s is None:
        return None
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int | float):
        raise TypeError(f"kv ttl_s must be a number of seconds, got {type(ttl_s).__name__}")
    if not math.isfinite(ttl_s) or ttl_s <= 0:
        raise ValueError(f"kv ttl_s must be a finite number of seconds > 0, got {ttl_s!r}")
    return now() + ttl_s


class KV:
    """Async key-value access for a node; keys are non-empty strings, values JSON."""

    def __init__(self, store: Storage, now: Callable[[], float] = time.time) -> None:
        self._store = store
        self._now = now

    async def get(self, key: str, default: Any = None) -> Any:
        """The key's value, or ``default`` when it is missing or expired."""
        found = await self._store.kv_get_many([_check_key(key)])
        return found.get(key, default)

    async def set(self, key: str, value: Any, *, ttl_s: float | None = None) -> None:
        """Set ``key`` to the JSON ``value``, expiring after ``ttl_s`` seconds if given."""
        _check_key(key)
        stored = json_value(value, f"kv value for key {key!r}")
        await self._store.kv_set_many({key: stored}, expires_at=_expires_at(ttl_s, self._now))
        await self._store.flush()

    async def delete(self, key: str) -> bool:
        """Delete ``key``; whether it existed."""
        existed = await self._store.kv_delete(_check_key(key))
        await self._store.flush()
        return existed

    async def mget(self, keys: Iterable[str]) -> list[Any]:
        """The values of ``keys`` in order, ``None`` for each missing one."""
        if isinstance(keys, str):
            raise TypeError("kv mget() takes a list of keys, not a str; use get() for one key")
        wanted = [_check_key(k) for k in keys]
        found = await self._store.kv_get_many(wanted)
        return [found.get(k) for k in wanted]

    async def mset(self, mapping: Mapping[str, Any], *, ttl_s: float | None = None) -> None:
        """Set every key of ``mapping``, all with the same expiry."""
        if not isinstance(mapping, Mapping):
            raise TypeError(
                f"kv mset() takes a mapping of key to value, got {type(mapping).__name__}"
            )
        items = {
            _check_key(k): json_value(v, f"kv value for key {k!r}") for k, v in mapping.items()
        }
        expires_at = _expires_at(ttl_s, self._now)
        if items:
            await self._store.kv_set_many(items, expires_at=expires_at)
            await self._store.flush()

    async def expire(self, key: str, ttl_s: float) -> bool:
        """Make ``key`` expire ``ttl_s`` seconds from now; whether it existed."""
        _check_key(key)
        if ttl_s is None:
            raise TypeError(
                "kv expire() needs ttl_s in seconds; to keep a key forever, set it again"
            )
        existed = await self._store.kv_expire(key, _expires_at(ttl_s, self._now))
        await self._store.flush()
        return existed

    async def scan_keys(self, prefix: str = "") -> list[str]:
        """Live keys starting with ``prefix``, sorted."""
        if not isinstance(prefix, str):
            raise TypeError(f"kv scan_keys() prefix must be a str, got {type(prefix).__name__}")
        return await self._store.kv_scan(prefix)

    async def incr(self, key: str, amount: int = 1) -> int:
        """Atomically add ``amount`` to an integer (a missing key counts as 0); the new value."""
        _check_key(key)
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError(f"kv incr() amount must be an int, got {type(amount).__name__}")
        value = await self._store.kv_incr(key, amount)
        await self._store.flush()
        return value
