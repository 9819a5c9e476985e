"""Read query/passage data from JSONL, parquet, a local dataset folder or a Hub id, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import datasets

from csir.errors import CsirError, where
from csir.hub.load import load_repo_dataset


def _check_jsonl(path: Path, required: tuple[str, ...]) -> None:
    rows = 0
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CsirError(f"{where(path, lineno)}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise CsirError(f"{where(path, lineno)}: expected a JSON object")
            for f in required:
                if f not in row:
                    raise CsirError(f"{where(path, lineno, f)} missing")
                if not isinstance(row[f], str):
                    raise CsirError(f"{where(path, lineno, f)} must be a string")
            rows += 1
    if rows == 0:
        raise CsirError(f"{path}: empty input file")


def load_rows(spec: str, *, config: str | None = None, revision: str | None = None, split: str | None = None,
              required: tuple[str, ...] = ("query", "passage")) -> datasets.DatasetDict:
    """Return a DatasetDict (split → Dataset) from any supported source; checks the required columns."""
    path = Path(spec)
    if path.is_file():
        if path.stat().st_size == 0:
            raise CsirError(f"{path}: empty input file")
        if path.suffix in (".jsonl", ".json"):
            _check_jsonl(path, required)
            dd = datasets.load_dataset("json", data_files={"train": str(path)})
        elif path.suffix == ".parquet":
            dd = datasets.load_dataset("parquet", data_files={"train": str(path)})
        else:
            raise CsirError(f"{path}: unsupported input format (use .jsonl, .parquet, a dataset folder or a Hub id)")
    elif path.is_dir():
        try:
            dd = load_repo_dataset(path, config)
        except ValueError as exc:
            raise CsirError(f"{path}: {str(exc).splitlines()[0][:300]}") from None
    else:
        from csir.hub.resolve import resolve

        # a missing path-like spec, a non-Hub-id or an unreachable Hub fails here in one line (no retry storm)
        resolve(spec, revision, "dataset", download=False, flag=spec)
        try:
            dd = datasets.load_dataset(spec, config, revision=revision)
        except Exception as exc:
            raise CsirError(f"{spec}: cannot load dataset ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    if split:
        if split not in dd:
            raise CsirError(f"{spec}: no split '{split}' (have {', '.join(dd)})")
        dd = datasets.DatasetDict({split: dd[split]})
    for name, ds in dd.items():
        if len(ds) == 0:
            raise CsirError(f"{spec}: split '{name}' is empty")
        missing = [c for c in required if c not in ds.column_names]
        if missing:
            raise CsirError(f"{spec}: field '{missing[0]}' missing (columns: {', '.join(ds.column_names)})")
    return dd


def describe_rows_input(spec: str, *, config: str | None = None, revision: str | None = None,
                        checksums: bool = True) -> dict:
    """Manifest entry for a `load_rows` input: a local file/folder with sha256 per file, else the Hub id."""
    from builders.repo_writer import describe_input

    if Path(spec).exists():
        return describe_input(spec) if checksums else {"path": str(spec)}
    return {"hub_id": spec, "config": config, "revision": revision}
