"""The engine's shape: no import cycles, and one place (``lifecycle``) that changes status."""

from __future__ import annotations

import ast
from pathlib import Path

import aethergraph

PACKAGE = Path(aethergraph.__file__).parent
ENGINE = PACKAGE / "core" / "engine"
LIFECYCLE = ENGINE / "lifecycle"
STATUS_ENUMS = {"RunStatus", "NodeStatus"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_level(node: ast.AST) -> list[ast.AST]:
    """``node`` and what it holds, but not function bodies (imports there run when called)."""
    found = [node]
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            found.extend(_module_level(child))
    return found


def runtime_imports(tree: ast.Module) -> set[str]:
    """Modules imported when the module is imported (``if TYPE_CHECKING:`` blocks left out).

    Imports inside functions are left to the next test, which allows only lazy backends there.
    """
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in _module_level(node):
            if isinstance(inner, ast.ImportFrom) and inner.module:
                names = {f"{inner.module}.{a.name}" for a in inner.names}
                found.update(names)
                if not all(_is_module(n) for n in names):
                    found.add(inner.module)  # names defined in the module, not submodules
            elif isinstance(inner, ast.Import):
                found.update(a.name for a in inner.names)
    return found


def _is_module(dotted: str) -> bool:
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def engine_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in ENGINE.rglob("*.py")}
    return {
        name: {m for m in runtime_imports(ast.parse(path.read_text())) if m in modules} - {name}
        for name, path in modules.items()
    }


def test_core_engine_modules_import_each_other_without_a_cycle() -> None:
    graph = engine_graph()
    done: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert name not in trail, f"import cycle: {' -> '.join((*trail, name))}"
        if name in done:
            return
        for dep in graph[name]:
            visit(dep, (*trail, name))
        done.add(name)

    for name in graph:
        visit(name, ())


def test_no_engine_function_imports_an_aethergraph_module_inside_its_body() -> None:
    local: list[str] = []
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith(
                    "aethergraph."
                ):
                    local.append(f"{path.name}:{inner.lineno} {inner.module}")
    # Storage backends and the Ray executor are imported when first used (sqlite3, asyncpg,
    # ray): not about cycles.
    backends = (
        " aethergraph.storage.sqlite",
        " aethergraph.storage.postgres",
        " aethergraph.core.engine.executors.ray",
    )
    assert all(any(b in entry for b in backends) for entry in local), local


def status_writes(path: Path) -> list[str]:
    """Places in ``path`` that set a run's or node's status."""
    writes = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                value = ast.unparse(node.value)
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr == "status"
                    and any(enum in value for enum in STATUS_ENUMS)
                ):
                    writes.append(f"{path.name}:{node.lineno}")
        if isinstance(node, ast.Call) and _builds_a_record(node):
            values = [kw.value for kw in node.keywords if kw.arg == "status"]
            if ast.unparse(node.func).rsplit(".", 1)[-1] != "replace":
                values += node.args
            writes.extend(
                f"{path.name}:{v.lineno}"
                for v in values
                if isinstance(v, ast.Attribute) and ast.unparse(v.value) in STATUS_ENUMS
            )
    return writes


def _builds_a_record(call: ast.Call) -> bool:
    """A call that makes a record with a status: a record class, or ``dataclasses.replace``."""
    name = ast.unparse(call.func).rsplit(".", 1)[-1]
    return name in ("RunRecord", "NodeRecord", "replace")


def test_run_and_node_status_change_only_in_the_lifecycle_package() -> None:
    outside = [
        write
        for path in PACKAGE.rglob("*.py")
        if LIFECYCLE not in path.parents
        and "storage" not in path.parts
        and "conformance" not in path.parts
        for write in status_writes(path)
    ]
    assert outside == []
    assert any(status_writes(p) for p in LIFECYCLE.glob("*.py")), "statuses change there"
