"""What a newcomer does with docs/getting-started/python.md, done by a test: a new virtualenv
in a temp folder outside the repository, ``pip install`` of the client from its folder, the
page's two programs copied unchanged and run against the real server and its demo API (``streamgate demo-api``),
with their output checked (the two mistakes included)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import REPO, DemoApi, StreamgateServer

PAGE = REPO / "docs" / "getting-started" / "python.md"
#: pip and the programs get this long; reaching it is a hang, reported as such.
STEP_TIMEOUT_S = 300


def snippet(doc: str, name: str) -> str:
    """The fenced block that follows ``<!-- file: NAME -->`` in the page."""
    match = re.search(rf"<!-- file: {re.escape(name)} -->\n```\w*\n(.*?)\n```", doc, re.S)
    assert match, f"the page has no block for {name}"
    return match.group(1) + "\n"


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, f"{argv} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def demo_api() -> Iterator[DemoApi]:
    """The demo API the page tells the reader to start: ``streamgate demo-api``."""
    with DemoApi() as demo:
        yield demo


# pip's install into a fresh virtualenv alone can pass pytest's default 120 s on a loaded machine;
# each step is bounded by STEP_TIMEOUT_S already.
@pytest.mark.timeout(4 * STEP_TIMEOUT_S)
def test_the_getting_started_page_runs_in_a_fresh_virtualenv(
    tmp_path: Path, server: StreamgateServer, demo_api: DemoApi
) -> None:
    assert not tmp_path.resolve().is_relative_to(REPO.resolve()), "the project must live outside the repo"
    doc = PAGE.read_text()
    run([sys.executable, "-m", "venv", ".venv"], tmp_path)
    python = str(tmp_path / ".venv" / "bin" / "python")
    run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(REPO / "clients" / "python")], tmp_path)
    (tmp_path / "main.py").write_text(snippet(doc, "main.py"))
    (tmp_path / "mistakes.py").write_text(snippet(doc, "mistakes.py"))
    env = {**os.environ, "STREAMGATE_ADDR": server.addr, "DEMO_API": demo_api.base}
    # The venv's own site-packages only: nothing from the repository's test environment.
    env.pop("PYTHONPATH", None)

    out = run([python, "main.py"], tmp_path, env)
    for expected in [
        "fetch: HTTP 200 hello\n",
        "page 1: ids 1,2\npage 2: ids 3,4\npage 3: ids 5,6\n",
        "lock: getting-started held, fencing token ",
        "reading s1: 21.5 °C = 70.7 °F\n",
        "reading s1: 31.0 °C = 87.8 °F\n",
        "alert s1: ",
    ]:
        assert expected in out, f"no {expected!r} in:\n{out}"

    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", 1)) != 0, "something listens on 127.0.0.1:1, the page's dead port"
    out = run([python, "mistakes.py"], tmp_path, env)
    assert "empty name: INVALID_ARGUMENT: name" in out, out
    dead = next((line for line in out.splitlines() if line.startswith("dead port: ")), "")
    assert dead.startswith("dead port: UNAVAILABLE: "), out
    assert "127.0.0.1:1" in dead, out
