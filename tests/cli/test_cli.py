"""SPEC §6: the ``aethergraph`` command line on a workspace with no server running."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

from tests.cli.conftest import FLOWS, SCRIPT

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.cli.conftest import Result

    Cli = Callable[..., Result]


def test_run_prints_the_outputs_and_exits_0(cli: Cli) -> None:
    done = cli("run", f"{FLOWS}:arith", "--inputs", '{"a": 1, "b": 2}', "--json")
    assert done.code == 0, done
    body = done.json()
    assert body["status"] == "succeeded"
    assert body["outputs"] == {"result": 6}
    assert body["run_id"].startswith("run-")


def test_run_in_a_terminal_shows_task_graph_nodes_done_out_of_total(
    cli_env: dict[str, str],
) -> None:
    terminal, child = pty.openpty()
    try:
        done = subprocess.run(
            [str(SCRIPT), "run", f"{FLOWS}:arith", "--inputs", '{"a": 1, "b": 2}'],
            stderr=child,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env={**cli_env, "TERM": "xterm"},
            timeout=30,
            check=False,
        )
        os.close(child)
        shown = b""
        while chunk := _read(terminal):
            shown += chunk
    finally:
        os.close(terminal)
    assert done.returncode == 0
    assert b"arith" in shown
    assert b"2/2" in shown
    assert b'"result": 6' in done.stdout


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal's other end is closed: all was read
        return b""


def test_run_takes_a_module_and_graph_name(cli: Cli, tmp_path: Path) -> None:
    shutil.copy(FLOWS, tmp_path / "my_graphs.py")
    done = cli("run", "my_graphs:arith", "--inputs", '{"a": 2, "b": 2}', "--json")
    assert done.code == 0, done
    assert done.json()["outputs"] == {"result": 8}


def test_run_reads_inputs_from_a_file_and_keeps_the_given_run_id(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "inputs.json").write_text('{"name": "Ada"}', encoding="utf-8")
    done = cli("run", f"{FLOWS}:greet", "--inputs", "@inputs.json", "--run-id", "run-mine")
    assert done.code == 0, done
    assert '"greeting": "hello Ada"' in done.out
    listed = cli("runs", "list", "--json").json()["items"]
    assert [(r["run_id"], r["status"]) for r in listed] == [("run-mine", "succeeded")]


def test_a_failed_run_exits_1_and_runs_show_names_the_failed_node(cli: Cli) -> None:
    done = cli("run", f"{FLOWS}:breaks", "--inputs", '{"reason": "bad gear"}', "--json")
    assert done.code == 1, done
    run_id = done.json()["run_id"]
    assert "exploded: bad gear" in done.json()["error"]
    shown = cli("runs", "show", run_id)
    assert shown.code == 0, shown
    assert "failed at node srv_explode_1" in shown.out
    assert "srv_add_1" in shown.out  # the node table lists every node
    as_json = cli("runs", "show", run_id, "--json").json()
    assert {n["node_id"]: n["status"] for n in as_json["nodes"]} == {
        "srv_add_1": "succeeded",
        "srv_explode_1": "failed",
    }


def test_a_run_left_waiting_exits_3_and_reply_finishes_it(cli: Cli, tmp_path: Path) -> None:
    done = cli("run", f"{FLOWS}:approval", "--inputs", '{"item": "box"}', "--json")
    assert done.code == 3, done
    run_id = done.json()["run_id"]
    shown = cli("runs", "show", run_id)
    assert "Ship it?" in shown.out
    assert f"aethergraph reply {run_id} --choice" in shown.out

    replied = cli("reply", run_id, "--choice", "Ship", "--load-path", str(FLOWS))
    assert replied.code == 0, replied
    assert "succeeded" in replied.out
    record = cli("runs", "show", run_id, "--json").json()["run"]
    assert record["outputs"] == {"status": "T-box Ship"}
    effects = (tmp_path / "side_effects.txt").read_text(encoding="utf-8").split()
    assert effects == ["prep", "finish"]


def test_a_reply_that_is_not_an_option_is_a_usage_error(cli: Cli) -> None:
    run_id = cli("run", f"{FLOWS}:approval", "--inputs", '{"item": "box"}', "--json").json()[
        "run_id"
    ]
    done = cli("reply", run_id, "--choice", "Perhaps", "--load-path", str(FLOWS))
    assert done.code == 2, done
    assert "Ship" in done.err


def test_runs_cancel_marks_a_waiting_run_cancelled(cli: Cli) -> None:
    run_id = cli("run", f"{FLOWS}:approval", "--inputs", '{"item": "box"}', "--json").json()[
        "run_id"
    ]
    done = cli("runs", "cancel", run_id)
    assert done.code == 0, done
    assert "cancelled" in done.out
    listed = cli("runs", "list", "--status", "cancelled", "--json").json()["items"]
    assert [r["run_id"] for r in listed] == [run_id]


def test_runs_resume_retries_a_failed_run_and_exits_1_when_it_fails_again(cli: Cli) -> None:
    run_id = cli("run", f"{FLOWS}:breaks", "--inputs", '{"reason": "x"}', "--json").json()["run_id"]
    done = cli("runs", "resume", run_id, "--load-path", str(FLOWS))
    assert done.code == 1, done
    assert "exploded: x" in done.err


def test_usage_errors_exit_2_and_say_what_is_wrong(cli: Cli) -> None:
    cases = [
        (("run", "no-colon-here"), "FILE.py:GRAPH"),
        (("run", f"{FLOWS}:arith", "--inputs", "[1, 2]"), "JSON object"),
        (("run", f"{FLOWS}:arith", "--inputs", "{not json"), "not JSON"),
        (("run", f"{FLOWS}:nothing"), "nothing"),
        (("run", f"{FLOWS}:arith", "--inputs", '{"a": 1}'), "'b'"),
        (("runs", "show", "run-nope"), "run-nope"),
        (("runs", "list", "--status", "sleepy"), "sleepy"),
        (("reply", "run-x"), "--text"),
        (("frobnicate",), "frobnicate"),
    ]
    for args, message in cases:
        done = cli(*args)
        assert done.code == 2, (args, done)
        assert message in done.err, (args, done)


def test_graphs_list_and_show_describe_the_graphs_of_a_file(cli: Cli) -> None:
    listed = cli("graphs", "list", "--load-path", str(FLOWS), "--json")
    assert listed.code == 0, listed
    kinds = {g["graph_id"]: g["kind"] for g in listed.json()["items"]}
    assert kinds["arith"] == "graphify"
    assert kinds["greet"] == "graph_fn"
    mermaid = cli("graphs", "show", f"{FLOWS}:arith", "--format", "mermaid")
    assert mermaid.out.startswith("flowchart LR")
    assert "srv_add_1: srv_add" in mermaid.out
    assert "-->" in mermaid.out
    dot = cli("graphs", "show", f"{FLOWS}:arith", "--format", "dot")
    assert dot.out.startswith('digraph "arith"') or dot.out.startswith("digraph arith")
    text = cli("graphs", "show", f"{FLOWS}:greet")
    assert "graph_fn greet" in text.out
    assert cli("graphs", "show", f"{FLOWS}:greet", "--format", "dot").code == 2


def test_python_dash_m_aethergraph_is_the_same_command(cli_env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aethergraph", "--help"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0
    for command in ("run", "serve", "runs", "reply", "graphs"):
        assert command in done.stdout
    assert SCRIPT.exists()
