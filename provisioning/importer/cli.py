"""`silo import`: move files into a tenant, from a directory or from a Pack deployment.

    silo import --url URL --key KEY DIRECTORY [--manifest FILE] [--update-metadata]
    silo import --url URL --key KEY --from-pack DATABASE_URL --bucket NAME --provider ID

The run itself is `provisioning.importer.runner`; this module reads the arguments (and the one
test-only environment variable) and builds the source, the client and the journal.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from pathlib import Path

from provisioning.importer import client as api
from provisioning.importer.journal import Journal, JournalError
from provisioning.importer.runner import EXIT_INTERRUPTED, EXIT_STOPPED, Importer, Options
from provisioning.importer.sources import DirectorySource, Source, SourceError

# TEST ONLY: exit right after the Nth file is stored, before the journal records it (see
# runner.Options.crash_after_uploads). Documented in docs/operations/importing.md; never set it
# otherwise.
CRASH_ENV = "SILO_IMPORT_TEST_EXIT_AFTER_UPLOADS"
SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?$", re.IGNORECASE)


def parse_size(raw: str) -> int:
    """`64M`, `512KiB`, `1G`, `1048576`: binary units."""
    match = SIZE.match(raw.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {raw!r} (e.g. 64M, 512K, 1G)")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " KMG".index(unit.upper() or " "))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="the tenant's base URL")
    parser.add_argument(
        "--key",
        default=os.environ.get("SILO_IMPORT_KEY"),
        help="API key with read and write scopes (default: $SILO_IMPORT_KEY)",
    )
    parser.add_argument(
        "--admin-key",
        help="admin key for --create-missing (default: --key, which must then be an admin key)",
    )
    parser.add_argument(
        "source",
        nargs="?",
        type=Path,
        metavar="DIRECTORY",
        help="a directory to import (or --from-pack)",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        help="per-file metadata, CSV or JSON Lines (.jsonl): path, title, "
        "description, category, language, roles",
    )
    pack = parser.add_argument_group("a Pack deployment")
    pack.add_argument("--from-pack", metavar="DATABASE_URL", help="Pack's PostgreSQL database")
    pack.add_argument("--bucket", help="Pack's S3 bucket")
    pack.add_argument("--provider", help="the Pack provider to import (providers.id, or name)")
    pack.add_argument(
        "--s3-endpoint",
        default=os.environ.get("AWS_ENDPOINT_URL_S3"),
        help="Pack's S3 endpoint (default: AWS; credentials from the usual AWS variables)",
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
    parser.add_argument("--jobs", type=int, default=4, help="files in flight at once (default 4)")
    parser.add_argument(
        "--journal",
        type=Path,
        help="the journal (default: beside the source, named after the target)",
    )
    parser.add_argument("--report", type=Path, help="write the report here, as CSV")
    parser.add_argument(
        "--direct-max",
        type=parse_size,
        default=Options.direct_max_bytes,
        help="files up to this size go as direct uploads, larger ones with tus (default 64M)",
    )
    parser.add_argument(
        "--tus-chunk",
        type=parse_size,
        default=Options.tus_chunk_bytes,
        help="bytes per tus PATCH (default 16M)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=Options.retries,
        help="tries per file after a transient failure (default 8; 503 busy "
        "answers are waited out and not counted)",
    )
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=10.0,
        help="seconds between progress lines when not on a terminal",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds of silence before a request is given up (default 120)",
    )


def _source(args: argparse.Namespace) -> Source:
    if args.from_pack:
        if args.source or args.manifest:
            raise SourceError("give either a DIRECTORY or --from-pack, not both")
        if not args.bucket or not args.provider:
            raise SourceError("--from-pack needs --bucket and --provider")
        from provisioning.importer.pack import PackSource

        return PackSource(
            args.from_pack,
            args.bucket,
            args.provider,
            s3_endpoint=args.s3_endpoint,
            region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        )
    if args.source is None:
        raise SourceError("give a DIRECTORY to import, or --from-pack DATABASE_URL")
    exclude = tuple(p for p in (args.journal, args.report) if p)
    return DirectorySource(args.source, args.manifest, exclude=exclude)


def target_tag(url: str) -> str:
    return hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:8]


def run(args: argparse.Namespace) -> int:
    if not args.key:
        print("silo import: give --key (or set SILO_IMPORT_KEY)", file=sys.stderr)
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
    client = api.SiloClient(url, args.key, timeout=args.timeout)
    admin = api.SiloClient(url, args.admin_key, timeout=args.timeout) if args.admin_key else None
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
