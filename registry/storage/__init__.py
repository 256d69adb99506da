"""Blob storage: the blob store, uploads, encryption at rest and garbage collection.

See README.md in this folder for the vocabulary. Modules: `stores` (where bytes live),
`crypto` (the sealed format), `keys` (master keys), `blobs` (committing and reading),
`uploads` (monolithic uploads and sessions), `locks`, `gc`, `tasks`.
"""

from .blobs import open_blob

__all__ = ["open_blob"]
