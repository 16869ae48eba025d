import json
import operator

import pytest

from aethergraph.core.graph import (
    InputRef,
    NodeRef,
    decode_value,
    encode_value,
    refs_in,
    resolve_value,
)
from aethergraph.errors import GraphDefinitionError, RunError


def test_refs_encode_as_marked_json_objects():
    assert encode_value(NodeRef("load_1", "text")) == {"$node": "load_1", "key": "text"}
    assert encode_value(NodeRef("load_1")) == {"$node": "load_1", "key": None}
    assert encode_value(InputRef("path")) == {"$input": "path"}


def test_nested_values_round_trip_through_json_text():
    value = {
        "cfg": {"a": NodeRef("n", "x"), "b": 3, "c": [InputRef("p"), None, True, 1.5]},
        "items": [NodeRef("m"), "text"],
    }
    assert decode_value(json.loads(json.dumps(encode_value(value)))) == value


def test_tuples_come_back_as_lists():
    assert decode_value(encode_value((1, (NodeRef("a", "b"), 2)))) == [1, [NodeRef("a", "b"), 2]]


def test_literal_dict_with_dollar_keys_is_escaped_and_restored():
    literal = {"$node": "not-a-ref", "key": "k", "inner": {"$input": "nope"}}
    encoded = encode_value(literal)
    assert encoded == {
        "$lit": {"$node": "not-a-ref", "key": "k", "inner": {"$lit": {"$input": "nope"}}}
    }
    assert decode_value(json.loads(json.dumps(encoded))) == literal


def test_refs_inside_an_escaped_literal_dict_stay_refs():
    value = {"$weird": NodeRef("a", "x")}
    assert decode_value(encode_value(value)) == value


def test_non_json_value_is_refused_with_its_type():
    with pytest.raises(GraphDefinitionError, match="set value"):
        encode_value({"a": {1, 2}})


def test_non_string_dict_key_is_refused():
    with pytest.raises(GraphDefinitionError, match="dict key 1 is a int"):
        encode_value({1: "one"})


@pytest.mark.parametrize(
    "data",
    [
        {"$node": "a", "key": "b", "extra": 1},
        {"$input": "a", "key": "b"},
        {"$unknown": 1},
        {"$lit": [1, 2]},
        {"$node": 3, "key": None},
    ],
)
def test_malformed_encoded_values_are_refused(data):
    with pytest.raises(GraphDefinitionError, match="malformed graph value"):
        decode_value(data)


def test_refs_in_finds_distinct_refs_at_any_depth_in_order():
    value = {"a": [NodeRef("n", "x"), {"b": InputRef("p")}], "c": (NodeRef("n", "x"), NodeRef("m"))}
    assert refs_in(value) == [NodeRef("n", "x"), InputRef("p"), NodeRef("m")]


def test_resolve_value_substitutes_nested_refs():
    outputs = {"n": {"x": 1, "y": [2]}, "m": {"z": "zed"}}
    value = {"cfg": {"a": NodeRef("n", "x"), "b": 3}, "all": NodeRef("m"), "p": [InputRef("p")]}
    assert resolve_value(value, outputs, {"p": "pee"}) == {
        "cfg": {"a": 1, "b": 3},
        "all": {"z": "zed"},
        "p": ["pee"],
    }


def test_resolve_value_copies_the_whole_outputs_dict():
    outputs = {"m": {"z": 1}}
    resolved = resolve_value(NodeRef("m"), outputs, {})
    resolved["z"] = 2
    assert outputs["m"] == {"z": 1}


def test_resolve_value_keeps_tuples():
    assert resolve_value((NodeRef("n", "x"), 1), {"n": {"x": 0}}, {}) == (0, 1)


def test_missing_output_key_names_node_key_and_existing_keys():
    with pytest.raises(RunError, match=r"node 'n' returned no output 'y'; it returned: 'a', 'b'"):
        resolve_value([NodeRef("n", "y")], {"n": {"a": 1, "b": 2}}, {})


def test_node_without_outputs_is_a_run_error():
    with pytest.raises(RunError, match="node 'n' has no outputs yet"):
        resolve_value(NodeRef("n", "x"), {}, {})


def test_missing_graph_input_is_a_run_error():
    with pytest.raises(RunError, match="graph input 'p' has no value"):
        resolve_value(InputRef("p"), {}, {"q": 1})


@pytest.mark.parametrize("ref", [NodeRef("n", "ok"), InputRef("flag")])
def test_truth_test_on_a_ref_explains_that_builders_only_wire(ref):
    with pytest.raises(GraphDefinitionError, match="inside a @tool"):
        bool(ref)


@pytest.mark.parametrize(
    "operation",
    [operator.add, operator.sub, operator.mul, operator.truediv, operator.lt, operator.ge],
)
def test_arithmetic_and_ordering_on_a_ref_are_refused(operation):
    with pytest.raises(GraphDefinitionError, match="builder code only wires nodes"):
        operation(NodeRef("n", "x"), 1)
    with pytest.raises(GraphDefinitionError, match="builder code only wires nodes"):
        operation(1, NodeRef("n", "x"))


def test_formatting_a_ref_into_a_string_is_refused():
    ref = NodeRef("n", "text")
    with pytest.raises(GraphDefinitionError, match="String formatting"):
        _ = f"Summarise {ref}"
    assert "NodeRef" in repr(ref)


def test_refs_compare_and_hash_structurally():
    assert NodeRef("n", "x") == NodeRef("n", "x")
    assert NodeRef("n", "x") != NodeRef("n", "y")
    assert len({NodeRef("n", "x"), NodeRef("n", "x"), InputRef("n")}) == 2
