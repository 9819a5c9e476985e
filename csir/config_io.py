"""`load_yaml(path)`: the one reader for YAML config files; every problem is one CsirError naming file and line."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from csir.errors import CsirError, where


def yaml_error_line(exc: yaml.YAMLError) -> int | None:
    """1-based line of a YAML error, when the parser knows it."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return None if mark is None else mark.line + 1


def parse_yaml(text: str, source: str | os.PathLike = "<config>", *, mapping: bool = True):
    """Parse YAML text; syntax errors and (with `mapping`) a non-mapping top level are CsirErrors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CsirError(f"{where(source, yaml_error_line(exc))}: invalid YAML ({problem})") from None
    if data is None:
        data = {} if mapping else None
    if mapping and not isinstance(data, dict):
        raise CsirError(f"{source}: top level must be a mapping of fields, got {type(data).__name__}")
    return data


def load_yaml(path: str | os.PathLike, *, mapping: bool = True):
    """Read a YAML file (UTF-8). Missing file, undecodable bytes, bad syntax: one line, exit 2."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise CsirError(f"{p}: config file not found") from None
    except IsADirectoryError:
        raise CsirError(f"{p}: is a folder, expected a YAML file") from None
    except OSError as exc:
        raise CsirError(f"{p}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise CsirError(f"{where(p, line)}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_yaml(text, p, mapping=mapping)
