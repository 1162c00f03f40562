"""Local stand-ins for the cloud pieces: a throwaway PostgreSQL and an S3 endpoint.

Used by `silo dev`, the tests and the benchmarks, so all three start them the same way.
"""

from provisioning.local.net import free_port, wait_for_port
from provisioning.local.postgres import LocalPostgres, PostgresUnavailable
from provisioning.local.s3 import LocalS3, S3Unavailable

__all__ = [
    "LocalPostgres",
    "LocalS3",
    "PostgresUnavailable",
    "S3Unavailable",
    "free_port",
    "wait_for_port",
]
