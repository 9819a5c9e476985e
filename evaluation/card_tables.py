"""A dataset repo's README `configs:` block as tables: config -> split -> parquet files, read with pyarrow.

Only the files of the (config, split) asked for are read, and only the columns asked for, so a Hub image set that
keeps one language per split (XM3600, xFlickrCO: tens of languages x thousands of images) is not converted whole by
`datasets` to read one language.
"""

from __future__ import annotations

from pathlib import Path

from csir.errors import CsirError


def card_configs(folder: Path) -> dict[str, dict[str, list[str]]]:
    """{config_name: {split: [path patterns]}} from README.md's YAML `configs:` ({} without a card or block)."""
    from huggingface_hub import DatasetCard

    readme = Path(folder) / "README.md"
    if not readme.exists():
        return {}
    out: dict[str, dict[str, list[str]]] = {}
    for c in DatasetCard.load(readme).data.to_dict().get("configs") or []:
        if "config_name" in c:
            out[c["config_name"]] = _splits(c.get("data_files"))
    return out


def _splits(data_files) -> dict[str, list[str]]:
    """`data_files` in any of the card's spellings (str, [str], [{split, path}], {split: path}) -> {split: [paths]}."""
    if data_files is None:
        return {}
    if isinstance(data_files, (str, dict)):
        data_files = [data_files] if isinstance(data_files, str) else [{"split": s, "path": p}
                                                                        for s, p in data_files.items()]
    out: dict[str, list[str]] = {}
    for item in data_files:
        split, paths = ("train", item) if isinstance(item, str) else (item.get("split", "train"), item.get("path"))
        out.setdefault(split, []).extend([paths] if isinstance(paths, str) else list(paths or []))
    return out


def parquet_files(folder: Path, patterns: list[str]) -> list[Path]:
    return sorted({p for pat in patterns for p in Path(folder).glob(pat) if p.is_file() and p.suffix == ".parquet"})


def column_names(folder: Path, patterns: list[str]) -> list[str]:
    """Columns of the first parquet file a split names ([] when it names none)."""
    import pyarrow.parquet as pq

    files = parquet_files(folder, patterns)
    return list(pq.read_schema(files[0]).names) if files else []


def read_table(folder: Path, patterns: list[str], columns: list[str], what: str):
    """The split's parquet files concatenated (those columns only); a CsirError naming `what` otherwise."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = parquet_files(folder, patterns)
    if not files:
        raise CsirError(f"{what}: no parquet file matches {', '.join(patterns)}")
    try:
        return pa.concat_tables([pq.read_table(f, columns=columns) for f in files])
    except (pa.ArrowInvalid, OSError, KeyError) as exc:
        raise CsirError(f"{what}: cannot read {', '.join(columns)} ({exc.__class__.__name__}: {exc})") from None
