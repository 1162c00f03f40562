"""`silo dev`: every tenant of the catalogue on this machine, no Docker, no cloud.

- `run`: PostgreSQL, an S3 endpoint and one `python -m service` per tenant, each with its
  catalogue CPU and memory (`open_limiter`) and, when ClamAV is installed, one clamd per
  scanning tenant (`start_scanner`, as AWS's sidecars); prints the table, writes the state file
- `watch`: reports children that die, keeps the state file; Ctrl-C/SIGTERM stops everything
- `plan_tenants`, `TenantPlan`, `child_environment`: each tenant's port, names, environment
- `add_arguments`: the command's options

Design: docs/design/local-dev.md
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from provisioning.local import free_port
from provisioning.local.backends import BackendError, Backends, running_backends
from provisioning.local.clamd import ClamdUnavailable, LocalClamd, find_clamd
from provisioning.local.limits import (
    Cgroup,
    DatabaseSorter,
    Limiter,
    LimitsUnavailable,
    Reservation,
    detect,
)
from provisioning.local.processes import ServiceProcess, describe_exit, stop_all, wait_ready
from provisioning.local.state import (
    DEFAULT_STATE_FILE,
    TenantEndpoint,
    format_table,
    state_document,
    write_state,
)
from provisioning.service_env import (
    local_scan,
    local_secret_environment,
    service_environment,
    service_target,
)
from tenants.catalogue_option import add_tenants_option

# The Pulumi stack name the local run stands for: it goes into the names tenants/ derives
# (bucket names), so local buckets never look like a deployed stack's.
LOCAL_STACK = "dev"
DEFAULT_READY_TIMEOUT = 60.0
WATCH_INTERVAL = 0.2


class Shutdown(BaseException):
    """Raised in the main thread by SIGTERM/SIGHUP: stop everything and exit. A BaseException,
    like KeyboardInterrupt, so no `except Exception` on the way swallows it."""


EXAMPLES = """\
Examples:
  silo dev                                  # every tenant of tenants.yaml; Ctrl-C stops all
  silo dev --tenants my.yaml --state /tmp/silo.json
  silo dev --database-url postgresql://me@localhost/postgres --s3-endpoint http://localhost:9000
  silo smoke --state                        # then, from another shell: check every tenant
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    add_tenants_option(parser)
    parser.add_argument(
        "--state",
        default=str(DEFAULT_STATE_FILE),
        metavar="FILE",
        help="where to write URLs and admin keys as JSON (default: %(default)s)",
    )
    parser.add_argument(
        "--logs",
        metavar="DIR",
        help="per-tenant service logs (default: a logs/ directory next to the state file)",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="use this PostgreSQL server instead of a throwaway local one "
        "(databases created here are dropped on exit)",
    )
    parser.add_argument(
        "--s3-endpoint",
        metavar="URL",
        help="use this S3 endpoint instead of a local moto server "
        "(credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; buckets created here "
        "are emptied and deleted on exit)",
    )
    parser.add_argument(
        "--no-limits",
        action="store_true",
        help="do not give each service the CPU and memory its catalogue entry reserves",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=DEFAULT_READY_TIMEOUT,
        metavar="SECONDS",
        help="how long to wait for every service's /readyz (default: %(default)s)",
    )


@dataclass(frozen=True)
class TenantPlan:
    """Everything needed to start one tenant's service, computed before anything starts."""

    slug: str
    bucket: str
    database: str
    port: int
    admin_key: str
    env: dict[str, str]
    versioning: bool = True  # the catalogue's bucket versioning (lifecycle rules follow it)
    reservation: Reservation | None = None


def child_environment(
    target, *, database_user: str, database_password: str, admin_key: str, extra: dict[str, str]
) -> dict[str, str]:
    """The whole environment of one child: nothing inherited but PATH, so a DATABASE_URL or
    AWS_PROFILE in the caller's shell cannot change what the service sees."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        # Logs reach the log file as they happen, not when a buffer fills.
        "PYTHONUNBUFFERED": "1",
        **extra,
        **service_environment(target),
        **local_secret_environment(database_user, database_password, admin_key),
    }


def local_names(catalogue, tenant, region: str):
    """The tenant's names (bucket, database, ...) for the local stack, from tenants/."""
    from tenants import names

    scope = names.Scope(catalogue.platform.name, LOCAL_STACK)
    return names.for_tenant(scope, tenant, account_id=names.LOCAL_ACCOUNT_ID, region=region)


def plan_tenants(
    catalogue,
    backends: Backends,
    ports: list[int],
    scanners: Mapping[str, LocalClamd] | None = None,
) -> list[TenantPlan]:
    """One plan per tenant: names from tenants/, environment from provisioning.service_env.
    `scanners`: each scanning tenant's own clamd, by slug (none for a tenant: scanning off)."""

    plans = []
    for tenant, port in zip(catalogue.tenants, ports, strict=True):
        names = local_names(catalogue, tenant, backends.region)
        target = service_target(
            tenant,
            names,
            region=backends.region,
            database_host=backends.database_host,
            database_port=backends.database_port,
            scan=_local_scan(tenant, (scanners or {}).get(tenant.slug)),
            port=port,
            s3_endpoint_url=backends.s3_endpoint_url,
        )
        # Prefixed like the service's own keys, and so never starting with "-" (which a
        # command line would take for an option: `silo smoke --key -abc...`).
        admin_key = "silo_" + secrets.token_urlsafe(32)
        env = child_environment(
            target,
            database_user=backends.database_user,
            database_password=backends.database_password,
            admin_key=admin_key,
            extra={
                # Local only: the services listen on loopback, not every interface.
                "HOST": "127.0.0.1",
                **backends.aws_credentials,
            },
        )
        plans.append(
            TenantPlan(
                tenant.slug,
                names.bucket,
                names.database_name,
                port,
                admin_key,
                env,
                versioning=tenant.bucket.versioning,
                reservation=Reservation.of(tenant),
            )
        )
    return plans


@contextlib.contextmanager
def signals_raise_shutdown() -> Iterator[None]:
    """SIGTERM and SIGHUP raise `Shutdown`, SIGINT KeyboardInterrupt: also when SIGINT came
    ignored, as a shell without job control leaves it for what it starts with `&` (Python
    then installs no handler): `kill -INT` must stop that run too, not leave it serving."""

    def handler(signum, frame):
        raise Shutdown(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """While cleaning up, a second Ctrl-C or SIGTERM must not leave children behind."""
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in sigs}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def endpoints(plans: list[TenantPlan], processes: list[ServiceProcess]) -> list[TenantEndpoint]:
    result = []
    for plan, process in zip(plans, processes, strict=True):
        if process.exit_code is not None:
            status = "exited"
        elif process.ready:
            status = "running"
        else:
            status = "not ready"
        result.append(
            TenantEndpoint(
                slug=plan.slug,
                url=process.url,
                admin_key=plan.admin_key,
                bucket=plan.bucket,
                database=plan.database,
                pid=process.pid,
                log=str(process.log_path),
                status=status,
                exit_code=process.exit_code,
                limits=process.cgroup.record() if process.cgroup is not None else None,
            )
        )
    return result


def refuse_if_running(state_path: Path) -> str | None:
    """A message when another `silo dev` owning this state file is still alive."""
    import json

    try:
        pid = json.loads(state_path.read_text()).get("pid")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(pid, int) or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return f"another `silo dev` (pid {pid}) is using {state_path}; stop it or pass --state"


def say(message: str) -> None:
    print(message, flush=True)


def open_limiter(no_limits: bool) -> tuple[Limiter | None, str]:
    """The run's cgroups (where the machine allows them), or None; and what the state file
    records."""
    if no_limits:
        say("resource limits off (--no-limits): services share the machine's CPU and memory")
        return None, "off (--no-limits)"
    try:
        limiter = detect(f"silo-dev-{os.getpid()}")
    except LimitsUnavailable as exc:
        say(f"cannot reserve CPU and memory per tenant here ({exc}); running without limits")
        return None, f"unavailable: {exc}"
    return limiter, limiter.kind


def tenant_groups(limiter: Limiter, plans: list[TenantPlan]) -> tuple[dict[str, Cgroup], str]:
    """One group per tenant, its CPU quota left for `apply_cpu_quota` once the service is
    ready; and what the state file records."""
    try:
        groups = {p.slug: limiter.create(p.slug, p.reservation, quota=False) for p in plans}
    except OSError as exc:
        say(f"cannot reserve CPU and memory per tenant here ({exc}); running without limits")
        return {}, f"unavailable: {exc}"
    shown = ", ".join(f"{g.slug} {g.reservation.describe()}" for g in groups.values())
    say(f"reserving as on Fargate ({limiter.kind}): {shown}")
    return groups, limiter.kind


def database_sorter(
    limiter: Limiter, backends: Backends, plans: list[TenantPlan]
) -> DatabaseSorter | None:
    """For a local PostgreSQL: each tenant's database backends in a group of their own, as
    its own instance would be (limits.py); None for a given server (its processes are not
    ours to move)."""
    if not backends.local_processes():
        return None
    try:
        groups = {p.database: limiter.database_group(p.slug) for p in plans}
    except OSError as exc:
        say(f"tenants' database work left in the shared group ({exc})")
        return None
    return DatabaseSorter(backends.admin_conninfo, groups)


def confine_backends(limiter: Limiter, backends: Backends) -> None:
    """The local PostgreSQL and S3 endpoint in a group of their own (limits.py says why)."""
    pids = backends.local_processes()
    if not pids:
        return
    try:
        limiter.confine_backends(pids)
    except OSError as exc:
        say(f"PostgreSQL and S3 left in the shared CPU group ({exc})")


def _local_scan(tenant, clamd: LocalClamd | None):
    if clamd is None:
        return local_scan(tenant, None)
    # Files over its StreamMaxLength are `oversize` without being streamed to it.
    return local_scan(tenant, clamd.address, max_bytes=clamd.stream_max_bytes)


def start_scanner(catalogue, cleanup: contextlib.ExitStack) -> tuple[dict[str, LocalClamd], str]:
    """One local clamd per scanning tenant, as on AWS (a sidecar in each tenant's task): ({slug:
    its clamd}, empty when scanning is off; what the state file records). Says in one line
    which it is."""
    scanning = [t.slug for t in catalogue.tenants if t.limits.scan != "off"]
    if not scanning:
        say("malware scanning: off (limits.scan is off for every tenant)")
        return {}, "off (catalogue)"
    if find_clamd() is None:
        say(
            "malware scanning: off (clamd not found; install ClamAV's daemon, e.g. "
            "`apt-get install clamav-daemon`, to scan uploads as on AWS)"
        )
        return {}, "off (clamd not installed)"
    started: dict[str, LocalClamd] = {}
    for slug in scanning:
        clamd = LocalClamd()
        try:
            clamd.start()
        except ClamdUnavailable as exc:
            for running in started.values():
                running.stop()
            reason = str(exc).splitlines()[0]
            say(f"malware scanning: off (clamd did not start: {reason})")
            return {}, f"off (clamd did not start: {reason})"
        cleanup.callback(clamd.stop)
        started[slug] = clamd
    where = ", ".join(f"{slug} {clamd.address}" for slug, clamd in started.items())
    say(f"malware scanning: one clamd per tenant, {where} (signatures: the EICAR test file only)")
    return started, f"clamav per tenant: {where}"


def run(args: argparse.Namespace) -> int:
    import tenants
    from tenants import names

    state_path = Path(args.state)
    logs_dir = Path(args.logs) if args.logs else state_path.parent / "logs"
    problem = refuse_if_running(state_path)
    if problem:
        print(f"silo dev: {problem}", file=sys.stderr)
        return 2
    try:
        catalogue = tenants.load_catalogue(args.tenants)
    except (tenants.CatalogueError, OSError) as exc:
        print(f"silo dev: {exc}", file=sys.stderr)
        return 2
    if not catalogue.tenants:
        print(f"silo dev: no tenants in {args.tenants}", file=sys.stderr)
        return 2

    started = time.monotonic()
    processes: list[ServiceProcess] = []
    state_written = False
    with contextlib.ExitStack() as cleanup, signals_raise_shutdown():
        try:
            limiter, limits_applied = open_limiter(args.no_limits)
            if limiter is not None:
                # Registered before the backends, so it runs after they and the children have
                # stopped (an ExitStack unwinds in reverse): the groups are empty by then.
                cleanup.callback(limiter.close)
            backends = cleanup.enter_context(
                running_backends(
                    args.database_url,
                    args.s3_endpoint,
                    say,
                    database_user=names.DATABASE_USER,
                )
            )
            if limiter is not None:
                confine_backends(limiter, backends)
            # Stopped after the services (an ExitStack unwinds in reverse).
            scanners, scan_applied = start_scanner(catalogue, cleanup)
            plans = plan_tenants(
                catalogue, backends, [free_port() for _ in catalogue.tenants], scanners
            )
            for plan in plans:
                backends.create_tenant_storage(
                    plan.database, plan.bucket, versioning=plan.versioning
                )
            groups: dict[str, Cgroup] = {}
            sorter = None
            if limiter is not None:
                groups, limits_applied = tenant_groups(limiter, plans)
                sorter = database_sorter(limiter, backends, plans) if groups else None
            if sorter is not None:
                # Runs before the backends stop (registered after them).
                cleanup.callback(sorter.close)
            # Registered after the backends, so it runs first: children stop before their
            # database and bucket go away.
            cleanup.callback(stop_all, processes)
            for plan in plans:
                process = ServiceProcess(
                    plan.slug,
                    plan.port,
                    plan.env,
                    logs_dir / f"{plan.slug}.log",
                    cgroup=groups.get(plan.slug),
                )
                processes.append(process)
                process.start()
            say(f"starting {len(plans)} service(s); logs in {logs_dir}/")
            reported: set[str] = set()

            def report_exit(process: ServiceProcess) -> None:
                reported.add(process.slug)
                print(describe_exit(process), file=sys.stderr, flush=True)

            slow = wait_ready(processes, args.ready_timeout, report_exit)
            for group in groups.values():
                group.apply_cpu_quota()
            if sorter is not None:
                sorter.sort()
            for process in slow:
                say(f"tenant {process.slug}: not ready after {args.ready_timeout:.0f} s")
            document = state_document(
                endpoints(plans, processes),
                pid=os.getpid(),
                database=backends.describe_database(),
                s3_endpoint=backends.s3_endpoint_url,
                limits=limits_applied,
                scan=scan_applied,
            )
            write_state(state_path, document)
            state_written = True
            say("")
            say(format_table(endpoints(plans, processes)))
            say("")
            ready = sum(p.ready for p in processes)
            say(
                f"{ready}/{len(processes)} tenant(s) ready in {time.monotonic() - started:.1f} s;"
                f" state in {state_path}; Ctrl-C to stop"
            )
            return watch(plans, processes, reported, report_exit, state_path, document, sorter)
        except (KeyboardInterrupt, Shutdown) as exc:
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
            say(f"\nstopping ({reason}) ...")
            return 0
        except (BackendError, OSError) as exc:
            print(f"silo dev: {exc}", file=sys.stderr)
            return 1
        finally:
            with signals_ignored():
                if state_written:
                    state_path.unlink(missing_ok=True)
                cleanup.close()
            say("stopped; temporary data removed")


def watch(plans, processes, reported, report_exit, state_path, document, sorter=None) -> int:
    """Until a signal: report children that die (once), keep the state file current, move new
    database backends into their tenant's group (`sorter`). Returns 1 once no service is left
    (nothing to serve; stop and clean up)."""
    while True:
        if sorter is not None:
            sorter.sort()
        changed = False
        for process in processes:
            if process.poll() is not None and process.slug not in reported:
                report_exit(process)
                changed = True
        alive = [p for p in processes if p.exit_code is None]
        if changed:
            tenants = state_document(endpoints(plans, processes))["tenants"]
            document = {**document, "tenants": tenants}
            write_state(state_path, document)
            if alive:
                say(f"{len(alive)} tenant(s) still running: {', '.join(p.slug for p in alive)}")
        if not alive:
            print("silo dev: every service has exited", file=sys.stderr, flush=True)
            return 1
        time.sleep(WATCH_INTERVAL)
