"""Migrations: applied once in order, recorded, idempotent, and safe when two run at once."""

from __future__ import annotations

import threading

import psycopg
import pytest

from service.db.migrate import MigrationError, load, migrate


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_migrations_apply_once_and_are_recorded(database_url):
    versions = [m.version for m in load()]
    assert versions == sorted(versions)
    assert migrate(database_url) == versions
    assert migrate(database_url) == []
    assert {"files", "api_keys", "schema_migrations"} <= _tables(database_url)
    with psycopg.connect(database_url) as conn:
        recorded = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert recorded == versions


def test_two_concurrent_runs_apply_each_migration_once(database_url):
    results: list[list[str]] = []
    failures: list[BaseException] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        barrier.wait()
        try:
            results.append(migrate(database_url))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    applied = sorted(v for result in results for v in result)
    assert applied == [m.version for m in load()]


def test_a_failing_migration_rolls_back_and_is_not_recorded(database_url, tmp_path):
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE a (x int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE b (x int); SELECT no_such_column FROM a;")
    with pytest.raises(psycopg.Error):
        migrate(database_url, tmp_path)
    assert "a" in _tables(database_url)
    assert "b" not in _tables(database_url)
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE b (x int);")
    assert migrate(database_url, tmp_path) == ["0002"]


def test_an_edited_applied_migration_is_refused(database_url, tmp_path):
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE a (x int);")
    migrate(database_url, tmp_path)
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE a (x bigint);")
    with pytest.raises(MigrationError, match="changed"):
        migrate(database_url, tmp_path)


def test_misnamed_files_are_refused(tmp_path):
    (tmp_path / "1_nope.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"1_nope\.sql"):
        load(tmp_path)
