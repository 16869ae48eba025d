import copy
import json
import pickle

import pytest

from aethergraph.core.graph import InputRef, NodeRef, NodeSpec, TaskGraph
from aethergraph.errors import GraphDefinitionError, RunError


def node(node_id, *deps, after=(), outputs=None, alias=None, tool="t", **inputs):
    """A node fed by the whole outputs of each of ``deps``."""
    inputs.update({f"in_{i}": NodeRef(dep) for i, dep in enumerate(deps)})
    return NodeSpec(node_id, tool, "1.0", inputs, outputs=outputs, alias=alias, after=after)


def diamond():
    return TaskGraph(
        "diamond",
        nodes=(node("a"), node("b", "a"), node("c", "a", after=("b",)), node("d", "b", "c")),
        outputs={"result": NodeRef("d")},
    )


def test_node_dependencies_come_from_nested_refs_and_after():
    spec = NodeSpec(
        "n", "t", inputs={"cfg": {"x": [NodeRef("b", "k")]}, "y": NodeRef("a")}, after=["c", "a"]
    )
    assert spec.dependencies == ("a", "b", "c")
    assert spec.after == ("c", "a")


def test_node_inputs_are_read_only_and_canonical():
    spec = NodeSpec("n", "t", inputs={"pair": (1, 2)})
    assert spec.inputs["pair"] == [1, 2]
    with pytest.raises(TypeError):
        spec.inputs["pair"] = 3  # type: ignore[index]


def test_node_input_that_is_not_json_names_node_and_input():
    with pytest.raises(GraphDefinitionError, match=r"node 'n', input 'when': object value"):
        NodeSpec("n", "t", inputs={"when": object()})


def test_node_declaring_an_output_twice_is_refused():
    with pytest.raises(GraphDefinitionError, match="node 'n' declares an output twice"):
        NodeSpec("n", "t", outputs=("x", "x"))


def test_topological_order_keeps_declaration_order_among_ready_nodes():
    graph = TaskGraph("g", nodes=(node("z"), node("y"), node("x", "y"), node("w")))
    assert graph.topological_order() == ["z", "y", "x", "w"]


def test_topological_order_fixes_a_graph_declared_out_of_order():
    graph = TaskGraph("g", nodes=(node("c", "b"), node("b", "a"), node("a")))
    assert graph.topological_order() == ["a", "b", "c"]


def test_edges_indegrees_and_adjacency_of_a_diamond():
    graph = diamond()
    assert graph.edges == (("a", "b"), ("a", "c"), ("b", "c"), ("b", "d"), ("c", "d"))
    assert graph.indegrees() == {"a": 0, "b": 1, "c": 2, "d": 2}
    assert graph.dependents("a") == ("b", "c")
    assert graph.dependents("d") == ()
    assert graph.dependencies("d") == ("b", "c")


def test_node_is_found_by_id_or_alias():
    graph = TaskGraph("g", nodes=(node("a", alias="loader"),))
    assert graph.node("loader") is graph.node("a")
    assert graph.dependents("loader") == ()


def test_unknown_node_lookup_suggests_close_names():
    graph = TaskGraph("g", nodes=(node("load_1"), node("clean_1", alias="cleaner")))
    with pytest.raises(
        GraphDefinitionError, match=r"graph 'g' has no node 'lod_1'. Did you mean 'load_1'"
    ):
        graph.node("lod_1")


def test_duplicate_node_id_is_refused():
    with pytest.raises(GraphDefinitionError, match="graph 'g' has two nodes with id 'a'"):
        TaskGraph("g", nodes=(node("a"), node("a")))


def test_duplicate_alias_is_refused():
    with pytest.raises(
        GraphDefinitionError, match="alias 'x' of node 'b' is already used by node 'a'"
    ):
        TaskGraph("g", nodes=(node("a", alias="x"), node("b", alias="x")))


def test_alias_equal_to_another_node_id_is_refused():
    with pytest.raises(
        GraphDefinitionError, match="alias 'a' of node 'b' is already used by node 'a'"
    ):
        TaskGraph("g", nodes=(node("a"), node("b", alias="a")))


def test_ref_to_unknown_node_is_refused_with_suggestion():
    with pytest.raises(
        GraphDefinitionError, match=r"node 'b' refers to unknown node 'lod'\. Did you mean 'load'"
    ):
        TaskGraph("g", nodes=(node("load"), node("b", "lod")))


def test_after_unknown_node_is_refused():
    with pytest.raises(GraphDefinitionError, match="node 'b' runs after unknown node 'x'"):
        TaskGraph("g", nodes=(node("b", after=("x",)),))


def test_ref_to_undeclared_graph_input_is_refused():
    with pytest.raises(
        GraphDefinitionError, match=r"node 'a' uses graph input 'pth'.*Did you mean 'path'"
    ):
        TaskGraph("g", inputs=("path",), nodes=(node("a", p=InputRef("pth")),))


def test_ref_to_undeclared_output_key_names_node_key_and_outputs():
    with pytest.raises(
        GraphDefinitionError,
        match=r"node 'a' \(tool 't'\) has no output 'txt'; its declared outputs are 'text'\. "
        r"Did you mean 'text'",
    ):
        TaskGraph("g", nodes=(node("a", outputs=("text",)), node("b", x=NodeRef("a", "txt"))))


def test_any_key_may_be_selected_from_a_node_without_declared_outputs():
    graph = TaskGraph("g", nodes=(node("a"), node("b", x=NodeRef("a", "anything"))))
    assert graph.dependencies("b") == ("a",)


def test_cycle_is_reported_as_a_path():
    nodes = (node("a", "c"), node("b", "a"), node("c", "b"), node("d", "c"))
    with pytest.raises(GraphDefinitionError, match=r"graph 'g' has a cycle: a -> b -> c -> a"):
        TaskGraph("g", nodes=nodes)


def test_self_dependency_is_a_cycle():
    with pytest.raises(GraphDefinitionError, match="has a cycle: a -> a"):
        TaskGraph("g", nodes=(node("a", after=("a",)),))


def test_outputs_referring_to_unknown_node_are_refused():
    with pytest.raises(GraphDefinitionError, match="the graph outputs refers to unknown node 'zz'"):
        TaskGraph("g", nodes=(node("a"),), outputs={"x": NodeRef("zz", "k")})


def test_whole_node_outputs_must_be_unkeyed():
    with pytest.raises(GraphDefinitionError, match="name it"):
        TaskGraph("g", nodes=(node("a"),), outputs=NodeRef("a", "k"))


def test_input_both_required_and_defaulted_is_refused():
    with pytest.raises(GraphDefinitionError, match="declares input 'x' twice"):
        TaskGraph("g", inputs=("x",), defaults={"x": 1})


def test_json_round_trip_is_equal_and_dumpable():
    graph = TaskGraph(
        "g",
        version="2.0",
        inputs=("path",),
        defaults={"opts": {"$strict": True, "depth": (1, 2)}},
        nodes=(
            node("a", path=InputRef("path"), outputs=("text", "meta")),
            node("b", alias="clean", cfg={"$node": "literal", "t": NodeRef("a", "text")}),
            node("c", "a", after=("b",)),
        ),
        outputs={"$weird": NodeRef("a", "meta"), "all": NodeRef("c"), "const": [1, "x"]},
    )
    data = json.loads(json.dumps(graph.to_json()))
    restored = TaskGraph.from_json(data)
    assert restored == graph
    assert restored.node("clean").inputs["cfg"] == {"$node": "literal", "t": NodeRef("a", "text")}
    assert TaskGraph.from_json(diamond().to_json()) == diamond()


def test_from_json_validates_the_graph():
    data = diamond().to_json()
    data["nodes"][0]["after"] = ["d"]
    with pytest.raises(GraphDefinitionError, match="has a cycle"):
        TaskGraph.from_json(data)


def test_from_json_reports_a_missing_field():
    with pytest.raises(GraphDefinitionError, match="a node has no 'tool' field"):
        TaskGraph.from_json({"name": "g", "nodes": [{"id": "a"}]})


def test_from_json_refuses_an_unknown_format():
    with pytest.raises(GraphDefinitionError, match="format 99"):
        TaskGraph.from_json({"format": 99, "name": "g"})


def test_to_text_lists_nodes_in_run_order_with_deps_and_outputs():
    graph = TaskGraph(
        "etl",
        inputs=("path",),
        defaults={"limit": 10},
        nodes=(
            node("clean", x=NodeRef("load", "text"), tool="clean_text"),
            node("load", p=InputRef("path"), alias="loader", tool="read"),
        ),
        outputs={"text": NodeRef("clean", "out")},
    )
    assert graph.to_text().splitlines() == [
        "graph etl 0.1.0",
        "inputs: path, limit=10",
        "  load [loader]: read(p=$path)",
        "  clean: clean_text(x=load.text)  <- load",
        "outputs: text=clean.out",
    ]


def test_to_dot_quotes_ids_and_dashes_ordering_edges():
    graph = TaskGraph(
        'my "graph"',
        nodes=(node('a "1"'), node("b", 'a "1"'), node("c", after=("b",))),
        outputs=NodeRef("c"),
    )
    dot = graph.to_dot()
    assert dot.startswith('digraph "my \\"graph\\"" {')
    assert '"a \\"1\\"" [label="a \\"1\\"\\nt"];' in dot
    assert '"a \\"1\\"" -> "b";' in dot
    assert '"b" -> "c" [style=dashed];' in dot
    assert dot.endswith("}")


def test_graph_survives_pickle_and_deepcopy():
    graph = TaskGraph(
        "g", defaults={"d": 1}, nodes=(node("a"), node("b", "a")), outputs={"o": NodeRef("b", "x")}
    )
    assert pickle.loads(pickle.dumps(graph)) == graph
    assert copy.deepcopy(graph) == graph
    assert pickle.loads(pickle.dumps(diamond())).topological_order() == ["a", "b", "c", "d"]


def test_resolve_outputs_of_a_whole_node_and_of_a_dict():
    outputs = {"a": {"x": 1}, "b": {"y": 2}}
    whole = TaskGraph("g", nodes=(node("a"),), outputs=NodeRef("a"))
    named = TaskGraph(
        "g", inputs=("p",), nodes=(node("b"),), outputs={"y": NodeRef("b", "y"), "p": InputRef("p")}
    )
    assert whole.resolve_outputs(outputs, {}) == {"x": 1}
    assert named.resolve_outputs(outputs, {"p": 0}) == {"y": 2, "p": 0}


def test_resolve_inputs_notes_the_node_and_input_on_failure():
    spec = node("b", x=NodeRef("a", "missing"))
    with pytest.raises(RunError, match="no output 'missing'") as info:
        spec.resolve_inputs({"a": {"present": 1}}, {})
    assert info.value.__notes__ == ["while resolving input 'x' of node 'b'"]


def test_topological_order_of_a_10000_node_chain():
    nodes = [node("n0")] + [node(f"n{i}", f"n{i - 1}") for i in range(1, 10_000)]
    graph = TaskGraph("chain", nodes=tuple(reversed(nodes)))
    order = graph.topological_order()
    assert order[0] == "n0"
    assert order[-1] == "n9999"


def test_topological_order_of_a_10000_node_fan_out_and_fan_in():
    leaves = [node(f"leaf{i}", "root") for i in range(10_000)]
    join = NodeSpec("join", "t", inputs={"values": [NodeRef(leaf.id, "v") for leaf in leaves]})
    graph = TaskGraph("fan", nodes=(node("root"), *leaves, join))
    order = graph.topological_order()
    assert order[0] == "root"
    assert order[-1] == "join"
    assert len(graph.dependents("root")) == 10_000
    assert graph.indegrees()["join"] == 10_000


def test_resolve_inputs_gives_the_tool_its_arguments():
    spec = node("b", x=NodeRef("a", "v"), cfg={"p": InputRef("p"), "n": [1]})
    assert spec.resolve_inputs({"a": {"v": 5}}, {"p": "q"}) == {"x": 5, "cfg": {"p": "q", "n": [1]}}


def test_equal_graphs_hash_equal():
    assert hash(TaskGraph.from_json(diamond().to_json())) == hash(diamond())
    assert hash(node("a", x=[1])) == hash(node("a", x=[1]))


def test_to_text_of_a_graph_returning_a_whole_node():
    graph = TaskGraph(
        "g", nodes=(node("a", cfg={"k": [NodeRef("z", "v")]}), node("z")), outputs=NodeRef("a")
    )
    assert graph.to_text().splitlines()[2:] == [
        "  z: t()",
        '  a: t(cfg={"k": [z.v]})  <- z',
        "outputs: all outputs of a",
    ]


def test_empty_node_id_is_refused():
    with pytest.raises(GraphDefinitionError, match="a node id must be a non-empty string, got ''"):
        NodeSpec("", "t")


def test_graph_nodes_must_be_node_specs():
    with pytest.raises(GraphDefinitionError, match="is not a NodeSpec"):
        TaskGraph("g", nodes=({"id": "a"},))  # type: ignore[arg-type]


def test_graph_outputs_must_be_a_dict_or_a_node_ref():
    with pytest.raises(
        GraphDefinitionError, match="the outputs must be a dict or a NodeRef, got list"
    ):
        TaskGraph("g", outputs=[1])  # type: ignore[arg-type]


def test_default_referring_to_a_node_is_refused():
    with pytest.raises(GraphDefinitionError, match="the default of input 'd' refers to a node"):
        TaskGraph("g", nodes=(node("a"),), defaults={"d": NodeRef("a")})
