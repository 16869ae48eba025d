"""What the CLI is pointed at: graphs named ``FILE.py:GRAPH`` or ``module:GRAPH``, and inputs.

Loading a file or module runs its decorators, which is how a graph gets into the catalog that
``serve``, ``runs resume`` and ``reply`` look graphs up in.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import click

__all__ = ["load_module", "load_path", "load_target", "parse_inputs"]


def load_path(path: str) -> Any:
    """Import a Python file as a module (its folder goes on ``sys.path`` for its own imports)."""
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise click.BadParameter(f"no Python file {path!r}", param_hint="--load-path")
    name = file.stem
    known = sys.modules.get(name)
    if known is not None and getattr(known, "__file__", None) == str(file):
        return known
    folder = str(file.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise click.BadParameter(f"{path!r} cannot be imported", param_hint="--load-path")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_module(name: str) -> Any:
    """Import a module by its dotted name (the current folder is searched too)."""
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            raise click.BadParameter(f"no module {name!r}", param_hint="--load-module") from exc
        raise


def load_target(target: str) -> Any:
    """The graph named by ``FILE.py:GRAPH`` or ``module:GRAPH``."""
    source, sep, attr = target.rpartition(":")
    if not sep or not source or not attr:
        raise click.BadParameter(
            f"{target!r} does not name a graph; write FILE.py:GRAPH or module:GRAPH",
            param_hint="TARGET",
        )
    is_file = source.endswith(".py") or "/" in source or "\\" in source
    module = load_path(source) if is_file else load_module(source)
    graph = getattr(module, attr, None)
    if graph is None:
        raise click.BadParameter(f"{source} defines no {attr!r}", param_hint="TARGET")
    return graph


def parse_inputs(text: str | None) -> dict[str, Any]:
    """Inputs as a JSON object, given inline or as ``@file.json``."""
    if text is None:
        return {}
    if text.startswith("@"):
        try:
            text = Path(text[1:]).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(
                f"cannot read {text[1:]!r}: {exc}", param_hint="--inputs"
            ) from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--inputs") from exc
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object of input names", param_hint="--inputs")
    return value
