"""The pull commands a repository page offers, by artifact type."""

from __future__ import annotations

from .models import ArtifactType


def pull_commands(*, kind: str, host: str, name: str, tag: str, digest: str) -> list[str]:
    """Commands that pull one tagged manifest, by tag first and then by digest."""
    reference = f"{host}/{name}"
    if kind == ArtifactType.HELM:
        return [
            f"helm pull oci://{reference} --version {tag}",
            f"helm pull oci://{reference}@{digest}",
        ]
    if kind == ArtifactType.IMAGE:
        return [
            f"docker pull {reference}:{tag}",
            f"podman pull {reference}:{tag}",
            f"docker pull {reference}@{digest}",
        ]
    return [f"oras pull {reference}:{tag}", f"oras pull {reference}@{digest}"]


def attach_commands(images, *, host: str, name: str) -> None:
    """Give each image (its tags prefetched, best first) `.commands` for its best tag."""
    for image in images:
        tags = list(image.tags.all())
        image.commands = pull_commands(
            kind=image.kind,
            host=host,
            name=name,
            tag=tags[0].name if tags else "latest",
            digest=image.digest,
        )
