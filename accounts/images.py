"""Uploaded images are decoded and re-encoded with Pillow before they are stored.

Only the pixels survive: whatever else the file carried (a script appended after the JPEG end
marker, a polyglot's second format, EXIF with GPS coordinates, ICC tricks) is not in the stored
file, which is what the rest of the world downloads from ``/media/``.  The stored format is the
sniffed one (JPEG stays JPEG …); EXIF orientation is applied to the pixels first, so dropping the
EXIF block doesn't turn photos sideways.
"""

from __future__ import annotations

import io

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from accounts import errors

_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


def image_reencode(*, data: bytes, content_type: str) -> bytes:
    """The image in ``data`` (already sniffed as ``content_type``) as a fresh file of that format;
    ``ImageInvalid`` when it doesn't decode, is not that format, or has more pixels than
    ``PHOTO_MAX_PIXELS`` (a small file can expand into gigabytes: a decompression bomb)."""
    fmt = _FORMATS[content_type]
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            width, height = img.size
            if width * height > settings.PHOTO_MAX_PIXELS:
                raise errors.ImageInvalid(
                    f"The image is {width}×{height}; at most {settings.PHOTO_MAX_PIXELS} pixels are accepted."
                )
            img.load()  # decodes every pixel: a truncated or corrupt file fails here
            img = ImageOps.exif_transpose(img)
            if fmt == "JPEG" and img.mode not in ("RGB", "L"):
                img = img.convert("RGB")
            elif fmt != "JPEG" and img.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                img = img.convert("RGBA")
            out = io.BytesIO()
            options = {"quality": 90} if fmt in ("JPEG", "WEBP") else {"optimize": True}
            img.save(out, format=fmt, **options)  # no exif=/icc_profile=/pnginfo=: metadata stays behind
    except errors.ImageInvalid:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise errors.ImageInvalid() from exc
    return out.getvalue()
