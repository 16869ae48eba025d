"""Retry policies for nodes: how many attempts, how long between them, which errors qualify."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from aethergraph.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["RetryPolicy"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Try a node up to ``attempts`` times, sleeping ``backoff_s * multiplier**(n-1)`` between.

    Only exceptions that are instances of ``retry_on`` are retried; cancellation never is.
    """

    attempts: int = 3
    backoff_s: float = 0.0
    multiplier: float = 2.0
    max_backoff_s: float = 60.0
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or self.attempts < 1:
            raise ConfigurationError(
                f"RetryPolicy.attempts must be an int >= 1, got {self.attempts!r}"
            )
        numbers = (self.backoff_s, self.multiplier, self.max_backoff_s)
        if (
            not all(isinstance(n, int | float) and math.isfinite(n) for n in numbers)
            or self.backoff_s < 0
            or self.multiplier < 1
            or self.max_backoff_s < 0
        ):
            raise ConfigurationError(
                "RetryPolicy needs backoff_s >= 0, multiplier >= 1 and max_backoff_s >= 0 "
                f"(finite numbers); got {numbers}"
            )
        retry_on = self.retry_on
        if isinstance(retry_on, type):
            retry_on = (retry_on,)
            object.__setattr__(self, "retry_on", retry_on)  # frozen: set once, here
        if not isinstance(retry_on, tuple) or not all(
            isinstance(t, type) and issubclass(t, BaseException) for t in retry_on
        ):
            raise ConfigurationError(
                f"RetryPolicy.retry_on must be an exception class or a tuple of them, got "
                f"{retry_on!r}; e.g. retry_on=(TimeoutError, ConnectionError)"
            )

    @classmethod
    def coerce(cls, value: Any) -> RetryPolicy | None:
        """Accept a policy, an attempt count, a dict of fields, or ``None``."""
        if value is None or isinstance(value, RetryPolicy):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(attempts=value)
        if isinstance(value, dict):
            try:
                return cls(**value)
            except TypeError as exc:
                raise ConfigurationError(f"retry={value!r}: {exc}") from exc
        raise ConfigurationError(
            f"retry must be a RetryPolicy, an attempt count or a dict of its fields; got {value!r}"
        )

    def delay(self, attempt: int) -> float:
        """Seconds to sleep after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.max_backoff_s, self.backoff_s * self.multiplier ** (attempt - 1)))

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        """Whether to try again after ``exc`` ended attempt ``attempt``."""
        return (
            attempt < self.attempts
            and isinstance(exc, self.retry_on)
            and not isinstance(exc, asyncio.CancelledError)
        )

    async def call(self, attempt_fn: Callable[[int], Awaitable[T]]) -> T:
        """Call ``attempt_fn(attempt)`` until it succeeds or the policy gives up."""
        attempt = 1
        while True:
            try:
                return await attempt_fn(attempt)
            except BaseException as exc:
                if not self.should_retry(exc, attempt):
                    raise
            await asyncio.sleep(self.delay(attempt))
            attempt += 1
