"""Images as the project reads them: encoded bytes per row id, decoded to RGB only when a model needs pixels.

Shared by evaluation (any-to-any retrieval sets) and training (image-text pairs), so both decode the same way:
transparency is composited on white, and an undecodable image is one error naming where it came from.
"""

from __future__ import annotations

import io
from pathlib import Path

from csir.errors import CsirError


def to_rgb(data: bytes, what: str):
    """PIL RGB image from encoded bytes; transparency composited on white; a clear error naming `what`."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CsirError(f"{what}: image cannot be decoded ({exc.__class__.__name__}: {exc})") from None
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, img).convert("RGB")
    return img.convert("RGB")


def image_column(ds, source: str, config: str) -> dict[str, bytes] | None:
    """{row id: encoded image bytes} when the rows hold images (no decoding here), else None."""
    import datasets

    if "image" not in ds.column_names:
        return None
    idc = "id" if "id" in ds.column_names else "_id"
    if idc not in ds.column_names:
        raise CsirError(f"{source}: config {config}: field 'id' (or '_id') missing")
    raw = ds.cast_column("image", datasets.Image(decode=False))
    out = {}
    for i, (rid, img) in enumerate(zip(raw[idc], raw["image"])):
        data = (img or {}).get("bytes")
        if data is None and (img or {}).get("path") and Path(img["path"]).exists():
            data = Path(img["path"]).read_bytes()
        if data is None:
            raise CsirError(f"{source}: config {config}: row {i} (id {rid}): field 'image' is empty")
        out[str(rid)] = data
    return out
