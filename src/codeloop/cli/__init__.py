"""The `codeloop` command line.

One module per command group: `evaluate`, `run`, `compare`, `show`, `report`, `view`, and
`info` (`strategies` and `sandbox check`); `common` holds the options, checks and consoles
they share and `output` the report printing.  The commands import the heavy modules (runs,
models, execution) inside their functions, so that `codeloop --help` stays quick.
"""

from __future__ import annotations

import sys

import typer

from codeloop.cli.compare import compare
from codeloop.cli.evaluate import TestOrder, evaluate
from codeloop.cli.info import sandbox_check, strategies
from codeloop.cli.report import report
from codeloop.cli.run import run_command
from codeloop.cli.show import show
from codeloop.cli.view import view

__all__ = ["TestOrder", "app", "main", "sandbox_app"]

app = typer.Typer(
    help="Generate code with language models and make it right with feedback.",
    no_args_is_help=True,
    add_completion=False,
)
sandbox_app = typer.Typer(help="The execution sandbox.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")

# In this order `codeloop --help` lists them.
app.command()(evaluate)
app.command("run")(run_command)
app.command()(strategies)
app.command()(compare)
app.command()(show)
app.command()(report)
app.command()(view)
sandbox_app.command("check")(sandbox_check)


def main() -> None:  # pragma: no cover
    app(sys.argv[1:])
