"""Running real OCI clients from tests: one helper that fails with the client's own words."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

TIMEOUT = 120


def run(
    argv: list[str], *, env: dict[str, str], check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a client; with `check`, a non-zero exit fails the test showing its output."""
    result = subprocess.run(
        argv, env=env, input=input, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{shlex.join(argv)} exited with {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}",
            pytrace=False,
        )
    return result


def layout_manifest_digest(layout: Path, tag: str) -> str:
    """The digest of the manifest tagged `tag` in an OCI image layout."""
    index = json.loads((layout / "index.json").read_text())
    for descriptor in index["manifests"]:
        if descriptor.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return descriptor["digest"]
    raise LookupError(f"no manifest tagged {tag!r} in {layout}")


def layout_blob(layout: Path, digest: str) -> bytes:
    algorithm, _, encoded = digest.partition(":")
    return (layout / "blobs" / algorithm / encoded).read_bytes()
