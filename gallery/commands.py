"""The pull commands a repository page offers, by artifact type, each with its label."""

from __future__ import annotations

from dataclasses import dataclass

from .models import ArtifactType


@dataclass(frozen=True)
class PullCommand:
    label: str  # "By tag", "By digest", … : what a screen reader and a phone user read first
    command: str


def pull_commands(*, kind: str, host: str, name: str, tag: str, digest: str) -> list[PullCommand]:
    """Commands that pull one tagged manifest, by tag first and then by digest."""
    reference = f"{host}/{name}"
    if kind == ArtifactType.HELM:
        return [
            PullCommand("By tag (Helm)", f"helm pull oci://{reference} --version {tag}"),
            PullCommand("By digest (Helm)", f"helm pull oci://{reference}@{digest}"),
        ]
    if kind == ArtifactType.IMAGE:
        return [
            PullCommand("By tag", f"docker pull {reference}:{tag}"),
            PullCommand("By tag (Podman)", f"podman pull {reference}:{tag}"),
            PullCommand("By digest", f"docker pull {reference}@{digest}"),
        ]
    return [
        PullCommand("By tag (ORAS)", f"oras pull {reference}:{tag}"),
        PullCommand("By digest (ORAS)", f"oras pull {reference}@{digest}"),
    ]


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
