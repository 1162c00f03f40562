"""`silo smoke`: the end-to-end smoke test of each tenant's endpoint.

Where the endpoints come from, one of:
- `--state FILE`: a running `silo dev` (URLs and admin keys from its state file);
- `--base-url URL`: one endpoint (isolation across tenants cannot be checked);
- otherwise the catalogue: every tenant (or `--tenant`) at `--url-template` (default
  `https://{host}`, the deployed host).
Outside a state file a tenant's key is `$SILO_SMOKE_KEY_<SLUG>`, else, when one endpoint is
tested, `$SILO_SMOKE_KEY`; `--key` still works, with a warning (`provisioning.key_option`).
The checks themselves are in `provisioning.smoke.checks`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from provisioning.key_option import add_key_option, warn_if_given
from provisioning.local.state import DEFAULT_STATE_FILE, StateError, read_state
from provisioning.smoke.checks import (
    SCAN_TIMEOUT_SECONDS,
    SmokeTarget,
    key_env_var,
    new_client,
    run_smoke,
    summarize,
)
from tenants.catalogue_option import add_tenants_option

DEFAULT_URL_TEMPLATE = "https://{host}"
# The key when one endpoint is tested; SILO_SMOKE_KEY_<SLUG> (key_env_var) wins over it.
KEY_ENV = "SILO_SMOKE_KEY"
EXAMPLES = """\
Examples:
  silo smoke --state                        # the tenants of a running `silo dev`
  silo smoke --state /tmp/silo.json --tenant pack
  SILO_SMOKE_KEY=silo_... silo smoke --base-url https://pack.uploads.example.com
  SILO_SMOKE_KEY_PACK=... SILO_SMOKE_KEY_HRCOMP=... silo smoke    # deployed hosts
  silo smoke --url-template 'http://{slug}.localhost'          # docker compose

Environment:
  SILO_SMOKE_KEY_<SLUG>  a tenant's key (admin, or read+write), e.g. SILO_SMOKE_KEY_HR_COMP
  SILO_SMOKE_KEY         the key when one endpoint is tested (--base-url, one --tenant)

More: docs/operations/local.md
"""


class UsageError(RuntimeError):
    """Bad combination of arguments or an unknown tenant; exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument(
        "--tenant",
        action="append",
        metavar="SLUG",
        help="only this tenant (repeatable; default: every tenant)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--state",
        nargs="?",
        const=str(DEFAULT_STATE_FILE),
        metavar="FILE",
        help=f"test the tenants of a running `silo dev` (default file: {DEFAULT_STATE_FILE})",
    )
    source.add_argument("--base-url", metavar="URL", help="test one endpoint at URL")
    add_key_option(
        parser,
        "--key",
        KEY_ENV,
        "API key (admin, or read+write) for --base-url or a single --tenant",
    )
    add_tenants_option(parser)
    parser.add_argument(
        "--url-template",
        default=DEFAULT_URL_TEMPLATE,
        metavar="TEMPLATE",
        help="base URL of a catalogue tenant, with {host} and {slug} "
        "(default: %(default)s; docker compose: http://{slug}.localhost)",
    )
    parser.add_argument(
        "--timeout", type=float, default=15.0, metavar="SECONDS", help="per request"
    )
    parser.add_argument(
        "--scan-timeout",
        type=float,
        default=SCAN_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="how long to wait for the upload's malware verdict before downloading it "
        "(default: %(default)s)",
    )


def resolve_targets(args: argparse.Namespace, environ: Mapping[str, str]) -> list[SmokeTarget]:
    wanted = args.tenant or []
    if args.state:
        if args.key:
            raise UsageError("--key goes with --base-url or the catalogue, not --state")
        endpoints = read_state(Path(args.state))
        _check_known(wanted, endpoints, f"state file {args.state}")
        return [
            SmokeTarget(slug, e.url, e.admin_key, key_is_admin=True)
            for slug, e in endpoints.items()
            if not wanted or slug in wanted
        ]
    if args.base_url:
        if len(wanted) > 1:
            raise UsageError("--base-url tests one endpoint: give at most one --tenant")
        tenant = wanted[0] if wanted else (urlsplit(args.base_url).hostname or args.base_url)
        return [SmokeTarget(tenant, args.base_url, _key(args, tenant, environ, single=True))]
    return _catalogue_targets(args, wanted, environ)


def _catalogue_targets(
    args: argparse.Namespace, wanted: list[str], environ: Mapping[str, str]
) -> list[SmokeTarget]:
    import tenants

    catalogue = tenants.load_catalogue(args.tenants)
    by_slug = {t.slug: t for t in catalogue.tenants}
    _check_known(wanted, by_slug, f"catalogue {args.tenants}")
    chosen = [t for t in catalogue.tenants if not wanted or t.slug in wanted]
    if args.key and len(chosen) != 1:
        raise UsageError("--key is one tenant's key: pick the tenant with --tenant")
    return [
        SmokeTarget(
            t.slug,
            args.url_template.format(host=t.host, slug=t.slug),
            _key(args, t.slug, environ, single=len(chosen) == 1),
        )
        for t in chosen
    ]


def _key(
    args: argparse.Namespace, slug: str, environ: Mapping[str, str], single: bool
) -> str | None:
    """--key, else $SILO_SMOKE_KEY_<SLUG>, else $SILO_SMOKE_KEY when one endpoint is tested."""
    return (
        args.key
        or environ.get(key_env_var(slug))
        or (environ.get(KEY_ENV) if single else None)
        or None
    )


def _check_known(wanted: list[str], known: Mapping, where: str) -> None:
    unknown = [slug for slug in wanted if slug not in known]
    if unknown:
        raise UsageError(
            f"unknown tenant(s) {', '.join(unknown)} in {where} "
            f"(known: {', '.join(known) or 'none'})"
        )


def run(args: argparse.Namespace) -> int:
    from tenants import CatalogueError

    warn_if_given(args.key, flag="--key", env_var=KEY_ENV, command="silo smoke")
    try:
        targets = resolve_targets(args, os.environ)
    except (UsageError, StateError, CatalogueError, OSError) as exc:
        # Catalogue errors already name the file, tenant and field.
        print(f"silo smoke: {exc}", file=sys.stderr)
        return 2
    if not targets:
        print("silo smoke: no tenants to test", file=sys.stderr)
        return 2
    width = max(len(t.tenant) for t in targets)
    with new_client(args.timeout) as client:
        results = run_smoke(
            targets,
            lambda result: print(result.line(width), flush=True),
            client=client,
            scan_timeout=args.scan_timeout,
        )
    summary, ok = summarize(results)
    print(summary)
    return 0 if ok else 1
