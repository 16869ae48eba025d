"""``context.channel()`` as the published documentation writes it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import Button, NodeContext, graph_fn, run, run_async
from aethergraph.core.runtime.runtime_services import current_services
from aethergraph.errors import ConfigurationError
from aethergraph.runtime import RunStatus, get_run_async, reply_async, set_default_channel

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def default_channel_restored() -> Iterator[None]:
    yield
    set_default_channel("console")


def test_console_keys_with_any_suffix_are_the_console(capsys: pytest.CaptureFixture[str]) -> None:
    @graph_fn(name="compat_console_keys")
    async def hello(*, context: NodeContext) -> None:
        await context.channel("console:stdin").send_text("one")
        await context.channel("console:main").send_text("two")

    run(hello)
    assert capsys.readouterr().out == "one\ntwo\n"


def test_buttons_stream_and_file_bytes_on_the_console(
    capsys: pytest.CaptureFixture[str], workspace: Path
) -> None:
    @graph_fn(name="compat_console_sends")
    async def sends(*, context: NodeContext) -> None:
        ch = context.channel()
        await ch.send_buttons(
            "Pick one", [Button(label="Yes", value="y"), Button("No", "n")], meta={"k": 1}
        )
        async with ch.stream() as s:
            await s.delta("Hel")
            await s.delta("lo")
            await s.end(full_text="Hello")
        await ch.send_file(file_bytes=b"a,b\n1,2\n", filename="table.csv", title="Table")

    run(sends)
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["Pick one [Yes] [No]", "Hello"]
    title, path = lines[2].split(": ", 1)
    assert title == "Table"
    assert Path(path).is_relative_to(workspace)
    assert Path(path).read_bytes() == b"a,b\n1,2\n"


def test_file_channel_names_may_hold_sub_folders_inside_the_workspace(workspace: Path) -> None:
    @graph_fn(name="compat_file_sub")
    async def logs(*, context: NodeContext) -> None:
        await context.channel("file:runs/2024/log").send_buttons("Go?", [Button("Go", "go")])

    run(logs)
    [line] = (workspace / "channels" / "runs" / "2024" / "log.jsonl").read_text().splitlines()
    sent = json.loads(line)
    assert sent["options"] == ["Go"]
    assert sent["data"]["buttons"] == [{"label": "Go", "value": "go"}]


@pytest.mark.parametrize(
    "name", ["../x", "a/../../x", "/etc/passwd", "a//b", "a\x00b", "x\n", ".hidden", "a/./b"]
)
def test_file_channel_names_that_leave_the_folder_are_refused(name: str) -> None:
    @graph_fn(name="compat_file_escape")
    async def escapes(*, context: NodeContext) -> None:
        context.channel(f"file:{name}")

    with pytest.raises(ConfigurationError, match="inside the workspace's channels folder"):
        run(escapes)


def test_set_default_channel_key_of_the_older_services_object(
    workspace: Path, default_channel_restored: None
) -> None:
    current_services().channels.set_default_channel_key("file:default")

    @graph_fn(name="compat_default_key")
    async def hello(*, context: NodeContext) -> None:
        await context.channel().send_text("to the file")

    run(hello)
    [line] = (workspace / "channels" / "default.jsonl").read_text().splitlines()
    assert json.loads(line)["text"] == "to the file"


async def _waiting(run_id: str) -> None:
    async with asyncio.timeout(10):
        while True:
            try:
                if (await get_run_async(run_id)).status is RunStatus.WAITING:
                    return
            except KeyError:
                pass
            await asyncio.sleep(0.01)


async def test_ask_files_answered_by_reply_stores_the_files_as_artifacts(tmp_path: Path) -> None:
    data = tmp_path / "my data.csv"
    data.write_text("x\n1\n", encoding="utf-8")

    @graph_fn(name="compat_ask_files")
    async def upload(*, context: NodeContext) -> dict[str, Any]:
        ch = context.channel("file:uploads")
        got = await ch.ask_files("Your data?", accept=[".csv"], multiple=True)
        latest = await ch.get_latest_uploads()
        text = await context.artifacts().load_text(got["files"][0]["uri"])
        return {"got": got, "latest": latest, "text": text}

    running = asyncio.ensure_future(run_async(upload, run_id="compat-files-1"))
    await _waiting("compat-files-1")
    await reply_async("compat-files-1", text=f"'{data}'")
    async with asyncio.timeout(10):
        out = await running
    [file] = out["got"]["files"]
    assert out["got"]["text"] == f"'{data}'"
    assert (file["kind"], file["name"]) == ("upload", "my data.csv")
    assert out["latest"] == [file]
    assert out["text"] == "x\n1\n"


ASK_FILES_PROGRAM = textwrap.dedent(
    """
    import sys
    from aethergraph import NodeContext, graph_fn, run
    from aethergraph.runtime import configure

    configure(workspace=sys.argv[1])

    @graph_fn(name="console_files")
    async def upload(*, context: NodeContext) -> dict:
        got = await context.channel().ask_files("Which file?", accept=[".txt"])
        return {"names": [f["name"] for f in got["files"]]}

    print(run(upload))
    """
)


def test_ask_files_on_the_console_re_asks_until_the_path_is_a_file(tmp_path: Path) -> None:
    good = tmp_path / "notes.txt"
    good.write_text("hi", encoding="utf-8")
    answers = f"{tmp_path / 'missing.txt'}\n{good}\n"
    done = subprocess.run(
        [sys.executable, "-c", ASK_FILES_PROGRAM, str(tmp_path / "ws")],
        input=answers,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Which file?",
        f"no file at {str(tmp_path / 'missing.txt')!r}; please answer again:",
        "{'names': ['notes.txt']}",
    ]
