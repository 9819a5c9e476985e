"""Logging for every entry point: our own progress at INFO, third-party chatter only with `-v`.

Libraries log things that mean nothing to a user of `csir`: faiss' loader reports each CPU-feature build it
could not load ("Could not load library with AVX512-SPR support ..."), bm25s sets its own logger to DEBUG
("Building index from IDs objects"), sentence-transformers announces every save. Rather than silencing each
message (and missing the next), the handler lets through records from this project's packages at INFO and
from everyone else at WARNING and above; `-v` lets everything through at DEBUG.
"""

from __future__ import annotations

import logging

OWN_PACKAGES = frozenset({"csir", "builders", "training", "evaluation", "model_cards", "benchmarks", "__main__"})


class OwnOrWarning(logging.Filter):
    """Pass this project's records at any level, and third-party records at WARNING or above."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.split(".", 1)[0] in OWN_PACKAGES


def setup_logging(verbose: bool = False) -> None:
    """Configure the root logger once (like `logging.basicConfig`: a no-op when handlers already exist,
    e.g. under pytest); quiet third parties unless `verbose`."""
    root = logging.getLogger()
    fresh = not root.handlers
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s")
    if fresh and not verbose:
        for handler in root.handlers:
            handler.addFilter(OwnOrWarning())
