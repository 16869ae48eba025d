import copy
import pickle

import pytest

from aethergraph.core.graph import (
    GraphBuilder,
    InputRef,
    NodeHandle,
    NodeRef,
    building,
    current_builder,
)
from aethergraph.errors import GraphDefinitionError


def call(builder, tool, *, outputs=None, node_id=None, alias=None, after=None, **inputs):
    """Declare a node the way the engine's @tool wrapper does inside a builder."""
    return builder.add_node(
        tool=tool,
        version="1.0",
        inputs=inputs,
        outputs=outputs,
        node_id=node_id,
        alias=alias,
        after=after,
    )


@pytest.fixture
def builder():
    return GraphBuilder("g", inputs=["x"], defaults={"scale": 2})


def test_chain_is_built_in_order(builder):
    a = call(builder, "inc", outputs=("value",), n=builder.input("x"))
    b = call(builder, "inc", outputs=("value",), n=a.value)
    c = call(builder, "inc", outputs=("value",), n=b.value)
    graph = builder.finish({"value": c.value})
    assert graph.topological_order() == ["inc_1", "inc_2", "inc_3"]
    assert graph.edges == (("inc_1", "inc_2"), ("inc_2", "inc_3"))
    assert graph.outputs == {"value": NodeRef("inc_3", "value")}


def test_diamond_waits_for_both_branches(builder):
    top = call(builder, "split", outputs=("left", "right"), data=builder.input("x"))
    left = call(builder, "work", outputs=("out",), data=top.left)
    right = call(builder, "work", outputs=("out",), data=top.right)
    bottom = call(builder, "merge", a=left.out, b=right.out)
    graph = builder.finish(bottom)
    assert graph.topological_order() == ["split_1", "work_1", "work_2", "merge_1"]
    assert graph.dependencies("merge_1") == ("work_1", "work_2")
    assert graph.outputs == NodeRef("merge_1")


def test_fan_out_fan_in_through_a_list_of_refs(builder):
    source = call(builder, "source", outputs=("items",))
    workers = [call(builder, "work", outputs=("out",), item=source.items, i=i) for i in range(3)]
    join = call(builder, "join", values=[w.out for w in workers])
    graph = builder.finish({"joined": join.result})
    assert graph.node("join_1").inputs["values"] == [NodeRef(f"work_{i}", "out") for i in (1, 2, 3)]
    assert graph.dependents("source_1") == ("work_1", "work_2", "work_3")
    assert graph.indegrees()["join_1"] == 3


def test_default_ids_count_per_tool_and_skip_taken_ids(builder):
    call(builder, "add", node_id="add_2")
    first = call(builder, "add")
    second = call(builder, "add")
    other = call(builder, "mul")
    assert [first.node_id, second.node_id, other.node_id] == ["add_1", "add_3", "mul_1"]


def test_default_ids_skip_aliases(builder):
    call(builder, "load", alias="add_1")
    assert call(builder, "add").node_id == "add_2"


def test_explicit_id_and_alias_are_kept(builder):
    handle = call(builder, "load", node_id="loader", alias="source")
    assert (handle.node_id, handle.alias) == ("loader", "source")
    graph = builder.finish(None)
    assert graph.node("source").id == "loader"
    assert graph.outputs == {}


def test_taken_explicit_id_is_refused(builder):
    call(builder, "load")
    with pytest.raises(GraphDefinitionError, match="node id 'load_1' is already the id or alias"):
        call(builder, "other", node_id="load_1")


def test_taken_alias_is_refused_with_a_note_naming_the_node(builder):
    call(builder, "load", alias="src")
    with pytest.raises(GraphDefinitionError, match="alias 'src' is already") as info:
        call(builder, "load", alias="src")
    assert "while adding node 'load_2' (tool 'load') to graph 'g'" in info.value.__notes__


def test_attribute_and_item_select_the_same_output(builder):
    handle = call(builder, "ask", outputs=("text", "alias"))
    assert handle.text == handle["text"] == NodeRef("ask_1", "text")
    assert handle["alias"] == NodeRef("ask_1", "alias")


def test_unknown_output_selector_names_node_key_and_outputs(builder):
    handle = call(builder, "ask", outputs=("text",))
    with pytest.raises(
        GraphDefinitionError,
        match=r"node 'ask_1' \(tool 'ask'\) has no output 'txt'; its declared outputs are "
        r"'text'\. Did you mean 'text'",
    ):
        _ = handle.txt


def test_any_output_may_be_selected_when_none_are_declared(builder):
    assert call(builder, "free").whatever == NodeRef("free_1", "whatever")


def test_non_string_selector_is_refused(builder):
    with pytest.raises(GraphDefinitionError, match="selected by name"):
        _ = call(builder, "t")[0]


def test_whole_handle_as_input_means_its_outputs_dict(builder):
    first = call(builder, "load")
    second = call(builder, "use", data=first, nested={"all": [first]})
    graph = builder.finish({"out": second})
    spec = graph.node("use_1")
    assert spec.inputs == {"data": NodeRef("load_1"), "nested": {"all": [NodeRef("load_1")]}}
    assert graph.outputs == {"out": NodeRef("use_1")}


def test_nested_refs_and_literals_in_inputs(builder):
    a = call(builder, "a", outputs=("x",))
    b = call(builder, "b", cfg={"a": a.x, "b": 3, "list": (a.x, builder.input("scale"))})
    graph = builder.finish(None)
    assert graph.node(b.node_id).inputs["cfg"] == {
        "a": NodeRef("a_1", "x"),
        "b": 3,
        "list": [NodeRef("a_1", "x"), InputRef("scale")],
    }


def test_after_accepts_a_single_handle(builder):
    first = call(builder, "send")
    second = call(builder, "send", after=first)
    assert builder.finish(None).dependencies(second.node_id) == ("send_1",)


def test_after_accepts_a_list_of_handles(builder):
    first, second = call(builder, "a"), call(builder, "b")
    third = call(builder, "c", after=[first, second])
    graph = builder.finish(None)
    assert graph.node(third.node_id).after == ("a_1", "b_1")
    assert graph.topological_order() == ["a_1", "b_1", "c_1"]


def test_after_refuses_something_that_is_not_a_handle(builder):
    with pytest.raises(
        GraphDefinitionError, match="_after= takes a node handle or a list of them, got str"
    ):
        call(builder, "c", after="a_1")


def test_input_refs_cover_required_and_defaulted_inputs(builder):
    assert builder.input_refs() == {"x": InputRef("x"), "scale": InputRef("scale")}


def test_unknown_input_is_refused_with_suggestion(builder):
    with pytest.raises(
        GraphDefinitionError, match=r"graph 'g' has no input 'scal'.*Did you mean 'scale'"
    ):
        builder.input("scal")


def test_input_ref_of_another_graph_is_refused(builder):
    with pytest.raises(GraphDefinitionError, match="has no input 'other'"):
        call(builder, "t", value=InputRef("other"))


def test_handle_from_another_graph_is_refused(builder):
    foreign = call(GraphBuilder("other"), "load")
    with pytest.raises(
        GraphDefinitionError, match="node 'load_1' belongs to graph 'other', not to graph 'g'"
    ):
        call(builder, "use", data={"x": [foreign]})
    with pytest.raises(GraphDefinitionError, match="a handle cannot cross graphs"):
        builder.finish(foreign)


def test_bare_ref_to_a_node_this_graph_lacks_is_refused(builder):
    with pytest.raises(
        GraphDefinitionError, match="refers to node 'load_9', which graph 'g' does not have"
    ):
        call(builder, "use", data=NodeRef("load_9", "text"))


def test_bare_ref_to_an_undeclared_output_is_refused(builder):
    call(builder, "load", outputs=("text",))
    with pytest.raises(GraphDefinitionError, match="has no output 'txt'"):
        call(builder, "use", data=NodeRef("load_1", "txt"))


def test_literal_that_is_not_json_is_refused_naming_node_and_input(builder):
    with pytest.raises(GraphDefinitionError, match="node 'use_1', input 'when'") as info:
        call(builder, "use", when=object())
    assert "while adding node 'use_1' (tool 'use') to graph 'g'" in info.value.__notes__


def test_single_value_maps_onto_a_single_declared_output(builder):
    handle = call(builder, "ask", outputs=("text",))
    assert builder.finish(handle.text, declared_outputs=["answer"]).outputs == {
        "answer": handle.text
    }


def test_unsupported_return_value_is_refused(builder):
    with pytest.raises(GraphDefinitionError, match="return a dict of outputs"):
        builder.finish(42)


def test_missing_declared_outputs_are_named(builder):
    handle = call(builder, "ask", outputs=("text",))
    with pytest.raises(
        GraphDefinitionError, match="does not return 'summary'; the builder returned 'text'"
    ):
        builder.finish({"text": handle.text}, declared_outputs=["text", "summary"])


def test_returned_handle_must_declare_the_declared_outputs(builder):
    handle = call(builder, "ask", outputs=("text",))
    with pytest.raises(
        GraphDefinitionError, match="does not return 'answer'; node 'ask_1' declares only 'text'"
    ):
        builder.finish(handle, declared_outputs=["answer"])


def test_no_return_with_declared_outputs_is_refused(builder):
    with pytest.raises(GraphDefinitionError, match="does not return 'a', 'b'"):
        builder.finish(None, declared_outputs=["a", "b"])


def test_truth_test_on_a_handle_or_selected_output_is_refused(builder):
    handle = call(builder, "ask_approval", outputs=("approved",))
    with pytest.raises(GraphDefinitionError, match="Make the decision inside a @tool"):
        bool(handle)

    def builder_code():
        return "yes" if handle.approved else "no"

    with pytest.raises(GraphDefinitionError, match="A truth test"):
        builder_code()


def test_iterating_a_handle_is_refused(builder):
    with pytest.raises(GraphDefinitionError, match="Iteration"):
        list(call(builder, "t"))


def test_arithmetic_on_a_handle_is_refused(builder):
    with pytest.raises(GraphDefinitionError, match="Arithmetic"):
        _ = call(builder, "t") + 1


def test_private_attributes_raise_attribute_error(builder):
    handle = call(builder, "t")
    assert not hasattr(handle, "_missing")
    assert not hasattr(handle, "__array__")
    assert copy.copy(handle).node_id == "t_1"
    assert pickle.loads(pickle.dumps(handle)).node_id == "t_1"


def test_building_sets_and_restores_the_current_builder(builder):
    assert current_builder() is None
    inner = GraphBuilder("inner")
    with building(builder):
        assert current_builder() is builder
        with building(inner):
            assert current_builder() is inner
        assert current_builder() is builder
    assert current_builder() is None


def test_handle_repr_names_node_and_graph(builder):
    handle = call(builder, "t")
    assert isinstance(handle, NodeHandle)
    assert repr(handle) == "<node 't_1' of graph 'g'>"


def test_after_and_outputs_accept_bare_refs_of_this_graph(builder):
    first = call(builder, "a", outputs=("x",))
    second = call(builder, "b", after=first.x)
    graph = builder.finish(NodeRef(second.node_id))
    assert graph.dependencies("b_1") == ("a_1",)
    assert graph.outputs == NodeRef("b_1")


def test_returned_handle_without_declared_tool_outputs_is_checked_at_run_time(builder):
    handle = call(builder, "free")
    assert builder.finish(handle, declared_outputs=["anything"]).outputs == NodeRef("free_1")
