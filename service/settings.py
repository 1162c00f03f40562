"""One typed, frozen settings object, read once from the environment at the edge.

Everything else receives a `Settings`; nothing below this module reads `os.environ`. The
variables are the contract in `provisioning/service_env.py` (plus the secrets ECS injects).
A missing or invalid variable raises `SettingsError` whose message is one line naming it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg

from service.files.renderings import DEFAULT_BUDGET_BYTES as DEFAULT_RENDERINGS_CACHE_BYTES
from service.files.taxonomy import DEFAULT_TAXONOMY, Taxonomy, parse_taxonomy
from service.keys.auth import DEFAULT_KEY_CACHE_BUDGET_BYTES as DEFAULT_KEY_CACHE_BYTES
from service.uploads.filetypes import KNOWN_TYPE_IDS

GIB = 1024**3
DEFAULT_MAX_UPLOAD_BYTES = 5 * GIB
DEFAULT_DB_POOL_MAX = 10
# Lock connections (a tus PATCH, a direct upload's `complete`: service/db/locks.py) on top of the
# pool when SILO_DB_MAX_CONNECTIONS is not set: the default ceiling is the pool's max plus these.
DEFAULT_DB_LOCK_SLOTS = 10
DEFAULT_PRESIGN_TTL_SECONDS = 900
# SigV4 presigned URLs cannot live longer than seven days.
MAX_PRESIGN_TTL_SECONDS = 7 * 24 * 3600
MIN_ADMIN_KEY_LENGTH = 16
DEFAULT_EVENTS_FLUSH_MS = 500
# Raw access events are kept this many whole months before the current one, then dropped a
# month at a time (service/stats/partitions.py); the rollups /stats reads are kept forever.
DEFAULT_EVENTS_RETENTION_MONTHS = 13
# How often an instance creates the coming months' partitions and applies the retention.
EVENTS_PARTITION_INTERVAL_SECONDS = 3600.0
# How long a stored API key found in the database is trusted without asking again: the bound
# on how late a revocation takes effect on the other instances (0 = no cache).
DEFAULT_KEY_CACHE_SECONDS = 5
MAX_KEY_CACHE_SECONDS = 300
# A cache budget above this is a typo (the task has a few hundred MiB in all).
MAX_CACHE_BYTES = 1024**3
# ECS sends SIGKILL 30 s after SIGTERM by default (stopTimeout): stop waiting for in-flight
# requests a little before that, so unfinished uploads are aborted cleanly rather than killed.
DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 25

# Hostile or broken clients (see docs/configuration.md: which limit is enforced where).
DEFAULT_MAX_CONNECTIONS = 1000
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
DEFAULT_MAX_HEADERS = 100
DEFAULT_HEADER_TIMEOUT_SECONDS = 10
# Behind the ALB: keep idle connections longer than its 60 s idle timeout.
DEFAULT_KEEP_ALIVE_SECONDS = 65
# How long a request body may go without a byte (uploads and JSON bodies alike): 408.
DEFAULT_BODY_IDLE_TIMEOUT_SECONDS = 60

# Sick dependencies: every wait on the database and on S3 is bounded.
DEFAULT_DB_CONNECT_TIMEOUT_SECONDS = 5
DEFAULT_DB_ACQUIRE_TIMEOUT_SECONDS = 5
DEFAULT_DB_STATEMENT_TIMEOUT_MS = 5_000
DEFAULT_S3_CONNECT_TIMEOUT_SECONDS = 5
DEFAULT_S3_READ_TIMEOUT_SECONDS = 10
DEFAULT_S3_MAX_ATTEMPTS = 2
# Multipart uploads left behind (a killed instance) are aborted by a sweeper in the service.
DEFAULT_MULTIPART_SWEEP_INTERVAL_SECONDS = 3600
DEFAULT_MULTIPART_MAX_AGE_SECONDS = 24 * 3600
# Resumable (tus) uploads untouched for this long are aborted and forgotten.
DEFAULT_UPLOAD_EXPIRY_HOURS = 24
DEFAULT_UPLOAD_SWEEP_INTERVAL_SECONDS = 300.0

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")


class SettingsError(ValueError):
    """A configuration variable is missing or invalid; str() is one line naming it."""


@dataclass(frozen=True)
class Settings:
    tenant: str
    database_url: str
    s3_bucket: str
    aws_region: str
    admin_key: str
    s3_endpoint_url: str | None = None
    # DATABASE_SECRET_ARN: the database user and password are read from this Secrets Manager
    # secret (JSON {"username", "password"}) when a connection opens (service/db/credentials.py),
    # so a rotated password is picked up without a restart. SECRETS_ENDPOINT_URL: a local
    # Secrets Manager endpoint (moto), like S3_ENDPOINT_URL.
    database_secret_arn: str | None = None
    secrets_endpoint_url: str | None = None
    # How long a secret read is reused (not configurable by environment; a refused login reads
    # it again at once anyway).
    database_secret_ttl_seconds: float = 60.0
    # The pool replaces a connection older than this (psycopg_pool's default; tests shorten it
    # to force new logins). Not configurable by environment.
    db_max_lifetime_seconds: float = 3600.0
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    allowed_types: tuple[str, ...] = KNOWN_TYPE_IDS
    db_pool_max: int = DEFAULT_DB_POOL_MAX
    # SILO_DB_MAX_CONNECTIONS: database connections of every kind one instance holds at most
    # (the pool's plus lock connections); None: `db_pool_max + DEFAULT_DB_LOCK_SLOTS`.
    db_max_connections: int | None = None
    presign_ttl_seconds: int = DEFAULT_PRESIGN_TTL_SECONDS
    host: str = "0.0.0.0"
    port: int = 8000
    migrate: bool = True
    shutdown_timeout_seconds: int = DEFAULT_SHUTDOWN_TIMEOUT_SECONDS
    # SILO_TAXONOMY: categories, languages and roles seeded at start-up (platform defaults).
    taxonomy: Taxonomy = DEFAULT_TAXONOMY
    # How long access events may wait in memory before a batch write (they are also written
    # as soon as a batch is full, and all of them on shutdown).
    events_flush_ms: int = DEFAULT_EVENTS_FLUSH_MS
    # SILO_EVENTS_RETENTION_MONTHS (the catalogue's `database.events_retention_months`): see
    # DEFAULT_EVENTS_RETENTION_MONTHS; 0 keeps raw events forever.
    events_retention_months: int = DEFAULT_EVENTS_RETENTION_MONTHS
    events_partition_interval_seconds: float = EVENTS_PARTITION_INTERVAL_SECONDS
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_headers: int = DEFAULT_MAX_HEADERS
    header_timeout_seconds: int = DEFAULT_HEADER_TIMEOUT_SECONDS
    keep_alive_seconds: int = DEFAULT_KEEP_ALIVE_SECONDS
    body_idle_timeout_seconds: float = DEFAULT_BODY_IDLE_TIMEOUT_SECONDS
    db_connect_timeout_seconds: int = DEFAULT_DB_CONNECT_TIMEOUT_SECONDS
    db_acquire_timeout_seconds: int = DEFAULT_DB_ACQUIRE_TIMEOUT_SECONDS
    db_statement_timeout_ms: int = DEFAULT_DB_STATEMENT_TIMEOUT_MS
    s3_connect_timeout_seconds: int = DEFAULT_S3_CONNECT_TIMEOUT_SECONDS
    s3_read_timeout_seconds: int = DEFAULT_S3_READ_TIMEOUT_SECONDS
    s3_max_attempts: int = DEFAULT_S3_MAX_ATTEMPTS
    multipart_sweep_interval_seconds: int = DEFAULT_MULTIPART_SWEEP_INTERVAL_SECONDS
    multipart_max_age_seconds: int = DEFAULT_MULTIPART_MAX_AGE_SECONDS
    # SILO_KEY_CACHE_SECONDS: see DEFAULT_KEY_CACHE_SECONDS.
    key_cache_seconds: int = DEFAULT_KEY_CACHE_SECONDS
    # SILO_KEY_CACHE_BYTES and SILO_RENDERINGS_CACHE_BYTES: the memory the key cache and the
    # kept file renderings may take at most, each (least recently used out; 0 keeps none).
    key_cache_bytes: int = DEFAULT_KEY_CACHE_BYTES
    renderings_cache_bytes: int = DEFAULT_RENDERINGS_CACHE_BYTES
    # SILO_UPLOAD_EXPIRY_HOURS: a resumable upload without a byte for this long expires (a float
    # here so tests can use seconds).
    upload_expiry_hours: float = DEFAULT_UPLOAD_EXPIRY_HOURS
    # How often the sweeper looks for expired uploads. Not configurable by environment.
    upload_sweep_interval_seconds: float = DEFAULT_UPLOAD_SWEEP_INTERVAL_SECONDS
    # SILO_CORS_ORIGINS: browser origins allowed to call the API (the tenant's `cors_origins`).
    cors_origins: tuple[str, ...] = ()
    # SILO_MAX_CONCURRENT_UPLOADS: upload bodies one instance takes at once; None derives it
    # from the memory the instance has (service/http/admission.py).
    max_concurrent_uploads: int | None = None
    # SILO_METRICS: serve GET /metrics (Prometheus text, no key).
    metrics: bool = True
    # SILO_S3_VERIFIES_CHECKSUMS: storage refuses a PUT whose body does not match its
    # x-amz-checksum-sha256 (AWS S3 does; moto does not), so a direct upload's sha256 can be
    # taken from storage instead of reading the object. Default: true on AWS (no endpoint).
    s3_verifies_checksums: bool = False
    # SILO_SCAN: the malware scanning engine, `off`, `guardduty` or `clamav` (required: see
    # _scan). The default here is for settings built in code (tests), never for a deployment.
    scan: str = "off"
    # SILO_CLAMD_ADDRESS (with `clamav`): `tcp://host:port` or `unix:///path`.
    clamd_address: str | None = None
    # SILO_SCAN_INFECTED: what happens to an infected file's bytes: `quarantine` (moved under
    # quarantine/) or `delete`.
    scan_infected: str = "quarantine"
    # SILO_SCAN_MAX_BYTES: files larger than this are not sent to the engine (None: the
    # engine's own limit, e.g. clamd's StreamMaxLength, decides). SILO_SCAN_OVERSIZE: what
    # becomes of a file too large for the engine (status `oversize`): `hold` (not served) or
    # `serve_unscanned`.
    scan_max_bytes: int | None = None
    scan_oversize: str = "hold"
    # Files one instance scans at once, and how often an idle worker looks for work. Not
    # configurable by environment: scanning runs beside the uploads and must stay modest.
    scan_concurrency: int = 2
    scan_poll_seconds: float = 1.0
    # How often an idle worker checks that the scanner answers (an outage shows without files).
    scan_watch_seconds: float = 15.0
    # How long clamd may take to give a verdict once a stream is sent, plus 1 s per 4 MiB
    # (service/scanning/engines.py). Not configurable by environment; tests shorten it.
    scan_reply_seconds: float = 30.0
    # With `guardduty`, how long a file may wait for GuardDuty's tag before it is `failed`.
    guardduty_verdict_timeout_seconds: float = 6 * 3600

    @property
    def db_connection_ceiling(self) -> int:
        """Database connections of every kind this instance holds at most: the pool's plus
        the lock connections (`db_lock_slots`)."""
        if self.db_max_connections is not None:
            return self.db_max_connections
        return self.db_pool_max + DEFAULT_DB_LOCK_SLOTS

    @property
    def db_lock_slots(self) -> int:
        """Lock connections held at once (a tus PATCH, a direct `complete`): the ceiling's
        share beyond the pool, at least 1."""
        return max(1, self.db_connection_ceiling - self.db_pool_max)

    def __repr__(self) -> str:
        # Never print secrets (the admin key, a password inside the database URL).
        return f"Settings(tenant={self.tenant!r}, s3_bucket={self.s3_bucket!r}, ...)"


def from_environ(environ: Mapping[str, str] | None = None) -> Settings:
    """Build `Settings` from `environ` (default: the process environment)."""
    env = Env(os.environ if environ is None else environ)
    return Settings(
        tenant=env.pattern("SILO_TENANT", _SLUG, "a lowercase slug like `acme-learning`"),
        database_url=_database_url(env),
        s3_bucket=env.pattern("S3_BUCKET", _BUCKET, "a valid S3 bucket name"),
        aws_region=env.pattern("AWS_REGION", _REGION, "an AWS region like `eu-west-1`"),
        admin_key=_admin_key(env),
        s3_endpoint_url=_endpoint_url(env, "S3_ENDPOINT_URL"),
        database_secret_arn=_secret_arn(env),
        secrets_endpoint_url=_endpoint_url(env, "SECRETS_ENDPOINT_URL"),
        max_upload_bytes=env.integer("SILO_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES, low=1),
        allowed_types=_allowed_types(env),
        db_pool_max=env.integer("SILO_DB_POOL_MAX", DEFAULT_DB_POOL_MAX, low=1, high=1000),
        db_max_connections=_db_max_connections(env),
        presign_ttl_seconds=env.integer(
            "SILO_PRESIGN_TTL_SECONDS",
            DEFAULT_PRESIGN_TTL_SECONDS,
            low=1,
            high=MAX_PRESIGN_TTL_SECONDS,
        ),
        host=env.optional("HOST") or "0.0.0.0",
        port=env.integer("PORT", 8000, low=1, high=65535),
        migrate=env.boolean("SILO_MIGRATE", True),
        shutdown_timeout_seconds=env.integer(
            "SILO_SHUTDOWN_TIMEOUT_SECONDS", DEFAULT_SHUTDOWN_TIMEOUT_SECONDS, low=1, high=3600
        ),
        taxonomy=_taxonomy(env),
        events_flush_ms=env.integer(
            "SILO_EVENTS_FLUSH_MS", DEFAULT_EVENTS_FLUSH_MS, low=10, high=600_000
        ),
        events_retention_months=env.integer(
            "SILO_EVENTS_RETENTION_MONTHS", DEFAULT_EVENTS_RETENTION_MONTHS, low=0, high=1200
        ),
        max_connections=env.integer(
            "SILO_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS, low=1, high=100_000
        ),
        max_header_bytes=env.integer(
            "SILO_MAX_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES, low=1024, high=1024 * 1024
        ),
        max_headers=env.integer("SILO_MAX_HEADERS", DEFAULT_MAX_HEADERS, low=8, high=10_000),
        header_timeout_seconds=env.integer(
            "SILO_HEADER_TIMEOUT_SECONDS", DEFAULT_HEADER_TIMEOUT_SECONDS, low=1, high=3600
        ),
        keep_alive_seconds=env.integer(
            "SILO_KEEP_ALIVE_SECONDS", DEFAULT_KEEP_ALIVE_SECONDS, low=1, high=3600
        ),
        body_idle_timeout_seconds=env.integer(
            "SILO_BODY_IDLE_TIMEOUT_SECONDS", DEFAULT_BODY_IDLE_TIMEOUT_SECONDS, low=1, high=3600
        ),
        # libpq treats a connect timeout under 2 s as 2 s.
        db_connect_timeout_seconds=env.integer(
            "SILO_DB_CONNECT_TIMEOUT_SECONDS", DEFAULT_DB_CONNECT_TIMEOUT_SECONDS, low=2, high=300
        ),
        db_acquire_timeout_seconds=env.integer(
            "SILO_DB_ACQUIRE_TIMEOUT_SECONDS", DEFAULT_DB_ACQUIRE_TIMEOUT_SECONDS, low=1, high=300
        ),
        db_statement_timeout_ms=env.integer(
            "SILO_DB_STATEMENT_TIMEOUT_MS", DEFAULT_DB_STATEMENT_TIMEOUT_MS, low=100, high=3_600_000
        ),
        s3_connect_timeout_seconds=env.integer(
            "SILO_S3_CONNECT_TIMEOUT_SECONDS", DEFAULT_S3_CONNECT_TIMEOUT_SECONDS, low=1, high=300
        ),
        s3_read_timeout_seconds=env.integer(
            "SILO_S3_READ_TIMEOUT_SECONDS", DEFAULT_S3_READ_TIMEOUT_SECONDS, low=1, high=3600
        ),
        s3_max_attempts=env.integer(
            "SILO_S3_MAX_ATTEMPTS", DEFAULT_S3_MAX_ATTEMPTS, low=1, high=10
        ),
        multipart_sweep_interval_seconds=env.integer(
            "SILO_MULTIPART_SWEEP_INTERVAL_SECONDS",
            DEFAULT_MULTIPART_SWEEP_INTERVAL_SECONDS,
            low=1,
            high=7 * 24 * 3600,
        ),
        multipart_max_age_seconds=env.integer(
            "SILO_MULTIPART_MAX_AGE_SECONDS",
            DEFAULT_MULTIPART_MAX_AGE_SECONDS,
            low=1,
            high=30 * 24 * 3600,
        ),
        key_cache_seconds=env.integer(
            "SILO_KEY_CACHE_SECONDS", DEFAULT_KEY_CACHE_SECONDS, low=0, high=MAX_KEY_CACHE_SECONDS
        ),
        key_cache_bytes=env.integer(
            "SILO_KEY_CACHE_BYTES", DEFAULT_KEY_CACHE_BYTES, low=0, high=MAX_CACHE_BYTES
        ),
        renderings_cache_bytes=env.integer(
            "SILO_RENDERINGS_CACHE_BYTES",
            DEFAULT_RENDERINGS_CACHE_BYTES,
            low=0,
            high=MAX_CACHE_BYTES,
        ),
        upload_expiry_hours=env.integer(
            "SILO_UPLOAD_EXPIRY_HOURS", DEFAULT_UPLOAD_EXPIRY_HOURS, low=1, high=24 * 30
        ),
        cors_origins=_cors_origins(env),
        max_concurrent_uploads=_max_concurrent_uploads(env),
        metrics=env.boolean("SILO_METRICS", True),
        s3_verifies_checksums=env.boolean(
            "SILO_S3_VERIFIES_CHECKSUMS", _endpoint_url(env, "S3_ENDPOINT_URL") is None
        ),
        **_scan(env),
    )


def _db_max_connections(env: Env) -> int | None:
    """SILO_DB_MAX_CONNECTIONS: above SILO_DB_POOL_MAX, leaving at least one lock connection."""
    if env.optional("SILO_DB_MAX_CONNECTIONS") is None:
        return None
    pool_max = env.integer("SILO_DB_POOL_MAX", DEFAULT_DB_POOL_MAX, low=1, high=1000)
    return env.integer("SILO_DB_MAX_CONNECTIONS", 0, low=pool_max + 1, high=2000)


SCAN_ENGINES = ("off", "guardduty", "clamav")
INFECTED_ACTIONS = ("quarantine", "delete")
OVERSIZE_POLICIES = ("hold", "serve_unscanned")


def _scan(env: Env) -> dict[str, str | int | None]:
    """SILO_SCAN has no default, so that no deployment is left unscanned by accident."""
    hint = "one of off, guardduty, clamav (off: files are served unscanned)"
    engine = env.required("SILO_SCAN", hint).lower()
    if engine not in SCAN_ENGINES:
        raise SettingsError(f"SILO_SCAN={engine!r} is invalid: expected {hint}")
    address = None
    if engine == "clamav":
        from service.scanning.engines import parse_clamd_address

        address = env.required(
            "SILO_CLAMD_ADDRESS", "clamd's address, tcp://host:port or unix:///path"
        )
        try:
            parse_clamd_address(address)
        except ValueError as exc:
            raise SettingsError(f"SILO_CLAMD_ADDRESS={address!r} is invalid: {exc}") from None
    infected = (env.optional("SILO_SCAN_INFECTED") or "quarantine").lower()
    if infected not in INFECTED_ACTIONS:
        raise SettingsError(
            f"SILO_SCAN_INFECTED={infected!r} is invalid: expected quarantine or delete"
        )
    oversize = (env.optional("SILO_SCAN_OVERSIZE") or "hold").lower()
    if oversize not in OVERSIZE_POLICIES:
        raise SettingsError(
            f"SILO_SCAN_OVERSIZE={oversize!r} is invalid: expected hold or serve_unscanned"
        )
    max_bytes = None
    if env.optional("SILO_SCAN_MAX_BYTES") is not None:
        max_bytes = env.integer("SILO_SCAN_MAX_BYTES", 0, low=1)
    return {
        "scan": engine,
        "clamd_address": address,
        "scan_infected": infected,
        "scan_oversize": oversize,
        "scan_max_bytes": max_bytes,
    }


def _max_concurrent_uploads(env: Env) -> int | None:
    if env.optional("SILO_MAX_CONCURRENT_UPLOADS") is None:
        return None
    return env.integer("SILO_MAX_CONCURRENT_UPLOADS", 0, low=1, high=100_000)


def _taxonomy(env: Env) -> Taxonomy:
    try:
        return parse_taxonomy(env.optional("SILO_TAXONOMY"))
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


class Env:
    """Typed reads of one mapping, each failing with a one-line `SettingsError`."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def optional(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def required(self, name: str, hint: str = "") -> str:
        value = self.optional(name)
        if value is None:
            raise SettingsError(f"{name} is not set{': ' + hint if hint else ''}")
        return value

    def pattern(self, name: str, regex: re.Pattern[str], hint: str) -> str:
        value = self.required(name, hint)
        if not regex.match(value):
            raise SettingsError(f"{name}={value!r} is invalid: expected {hint}")
        return value

    def integer(self, name: str, default: int, *, low: int, high: int | None = None) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw.replace("_", ""))
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is invalid: expected an integer") from None
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise SettingsError(f"{name}={raw!r} is invalid: expected an integer {bounds}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.optional(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name}={raw!r} is invalid: expected 1/0, true/false, yes/no")


def _database_url(env: Env) -> str:
    url = env.optional("DATABASE_URL")
    if url is not None:
        try:
            psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError:
            # The message may echo a password: name the variable only.
            raise SettingsError("DATABASE_URL is invalid: not a PostgreSQL URL") from None
        return url
    hint = (
        "set DATABASE_URL, or DATABASE_HOST/PORT/NAME with DATABASE_USER/PASSWORD or "
        "DATABASE_SECRET_ARN"
    )
    host = env.required("DATABASE_HOST", hint)
    port = env.integer("DATABASE_PORT", 5432, low=1, high=65535)
    name = env.required("DATABASE_NAME", hint)
    parts: dict[str, object] = {"host": host, "port": port, "dbname": name}
    if env.optional("DATABASE_SECRET_ARN") is None:
        # Without a secret to read them from at connect time, the user (and password) are fixed.
        parts["user"] = env.required("DATABASE_USER", hint)
        password = env.optional("DATABASE_PASSWORD")
        if password is not None:
            parts["password"] = password
    return psycopg.conninfo.make_conninfo(**parts)


_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[^\s]+$")


def _secret_arn(env: Env) -> str | None:
    arn = env.optional("DATABASE_SECRET_ARN")
    if arn is not None and not _SECRET_ARN.match(arn):
        raise SettingsError(
            f"DATABASE_SECRET_ARN={arn!r} is invalid: expected a Secrets Manager secret ARN"
        )
    return arn


def _admin_key(env: Env) -> str:
    key = env.required("SILO_ADMIN_KEY", "the bootstrap admin API key")
    if len(key) < MIN_ADMIN_KEY_LENGTH:
        raise SettingsError(
            f"SILO_ADMIN_KEY is invalid: expected at least {MIN_ADMIN_KEY_LENGTH} characters"
        )
    return key


def _endpoint_url(env: Env, name: str) -> str | None:
    url = env.optional(name)
    if url is not None and not re.match(r"^https?://[^/\s]+", url):
        raise SettingsError(f"{name}={url!r} is invalid: expected an http(s) URL")
    return url


def _allowed_types(env: Env) -> tuple[str, ...]:
    raw = env.optional("SILO_ALLOWED_TYPES")
    if raw is None:
        return KNOWN_TYPE_IDS
    ids = [item.strip().lower() for item in raw.split(",") if item.strip()]
    if not ids:
        return KNOWN_TYPE_IDS
    unknown = [item for item in ids if item not in KNOWN_TYPE_IDS]
    if unknown:
        raise SettingsError(
            f"SILO_ALLOWED_TYPES is invalid: unknown type(s) {', '.join(unknown)} "
            f"(known: {', '.join(KNOWN_TYPE_IDS)})"
        )
    return tuple(dict.fromkeys(ids))


_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(?::\d{1,5})?$")


def _cors_origins(env: Env) -> tuple[str, ...]:
    raw = env.optional("SILO_CORS_ORIGINS")
    if raw is None:
        return ()
    origins = [item.strip().rstrip("/").lower() for item in raw.split(",") if item.strip()]
    for origin in origins:
        if origin != "*" and not _ORIGIN.match(origin):
            raise SettingsError(
                f"SILO_CORS_ORIGINS is invalid: {origin!r} is not an origin like "
                "`https://app.example.com`"
            )
    return tuple(dict.fromkeys(origins))
