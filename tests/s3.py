"""moto's S3 (and KMS) server on loopback, for tests and benchmarks: a real HTTP endpoint
that boto3 and django-storages talk to exactly as to S3."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class MotoServer:
    url: str
    log: Path

    def client(self, service: str = "s3"):
        import boto3

        return boto3.client(service, endpoint_url=self.url, **_boto_credentials())

    def new_bucket(self) -> str:
        name = f"berth-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def environment(self) -> dict[str, str]:
        """What a process needs to reach this server through boto3 (S3 and KMS)."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.url}

    def storage_options(self, bucket: str, **extra) -> dict:
        return {
            "bucket_name": bucket,
            "endpoint_url": self.url,
            "access_key": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "secret_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
            "file_overwrite": True,
            **extra,
        }


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }


@contextlib.contextmanager
def moto_server(log: Path) -> Iterator[MotoServer]:
    """`moto_server` in a process of its own on a free loopback port; stopped afterwards."""
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    env = {**os.environ, **CREDENTIALS}
    with log.open("wb") as output:
        process = subprocess.Popen(argv, env=env, stdout=output, stderr=output)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto_server exited:\n{log.read_text()}")
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=2).close()  # noqa: S310 (loopback)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield MotoServer(url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
