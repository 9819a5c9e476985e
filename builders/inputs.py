"""Query/passage rows from JSONL, parquet, a local dataset folder or a Hub id: the one validation layer for rows.

Every problem is one CsirError naming file, line (JSONL) or row (other inputs) and field:
- JSONL: each line decoded and parsed on its own; one JSON object per line; a field keeps one JSON type
  across lines (pyarrow would otherwise turn a whole column into text, or fail with a traceback).
- `query`/`passage`: strings. `id` (optional): string or integer, unique. `label`: a number, 0 or 1 - or any
  value in [0, 1] when the caller allows float labels (`--float-labels`); strings, booleans, nulls refused.
- Parquet/folders/Hub datasets get the same checks on their Arrow columns.
After loading, stale `tmp*` files that a killed earlier run left next to the dataset's cache files go.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.compute as pc

from csir.cleanup import remove_unused
from csir.errors import CsirError, network_error_message, where
from csir.hub.load import load_repo_dataset
from csir.textio import decode_line

ROW_TEXT_FIELDS = ("query", "passage")
_JSON_KIND = {str: "string", int: "number", float: "number", bool: "boolean", list: "array", dict: "object",
              type(None): "null"}


def label_problem(value, float_labels: bool) -> str | None:
    """Why `value` is not a valid label, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = _JSON_KIND.get(type(value), type(value).__name__)
        return f"must be a number (0 or 1{' or in [0, 1]' if float_labels else ''}), got {kind} {value!r}"[:200]
    if float_labels:
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            return f"must be in [0, 1], got {value!r}"
    elif value not in (0, 1):
        hint = " (pass --float-labels for graded labels in [0, 1])" if isinstance(value, float) and 0 < value < 1 else ""
        return f"must be 0 or 1, got {value!r}{hint}"
    return None


def check_jsonl(path: Path, required: tuple[str, ...] = ROW_TEXT_FIELDS, *, label_required: bool = False,
                float_labels: bool = False) -> int:
    """Validate a JSONL rows file line by line; returns the number of rows."""
    rows, kinds, ids, no_id_line = 0, {}, {}, None
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise CsirError(f"{path}: cannot read ({exc.strerror})") from None
    with fh:
        for lineno, raw in enumerate(fh, 1):
            line = decode_line(raw, path, lineno, "JSON")
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CsirError(f"{where(path, lineno)}: invalid JSON ({exc.msg} at column {exc.colno})") from None
            except RecursionError:
                raise CsirError(f"{where(path, lineno)}: invalid JSON (nested too deeply)") from None
            if not isinstance(row, dict):
                raise CsirError(f"{where(path, lineno)}: expected a JSON object, got {_JSON_KIND.get(type(row))}")
            for f in required:
                if f not in row:
                    raise CsirError(f"{where(path, lineno, f)} missing")
            for f in ROW_TEXT_FIELDS:
                if f in row and not isinstance(row[f], str):
                    raise CsirError(f"{where(path, lineno, f)} must be a string, got {_JSON_KIND.get(type(row[f]))}")
            if "label" in row or label_required:
                if "label" not in row:
                    raise CsirError(f"{where(path, lineno, 'label')} missing (every row needs a label)")
                problem = label_problem(row["label"], float_labels)
                if problem:
                    raise CsirError(f"{where(path, lineno, 'label')} {problem}")
            if "id" in row:
                rid = row["id"]
                if isinstance(rid, bool) or not isinstance(rid, (str, int)):
                    raise CsirError(f"{where(path, lineno, 'id')} must be a string or an integer")
                if str(rid) in ids:
                    raise CsirError(f"{where(path, lineno, 'id')} duplicate id {str(rid)[:80]!r} "
                                    f"(first on line {ids[str(rid)]})")
                ids[str(rid)] = lineno
            for key, value in row.items():
                kind = "number" if key == "label" else _JSON_KIND.get(type(value), "other")
                if kind == "null":
                    continue
                first = kinds.setdefault(key, (kind, lineno))
                if first[0] != kind:
                    raise CsirError(f"{where(path, lineno, key)} is a {kind} here but a {first[0]} on line {first[1]}")
            if "id" not in row:
                no_id_line = no_id_line or lineno
            if ids and no_id_line:
                raise CsirError(f"{where(path, no_id_line, 'id')} missing (ids must be on every row or on none)")
            rows += 1
    if rows == 0:
        raise CsirError(f"{path}: empty input file")
    return rows


def _first_row(mask: pa.ChunkedArray | pa.Array) -> int:
    """Index of the first True in a boolean Arrow array."""
    idx = pc.index(mask, True).as_py()
    return int(idx)


def check_rows(ds: datasets.Dataset, source: str, required: tuple[str, ...] = ROW_TEXT_FIELDS, *,
               label_required: bool = False, float_labels: bool = False) -> None:
    """The same rules as `check_jsonl`, on Arrow columns (parquet, dataset folders, Hub datasets)."""
    missing = [c for c in required if c not in ds.column_names]
    if label_required and "label" not in ds.column_names:
        missing.append("label")
    if missing:
        raise CsirError(f"{source}: field '{missing[0]}' missing (columns: {', '.join(ds.column_names)})")
    table = ds.with_format("arrow")[:]
    for name in ROW_TEXT_FIELDS:
        if name not in table.column_names:
            continue
        col = table.column(name)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            raise CsirError(f"{source}: field '{name}' must be strings, has type {col.type}")
        if col.null_count:
            raise CsirError(f"{source}: row {_first_row(pc.is_null(col))}: field '{name}' is null")
    if "label" in table.column_names:
        col = table.column("label")
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            raise CsirError(f"{source}: field 'label' must be numbers (0/1, or in [0, 1] with --float-labels), "
                            f"has type {col.type}")
        if col.null_count:
            raise CsirError(f"{source}: row {_first_row(pc.is_null(col))}: field 'label' is null")
        if float_labels:
            bad = pc.invert(pc.and_(pc.greater_equal(col, 0), pc.less_equal(col, 1)))
        else:
            bad = pc.invert(pc.is_in(col, value_set=pa.array([0, 1], type=col.type)))
        if pc.any(bad).as_py():
            row = _first_row(bad)
            problem = label_problem(col[row].as_py(), float_labels)
            raise CsirError(f"{source}: row {row}: field 'label' {problem}")
    if "id" in table.column_names:
        col = table.column("id")
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_integer(col.type)):
            raise CsirError(f"{source}: field 'id' must be strings or integers, has type {col.type}")
        if col.null_count:
            raise CsirError(f"{source}: row {_first_row(pc.is_null(col))}: field 'id' is null")
        if pc.count_distinct(col).as_py() != len(col):
            seen: dict = {}
            for i, value in enumerate(col.to_pylist()):
                if value in seen:
                    raise CsirError(f"{source}: row {i}: field 'id' duplicate id {str(value)[:80]!r} "
                                    f"(first in row {seen[value]})")
                seen[value] = i


def _load_file(path: Path, loader: str) -> datasets.DatasetDict:
    try:
        return datasets.load_dataset(loader, data_files={"train": str(path)})
    except CsirError:
        raise
    except Exception as exc:  # pyarrow / datasets builder errors: one line, not their traceback
        msg = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        cause = exc.__cause__ or exc.__context__
        if cause is not None and str(cause).strip():
            msg = f"{msg}: {str(cause).strip().splitlines()[0][:200]}" if msg else str(cause).splitlines()[0][:300]
        raise CsirError(f"{path}: cannot read as {loader} ({type(exc).__name__}: {msg})") from None


def remove_stale_cache_temps(dd: datasets.DatasetDict) -> None:
    """`tmp*` files a killed `map` left next to these datasets' cache files (nobody holds them open)."""
    dirs = {Path(f["filename"]).parent for ds in dd.values() for f in ds.cache_files}
    remove_unused(p for d in dirs for p in d.glob("tmp*") if p.is_file())


def load_rows(spec: str, *, config: str | None = None, revision: str | None = None, split: str | None = None,
              required: tuple[str, ...] = ROW_TEXT_FIELDS, label_required: bool | None = None,
              float_labels: bool = False) -> datasets.DatasetDict:
    """Return a DatasetDict (split → Dataset) from any supported source, validated (see the module doc).

    `label_required` defaults to whether `required` names "label".
    """
    label_required = ("label" in required) if label_required is None else label_required
    required = tuple(f for f in required if f != "label")
    rules = {"label_required": label_required, "float_labels": float_labels}
    path = Path(spec)
    if path.is_file():
        if path.stat().st_size == 0:
            raise CsirError(f"{path}: empty input file")
        if path.suffix in (".jsonl", ".json"):
            check_jsonl(path, required, **rules)
            dd = _load_file(path, "json")
        elif path.suffix == ".parquet":
            dd = _load_file(path, "parquet")
        else:
            raise CsirError(f"{path}: unsupported input format (use .jsonl, .parquet, a dataset folder or a Hub id)")
    elif path.is_dir():
        try:
            dd = load_repo_dataset(path, config)
        except CsirError:
            raise
        except Exception as exc:
            raise CsirError(f"{path}: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}") \
                from None
    else:
        from csir.hub.resolve import resolve

        # a missing path-like spec, a non-Hub-id or an unreachable Hub fails here in one line (no retry storm)
        resolve(spec, revision, "dataset", download=False, flag=spec)
        try:
            dd = datasets.load_dataset(spec, config, revision=revision)
        except Exception as exc:
            net = network_error_message(exc)
            if net:
                raise CsirError(f"{spec}: {net}") from None
            raise CsirError(f"{spec}: cannot load dataset ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
    if not isinstance(dd, datasets.DatasetDict):
        dd = datasets.DatasetDict({"train": dd})
    if split:
        if split not in dd:
            raise CsirError(f"{spec}: no split '{split}' (have {', '.join(dd)})")
        dd = datasets.DatasetDict({split: dd[split]})
    for name, ds in dd.items():
        if len(ds) == 0:
            raise CsirError(f"{spec}: split '{name}' is empty")
        check_rows(ds, spec if len(dd) == 1 else f"{spec} [{name}]", required, **rules)
    remove_stale_cache_temps(dd)
    return dd


def describe_rows_input(spec: str, *, config: str | None = None, revision: str | None = None,
                        checksums: bool = True) -> dict:
    """Manifest entry for a `load_rows` input: a local file/folder with sha256 per file, else the Hub id."""
    from builders.repo_writer import describe_input

    if Path(spec).exists():
        return describe_input(spec) if checksums else {"path": str(spec)}
    return {"hub_id": spec, "config": config, "revision": revision}
