"""What is installed here: `codeloop strategies` and `codeloop sandbox check`."""

from __future__ import annotations

import inspect
import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from codeloop.cli.common import console, fail, out


def strategies() -> None:
    """List the installed strategies (built-in and plugins) with their settings and defaults."""
    from codeloop.registry import STRATEGIES, PluginError

    try:
        names = sorted(STRATEGIES)
    except PluginError as exc:
        fail(str(exc))
        return
    for name in names:
        out.print(f"[bold]{escape(name)}[/]  ({escape(STRATEGIES.origin(name))})", soft_wrap=True)
        for key, default in STRATEGIES.settings(name):
            shown = "(required)" if default is inspect.Parameter.empty else repr(default)
            out.print(f"    {escape(key)} = {escape(shown)}", soft_wrap=True)


def sandbox_check(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Probe which isolation layers are in force here, verifying each one."""
    from codeloop.execution.isolation import probe

    report = probe()
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
    else:
        table = Table(title="codeloop sandbox")
        table.add_column("layer")
        table.add_column("in force")
        table.add_column("detail")
        for layer in report.layers:
            table.add_row(
                layer.name, "[green]yes[/]" if layer.active else "[red]no[/]", layer.detail
            )
        out.print(table)
    if not report.fully_isolated():
        console.print(f"[yellow]missing layers: {', '.join(report.missing())}[/]")
        raise typer.Exit(1)
