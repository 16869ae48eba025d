"""``aethergraph``: run graphs, serve the API and page, and inspect or answer runs.

Exit codes: 0 success, 1 the run failed, 2 a usage error (bad arguments, unknown run or graph),
3 the run was left waiting for an answer.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from aethergraph.cli.display import err
from aethergraph.cli.graphs import graphs_group
from aethergraph.cli.mcp_serve import mcp_group
from aethergraph.cli.reply import reply_command
from aethergraph.cli.run import run_command
from aethergraph.cli.runs import runs_group
from aethergraph.cli.serve import serve_command
from aethergraph.errors import ConfigurationError, GraphNotFoundError, RunNotFoundError, ServerError
from aethergraph.services.logger import show_logs

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["EXIT_USAGE", "cli", "main"]

EXIT_USAGE = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aethergraph", prog_name="aethergraph")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default=None,
    help="Print the runtime's log records (run logs included) at this level and up.",
)
def cli(log_level: str | None) -> None:
    """AetherGraph: run graphs, serve the API and web page, inspect and answer runs."""
    if log_level is not None:
        show_logs(log_level)


for _command in (run_command, serve_command, runs_group, reply_command, graphs_group, mcp_group):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = cli.main(args=args, prog_name="aethergraph", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as exc:
        exc.show(file=sys.stderr)
        return EXIT_USAGE
    except click.Abort:
        err.print("aborted")
        return 130
    except (RunNotFoundError, GraphNotFoundError, ConfigurationError, ServerError) as exc:
        err.print(f"error: {exc}", markup=False)
        return EXIT_USAGE
    return code if isinstance(code, int) else 0
