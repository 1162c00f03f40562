"""Rules of the service's layout that a test can hold."""

from __future__ import annotations

import re
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[2] / "service"

# The modules allowed to run SQL, as service/repository/__init__.py lists them.
SQL_OWNERS = {
    "repository/files.py",
    "repository/keys.py",
    "repository/uploads.py",
    "repository/sessions.py",
    "repository/direct.py",
    "repository/idempotency.py",
    "taxonomy.py",
    "file_filters.py",
    "events.py",
    "stats.py",
    "migrate.py",
    "repository/scans.py",
    "db.py",
}
_RUNS_SQL = re.compile(r"\.execute\(|\.copy\(|\bcursor\(")


def test_only_the_listed_modules_run_sql():
    running = {
        str(path.relative_to(SERVICE))
        for path in SERVICE.rglob("*.py")
        if _RUNS_SQL.search(path.read_text())
    }
    assert running <= SQL_OWNERS, f"SQL outside its owners: {sorted(running - SQL_OWNERS)}"
    listed = (SERVICE / "repository" / "__init__.py").read_text()
    for owner in SQL_OWNERS - {"repository/files.py", "repository/keys.py"}:
        assert f"service/{owner}" in listed, f"{owner} runs SQL but the rule does not say so"


def test_the_service_never_imports_infrastructure_code():
    for path in SERVICE.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(from|import) (provisioning|tenants|pulumi)", text, re.M), path
