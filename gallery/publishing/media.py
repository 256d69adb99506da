"""Where uploaded media (logos) live when blobs are in an object store.

`BucketMedia` keeps them in the bucket (under `<BERTH_S3_PREFIX>media/`), so that web
servers share no disk, and links them through Berth's own `/media/` view instead of the
bucket's address: pages keep one origin (the CSP's `img-src 'self'`), the bucket stays
private, and the view sends its long cache headers (names are digests of the content).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.encoding import filepath_to_uri
from storages.backends.s3 import S3Storage


class BucketMedia(S3Storage):
    def url(self, name, parameters=None, expire=None, http_method=None) -> str:
        return settings.MEDIA_URL + filepath_to_uri(name)
