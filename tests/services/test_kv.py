"""KV: JSON values with expiry, validated keys, every write flushed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from aethergraph.services.kv import KV
from aethergraph.storage.memory import MemoryStorage
from aethergraph.testing import ManualClock

if TYPE_CHECKING:
    from aethergraph.storage.protocols import Storage


@pytest.fixture
def kv(store: Storage) -> KV:
    return KV(store)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def timed_kv(clock: ManualClock) -> KV:
    """A kv whose expiries follow ``clock`` (storage and service read the same clock)."""
    return KV(MemoryStorage(clock=clock.time), clock.time)


async def test_get_returns_the_value_set(kv: KV) -> None:
    await kv.set("a", {"x": [1, 2.5, "s", None, True]})
    assert await kv.get("a") == {"x": [1, 2.5, "s", None, True]}


async def test_get_returns_default_for_a_missing_key(kv: KV) -> None:
    assert await kv.get("missing") is None
    assert await kv.get("missing", default=7) == 7


async def test_set_stores_the_json_round_trip(kv: KV) -> None:
    await kv.set("t", (1, 2))
    assert await kv.get("t") == [1, 2]


async def test_set_overwrites(kv: KV) -> None:
    await kv.set("a", 1)
    await kv.set("a", 2)
    assert await kv.get("a") == 2


async def test_set_rejects_a_value_that_is_not_json_naming_key_and_type(kv: KV) -> None:
    with pytest.raises(TypeError, match=r"'bad'.*\(set\).*must be JSON"):
        await kv.set("bad", {1, 2})
    assert await kv.get("bad") is None


@pytest.mark.parametrize("value", [float("nan"), {"a": object()}, {(1, 2): "tuple key"}])
async def test_set_rejects_values_json_cannot_hold(kv: KV, value: Any) -> None:
    with pytest.raises(TypeError, match="must be JSON"):
        await kv.set("k", value)


@pytest.mark.parametrize(
    ("key", "error"), [("", ValueError), (None, TypeError), (1, TypeError), (b"k", TypeError)]
)
async def test_keys_must_be_non_empty_str(kv: KV, key: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="kv key"):
        await kv.set(key, 1)
    with pytest.raises(error, match="kv key"):
        await kv.get(key)


async def test_ttl_expires_the_value(timed_kv: KV, clock: ManualClock) -> None:
    await timed_kv.set("short", "v", ttl_s=5)
    clock.advance(4.9)
    assert await timed_kv.get("short") == "v"
    clock.advance(0.2)
    assert await timed_kv.get("short") is None
    assert await timed_kv.scan_keys("sh") == []


@pytest.mark.parametrize(
    ("ttl", "error"),
    [(0, ValueError), (-1, ValueError), (float("inf"), ValueError), ("5", TypeError)],
)
async def test_ttl_must_be_positive_seconds(kv: KV, ttl: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="ttl_s"):
        await kv.set("k", 1, ttl_s=ttl)
    with pytest.raises(error, match="ttl_s"):
        await kv.mset({"k": 1}, ttl_s=ttl)
    assert await kv.get("k") is None


async def test_delete_reports_whether_the_key_existed(kv: KV) -> None:
    await kv.set("a", 1)
    assert await kv.delete("a") is True
    assert await kv.delete("a") is False
    assert await kv.get("a") is None


async def test_mget_keeps_order_and_fills_missing_with_none(kv: KV) -> None:
    await kv.mset({"a": 1, "c": 3})
    assert await kv.mget(["c", "b", "a"]) == [3, None, 1]


async def test_mget_rejects_a_single_str(kv: KV) -> None:
    with pytest.raises(TypeError, match="list of keys"):
        await kv.mget("abc")


async def test_mset_validates_every_value_before_writing_any(kv: KV) -> None:
    with pytest.raises(TypeError, match="'b'"):
        await kv.mset({"a": 1, "b": object()})
    assert await kv.get("a") is None


async def test_mset_rejects_a_non_mapping(kv: KV) -> None:
    with pytest.raises(TypeError, match="mapping"):
        await kv.mset([("a", 1)])  # type: ignore[arg-type]


async def test_mset_applies_one_ttl_to_all(timed_kv: KV, clock: ManualClock) -> None:
    await timed_kv.mset({"a": 1, "b": 2}, ttl_s=5)
    clock.advance(5)
    assert await timed_kv.mget(["a", "b"]) == [None, None]


async def test_expire_sets_a_deadline_on_a_live_key(timed_kv: KV, clock: ManualClock) -> None:
    await timed_kv.set("a", 1)
    clock.advance(1000)
    assert await timed_kv.get("a") == 1
    assert await timed_kv.expire("a", 5) is True
    clock.advance(5)
    assert await timed_kv.get("a") is None


async def test_expire_reports_a_missing_key(kv: KV) -> None:
    assert await kv.expire("nope", 10) is False


async def test_expire_requires_a_positive_ttl(kv: KV) -> None:
    await kv.set("a", 1)
    with pytest.raises(ValueError, match="ttl_s"):
        await kv.expire("a", 0)
    with pytest.raises(TypeError, match="ttl_s"):
        await kv.expire("a", None)  # type: ignore[arg-type]


async def test_scan_keys_lists_live_keys_with_the_prefix_sorted(kv: KV) -> None:
    await kv.mset({"user:2": 1, "user:1": 1, "other": 1})
    assert await kv.scan_keys("user:") == ["user:1", "user:2"]
    assert await kv.scan_keys() == ["other", "user:1", "user:2"]


async def test_scan_keys_rejects_a_non_str_prefix(kv: KV) -> None:
    with pytest.raises(TypeError, match="prefix"):
        await kv.scan_keys(None)  # type: ignore[arg-type]


async def test_incr_counts_from_zero_and_by_amount(kv: KV) -> None:
    assert await kv.incr("n") == 1
    assert await kv.incr("n", 5) == 6
    assert await kv.incr("n", -2) == 4
    assert await kv.get("n") == 4


async def test_incr_rejects_a_non_int_amount(kv: KV) -> None:
    with pytest.raises(TypeError, match="amount"):
        await kv.incr("n", 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="amount"):
        await kv.incr("n", True)


async def test_incr_rejects_a_non_integer_value(kv: KV) -> None:
    await kv.set("s", "text")
    with pytest.raises(TypeError):
        await kv.incr("s")


class CountingFlush:
    """Wraps a store and counts flush() calls."""

    def __init__(self, store: Storage) -> None:
        self.store = store
        self.flushes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def flush(self) -> None:
        self.flushes += 1
        await self.store.flush()


async def test_every_write_is_flushed(store: Storage) -> None:
    counting = CountingFlush(store)
    kv = KV(counting)
    await kv.set("a", 1)
    await kv.mset({"b": 2})
    await kv.incr("n")
    await kv.expire("a", 10)
    await kv.delete("a")
    assert counting.flushes == 5
    await kv.get("b")
    await kv.mget(["b"])
    await kv.scan_keys()
    assert counting.flushes == 5
