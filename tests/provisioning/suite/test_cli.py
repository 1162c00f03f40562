"""`silo test`: the probes, the set-up's I/O (fast path, blocked, failing command) and pytest's
arguments and exit code passed through."""

from __future__ import annotations

import json

from provisioning import cli
from provisioning.suite import cli as suite
from provisioning.suite.plan import NODE_FOLDERS, NODE_PACKAGES, Machine


def tus_js(root, lock: dict, installed: dict | None = None):
    """Every locked npm folder of the suite, each with `lock` and (if given) `installed`."""
    for name in NODE_FOLDERS:
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "package-lock.json").write_text(json.dumps(lock))
        if installed is not None:
            (folder / "node_modules").mkdir()
            (folder / "node_modules" / ".package-lock.json").write_text(json.dumps(installed))


LOCK = {"packages": {"": {}, "node_modules/tus-js-client": {"version": "4.3.1"}}}
INSTALLED = {"packages": {"node_modules/tus-js-client": {"version": "4.3.1"}}}


def test_missing_node_packages_until_npm_has_installed_the_locked_ones(tmp_path):
    tus_js(tmp_path / "fresh", LOCK)
    assert NODE_PACKAGES in suite.missing(tmp_path / "fresh")
    tus_js(tmp_path / "done", LOCK, INSTALLED)
    assert NODE_PACKAGES not in suite.missing(tmp_path / "done")


def test_missing_node_when_neither_node_nor_npm_is_on_path(tmp_path, monkeypatch):
    tus_js(tmp_path, LOCK, INSTALLED)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "node" in suite.missing(tmp_path)


def fail(*args):
    raise AssertionError("must not be called")


def test_fast_path_probes_and_installs_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(suite, "missing", lambda root: [])
    assert suite.set_up(tmp_path, probe=fail, execute=fail) == 0


def test_installs_in_plan_order_and_stops_at_a_failing_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(suite, "missing", lambda root: ["clamd", NODE_PACKAGES])
    ran = []

    def execute(command):
        ran.append(tuple(command))
        return 0

    machine = Machine(apt=True, root=True)
    assert suite.set_up(tmp_path, probe=lambda: machine, execute=execute) == 0
    assert [c[-1] for c in ran] == ["update", "clamav-daemon", *["--no-fund"] * len(NODE_FOLDERS)]
    assert "running: npm ci --prefix tests/tus_js" in capsys.readouterr().out

    ran.clear()
    assert suite.set_up(tmp_path, probe=lambda: machine, execute=lambda c: 100) == 2
    assert "`apt-get update` failed (exit 100)" in capsys.readouterr().out


def test_dry_run_says_what_it_would_run(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(suite, "missing", lambda root: [NODE_PACKAGES])
    assert suite.set_up(tmp_path, dry_run=True, probe=Machine, execute=fail) == 0
    assert "would run: npm ci" in capsys.readouterr().out


def test_blocked_prints_what_to_run_and_fails_clearly(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(suite, "missing", lambda root: ["chromium"])
    assert suite.set_up(tmp_path, probe=lambda: Machine(apt=True), execute=fail) == 2
    out = capsys.readouterr().out
    assert "missing: chromium" in out and "cannot install here" in out
    assert "    sudo apt-get install -y --no-install-recommends chromium chromium-driver" in out


def test_pytest_gets_the_arguments_and_its_exit_code_is_returned(monkeypatch):
    monkeypatch.setattr(suite, "set_up", lambda root, dry_run: 0)
    seen = []
    monkeypatch.setattr(suite, "run_pytest", lambda args: seen.append(args) or 5)
    assert cli.main(["test", "tests/service", "-x"]) == 5
    assert cli.main(["test", "--", "-k", "upload"]) == 5
    assert seen == [["tests/service", "-x"], ["-k", "upload"]]


def test_pytest_does_not_run_when_set_up_fails_or_on_a_dry_run(monkeypatch):
    monkeypatch.setattr(suite, "run_pytest", fail)
    monkeypatch.setattr(suite, "set_up", lambda root, dry_run: 2)
    assert cli.main(["test"]) == 2
    monkeypatch.setattr(suite, "set_up", lambda root, dry_run: 0)
    assert cli.main(["test", "--dry-run"]) == 0


def test_run_pytest_returns_pytests_exit_code(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # 0.5 s a run instead of 8
    (tmp_path / "test_one.py").write_text("def test_fails():\n    assert False\n")
    args = [str(tmp_path / "test_one.py"), "-q", "-p", "no:cacheprovider"]
    args += ["--rootdir", str(tmp_path)]
    assert suite.run_pytest(args) == 1
    assert suite.run_pytest([*args, "-k", "nothing_matches"]) == 5
