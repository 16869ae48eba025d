"""Structured output: a pydantic model or a JSON schema that a reply must match."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["OutputSchema"]

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _strip_fence(text: str) -> str:
    text = text.strip()
    match = _FENCE.match(text)
    return match.group(1) if match else text


def _check(value: Any, schema: dict[str, Any], path: str) -> None:
    """A light JSON schema check: type, enum, required, properties and items, recursively."""
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else kind or []
    if kinds and not any(
        isinstance(value, _JSON_TYPES.get(k, (object,)))
        and not (k in ("integer", "number") and isinstance(value, bool))
        for k in kinds
    ):
        raise ValueError(f"{path}: expected {' or '.join(kinds)}, got {type(value).__name__}")
    if "enum" in schema and value not in schema["enum"]:
        raise ValueError(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                raise ValueError(f"{path}: missing required property {key!r}")
        for key, sub in schema.get("properties", {}).items():
            if key in value and isinstance(sub, dict):
                _check(value[key], sub, f"{path}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _check(item, schema["items"], f"{path}[{i}]")


class OutputSchema:
    """What ``output_schema=`` asks for: its JSON schema, and how a reply is checked against it."""

    def __init__(self, spec: Any) -> None:
        from pydantic import BaseModel

        self.model: type[BaseModel] | None = None
        if isinstance(spec, type) and issubclass(spec, BaseModel):
            self.model = spec
            self.json_schema: dict[str, Any] = spec.model_json_schema()
        elif isinstance(spec, dict):
            self.json_schema = spec
        else:
            raise TypeError(
                f"output_schema must be a pydantic model class or a JSON schema dict, got "
                f"{type(spec).__name__}"
            )

    def parse(self, text: str) -> Any:
        """The reply as a validated model instance (or dict).

        Raises:
            ValueError: saying why the reply does not match.
        """
        body = _strip_fence(text)
        if self.model is not None:
            from pydantic import ValidationError

            try:
                return self.model.model_validate_json(body)
            except ValidationError as err:
                raise ValueError(str(err)) from None
        try:
            value = json.loads(body)
        except ValueError as err:
            raise ValueError(f"the reply is not JSON: {err}") from None
        _check(value, self.json_schema, "$")
        return value
