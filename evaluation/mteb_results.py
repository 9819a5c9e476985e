"""One MTEB `TaskResult` JSON per (model, task), beside our per-subset result files.

MTEB's results loader (`mteb.ResultCache(cache_path).load_results()`, `TaskResult.from_disk`) reads
`<cache>/results/<model>/<revision>/<TaskName>.json` (+ an optional `model_meta.json`). Our per-subset files live
in `<output>/<model>/<revision>/<task>/<subset>.json`, so the task file goes into `<output>/<model>/<revision>/`:
with `--output results` the folder *is* an MTEB results cache (`ResultCache(cache_path=".")`); with another
output folder, point `cache_path` at a folder holding it under the name `results`. This module needs no `mteb`
install: it writes the schema (all subsets of the task in one file, `languages` as ISO 639-3 + script,
`mteb_version`, the dataset's resolved revision, evaluation time and date); tests load it with mteb's own code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from csir.atomic import atomic_file
from csir.langs import check_lang, to_mteb_lang

# The mteb release whose TaskResult schema these files follow; recorded as `mteb_version` when mteb itself is not
# installed (when it is, its version is recorded: that is the reader the file was checked against).
MTEB_SCHEMA_VERSION = "2.26.24"
# Our tasks' names as MTEB task classes (evaluation.mteb_tasks); any other task keeps its own name.
MTEB_TASK_NAMES = {"ddtp": "CsirDDTPRetrieval", "mmarco": "CsirMMarcoRetrieval"}
_NOT_SCORES = {"hf_subset", "languages", "main_score", "main_metric", "num_queries"}


def mteb_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mteb")
    except PackageNotFoundError:
        return MTEB_SCHEMA_VERSION


def mteb_task_name(task: str) -> str:
    return MTEB_TASK_NAMES.get(task, task)


def subset_languages(subset: str, languages: list[str] | None = None) -> list[str]:
    """`deu-Latn`-style languages of a subset: from the recorded languages, else from its name (`fra-eng`)."""
    codes = list(languages or [])
    if not codes:
        base, _, switched = subset.partition("-cs-")  # code-switched query subsets: `eng-eng-cs-deu-p0.5`
        for part in base.split("-") + switched.split("-")[:1]:
            try:
                codes.append(check_lang(part))
            except Exception:  # not a language part (`mlir`, `i2t`, `default`, `cs`, `p0.5` ...)
                continue
    out = []
    for c in codes:
        try:
            lang = c if "-" in c and len(c.split("-")[1]) == 4 else to_mteb_lang(c)
        except Exception:
            continue
        if lang not in out:
            out.append(lang)
    return out


def task_result(task: str, results: list[dict]) -> dict:
    """The TaskResult dict for one task: every subset's scores, grouped by split."""
    scores: dict[str, list[dict]] = {}
    revisions = sorted({r["dataset_revision"] for r in results})
    version = mteb_version()
    for r in sorted(results, key=lambda r: r["subset"]):
        for split, entries in r["scores"].items():
            s = entries[0]
            row = {k: v for k, v in s.items() if k not in _NOT_SCORES}
            row.update(main_score=s["main_score"], hf_subset=r["subset"],
                       languages=subset_languages(r["subset"], s.get("languages")), mteb_version=version)
            scores.setdefault(split, []).append(row)
    times = [r.get("evaluation_time") for r in results]
    return {
        "dataset_revision": revisions[0] if len(revisions) == 1 else ",".join(revisions),
        "task_name": mteb_task_name(task),
        "mteb_version": version,
        "scores": scores,
        "evaluation_time": sum(t for t in times if t is not None) if any(t is not None for t in times) else None,
        "kg_co2_emissions": None,
        "date": max(r["date"] for r in results),
    }


def model_meta(results: list[dict], revision: str) -> dict:
    """The part of MTEB's `model_meta.json` its loader reads (name, revision) plus what we know of the model."""
    m = results[0]["model"]
    return {"name": m["name"], "revision": revision, "loader": None, "framework": ["Sentence Transformers"],
            "languages": None, "open_weights": True, "reference": None,
            "csir": {"kind": m.get("kind"), "prompts": m.get("prompts")}}


def write_mteb_results(results: list[dict], model_dir: str | os.PathLike) -> list[Path]:
    """`<model_dir>/<TaskName>.json` for every task in `results`, and `model_meta.json`; returns the task files."""
    model_dir = Path(model_dir)
    by_task: dict[str, list[dict]] = {}
    for task in sorted({r["task_name"] for r in results}):  # every subset on disk, also from earlier runs
        for f in sorted((model_dir / task).glob("*.json")):
            row = json.loads(f.read_text(encoding="utf-8"))
            if isinstance(row, dict) and row.get("task_name") == task and "subset" in row and "scores" in row:
                by_task.setdefault(task, []).append(row)
    paths = []
    for task, rows in sorted(by_task.items()):
        path = model_dir / f"{mteb_task_name(task)}.json"
        with atomic_file(path) as fh:
            json.dump(task_result(task, rows), fh, indent=2, ensure_ascii=False)
        paths.append(path)
    if results:
        with atomic_file(model_dir / "model_meta.json") as fh:
            json.dump(model_meta(results, model_dir.name), fh, indent=2, ensure_ascii=False)
    return paths
