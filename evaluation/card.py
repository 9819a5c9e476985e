"""Write evaluation results into a model card: `model-index` rows (huggingface_hub EvalResult) and
`.eval_results/<task>.yaml` (huggingface_hub's EvalResultEntry format), replacing rows for the same
(dataset, config, split, metric) and keeping everything else in the card."""

from __future__ import annotations

import os
from pathlib import Path

from csir.atomic import atomic_file
from csir.errors import CsirError
from evaluation.results import load_results

TASK_TYPE = {"clir": "cross-lingual-retrieval", "mlir": "multilingual-retrieval", "moir": "monolingual-retrieval"}


def eval_results_for(results: list[dict]):
    from huggingface_hub import EvalResult

    rows = []
    for r in results:
        split, entries = next(iter(r["scores"].items()))
        s = entries[0]
        for key, value in s.items():
            if key in ("hf_subset", "languages", "main_score", "main_metric", "num_queries") or not isinstance(value, (int, float)):
                continue
            rows.append(EvalResult(
                task_type="text-retrieval", task_name=TASK_TYPE.get(r.get("setup") or "", "retrieval"),
                dataset_type=r["dataset"]["source"], dataset_name=f"{r['task_name']} ({r['subset']})",
                dataset_config=r["subset"], dataset_split=split, dataset_revision=r["dataset_revision"],
                metric_type=key, metric_value=round(float(value), 6),
                metric_config=f"first stage: {r['first_stage']['name']}, top-k {r['first_stage']['top_k']}"))
    return rows


def update_card(model_dir: str | os.PathLike, results_dir: str | os.PathLike, model_name: str | None = None) -> Path:
    """Merge `results_dir` into the card's `model-index` and `.eval_results/`.

    The front matter is edited as YAML, not round-tripped through `ModelCardData` (which folds `model_name`
    into `model-index` and drops the top-level key): every other key, its value and its place are kept.
    """
    import yaml
    from huggingface_hub import EvalResultEntry
    from huggingface_hub._eval_results import eval_result_entries_to_yaml
    from huggingface_hub.repocard_data import eval_results_to_model_index, model_index_to_eval_results

    from csir.hub.card_check import split_front_matter

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise CsirError(f"--model: {model_dir} is not a folder")
    results = load_results(results_dir)
    readme = model_dir / "README.md"
    meta, body = split_front_matter(readme.read_text(encoding="utf-8"), readme) if readme.exists() else ({}, None)
    old_name, old_rows = None, []
    if meta.get("model-index"):
        try:
            old_name, old_rows = model_index_to_eval_results(meta["model-index"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CsirError(f"{readme}: field 'model-index' is not in the Hub's format ({exc!r})") from None
    name = model_name or meta.get("model_name") or old_name or results[0]["model"]["name"] or model_dir.name
    new = eval_results_for(results)
    key = lambda e: (e.dataset_type, e.dataset_config, e.dataset_split, e.metric_type)  # noqa: E731
    fresh = {key(e) for e in new}
    meta["model-index"] = eval_results_to_model_index(name, [e for e in old_rows if key(e) not in fresh] + new)
    if "model_name" in meta or model_name:
        meta["model_name"] = name
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    text = f"---\n{front}---\n" + (body if body is not None else f"# {name}\n")
    with atomic_file(readme) as fh:
        fh.write(text if text.endswith("\n") else text + "\n")
    by_task: dict[str, list] = {}
    for r in results:
        s = next(iter(r["scores"].values()))[0]
        by_task.setdefault(r["task_name"], []).append(EvalResultEntry(
            dataset_id=r["dataset"]["source"], task_id=r["subset"], value=round(float(s["main_score"]), 6),
            dataset_revision=r["dataset_revision"] if len(r["dataset_revision"]) == 40 else None,
            date=r.get("date"), notes=f"{s.get('main_metric', 'main_score')}; first stage {r['first_stage']['name']}"))
    for task, entries in by_task.items():
        path = model_dir / ".eval_results" / f"{task}.yaml"
        old = []
        if path.exists():
            old = [e for e in (yaml.safe_load(path.read_text(encoding="utf-8")) or [])
                   if e.get("dataset", {}).get("task_id") not in {x.task_id for x in entries}]
        with atomic_file(path) as fh:
            yaml.safe_dump(old + eval_result_entries_to_yaml(entries), fh, sort_keys=False, allow_unicode=True)
    return readme
