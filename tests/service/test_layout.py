"""Rules of the service's layout that a test can hold."""

from __future__ import annotations

import re
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[2] / "service"

# The modules allowed to run SQL: each capability's own SQL, listed in docs/architecture.md.
SQL_OWNERS = {
    "files/sql.py",
    "files/taxonomy.py",
    "files/filters.py",
    "keys/sql.py",
    "uploads/tus_sql.py",
    "uploads/direct_sql.py",
    "uploads/idempotency_sql.py",
    "console/sessions_sql.py",
    "stats/events.py",
    "stats/report.py",
    "stats/partitions.py",
    "scanning/sql.py",
    "scanning/wakeup.py",
    "db/migrate.py",
    "db/pool.py",
}
_RUNS_SQL = re.compile(r"\.execute\(|\.copy\(|\bcursor\(")
ARCHITECTURE = SERVICE.parent / "docs" / "architecture.md"


def test_only_the_listed_modules_run_sql():
    running = {
        str(path.relative_to(SERVICE))
        for path in SERVICE.rglob("*.py")
        if _RUNS_SQL.search(path.read_text())
    }
    assert running <= SQL_OWNERS, f"SQL outside its owners: {sorted(running - SQL_OWNERS)}"
    listed = ARCHITECTURE.read_text()
    for owner in SQL_OWNERS:
        assert f"`{owner}`" in listed, f"{owner} runs SQL but the architecture map does not say so"


def test_the_service_never_imports_infrastructure_code():
    for path in SERVICE.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(from|import) (provisioning|tenants|pulumi)", text, re.M), path


# Modules outside service/storage/ that may import boto3 or botocore, each with its reason.
BOTO_ALLOWED = {
    # Secrets Manager (the database's rotated credentials), not object storage.
    "db/credentials.py",
}
_IMPORTS_BOTO = re.compile(r"^\s*(from|import) (boto3|botocore)\b", re.M)
# A storage's client, its raw calls or its bucket reached from outside: S3 through the seam.
_REACHES_PAST_STORAGE = re.compile(r"\bstorage\)?\.(client|call|submit|bucket)\b")


def test_only_storage_talks_to_s3():
    importing, reaching = set(), set()
    for path in SERVICE.rglob("*.py"):
        name = str(path.relative_to(SERVICE))
        if name.startswith("storage/"):
            continue
        text = path.read_text()
        if _IMPORTS_BOTO.search(text):
            importing.add(name)
        if _REACHES_PAST_STORAGE.search(text):
            reaching.add(name)
    assert importing <= BOTO_ALLOWED, f"boto3 outside storage/: {sorted(importing - BOTO_ALLOWED)}"
    assert not reaching, f"past the storage interface: {sorted(reaching)}"


def test_suites_sit_in_the_folder_of_the_package_they_test():
    """tests/service mirrors service/: a folder per package (and adversity/, the hostile-input
    and fault suites), a top-level suite only for a top-level module."""
    tests = Path(__file__).resolve().parent
    packages = {p.parent.name for p in SERVICE.glob("*/__init__.py")}
    folders = {p.parent.name for p in tests.glob("*/__init__.py")}
    assert folders <= packages | {"adversity"}, sorted(folders - packages)
    modules = {p.stem.strip("_") for p in SERVICE.glob("*.py")} | {"layout"}
    top = {p.stem.removeprefix("test_") for p in tests.glob("test_*.py")}
    assert top <= modules, f"suites with no top-level module: {sorted(top - modules)}"
