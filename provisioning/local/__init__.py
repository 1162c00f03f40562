"""`silo dev`: every tenant on this machine (`runner`), with its backends (`backends`), child
processes (`processes`) and state file (`state`).

The local stand-ins for the cloud pieces, a throwaway PostgreSQL, an S3 endpoint and a ClamAV
daemon, are
exported here: `silo dev`, the tests and the benchmarks start them the same way.
"""

from provisioning.local.clamd import ClamdUnavailable, LocalClamd
from provisioning.local.net import free_port, wait_for_port
from provisioning.local.postgres import LocalPostgres, PostgresUnavailable
from provisioning.local.s3 import LocalS3, S3Unavailable

__all__ = [
    "ClamdUnavailable",
    "LocalClamd",
    "LocalPostgres",
    "LocalS3",
    "PostgresUnavailable",
    "S3Unavailable",
    "free_port",
    "wait_for_port",
]
