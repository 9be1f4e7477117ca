"""`codeloop view`: a local web server showing a store's report, live as a run writes it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codeloop.cli.common import check_sqlite, console, fail
from codeloop.cli.show import SamplesOption


def view(
    store: Annotated[
        Path,
        typer.Argument(help="A store of `codeloop run` or `evaluate` (it may still be written)."),
    ],
    port: Annotated[int, typer.Option(help="The port to serve on.")] = 8765,
    host: Annotated[
        str,
        typer.Option(help="The address to bind: 127.0.0.1 by default (this machine only)."),
    ] = "127.0.0.1",
    samples: SamplesOption = None,
) -> None:
    """Serve the report of a store on a local web page that refreshes as tasks finish.
    Read only on the store: safe while a run writes it."""
    import uvicorn

    from codeloop.report.server import make_app

    check_sqlite(store, "store")
    if not 0 < port < 65536:
        fail(f"--port {port}: expected 1 to 65535")
    hosts = ["127.0.0.1", "localhost", host]
    app = make_app(store, samples=samples or (), allowed_hosts=hosts)
    console.print(f"serving {store} on http://{host}:{port}/ (Ctrl-C stops)", markup=False)
    if not store.exists():
        console.print(f"note: {store} does not exist yet; the page waits for it", markup=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")
