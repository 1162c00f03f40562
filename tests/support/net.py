"""The local network pieces tests use: free ports and the throwaway S3 and clamd servers.

They are provisioning/local's (the same ones `silo dev` starts); tests import them from here."""

from __future__ import annotations

from provisioning.local import LocalClamd, LocalS3, free_port, wait_for_port
from provisioning.local.s3 import LOCAL_CREDENTIALS

__all__ = ["LOCAL_CREDENTIALS", "LocalClamd", "LocalS3", "free_port", "wait_for_port"]
