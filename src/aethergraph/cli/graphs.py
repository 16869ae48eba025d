"""``aethergraph graphs list|show``: the graphs a file or module defines, and their shape."""

from __future__ import annotations

import json

import click

from aethergraph.cli.display import out, print_json
from aethergraph.cli.options import apply_loads, load_options
from aethergraph.cli.targets import load_target
from aethergraph.core.graph.spec import TaskGraph
from aethergraph.server.catalog import describe_graph, describe_graphs

__all__ = ["graphs_group", "to_mermaid"]


@click.group("graphs")
def graphs_group() -> None:
    """List graphs and show their structure."""


@graphs_group.command("list")
@load_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def list_command(paths: tuple[str, ...], modules: tuple[str, ...], as_json: bool) -> int:
    """Graphs the given files and modules define."""
    apply_loads(paths, modules)
    graphs = describe_graphs()
    if as_json:
        print_json({"items": graphs})
        return 0
    for graph in graphs:
        inputs = ", ".join(i["name"] for i in graph["inputs"]) or "-"
        outputs = ", ".join(graph["outputs"] or ()) or "-"
        out.print(
            f"[bold]{graph['graph_id']}[/] {graph['version']} ({graph['kind']})  "
            f"inputs: {inputs}  outputs: {outputs}"
        )
    return 0


def _quote(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def to_mermaid(graph: TaskGraph) -> str:
    """Draw a task graph as a Mermaid flowchart."""
    ids = {node.id: f"n{index}" for index, node in enumerate(graph.nodes)}
    lines = ["flowchart LR"]
    lines += [f"  {ids[n.id]}[{_quote(f'{n.id}: {n.tool}')}]" for n in graph.nodes]
    lines += [f"  {ids[src]} --> {ids[dst]}" for src, dst in graph.edges]
    return "\n".join(lines)


@graphs_group.command("show")
@click.argument("target")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "dot", "mermaid", "json"]),
    default="text",
    show_default=True,
)
def show_command(target: str, fmt: str) -> int:
    """The inputs, outputs and (for a task graph) nodes of TARGET (FILE.py:GRAPH)."""
    found = load_target(target)
    graph = found if isinstance(found, TaskGraph) else None
    described = describe_graph(graph.name if graph is not None else found.name, with_spec=True)
    if fmt == "json":
        print_json(described)
    elif graph is not None:
        drawn = {"dot": graph.to_dot, "mermaid": lambda: to_mermaid(graph), "text": graph.to_text}
        out.print(drawn[fmt](), markup=False)
    elif fmt != "text":
        raise click.UsageError(
            f"{described['graph_id']} is a {described['kind']}: its nodes appear only as it "
            "runs, so it has no drawing; use --format text or json"
        )
    else:
        out.print(f"{described['kind']} {described['graph_id']} {described['version']}")
        out.print(f"inputs: {json.dumps(described['inputs'])}", markup=False)
        out.print(f"outputs: {json.dumps(described['outputs'])}", markup=False)
        if described["description"]:
            out.print(described["description"], markup=False)
    return 0
