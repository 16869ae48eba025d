"""``context.memory()`` as the published documentation writes it."""

from __future__ import annotations

from typing import Any

from aethergraph import NodeContext, graph_fn, run


def test_record_keeps_severity_stage_signal_and_refs() -> None:
    @graph_fn(name="compat_memory_record")
    async def remember(*, context: NodeContext) -> dict[str, Any]:
        mem = context.memory()
        evt = await mem.record(
            kind="train_step",
            data={"loss": 0.25},
            tags=["exp1"],
            severity=4,
            stage="train",
            metrics={"loss": 0.25},
            signal="loss_drop",
            text="loss fell to 0.25",
            inputs_ref="artifact://in1",
            outputs_ref={"uri": "artifact://out1"},
        )
        [found] = await mem.search(tags=["stage:train"])
        return {
            "same_id": evt.event_id == evt.id == found.event_id,
            "stored": [found.severity, found.stage, found.signal, found.tags],
            "refs": [found.inputs_ref, found.outputs_ref],
        }

    out = run(remember)
    assert out == {
        "same_id": True,
        "stored": [
            4,
            "train",
            "loss_drop",
            ["exp1", "severity:4", "stage:train", "signal:loss_drop"],
        ],
        "refs": ["artifact://in1", {"uri": "artifact://out1"}],
    }


def test_write_result_keeps_severity_and_defaults_stay_plain() -> None:
    @graph_fn(name="compat_memory_result")
    async def result(*, context: NodeContext) -> dict[str, Any]:
        mem = context.memory()
        evt = await mem.write_result(
            topic="train", outputs=[{"name": "acc", "kind": "number", "value": 0.9}], severity=1
        )
        plain = await mem.record("note", "hello")
        [found] = await mem.recent(kinds=["tool_result"])
        return {
            "severity": [evt.severity, found.severity, plain.severity],
            "plain": [plain.tags, plain.stage, plain.signal, plain.inputs_ref],
            "last": await mem.last_by_name("acc"),
        }

    assert run(result) == {
        "severity": [1, 1, 2],
        "plain": [[], None, None, None],
        "last": 0.9,
    }
