"""Repository logos: PNG, JPEG or WebP uploads, decoded and re-encoded by Pillow.

Nothing of the uploaded file is kept: the image is decoded (within limits on bytes and
pixels, so a decompression bomb is refused before it is expanded), cropped to a centred
square, scaled to SIZE by SIZE and encoded again as PNG, which leaves metadata (EXIF, ICC,
comments, anything hidden in chunks) behind. SVG is refused: it can carry script. The
result is stored in the media storage under a name built from its own digest, so it can be
served with long cache headers.
"""

from __future__ import annotations

import hashlib
import io
import warnings

from django.core.files.base import ContentFile
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 2 * 1024 * 1024
MAX_SIDE = 2048
SIZE = 256
FORMATS = {"PNG", "JPEG", "WEBP"}


class LogoError(ValueError):
    """A logo refused, with a reason a person can act on."""


def process(upload) -> ContentFile:
    """The uploaded file as a SIZE by SIZE PNG, or LogoError."""
    if upload.size > MAX_BYTES:
        raise LogoError("A logo may be at most 2 MiB.")
    data = upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise LogoError("A logo may be at most 2 MiB.")
    if data.lstrip()[:5].lower() in (b"<?xml", b"<svg ") or b"<svg" in data[:1024].lower():
        raise LogoError("SVG logos are not accepted; upload a PNG, JPEG or WebP.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in FORMATS:
                    raise LogoError("Upload a PNG, JPEG or WebP image.")
                width, height = image.size
                if width > MAX_SIDE or height > MAX_SIDE:
                    raise LogoError(f"A logo may be at most {MAX_SIDE} pixels on each side.")
                image.load()
                square = ImageOps.fit(
                    ImageOps.exif_transpose(image).convert("RGBA"),
                    (SIZE, SIZE),
                    method=Image.Resampling.LANCZOS,
                )
    except LogoError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, SyntaxError):  # fmt: skip
        raise LogoError("This file is not an image we can read.") from None
    output = io.BytesIO()
    square.save(output, format="PNG", optimize=True)
    png = output.getvalue()
    name = hashlib.sha256(png).hexdigest()[:32] + ".png"
    return ContentFile(png, name=name)
