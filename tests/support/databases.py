"""Fresh databases that are already migrated: the migrations run once per session into a template
database, and each fresh database is a copy of it (`CREATE DATABASE x TEMPLATE t`), a file copy
on the server instead of every migration again.

The template refuses connections once migrated, since PostgreSQL copies only a database nobody is
connected to. Tests of the migrations themselves start from an empty database instead.
"""

from __future__ import annotations

import uuid

import psycopg
from psycopg import sql

from service.db.migrate import migrate
from tests.infra import PostgresServer

_templates: dict[str, str] = {}  # admin URL -> the name of that server's migrated template


def migrated_database(pg: PostgresServer, prefix: str = "t") -> str:
    """The URL of a new database holding every migration (drop it with `pg.drop_database`)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(_template(pg))
            )
        )
    return pg.url_for(name)


def drop_template(pg: PostgresServer) -> None:
    """Drop the server's template, if this session made one."""
    name = _templates.pop(pg.admin_url, None)
    if name is not None:
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def _template(pg: PostgresServer) -> str:
    if pg.admin_url not in _templates:
        url = pg.create_database(prefix="silo_template")
        migrate(url)
        name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
                    sql.Identifier(name)
                )
            )
        _templates[pg.admin_url] = name
    return _templates[pg.admin_url]
