"""Images named by a relative path in a dataset repo: read from the repo folder, else from an archive in its root.

Some Hub sets keep their images in one archive next to the tables (XTD-10: `XTD10_dataset.tar.gz`, paths in the
table relative to where it is unpacked). Each archive is unpacked once, on first need, into
`<raw cache>/unpacked/<sha256 of the archive>` (`$CSIR_DATA_DIR`, default `~/.cache/codeswitch-ir/raw`), written to
a temporary folder and renamed into place, so a half-unpacked archive is never read.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from csir.errors import CsirError

ARCHIVES = ("*.tar.gz", "*.tgz", "*.tar")


class ImageFiles:
    def __init__(self, folder: Path, source: str):
        self.folder, self.source = Path(folder), source
        self._roots: list[Path] | None = None

    def read(self, rel: str, what: str) -> bytes:
        """Bytes of the image at `rel`; `what` names the dataset row and field in the error."""
        for root in [self.folder, *self._archive_roots()]:
            p = root / rel
            if rel and p.is_file():
                return p.read_bytes()
        archives = ", ".join(a.name for a in self._archives()) or "none"
        raise CsirError(f"{what}: image '{rel}' not found in {self.source} (archives unpacked: {archives})")

    def _archives(self) -> list[Path]:
        return sorted({a for pat in ARCHIVES for a in self.folder.glob(pat) if a.is_file()})

    def _archive_roots(self) -> list[Path]:
        if self._roots is None:
            self._roots = [unpack(a, self.source) for a in self._archives()]
        return self._roots


def unpack(archive: Path, source: str) -> Path:
    from builders.fetch import default_data_dir
    from builders.repo_writer import sha256_file
    from csir.atomic import atomic_dir

    target = default_data_dir() / "unpacked" / sha256_file(archive)[:24]
    if target.is_dir():
        return target
    try:
        with atomic_dir(target) as tmp, tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")  # no absolute paths, links out of the folder or devices
    except (tarfile.TarError, OSError) as exc:
        raise CsirError(f"{source}: archive {archive.name} cannot be unpacked "
                        f"({exc.__class__.__name__}: {exc})") from None
    return target
