"""`silo dev --database-url/--s3-endpoint`: runs on given servers and, on exit, removes only
the databases and buckets it created there."""

from __future__ import annotations

import signal

import psycopg
from psycopg import sql


def databases(pg) -> set[str]:
    with psycopg.connect(pg.admin_url) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}


def test_given_servers_keep_what_was_there_and_lose_what_dev_made(dev_factory, pg, s3):
    # alpha's database exists already, with data in it: it must survive.
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier("silo_alpha"))
        )
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier("silo_beta"))
        )
        conn.execute("CREATE DATABASE silo_alpha")
    with psycopg.connect(pg.url_for("silo_alpha"), autocommit=True) as conn:
        conn.execute("CREATE TABLE keep_me (x int)")

    run = dev_factory(
        ["alpha", "beta"], "--database-url", pg.admin_url, "--s3-endpoint", s3.endpoint_url
    )
    state = run.state()
    assert {"silo_alpha", "silo_beta"} <= databases(pg)
    buckets = {b["Name"] for b in s3.client().list_buckets()["Buckets"]}
    assert {state["tenants"][t]["bucket"] for t in ("alpha", "beta")} <= buckets
    for entry in state["tenants"].values():
        assert entry["status"] == "running"

    assert run.stop(signal.SIGTERM) == 0, run.output()
    remaining = databases(pg)
    assert "silo_alpha" in remaining and "silo_beta" not in remaining
    with psycopg.connect(pg.url_for("silo_alpha")) as conn:
        conn.execute("SELECT * FROM keep_me")
    buckets = {b["Name"] for b in s3.client().list_buckets()["Buckets"]}
    assert not {state["tenants"][t]["bucket"] for t in ("alpha", "beta")} & buckets
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE silo_alpha WITH (FORCE)")
