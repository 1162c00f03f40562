"""`python -m service`: apply migrations (unless SILO_MIGRATE=0), then serve on $PORT.

`python -m service migrate` only applies migrations. A configuration problem stops start-up
with one line naming the variable (exit status 2). uvicorn handles SIGTERM/SIGINT: it stops
accepting connections, lets in-flight requests finish, then runs the lifespan shutdown.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import psycopg
import uvicorn

from service.db.migrate import MigrationError, migrate
from service.settings import Settings, SettingsError, from_environ

log = logging.getLogger("silo")


def _migrate(settings: Settings) -> int:
    from service.app import database_credentials

    try:
        credentials = database_credentials(settings)
        conninfo = settings.database_url
        if credentials is not None:
            conninfo = credentials.conninfo(conninfo)
        applied = migrate(conninfo)
    except (MigrationError, psycopg.Error) as exc:
        print(f"silo: migrations failed: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    log.info("migrations applied: %s", ", ".join(applied) if applied else "none pending")
    return 0


def _serve(settings: Settings) -> int:
    from service.app import create_app, server_config
    from service.http.server import uvicorn_config

    # Limits against hostile clients (header size and count, timeouts, connection cap): see
    # service/http/server.py.
    config = uvicorn_config(create_app(settings), server_config(settings))
    # uvicorn handles SIGTERM/SIGINT while serving (graceful shutdown), then re-raises the signal
    # to whatever handler was installed before. A graceful stop is the normal end of a task's
    # life (deployments, scale-in), so that handler only notes it and we exit with status 0.
    received: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, _frame: received.append(number))
    uvicorn.Server(config).run()
    if received:
        log.info("stopped gracefully on %s", signal.Signals(received[0]).name)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("command", nargs="?", choices=["serve", "migrate"], default="serve")
    args = parser.parse_args(argv)
    try:
        settings = from_environ()
    except SettingsError as exc:
        print(f"silo: configuration error: {exc}", file=sys.stderr)
        return 2
    # One format for our loggers and uvicorn's (log_config=None below lets them propagate here),
    # each line naming the tenant, since every tenant's tasks log to the same kind of stream.
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s %(levelname)s tenant={settings.tenant} %(name)s: %(message)s",
    )
    if args.command == "migrate":
        return _migrate(settings)
    if settings.migrate:
        status = _migrate(settings)
        if status:
            return status
    return _serve(settings)


if __name__ == "__main__":
    sys.exit(main())
