"""SPEC section 3: the service registry — names, look-ups, callable services, scoped overrides."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import NodeContext, Service, graph_fn, register_context_service, run
from aethergraph.errors import ServiceNotFoundError
from aethergraph.runtime import (
    get_ext_context_service,
    list_ext_context_services,
    override_context_service,
    unregister_context_service,
)

if TYPE_CHECKING:
    from collections.abc import Callable


class Named(Service):
    """A service that says which instance it is."""

    def __init__(self, label: str) -> None:
        self.label = label

    async def name(self) -> str:
        await asyncio.sleep(0)
        return self.label


@graph_fn
async def which(*, context: NodeContext) -> dict[str, Any]:
    return {"label": await context.named().name()}


# -- name rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["not-an-identifier", "1st", "has space", ""])
def test_a_name_that_is_not_an_identifier_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a Python identifier"):
        register_context_service(name, Named("x"))


@pytest.mark.parametrize(
    "name", ["memory", "channel", "artifacts", "kv", "logger", "llm", "mcp", "runner"]
)
def test_a_name_that_shadows_a_builtin_accessor_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=f"shadow the built-in context.{name}"):
        register_context_service(name, Named("x"))


@pytest.mark.parametrize("name", ["run_id", "graph_id", "node_id", "session_id", "parent_run_id"])
def test_a_name_that_is_a_node_context_field_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="NodeContext field"):
        register_context_service(name, Named("x"))


def test_a_private_name_is_refused() -> None:
    with pytest.raises(ValueError, match="underscore"):
        register_context_service("_hidden", Named("x"))


def test_a_refused_name_registers_nothing() -> None:
    before = list_ext_context_services()
    with pytest.raises(ValueError, match="built-in"):
        register_context_service("memory", Named("x"))
    assert list_ext_context_services() == before


def test_override_checks_the_name_rules_too() -> None:
    with (
        pytest.raises(ValueError, match="NodeContext field"),
        override_context_service("run_id", Named("x")),
    ):
        pass


def test_override_may_swap_a_built_in_that_registering_may_not() -> None:
    with override_context_service("kv", Named("x")) as fake:
        assert "kv" not in list_ext_context_services()  # still a built-in, not a custom service
        assert fake.label == "x"


# -- registration and look-ups ------------------------------------------------------------------


def test_a_registered_service_is_reachable_in_every_run(
    register: Callable[[str, object], object],
) -> None:
    register("named", Named("first"))
    assert run(which) == {"label": "first"}
    assert run(which) == {"label": "first"}


def test_registering_a_name_again_replaces_the_service(
    register: Callable[[str, object], object],
) -> None:
    register("named", Named("real"))
    assert run(which) == {"label": "real"}
    fake = register("named", Named("fake"))
    assert get_ext_context_service("named") is fake
    assert run(which) == {"label": "fake"}


def test_lookups_list_and_return_registered_services(
    register: Callable[[str, object], object],
) -> None:
    a = register("svc_a", Named("a"))
    register("svc_b", Named("b"))
    assert get_ext_context_service("svc_a") is a
    names = list_ext_context_services()
    assert {"svc_a", "svc_b"} <= set(names)
    assert names == sorted(names)


def test_unregister_removes_and_returns_the_service(
    register: Callable[[str, object], object],
) -> None:
    svc = register("temporary", Named("t"))
    assert unregister_context_service("temporary") is svc
    assert "temporary" not in list_ext_context_services()
    with pytest.raises(AttributeError, match="temporary"):
        get_ext_context_service("temporary")


def test_any_object_may_be_a_service(register: Callable[[str, object], object]) -> None:
    register("settings", {"retries": 3})

    @graph_fn
    async def reads_settings(*, context: NodeContext) -> dict[str, Any]:
        return {"retries": context.settings()["retries"]}

    assert run(reads_settings) == {"retries": 3}


def test_the_accessor_returns_the_shared_instance(
    register: Callable[[str, object], object],
) -> None:
    svc = register("named", Named("shared"))
    seen: list[object] = []

    @graph_fn
    async def grabs(*, context: NodeContext) -> None:
        seen.append(context.named())

    run(grabs)
    run(grabs)
    assert seen == [svc, svc]


# -- unknown names ------------------------------------------------------------------------------


def test_unknown_service_is_an_attribute_error_listing_names_and_suggesting_the_closest(
    register: Callable[[str, object], object],
) -> None:
    register("trainer", Named("t"))
    register("storage_api", Named("s"))

    @graph_fn
    async def typo(*, context: NodeContext) -> None:
        context.trainr()

    with pytest.raises(AttributeError) as info:
        run(typo)
    assert isinstance(info.value, ServiceNotFoundError)
    message = str(info.value)
    assert "'trainr'" in message
    assert "trainer" in message
    assert "storage_api" in message
    assert "Did you mean 'trainer'?" in message


def test_get_ext_context_service_of_an_unknown_name_suggests_the_closest(
    register: Callable[[str, object], object],
) -> None:
    register("predictor", Named("p"))
    with pytest.raises(AttributeError, match="Did you mean 'predictor'"):
        get_ext_context_service("predictr")


# -- callable services --------------------------------------------------------------------------


class Predictor(Service):
    """The seed's callable service: context.predictor("x") forwards to __call__."""

    async def __call__(self, prompt: str, *, suffix: str = "!") -> str:
        return await self.generate(prompt) + suffix

    async def generate(self, prompt: str) -> str:
        await asyncio.sleep(0)
        return f"predicted {prompt}"


def test_calling_the_accessor_with_arguments_forwards_to_an_async_call(
    register: Callable[[str, object], object],
) -> None:
    register("predictor", Predictor())

    @graph_fn
    async def predicts(*, context: NodeContext) -> dict[str, Any]:
        return {
            "short": await context.predictor("hello"),
            "kw": await context.predictor("hi", suffix="?"),
            "explicit": await context.predictor().generate("hello"),
        }

    assert run(predicts) == {
        "short": "predicted hello!",
        "kw": "predicted hi?",
        "explicit": "predicted hello",
    }


def test_a_sync_callable_service_returns_its_value(
    register: Callable[[str, object], object],
) -> None:
    class Doubler:
        def __call__(self, x: int) -> int:
            return 2 * x

    register("doubler", Doubler())

    @graph_fn
    async def doubles(*, context: NodeContext) -> dict[str, Any]:
        return {"y": context.doubler(21)}

    assert run(doubles) == {"y": 42}


def test_a_non_callable_service_called_with_arguments_is_a_type_error_naming_it(
    register: Callable[[str, object], object],
) -> None:
    register("named", Named("n"))

    @graph_fn
    async def calls_it(*, context: NodeContext) -> None:
        context.named("argument")

    with pytest.raises(TypeError, match=r"'named'.*not callable"):
        run(calls_it)


# -- overrides ----------------------------------------------------------------------------------


async def test_override_is_visible_in_the_runs_the_task_starts_and_restored_on_exit(
    register: Callable[[str, object], object],
) -> None:
    register("named", Named("real"))
    fake = Named("fake")
    with override_context_service("named", fake) as given:
        assert given is fake
        assert get_ext_context_service("named") is fake
        assert await which() == {"label": "fake"}
    assert await which() == {"label": "real"}
    assert get_ext_context_service("named") is not fake


async def test_overrides_nest_and_unwind_in_order(
    register: Callable[[str, object], object],
) -> None:
    register("named", Named("real"))
    with override_context_service("named", Named("outer")):
        assert await which() == {"label": "outer"}
        with override_context_service("named", Named("inner")):
            assert await which() == {"label": "inner"}
        assert await which() == {"label": "outer"}
    assert await which() == {"label": "real"}


async def test_override_of_an_unregistered_name_exists_only_in_the_block() -> None:
    with override_context_service("named", Named("only here")):
        assert "named" in list_ext_context_services()
        assert await which() == {"label": "only here"}
    assert "named" not in list_ext_context_services()
    with pytest.raises(AttributeError, match="'named'"):
        await which()


async def test_override_is_restored_when_the_block_raises(
    register: Callable[[str, object], object],
) -> None:
    register("named", Named("real"))
    with pytest.raises(KeyError), override_context_service("named", Named("fake")):
        raise KeyError("boom")
    assert await which() == {"label": "real"}


async def test_overrides_in_concurrent_tasks_do_not_leak_into_each_other(
    register: Callable[[str, object], object],
) -> None:
    register("named", Named("real"))
    both_overriding = asyncio.Barrier(3)

    async def with_override(label: str) -> list[str]:
        with override_context_service("named", Named(label)):
            await both_overriding.wait()
            outs = await asyncio.gather(*(which() for _ in range(20)))
        return [o["label"] for o in outs]

    async def without_override() -> list[str]:
        await both_overriding.wait()
        outs = await asyncio.gather(*(which() for _ in range(20)))
        return [o["label"] for o in outs]

    a, b, plain = await asyncio.gather(with_override("a"), with_override("b"), without_override())
    assert a == ["a"] * 20
    assert b == ["b"] * 20
    assert plain == ["real"] * 20


def test_override_applies_to_a_sync_run_in_the_block(
    register: Callable[[str, object], object],
) -> None:
    register("named", Named("real"))
    with override_context_service("named", Named("fake")):
        assert run(which) == {"label": "fake"}
    assert run(which) == {"label": "real"}


def test_override_is_also_available_from_the_test_kit(
    register: Callable[[str, object], object],
) -> None:
    from aethergraph.testing import override_context_service as kit_override

    register("named", Named("real"))
    with kit_override("named", Named("kit")):
        assert run(which) == {"label": "kit"}
