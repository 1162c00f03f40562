"""A local S3 endpoint: moto's server mode in a child process.

A child process (not a thread) keeps moto's CPU work off the caller's GIL, so a service or a
benchmark in this process is not slowed down by the endpoint it talks to.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field

from provisioning.local.net import wait_for_port

HOW_TO_PROVIDE = (
    "set SILO_TEST_S3_ENDPOINT_URL to an S3-compatible endpoint, start a Docker engine "
    "(testcontainers MinIO), or install moto with its server extra (`moto[server]`)"
)

# moto accepts any credentials; boto3 only needs some to sign with.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "silo-local",
    "AWS_SECRET_ACCESS_KEY": "silo-local-secret",
    "AWS_REGION": "us-east-1",
}


class S3Unavailable(RuntimeError):
    """No local S3 endpoint could be started; the message says how to provide one."""


@dataclass
class LocalS3:
    port: int
    _proc: subprocess.Popen | None = field(default=None, init=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalS3:
        try:
            import moto.server  # noqa: F401
        except ImportError as exc:
            raise S3Unavailable(
                f"moto server mode not importable ({exc}); " + HOW_TO_PROVIDE
            ) from exc
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **LOCAL_CREDENTIALS},
        )
        if not wait_for_port(self.port, timeout=30):
            self.stop()
            raise S3Unavailable("moto server did not start listening; " + HOW_TO_PROVIDE)
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=LOCAL_CREDENTIALS["AWS_REGION"],
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
