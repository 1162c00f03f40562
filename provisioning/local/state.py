"""The state file `silo dev` writes and `silo smoke` (or any script) reads.

Shape: `{"tenants": {"<slug>": {"url": ..., "admin_key": ..., "bucket": ..., ...}}, ...}`.
`url`, `admin_key` and `bucket` are the promised fields; the others are extras for tools and
tests (the console's URL, pid of each service process, its log file, its status once it has
exited).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_STATE_FILE = Path(".silo") / "dev.json"
# Where the service serves its web console (service/console/), under the tenant's URL.
CONSOLE_PATH = "/console"


class StateError(RuntimeError):
    """The state file is missing or not what `silo dev` writes; the message says which."""


@dataclass(frozen=True)
class TenantEndpoint:
    slug: str
    url: str
    admin_key: str
    bucket: str
    database: str = ""
    pid: int | None = None
    log: str | None = None
    status: str = "running"
    exit_code: int | None = None
    # The CPU and memory limits the service runs under (provisioning.local.limits), or None.
    limits: dict | None = None

    @property
    def console(self) -> str:
        return self.url.rstrip("/") + CONSOLE_PATH

    def entry(self) -> dict:
        fields = asdict(self)
        del fields["slug"]
        fields["console"] = self.console
        return fields


def state_document(endpoints: Iterable[TenantEndpoint], **extra) -> dict:
    """The JSON document: every tenant under "tenants", plus top-level `extra` fields."""
    return {**extra, "tenants": {e.slug: e.entry() for e in endpoints}}


def write_state(path: Path, document: dict) -> None:
    """Write atomically (readers never see half a file), readable by the owner only: it holds
    admin keys."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(document, fh, indent=2, sort_keys=False)
            fh.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_state(path: Path) -> dict[str, TenantEndpoint]:
    """slug -> endpoint, in the file's order."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise StateError(f"{path}: no such state file (is `silo dev` running?)") from exc
    except (OSError, ValueError) as exc:
        raise StateError(f"{path}: cannot read state file: {exc}") from exc
    tenants = document.get("tenants") if isinstance(document, dict) else None
    if not isinstance(tenants, dict):
        raise StateError(f"{path}: no 'tenants' object")
    endpoints = {}
    for slug, entry in tenants.items():
        missing = [
            k
            for k in ("url", "admin_key", "bucket")
            if not isinstance(entry, dict) or k not in entry
        ]
        if missing:
            raise StateError(f"{path}: tenant {slug!r} lacks {', '.join(missing)}")
        known = {k: v for k, v in entry.items() if k in TenantEndpoint.__dataclass_fields__}
        endpoints[slug] = TenantEndpoint(slug=slug, **known)
    return endpoints


def format_table(endpoints: Iterable[TenantEndpoint]) -> str:
    """The table `silo dev` prints: tenant, URL, console, admin key, bucket (and status when
    not up). The console's sign-in takes the admin key."""
    rows = [("TENANT", "URL", "CONSOLE", "ADMIN KEY", "BUCKET", "STATUS")]
    for e in endpoints:
        status = e.status if e.exit_code is None else f"{e.status} ({e.exit_code})"
        rows.append((e.slug, e.url, e.console, e.admin_key, e.bucket, status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
