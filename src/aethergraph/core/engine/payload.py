"""The JSON form of run and node payloads: inputs and outputs, checked (and converted) once.

Every run record, node record and event is stored as JSON, whatever the backend. So the engine
checks a run's inputs before the run starts, and a node's outputs before the node (or run)
succeeds, the same way for memory, SQLite and PostgreSQL, and converts what has one obvious
JSON form:

==============================  ====================================================
value                           stored as
==============================  ====================================================
str, int, float, bool, None     itself (a str must be valid Unicode: no lone surrogates)
dict                            dict; int, float, bool and None keys become text, as in json
list, tuple                     list
set, frozenset                  list, sorted (by JSON text when the items do not compare)
datetime, date, time            ISO 8601 text (``isoformat()``)
enum member                     its value
pathlib path, UUID              str
object with ``to_json()``       its result (memory ``Event``, ``Artifact``, run records)
dataclass instance              dict of its fields
pydantic model                  ``model_dump(mode="json")``
==============================  ====================================================

Anything else (bytes, a numpy array, an open file...) fails, naming the key and the type, and so
does a value nested deeper than ``MAX_DEPTH`` levels (it would overflow JSON readers later).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import inspect
import json
import uuid
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from aethergraph.errors import InputValidationError, OutputContractError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["MAX_DEPTH", "json_inputs", "json_node_inputs", "json_outputs", "same_json"]

MAX_DEPTH = 100
"""How deep inputs and outputs may nest (dicts and lists within each other)."""

_SCALARS = frozenset({int, float, bool, type(None)})
_TIMES = (datetime.datetime, datetime.date, datetime.time)


class _UnfitError(Exception):
    """A value with no JSON form; ``path`` is filled in innermost first on the way out."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what
        self.path: list[str] = []


def _text(value: str) -> str:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _UnfitError(
                f"a str that is not valid Unicode (a lone surrogate at index {exc.start}, as "
                "os.listdir gives for a file name that is not UTF-8); convert it first, e.g. "
                "with s.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace')"
            ) from None
    return value


def _key(key: Any) -> str:
    if type(key) is str:
        return _text(key)
    if isinstance(key, enum.Enum):
        key = key.value
    if isinstance(key, str):
        return _text(str.__str__(key))
    if key is None or isinstance(key, int | float):
        return json.dumps(key)  # as json.dumps does: 1 -> "1", True -> "true", None -> "null"
    raise _UnfitError(f"a dict with a key of type {type(key).__name__} ({key!r}); keys must be str")


def _convert(value: Any, depth: int) -> Any:
    """``value`` if it is JSON already (no copy), else its JSON form; ``_UnfitError`` if none."""
    t = type(value)
    if t is str:
        return value if value.isascii() else _text(value)
    if t in _SCALARS:
        return value
    if depth >= MAX_DEPTH:
        raise _UnfitError(f"nested deeper than {MAX_DEPTH} levels")
    if t is dict:
        return _convert_dict(value, depth + 1)
    if t is list:
        return _convert_list(value, depth + 1)
    return _convert_other(value, depth)


def _convert_dict(d: dict[Any, Any], depth: int) -> dict[str, Any]:
    out: dict[str, Any] | None = None
    for k, v in d.items():
        if out is None and type(k) is str and k.isascii():
            # The common case, inlined: a text key and a scalar value keep the dict as it is.
            t = type(v)
            if t in _SCALARS or (t is str and v.isascii()):
                continue
        try:
            key = _key(k)
            converted = _convert(v, depth)
        except _UnfitError as exc:
            exc.path.append(repr(k) if not isinstance(k, str) else repr(str.__str__(k)))
            raise
        if out is None:
            if converted is v and key is k:
                continue
            out = {}
            for k2, v2 in d.items():  # copy what came before unchanged
                if k2 is k:
                    break
                out[k2] = v2
        out[key] = converted
    return d if out is None else out


def _convert_list(items: list[Any], depth: int) -> list[Any]:
    out: list[Any] | None = None
    for i, v in enumerate(items):
        try:
            converted = _convert(v, depth)
        except _UnfitError as exc:
            exc.path.append(str(i))
            raise
        if out is None:
            if converted is v:
                continue
            out = items[:i]
        out.append(converted)
    return items if out is None else out


def _convert_other(value: Any, depth: int) -> Any:  # noqa: C901 - one case per kind of value
    if isinstance(value, enum.Enum):
        return _convert(value.value, depth)
    if isinstance(value, str):
        return _text(str.__str__(value))
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return _convert_dict(dict(value), depth + 1)
    if isinstance(value, list | tuple):
        return _convert_list(list(value), depth + 1)
    if isinstance(value, set | frozenset):
        items = _convert_list(list(value), depth + 1)
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, _TIMES):
        return value.isoformat()
    if isinstance(value, PurePath | uuid.UUID):
        return str(value)
    to_json = getattr(value, "to_json", None)
    if callable(to_json) and not isinstance(value, type):
        try:
            form = to_json()
        except TypeError:  # a to_json that needs arguments is not the one meant here
            pass
        else:
            return _convert(form, depth)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _convert_dict(fields, depth + 1)
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump) and not isinstance(value, type):  # a pydantic model
        return _convert(model_dump(mode="json"), depth)
    if inspect.iscoroutine(value):
        raise _UnfitError(_unawaited(value))
    raise _UnfitError(
        f"a {type(value).__name__}, which has no JSON form; use JSON values "
        "(save large or binary data with context.artifacts() and pass its id)"
    )


def _unawaited(coroutine: Any) -> str:
    """What to say of a coroutine returned or passed instead of its result (a missing await)."""
    frame = coroutine.cr_frame
    name = getattr(frame.f_locals.get("tool"), "name", None) if frame is not None else None
    coroutine.close()  # it will never run: no second warning when it is collected
    what = f"tool {name!r}" if name else repr(coroutine.__qualname__)
    call = f"`await {name}(...)`" if name else "`await` on the call"
    return f"the coroutine of {what}, which was never awaited; write {call}"


def _path(exc: _UnfitError) -> str:
    """``'key'[0]['inner']``: where in a payload the unfit value sits."""
    path = exc.path
    return path[-1] + "".join(f"[{p}]" for p in reversed(path[:-1]))


def json_inputs(inputs: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The JSON form of a run's ``inputs``, or an ``InputValidationError`` naming the input.

    ``where`` names the graph. Inputs that are JSON already come back without a copy.
    """
    try:
        return _convert_dict(inputs if type(inputs) is dict else dict(inputs), 1)
    except _UnfitError as exc:
        raise InputValidationError(
            f"{where}: input {_path(exc)} is {exc.what}. Inputs are stored as JSON with the "
            "run, so that it can be listed, read back and resumed"
        ) from None


def json_node_inputs(
    inputs: dict[str, Any], tool: str, node_id: str, run_id: str
) -> dict[str, Any]:
    """The JSON form of the inputs of node ``node_id`` (tool ``tool``), as ``json_inputs``."""
    for k, v in inputs.items():  # the common case, inlined: on the path of every tool call
        t = type(v)
        if not (type(k) is str and (t in _SCALARS or (t is str and v.isascii())) and k.isascii()):
            break
    else:
        return inputs
    try:
        return _convert_dict(inputs, 1)
    except _UnfitError as exc:
        raise InputValidationError(
            f"tool {tool!r} (node {node_id!r} of run {run_id}): input {_path(exc)} is "
            f"{exc.what}. A node's inputs are stored as JSON with it; pass JSON values (save "
            "other data with context.artifacts() and pass its id)"
        ) from None


def json_outputs(outputs: dict[str, Any], where: str, node_id: str, run_id: str) -> dict[str, Any]:
    """The JSON form of a node's ``outputs``, or an ``OutputContractError`` naming the output.

    ``where`` names the function. Outputs that are JSON already are returned as they are,
    without a copy.
    """
    for k, v in outputs.items():  # as in json_node_inputs
        t = type(v)
        if not (type(k) is str and (t in _SCALARS or (t is str and v.isascii())) and k.isascii()):
            break
    else:
        return outputs
    try:
        return _convert_dict(outputs, 1)
    except _UnfitError as exc:
        raise OutputContractError(
            f"{where} (node {node_id!r} of run {run_id}): output {_path(exc)} is {exc.what}. "
            "Outputs are stored as JSON with the run"
        ) from None


def same_json(a: Any, b: Any) -> bool:
    """Whether two JSON values are the same once stored (NaN equals NaN, key order aside)."""
    if a == b:
        return True
    try:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    except (TypeError, ValueError):
        return False
