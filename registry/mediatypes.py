"""Media types the registry knows by name. Pure constants, no Django."""

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDISTRIBUTABLE = (
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
)

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFESTS = IMAGE_MANIFESTS | INDEXES
IMAGE_CONFIGS = frozenset({OCI_CONFIG, DOCKER_CONFIG})
# Layers a registry may be asked to accept without holding their blob (they carry `urls`).
FOREIGN_LAYERS = frozenset({DOCKER_FOREIGN_LAYER, *OCI_LAYER_NONDISTRIBUTABLE})

OCTET_STREAM = "application/octet-stream"

# Policy bundles: Open Policy Agent bundles and Kyverno policies pushed as OCI artifacts.
POLICY_CONFIGS = frozenset(
    {
        "application/vnd.cncf.openpolicyagent.config.v1+json",
        "application/vnd.cncf.kyverno.config.v1+json",
    }
)
# An Open Policy Agent bundle (.tar.gz) stored as OPA's OCI downloader reads it; Berth marks
# the manifest with this artifactType (gallery.publishing.archives).
OPA_BUNDLE = "application/vnd.cncf.openpolicyagent.bundle.v1.tar+gzip"
POLICY_ARTIFACTS = frozenset({OPA_BUNDLE})
POLICY_LAYERS = frozenset(
    {
        "application/vnd.cncf.openpolicyagent.policy.layer.v1+rego",
        "application/vnd.cncf.openpolicyagent.data.layer.v1+json",
        "application/vnd.cncf.openpolicyagent.manifest.layer.v1+json",
        "application/vnd.cncf.kyverno.policy.layer.v1+yaml",
    }
)
