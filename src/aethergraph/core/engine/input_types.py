"""Inputs checked against the annotations of a graph_fn or tool, with pydantic.

A value of exactly the annotated class passes without pydantic (the common case, and the hot path
of every tool call). Anything else goes through a pydantic ``TypeAdapter`` in lax mode, which
converts what converts without loss (``"21"`` to ``21`` for ``int``, a dict to a model) and
refuses the rest, naming the input and the type it expects. Parameters without annotations, or
annotated ``Any``, are not checked. Adapters are made once per parameter, on first need, so that
importing a module of tools does not import pydantic.
"""

from __future__ import annotations

import inspect
import typing
from typing import TYPE_CHECKING, Any, NoReturn

from aethergraph.errors import InputValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["InputTypes"]

_MISSING: Any = object()


class _Param:
    __slots__ = ("adapter", "annotation", "exact", "name")

    def __init__(self, name: str, annotation: Any) -> None:
        self.name = name
        self.annotation = annotation
        # A plain class: a value of exactly that class needs no validation.
        self.exact: type | None = (
            annotation
            if isinstance(annotation, type) and typing.get_origin(annotation) is None
            else None
        )
        self.adapter: Any = None


class InputTypes:
    """The annotated inputs of one function; ``coerce`` checks and converts call inputs."""

    __slots__ = ("_exact", "_params", "where")

    def __init__(self, params: tuple[_Param, ...], where: str) -> None:
        self._params = params
        self._exact = tuple((p.name, p.exact, p) for p in params)
        self.where = where

    @classmethod
    def of(cls, fn: Callable[..., Any], names: tuple[str, ...], where: str) -> InputTypes | None:
        """The checks for ``fn``'s inputs ``names``; ``None`` when none is annotated."""
        hints = _hints(fn)
        params = []
        for name in names:
            annotation = hints.get(name, inspect.Parameter.empty)
            if annotation is inspect.Parameter.empty or annotation is Any:
                continue
            if isinstance(annotation, str):  # a forward reference nobody can resolve
                continue
            params.append(_Param(name, annotation))
        return cls(tuple(params), where) if params else None

    def coerce(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """``inputs`` with each annotated value checked (and converted where lossless)."""
        out = inputs
        for name, exact, param in self._exact:
            value = inputs.get(name, _MISSING)
            if type(value) is exact or value is _MISSING:
                continue
            converted = self._validate(param, value)
            if converted is not value:
                if out is inputs:
                    out = dict(inputs)
                out[name] = converted
        return out

    def _validate(self, param: _Param, value: Any) -> Any:
        from pydantic import ValidationError

        adapter = param.adapter
        if adapter is None:
            adapter = param.adapter = _adapter(param.annotation)
            if adapter is None:  # pydantic cannot check this type: leave it unchecked
                param.adapter = False
                return value
        elif adapter is False:
            return value
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            self._refuse(param, value, exc)
        except Exception:  # noqa: BLE001 - a type pydantic cannot check (a plain Protocol, say)
            param.adapter = False
        return value

    def _refuse(self, param: _Param, value: Any, exc: Any) -> NoReturn:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()
        )
        raise InputValidationError(
            f"{self.where}: input {param.name!r} expects {_type_name(param.annotation)}, got "
            f"{type(value).__name__} {_short(value)} ({problems}); pass a value of that type"
        ) from None


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - a hint that does not resolve is simply not checked
        hints: dict[str, Any] = {}
        namespace = getattr(fn, "__globals__", {})
        for name, annotation in getattr(fn, "__annotations__", {}).items():
            if not isinstance(annotation, str):
                hints[name] = annotation
                continue
            try:
                hints[name] = eval(annotation, namespace)
            except Exception:  # noqa: BLE001
                continue
        return hints


def _adapter(annotation: Any) -> Any:
    from pydantic import ConfigDict, TypeAdapter

    try:
        return TypeAdapter(annotation)
    except Exception:  # noqa: BLE001 - pydantic has no schema for it: try isinstance
        pass
    try:  # a class of the user's own: an isinstance check
        return TypeAdapter(annotation, config=ConfigDict(arbitrary_types_allowed=True))
    except Exception:  # noqa: BLE001 - not even that (a plain Protocol, say): left unchecked
        return None


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and typing.get_origin(annotation) is None:
        return annotation.__name__
    return repr(annotation).replace("typing.", "")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
