"""The options a run accepts, checked once, and run ids."""

from __future__ import annotations

import difflib
import itertools
import os
import time
from typing import TYPE_CHECKING, Any, TypedDict

from aethergraph.core.engine.retry import RetryPolicy
from aethergraph.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["OPTION_NAMES", "RunOptionArgs", "RunOptions", "new_run_id"]

OPTION_NAMES = ("max_concurrency", "retry", "run_id", "session_id", "timeout_s", "workspace")


class RunOptionArgs(TypedDict, total=False):
    """The keyword options of ``run()`` / ``run_async()``, for type checkers."""

    run_id: str
    session_id: str
    max_concurrency: int
    retry: RetryPolicy | int
    timeout_s: float
    workspace: str | os.PathLike[str]


class RunOptions:
    """The options a run accepts; anything else is an error, never silently ignored."""

    __slots__ = OPTION_NAMES

    def __init__(self, opts: Mapping[str, Any]) -> None:
        for key in opts:
            if key not in OPTION_NAMES:
                close = difflib.get_close_matches(key, OPTION_NAMES, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigurationError(
                    f"unknown run option {key!r}{hint} (options: {', '.join(OPTION_NAMES)}); "
                    f"inputs go in the inputs dict: run(target, {{{key!r}: ...}})"
                )
        self.run_id: str | None = _opt_str(opts, "run_id")
        self.session_id: str | None = _opt_str(opts, "session_id")
        self.workspace: Any = opts.get("workspace")
        mc = opts.get("max_concurrency")
        if mc is not None and (not isinstance(mc, int) or isinstance(mc, bool) or mc < 1):
            raise ConfigurationError(f"max_concurrency must be a positive int, got {mc!r}")
        self.max_concurrency: int | None = mc
        self.retry: RetryPolicy | None = RetryPolicy.coerce(opts.get("retry"))
        t = opts.get("timeout_s")
        if t is not None and (
            not isinstance(t, int | float) or isinstance(t, bool) or not t > 0  # NaN too
        ):
            raise ConfigurationError(f"timeout_s must be a positive number, got {t!r}")
        self.timeout_s: float | None = t

    def with_run_id(self, run_id: str) -> RunOptions:
        """These options for the run ``run_id``."""
        copy = RunOptions.__new__(RunOptions)
        for name in OPTION_NAMES:
            setattr(copy, name, getattr(self, name))
        copy.run_id = run_id
        return copy


def _opt_str(opts: Mapping[str, Any], key: str) -> str | None:
    value = opts.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigurationError(f"{key} must be a non-empty string, got {value!r}")
    return value


NO_OPTIONS = RunOptions({})

_run_counter = itertools.count(1)
_run_prefix = ""


def _draw_run_prefix() -> None:
    global _run_prefix
    _run_prefix = f"run-{int(time.time() * 1000):011x}{os.urandom(4).hex()}-"


_draw_run_prefix()
os.register_at_fork(after_in_child=_draw_run_prefix)


def new_run_id() -> str:
    """A unique run id: ``run-<process start ms><random>-<counter>``, sortable within a process.

    The prefix is drawn once per process (and again in a forked child), so making an id costs
    a counter step instead of a random draw.
    """
    return f"{_run_prefix}{next(_run_counter):08x}"
