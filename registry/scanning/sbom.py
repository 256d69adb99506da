"""CycloneDX JSON for the packages found in an image, built with cyclonedx-python-lib.

One component per package found (with its purl), nested under one `container` component
per platform; the image itself is the document's subject (metadata.component). Properties
in Berth's namespace (`berth:…`) say where each package was found.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL

from .models import ImagePackage, ImageScan

SCHEMA = SchemaVersion.V1_6


def _purl(text: str) -> PackageURL | None:
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def document(
    *, name: str, digest: str, scans: Sequence[ImageScan], packages: Sequence[ImagePackage]
) -> dict:
    bom = Bom()
    root = Component(
        name=name, version=digest, type=ComponentType.CONTAINER, bom_ref=f"{name}@{digest}"
    )
    bom.metadata.component = root
    images = []
    by_scan: dict[int, list[ImagePackage]] = {}
    for package in packages:
        by_scan.setdefault(package.scan_id, []).append(package)
    for scan in scans:
        children = [
            Component(
                name=package.name,
                version=package.version,
                type=ComponentType.LIBRARY,
                purl=_purl(package.purl),
                bom_ref=f"{scan.digest}#{package.pk}",
                properties=[
                    Property(name="berth:package:type", value=package.type),
                    Property(name="berth:package:path", value=package.path),
                    Property(name="berth:layer:digest", value=package.layer_digest),
                    Property(name="berth:source:name", value=package.source_name),
                    Property(name="berth:source:version", value=package.source_version),
                ],
            )
            for package in by_scan.get(scan.pk, [])
        ]
        image = Component(
            name=f"{name}@{scan.digest}",
            version=scan.digest,
            type=ComponentType.CONTAINER,
            bom_ref=f"platform:{scan.digest}",
            components=children,
            properties=[
                Property(name="berth:platform", value=scan.platform or "unknown"),
                Property(name="berth:distribution", value=scan.distribution or "unknown"),
            ],
        )
        bom.components.add(image)
        bom.register_dependency(image, children)
        images.append(image)
    bom.register_dependency(root, images)
    return json.loads(make_outputter(bom, OutputFormat.JSON, SCHEMA).output_as_string())
