"""The key-value store of the contract."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph.storage.conformance.suite import PAST, Suite

if TYPE_CHECKING:
    from aethergraph.storage.protocols import Storage

__all__ = ["KVTests"]


class KVTests(Suite):
    """Values, expiry, scans and atomic increments."""

    async def test_kv_get_many_returns_the_live_keys_asked_for(self, storage: Storage) -> None:
        value = {"nested": [1, 2.5, None, True, "ü"]}
        await storage.kv_set_many({"a": value, "b": 2, "c": "three"}, expires_at=None)
        assert await storage.kv_get_many(["a", "missing", "c"]) == {"a": value, "c": "three"}
        assert await storage.kv_get_many([]) == {}

    async def test_kv_set_many_overwrites_value_and_expiry(self, storage: Storage) -> None:
        await storage.kv_set_many({"a": 1}, expires_at=PAST)
        await storage.kv_set_many({"a": 2}, expires_at=None)
        assert await storage.kv_get_many(["a"]) == {"a": 2}

    async def test_kv_key_past_its_expiry_is_gone(self, storage: Storage) -> None:
        await storage.kv_set_many({"old": 1, "live": 2}, expires_at=PAST)
        await storage.kv_set_many({"live": 2}, expires_at=time.time() + 3600)
        assert await storage.kv_get_many(["old", "live"]) == {"live": 2}
        assert await storage.kv_scan("") == ["live"]
        assert await storage.kv_delete("old") is False
        assert await storage.kv_expire("old", None) is False
        assert await storage.kv_incr("old", 5) == 5

    async def test_kv_delete_reports_whether_the_key_existed(self, storage: Storage) -> None:
        await storage.kv_set_many({"a": 1}, expires_at=None)
        assert await storage.kv_delete("a") is True
        assert await storage.kv_delete("a") is False
        assert await storage.kv_get_many(["a"]) == {}

    async def test_kv_expire_changes_the_expiry_of_a_live_key(self, storage: Storage) -> None:
        await storage.kv_set_many({"a": 1, "b": 2}, expires_at=time.time() + 3600)
        assert await storage.kv_expire("a", None) is True
        assert await storage.kv_expire("b", PAST) is True
        assert await storage.kv_get_many(["a", "b"]) == {"a": 1}
        assert await storage.kv_expire("missing", None) is False

    async def test_kv_scan_lists_live_keys_with_the_prefix_sorted(self, storage: Storage) -> None:
        keys = ["user:b", "user:a", "user:a:x", "users", "use", "other", "user:\U0010ffff"]
        await storage.kv_set_many(dict.fromkeys(keys, 0), expires_at=None)
        await storage.kv_set_many({"user:expired": 0}, expires_at=PAST)
        assert await storage.kv_scan("user:") == ["user:a", "user:a:x", "user:b", "user:\U0010ffff"]
        assert await storage.kv_scan("") == sorted(keys)
        assert await storage.kv_scan("nothing") == []

    async def test_kv_incr_counts_from_zero(self, storage: Storage) -> None:
        assert await storage.kv_incr("n", 2) == 2
        assert await storage.kv_incr("n", -5) == -3
        await storage.kv_set_many({"t": 10}, expires_at=None)
        assert await storage.kv_incr("t", 1) == 11
        assert await storage.kv_get_many(["n", "t"]) == {"n": -3, "t": 11}

    async def test_kv_incr_keeps_the_expiry(self, storage: Storage) -> None:
        await storage.kv_set_many({"t": 10}, expires_at=time.time() + 0.2)
        assert await storage.kv_incr("t", 1) == 11
        for _ in range(250):
            if not await storage.kv_get_many(["t"]):
                break
            await asyncio.sleep(0.02)
        assert await storage.kv_get_many(["t"]) == {}

    @pytest.mark.parametrize("value", ["7", 1.5, True, None, [1], {"n": 1}])
    async def test_kv_incr_of_a_non_integer_raises_type_error_naming_the_key(
        self, storage: Storage, value: Any
    ) -> None:
        await storage.kv_set_many({"counter": value}, expires_at=None)
        with pytest.raises(TypeError, match=r"kv key 'counter' holds \w+, not an integer"):
            await storage.kv_incr("counter", 1)
        assert await storage.kv_get_many(["counter"]) == {"counter": value}
