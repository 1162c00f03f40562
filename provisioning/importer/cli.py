"""`silo import`: move files into a tenant, from a directory or from a Pack deployment.

    SILO_IMPORT_KEY=... silo import --url URL DIR [--manifest FILE] [--update-metadata]
    SILO_IMPORT_KEY=... silo import --url URL --from-pack URL --bucket NAME --provider ID

The run itself is `provisioning.importer.runner`; this module reads the arguments and the
environment (the keys, and one test-only variable) and builds the source, the client and the
journal.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import signal
import sys
from pathlib import Path

from provisioning.importer import client as api
from provisioning.importer.journal import Journal, JournalError
from provisioning.importer.runner import EXIT_INTERRUPTED, EXIT_STOPPED, Importer, Options
from provisioning.importer.sources import DirectorySource, Source, SourceError
from provisioning.key_option import add_key_option, key_from

# TEST ONLY: exit right after the Nth file is stored, before the journal records it (see
# runner.Options.crash_after_uploads). Documented in docs/operations/importing.md; never set it
# otherwise.
CRASH_ENV = "SILO_IMPORT_TEST_EXIT_AFTER_UPLOADS"
KEY_ENV = "SILO_IMPORT_KEY"
ADMIN_KEY_ENV = "SILO_IMPORT_ADMIN_KEY"
SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?$", re.IGNORECASE)


def format_size(size: int) -> str:
    """The shortest exact `parse_size` spelling: 64M, 512K, 1000."""
    for unit in "GMK":
        scale = 1024 ** " KMG".index(unit)
        if size >= scale and size % scale == 0:
            return f"{size // scale}{unit}"
    return str(size)


def parse_size(raw: str) -> int:
    """`64M`, `512KiB`, `1G`, `1048576`: binary units."""
    match = SIZE.match(raw.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {raw!r} (e.g. 64M, 512K, 1G)")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " KMG".index(unit.upper() or " "))


EXAMPLES = """\
Examples:
  export SILO_IMPORT_KEY=silo_...        # a key with the read and write scopes
  silo import --url https://acme.uploads.example.com ./course
  silo import --url https://acme.uploads.example.com ./course \\
      --manifest course.csv --jobs 8 --report import-report.csv
  silo import --url https://pack.uploads.example.com \\
      --from-pack postgresql://reader@pack-db/pack --bucket pack-files --provider 1

Environment:
  SILO_IMPORT_KEY        the API key (read and write scopes), instead of --key
  SILO_IMPORT_ADMIN_KEY  the admin key for --create-missing, instead of --admin-key
  PGPASSWORD             the password of --from-pack's database
  AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: Pack's S3

More: docs/operations/importing.md
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("--url", required=True, metavar="URL", help="the tenant's base URL")
    add_key_option(parser, "--key", KEY_ENV, "API key with the read and write scopes")
    add_key_option(
        parser,
        "--admin-key",
        ADMIN_KEY_ENV,
        "admin key for --create-missing, when the key above is not one",
    )
    parser.add_argument(
        "source",
        nargs="?",
        type=Path,
        metavar="DIR",
        help="a directory to import (or --from-pack)",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        metavar="FILE",
        help="per-file metadata, CSV or JSON Lines (.jsonl): path, title, "
        "description, category, language, roles",
    )
    pack = parser.add_argument_group("a Pack deployment")
    pack.add_argument(
        "--from-pack",
        metavar="URL",
        help="Pack's PostgreSQL database (postgresql://...; keep its password out of the URL: "
        "$PGPASSWORD or ~/.pgpass)",
    )
    pack.add_argument("--bucket", metavar="NAME", help="Pack's S3 bucket")
    pack.add_argument(
        "--provider", metavar="ID", help="the Pack provider to import (providers.id, or name)"
    )
    pack.add_argument(
        "--s3-endpoint",
        metavar="URL",
        help="Pack's S3 endpoint (default: $AWS_ENDPOINT_URL_S3, else AWS; credentials "
        "from the usual AWS variables)",
    )
    parser.add_argument(
        "--create-missing",
        action="store_true",
        help="add the source's categories, languages and roles the tenant lacks",
    )
    parser.add_argument(
        "--update-metadata",
        action="store_true",
        help="files already there whose metadata in the source differs get the source's "
        "(PATCH /files/{id}); without it the differences are only reported",
    )
    parser.add_argument("--jobs", type=int, default=4, metavar="N", help="files in flight at once")
    parser.add_argument(
        "--journal",
        type=Path,
        metavar="FILE",
        help="the journal (default: beside the source, named after the target)",
    )
    parser.add_argument("--report", type=Path, metavar="FILE", help="write the report here, as CSV")
    parser.add_argument(
        "--direct-max",
        type=parse_size,
        default=Options.direct_max_bytes,
        metavar="SIZE",
        help="files up to this size go as direct uploads, larger ones with tus "
        f"(default: {format_size(Options.direct_max_bytes)})",
    )
    parser.add_argument(
        "--tus-chunk",
        type=parse_size,
        default=Options.tus_chunk_bytes,
        metavar="SIZE",
        help=f"bytes per tus PATCH (default: {format_size(Options.tus_chunk_bytes)})",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=Options.retries,
        metavar="N",
        help="tries per file after a transient failure (default: %(default)s; 503 busy "
        "answers are waited out and not counted)",
    )
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="between progress lines when not on a terminal",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="of silence before a request is given up",
    )


def _source(args: argparse.Namespace) -> Source:
    if args.from_pack:
        if args.source or args.manifest:
            raise SourceError("give either a directory (DIR) or --from-pack, not both")
        if not args.bucket or not args.provider:
            raise SourceError("--from-pack needs --bucket and --provider")
        from provisioning.importer.pack import PackSource

        return PackSource(
            args.from_pack,
            args.bucket,
            args.provider,
            s3_endpoint=args.s3_endpoint or os.environ.get("AWS_ENDPOINT_URL_S3"),
            region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        )
    if args.source is None:
        raise SourceError("give a directory (DIR) to import, or --from-pack URL")
    exclude = tuple(p for p in (args.journal, args.report) if p)
    return DirectorySource(args.source, args.manifest, exclude=exclude)


def target_tag(url: str) -> str:
    return hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:8]


def run(args: argparse.Namespace) -> int:
    # Ctrl-C stops a run cleanly (the journal says where to continue) even when the run was
    # started with SIGINT ignored, as a shell without job control starts `silo import ... &`
    # or a CI job's steps: Python then installs no KeyboardInterrupt handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    key = key_from(args.key, flag="--key", env_var=KEY_ENV, command="silo import")
    admin_key = key_from(
        args.admin_key, flag="--admin-key", env_var=ADMIN_KEY_ENV, command="silo import"
    )
    if not key:
        print(f"silo import: set {KEY_ENV} (or give --key)", file=sys.stderr)
        return EXIT_STOPPED
    if args.jobs < 1:
        print("silo import: --jobs must be at least 1", file=sys.stderr)
        return EXIT_STOPPED
    crash = os.environ.get(CRASH_ENV)
    options = Options(
        jobs=args.jobs,
        direct_max_bytes=args.direct_max,
        tus_chunk_bytes=args.tus_chunk,
        retries=args.retries,
        create_missing=args.create_missing,
        update_metadata=args.update_metadata,
        report=args.report,
        progress_interval=args.progress_interval,
        live_progress=sys.stderr.isatty(),
        crash_after_uploads=int(crash) if crash else None,
    )
    url = args.url.rstrip("/")
    try:
        source = _source(args)
        journal_path = args.journal or source.default_journal(target_tag(url))
        journal = Journal(journal_path, target=url, source=source.identity)
    except (SourceError, JournalError) as exc:
        print(f"silo import: {exc}", file=sys.stderr)
        return EXIT_STOPPED
    except OSError as exc:  # the journal cannot be written where it should go
        print(f"silo import: {exc}; give --journal FILE", file=sys.stderr)
        return EXIT_STOPPED
    client = api.SiloClient(url, key, timeout=args.timeout)
    admin = api.SiloClient(url, admin_key, timeout=args.timeout) if admin_key else None
    importer = Importer(
        source, client, journal, options, admin=admin, out=sys.stdout, err=sys.stderr
    )
    try:
        summary = importer.run()
    except SourceError as exc:
        print(f"silo import: {exc}", file=sys.stderr)
        return EXIT_STOPPED
    except KeyboardInterrupt:  # before the files were under way (the run handles it then)
        print("silo import: interrupted before any file was sent", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        journal.close()
    return summary.exit_status
