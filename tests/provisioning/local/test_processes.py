"""Supervision of the per-tenant children, with real child processes (small Python programs
standing in for the service where the service itself is not the point)."""

from __future__ import annotations

import json
import signal
import sys
import textwrap
import time

from provisioning.local import free_port
from provisioning.local.processes import (
    ServiceProcess,
    describe_exit,
    stop_all,
    tail,
    wait_ready,
)
from tests.smoke.conftest import process_exists


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def process(tmp_path, slug: str, code: str, env: dict | None = None) -> ServiceProcess:
    return ServiceProcess(
        slug=slug,
        port=free_port(),
        env=env if env is not None else {"PYTHONUNBUFFERED": "1"},
        log_path=tmp_path / "logs" / f"{slug}.log",
        command=python(code),
    )


READY_SERVER = """
    import os
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/readyz" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def test_child_gets_exactly_the_given_environment(tmp_path):
    child = process(
        tmp_path,
        "env",
        "import json, os; print(json.dumps(dict(os.environ)))",
        env={"SILO_TENANT": "env", "ONLY": "this"},
    )
    child.start()
    child.proc.wait(timeout=30)
    seen = json.loads(child.log_path.read_text())
    # The interpreter may add LC_CTYPE on some platforms; nothing of ours leaks in.
    seen.pop("LC_CTYPE", None)
    assert seen == {"SILO_TENANT": "env", "ONLY": "this"}


def test_wait_ready_sees_readyz_and_reports_a_child_that_dies(tmp_path):
    good = process(tmp_path, "good", READY_SERVER)
    good.env = {"PORT": str(good.port)}
    bad = process(
        tmp_path,
        "bad",
        "import sys\nfor i in range(30): print('line', i)\nprint('boom: no database')\nsys.exit(3)",
    )
    died = []
    try:
        for child in (good, bad):
            child.start()
        pending = wait_ready([good, bad], timeout=30, on_exit=died.append)
        assert pending == []
        assert good.ready and not bad.ready
        assert died == [bad] and bad.exit_code == 3
        report = describe_exit(bad)
        assert f"tenant bad: service process {bad.pid} exited (exit code 3)" in report
        assert "| boom: no database" in report
        assert "| line 29" in report and "| line 0\n" not in report  # only the last lines
    finally:
        stop_all([good, bad], grace=5)
    assert not process_exists(good.pid)


def test_wait_ready_gives_up_after_the_timeout(tmp_path):
    slow = process(tmp_path, "slow", "import time; time.sleep(60)")
    slow.start()
    try:
        started = time.monotonic()
        assert wait_ready([slow], timeout=0.5, on_exit=lambda p: None) == [slow]
        assert time.monotonic() - started < 5
    finally:
        stop_all([slow], grace=5)


def test_stop_all_kills_what_ignores_sigterm_and_what_children_spawned(tmp_path):
    stubborn = process(
        tmp_path,
        "stubborn",
        """
        import signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        print(child.pid, flush=True)
        time.sleep(120)
        """,
    )
    polite = process(tmp_path, "polite", "import time; time.sleep(120)")
    for child in (stubborn, polite):
        child.start()
    deadline = time.monotonic() + 30
    while not stubborn.log_path.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(stubborn.log_path.read_text().split()[0])
    started = time.monotonic()
    stop_all([stubborn, polite], grace=1.0)
    assert time.monotonic() - started < 10
    assert polite.exit_code == -signal.SIGTERM
    assert stubborn.exit_code == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while process_exists(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_exists(grandchild)


def test_tail_reads_the_last_lines_and_survives_a_missing_file(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("".join(f"{i}\n" for i in range(100)))
    assert tail(log, 3) == ["97", "98", "99"]
    assert tail(tmp_path / "missing.log") == []
