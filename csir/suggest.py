""""Did you mean ...?" for mistyped names (flags, config fields, subcommands), shared by every parser."""

from __future__ import annotations

import difflib
from typing import Iterable


def _key(name: str) -> str:
    # `--max-step`, `max_step` and `MAX_STEP` are the same typo
    return name.lstrip("-").replace("-", "_").lower()


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The candidates closest to `name`, best first: difflib ratio >= 0.6 (ignoring leading dashes, `-`/`_`
    and case) and within 0.1 of the best one, so a clear winner is suggested alone."""
    by_key: dict[str, str] = {}
    for c in sorted(set(candidates)):
        by_key.setdefault(_key(c), c)
    key = _key(name)
    scored = []
    for k in difflib.get_close_matches(key, list(by_key), n=n, cutoff=0.6):
        scored.append((difflib.SequenceMatcher(None, key, k).ratio(), by_key[k]))
    return [c for r, c in scored if r >= scored[0][0] - 0.1]


def did_you_mean(name: str, candidates: Iterable[str], prefix: str = "") -> str:
    """`" (did you mean --max_steps?)"` for the closest candidates, or "" when none is close.

    `prefix` is put before each suggestion (e.g. "--" for config fields), so the hint shows what to type.
    """
    matches = close_matches(name, candidates)
    if not matches:
        return ""
    return " (did you mean " + " or ".join(prefix + m for m in matches) + "?)"
