"""Reading text input files line by line, where every decode or decompression error names file and line.

Text mode decodes in blocks, so a UnicodeDecodeError surfaces with no line number (and as a traceback);
here each line is decoded on its own. `.gz` files are read through gzip; a corrupt or truncated archive is
one CsirError too.
"""

from __future__ import annotations

import gzip
import lzma
import os
import zlib
from pathlib import Path
from typing import Iterator

from csir.errors import CsirError, where

DECOMPRESS_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error, lzma.LZMAError)


def decode_line(raw: bytes, path, lineno: int, what: str = "text") -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CsirError(f"{where(path, lineno)}: not UTF-8 {what} ({exc.reason} at byte {exc.start} of the line)") \
            from None


def text_lines(path: str | os.PathLike, what: str = "text", *, gz: bool | None = None) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline) for a UTF-8 file; `.gz` (or `gz=True`) and `.xz`/`.lzma`
    files are decompressed on the fly."""
    path = Path(path)
    gz = path.suffix == ".gz" if gz is None else gz
    try:
        if gz:
            fh = gzip.open(path, "rb")
        elif path.suffix in (".xz", ".lzma"):
            fh = lzma.open(path, "rb")
        else:
            fh = open(path, "rb")
    except OSError as exc:
        raise CsirError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    lineno = 0
    try:
        with fh:
            for lineno, raw in enumerate(fh, 1):
                yield lineno, decode_line(raw, path, lineno, what).rstrip("\r\n")
    except DECOMPRESS_ERRORS as exc:
        raise CsirError(f"{where(path, lineno + 1)}: corrupt compressed {what} ({type(exc).__name__}: {exc})") from None
    except IsADirectoryError:
        raise CsirError(f"{path}: is a folder, expected a {what} file") from None


def read_compressed(path: str | os.PathLike, what: str = "data") -> bytes:
    """All bytes of a gzip-compatible file (dictzip `.dz` included); corrupt archives are one CsirError."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except DECOMPRESS_ERRORS as exc:
        raise CsirError(f"{path}: corrupt compressed {what} ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        raise CsirError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
