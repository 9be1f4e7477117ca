"""`codeloop view`: the live viewer's app over a store that a run is still writing."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.slow  # real runs and a real server


def get(url: str, host: str | None = None):
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read().decode()
        kind = response.headers.get("content-type", "")
        return json.loads(body) if "json" in kind else body


def test_the_viewer_follows_a_store_being_written(tmp_path, serve, runner_of_stores):
    store = tmp_path / "live.sqlite"
    base = serve(store)
    # before the run begins: the page is served and says it waits
    assert "<html" in get(base)
    assert get(base + "api/version")["version"].startswith("no-store")
    assert get(base + "api/page")["rows"] == []
    runner_of_stores(tmp_path, "self_debug", "live.sqlite", ("demo/add",))
    first = get(base + "api/version")["version"]
    page = get(base + "api/page")
    assert [r["id"] for r in page["rows"]] == ["demo/add"]
    assert "self_debug" in page["summary_html"]
    # a second invocation of the run adds the other task: the version and the rows follow
    runner_of_stores(tmp_path, "self_debug", "live.sqlite")
    assert get(base + "api/version")["version"] != first
    page = get(base + "api/page")
    assert [r["id"] for r in page["rows"]] == ["demo/add", "demo/neg"]
    task = get(base + "api/task?id=demo%2Fneg")
    failure = task["details"][0]["verdicts"][0]["failures"][0]
    assert (failure["expected"], failure["actual"]) == ("-1", "1")


def test_unknown_task_and_foreign_hosts(stores, serve):
    base = serve(stores["run"])
    with pytest.raises(urllib.error.HTTPError) as missing:
        get(base + "api/task?id=nope")
    assert missing.value.code == 404
    # a page of another site that resolves its name to 127.0.0.1 gets nothing (DNS rebinding)
    with pytest.raises(urllib.error.HTTPError) as foreign:
        get(base + "api/page", host="evil.example")
    assert foreign.value.code == 400


def test_the_viewer_never_writes_the_store(stores, serve):
    before = stores["run"].read_bytes()
    base = serve(stores["run"])
    for _ in range(3):
        get(base + "api/page")
        get(base + "api/task?id=demo%2Fadd")
        time.sleep(0.05)
    assert stores["run"].read_bytes() == before


def test_view_command_checks_its_arguments(tmp_path):
    from typer.testing import CliRunner

    from codeloop.cli import app

    bad_port = CliRunner().invoke(app, ["view", str(tmp_path / "s.sqlite"), "--port", "0"])
    assert bad_port.exit_code == 2 and "--port 0" in bad_port.output
    folder = CliRunner().invoke(app, ["view", str(tmp_path)])
    assert folder.exit_code == 2 and "is a folder" in folder.output


def test_a_damaged_store_is_said_on_the_page_not_a_server_error(tmp_path, serve, stores):
    store = tmp_path / "damaged.sqlite"
    data = bytearray(stores["run"].read_bytes())
    data[4096 : 4096 * 8] = b"\xff" * (4096 * 7)  # pages 2 to 8 overwritten
    store.write_bytes(bytes(data))
    base = serve(store)
    version = get(base + "api/version")["version"]
    assert version.startswith("no-store: ") and "cannot be read" in version
    page = get(base + "api/page")
    assert page["rows"] == [] and "cannot be read" in page["generated"]
