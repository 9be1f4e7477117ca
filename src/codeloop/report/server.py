"""`codeloop view`: the report's pages served live from a store that may still be written.

A Starlette app: `/` is the report page without data; the page fetches `/api/page` (the
summary, the task rows, the figures), `/api/task?id=` (one task's details) and polls
`/api/version`, a cheap token that changes when the store gains rows, to refresh as tasks
finish.  The store is opened read only on every request that needs it (sqlite's read-only
URI mode, one read transaction), so a run writing it concurrently is never blocked and
never sees a write from here.  Only the Host names given are answered (DNS rebinding).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from codeloop.report.data import Source, TaskLoader, load_store, store_version
from codeloop.report.html import page_data, render_report, summary_html, task_data
from codeloop.runs.options import RunError

__all__ = ["make_app"]

NO_STORE = "no-store"


class _Live:
    """The store's sources, read again when its version changes."""

    def __init__(self, path: Path, samples: Sequence[Path], title: str) -> None:
        self.path = path
        self.title = title
        self.loader = TaskLoader(samples)
        self.lock = threading.Lock()
        self.version: str | None = None
        self.sources: list[Source] = []
        self.problem = ""

    def current_version(self) -> str:
        if not self.path.is_file():
            return NO_STORE
        try:
            return store_version(self.path)
        except RunError as exc:  # not a store yet: its writer has not created the tables
            return f"{NO_STORE}: {exc}"
        except sqlite3.DatabaseError as exc:  # not sqlite, or damaged: say so on the page
            return f"{NO_STORE}: {self.path} cannot be read as a store ({exc})"

    def refresh(self) -> tuple[str, list[Source]]:
        with self.lock:
            version = self.current_version()
            if version != self.version:
                if version == NO_STORE:
                    self.sources, self.problem = [], f"waiting for the store {self.path}"
                elif version.startswith(NO_STORE):
                    self.sources, self.problem = [], version.removeprefix(NO_STORE + ": ")
                else:
                    try:
                        self.sources = load_store(self.path, loader=self.loader)
                        self.problem = ""
                    except (RunError, sqlite3.DatabaseError) as exc:
                        self.sources, self.problem = [], str(exc)
                self.version = version
            return version, self.sources


def make_app(
    store: str | Path,
    *,
    samples: Sequence[str | Path] = (),
    title: str | None = None,
    allowed_hosts: Sequence[str] = ("127.0.0.1", "localhost"),
) -> Starlette:
    path = Path(store).resolve()
    live = _Live(path, [Path(p) for p in samples], title or f"codeloop view: {path.name}")
    page = render_report([], title=live.title, live=True)

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    def version(request: Request) -> Response:
        value, _ = live.refresh()
        return JSONResponse({"version": value})

    def page_json(request: Request) -> Response:
        value, sources = live.refresh()
        data: dict[str, Any] = page_data(sources, title=live.title)
        data["summary_html"] = summary_html(sources) if sources else ""
        data["version"] = value
        if live.problem:
            data["generated"] += " (" + live.problem + ")"
        return JSONResponse(data, headers={"Cache-Control": "no-store"})

    def task_json(request: Request) -> Response:
        _, sources = live.refresh()
        task_id = request.query_params.get("id", "")
        if not any(s.task(task_id) for s in sources):
            return JSONResponse(None, status_code=404)
        return JSONResponse(task_data(sources, task_id), headers={"Cache-Control": "no-store"})

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/version", version),
            Route("/api/page", page_json),
            Route("/api/task", task_json),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))],
    )
