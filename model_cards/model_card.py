"""Model cards (README.md) for trained cross-/bi-encoders: Hub-valid YAML + a Jinja body, rendered offline.

The YAML goes through `huggingface_hub.ModelCardData` (so `model-index` is written by the Hub library's own
`eval_results_to_model_index` and reads back with `model_index_to_eval_results`); never calls `card.validate()`.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from csir.errors import CsirError
from csir.hub.resolve import is_hub_id

from .dataset_card import CITATION, _template

PIPELINE_TAGS = {"cross-encoder": "text-ranking", "bi-encoder": "sentence-similarity",
                 "image-text": "zero-shot-image-classification", "lit": "zero-shot-image-classification"}
OBJECTIVE_TAGS = {"cross-encoder": ["cross-encoder", "reranker", "text-ranking"],
                  "bi-encoder": ["bi-encoder", "sentence-similarity", "feature-extraction"],
                  "image-text": ["image-text-retrieval", "dual-encoder", "contrastive", "vision-text-dual-encoder"],
                  "lit": ["image-text-retrieval", "dual-encoder", "contrastive"]}
LIBRARIES = {"image-text": "transformers", "lit": "transformers"}
EVAL_FIELDS = {f.name for f in dataclasses.fields(EvalResult)}


def eval_results_from_dicts(rows: list[Mapping], source: str = "eval_results") -> list[EvalResult]:
    """Plain dicts (EvalResult field names) -> EvalResult objects; bad keys are a CsirError."""
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise CsirError(f"{source}[{i}]: expected a mapping of EvalResult fields")
        unknown = sorted(set(row) - EVAL_FIELDS)
        if unknown:
            raise CsirError(f"{source}[{i}]: unknown field '{unknown[0]}' (valid: {', '.join(sorted(EVAL_FIELDS))})")
        try:
            out.append(EvalResult(**row))
        except TypeError as exc:
            raise CsirError(f"{source}[{i}]: {exc}") from None
    return out


def card_data(info: Mapping) -> ModelCardData:
    """YAML front matter: base model + revision, datasets + revisions, language, license, tags, model-index."""
    objective = info["objective"]
    datasets = info.get("datasets") or []
    languages = sorted(set(info.get("language") or []))
    cs = info.get("codeswitch") or {}
    for lang in [*cs.get("query_langs", []), *cs.get("passage_langs", []), *cs.get("lexicons", {}).keys()]:
        if lang not in languages:
            languages.append(lang)
    base = info.get("base_model")
    if isinstance(base, list):  # several towers (image-text): every one that is a Hub id
        hub_base = [b for b in base if is_hub_id(b)] or None
    else:
        hub_base = base if is_hub_id(base) and not info.get("base_model_built_in_code") else None
    hparams = info.get("hyperparameters") or {}
    data = ModelCardData(
        base_model=hub_base,
        datasets=sorted({d["path"] for d in datasets if d.get("is_hub_id")}) or None,
        language=sorted(languages) or None,
        license=info.get("license") or "apache-2.0",
        library_name=LIBRARIES.get(objective, "sentence-transformers"),
        pipeline_tag=PIPELINE_TAGS[objective],
        tags=sorted({"code-switching", "cross-lingual-retrieval", LIBRARIES.get(objective, "sentence-transformers"),
                     *OBJECTIVE_TAGS[objective], *(info.get("tags") or [])}),
        model_name=info.get("model_name"),
        eval_results=eval_results_from_dicts(info.get("eval_results") or []) or None,
    )
    # Extra keys the Hub keeps as-is: exact provenance of the run.
    data.base_model_revision = info.get("base_model_revision") if hub_base else None
    data.base_model_name = base
    data.training_datasets = [
        {k: d.get(k) for k in ("path", "name", "split", "revision", "resolved_revision") if d.get(k) is not None}
        for d in datasets
    ]
    data.training_seed = hparams.get("seed")
    data.training_processes = hparams.get("num_processes")
    if cs:
        data.code_switching = {k: cs[k] for k in ("variant", "p", "query_langs", "passage_langs", "lexicons")
                               if k in cs}
    return data


def render_model_card(info: Mapping) -> str:
    """README.md text for a trained model; `info` is what the trainer knows (see training.loop._write_final)."""
    data = card_data(info)
    eval_rows = [dataclasses.asdict(r) for r in (data.eval_results or [])]
    body = _template("model_card.md.j2").render(
        name=info.get("model_name") or "Code-switched retrieval model",
        objective=info["objective"],
        base_model=info.get("base_model"),
        base_model_revision=info.get("base_model_revision"),
        base_model_built_in_code=bool(info.get("base_model_built_in_code")),
        datasets=info.get("datasets") or [],
        codeswitch=info.get("codeswitch"),
        hparams=info.get("hyperparameters") or {},
        non_default=info.get("non_default") or {},
        log_history=info.get("log_history") or [],
        towers=info.get("towers") or [],
        dev_curve=info.get("dev_curve"),
        eval_results=eval_rows,
        versions=info.get("versions") or {},
        # published: the Hub id; not yet: the folder it was written to, so the snippet runs as printed
        # (`csir publish` rewrites it to the repo id and pins the version: csir/hub/card_check.py)
        repo_id=info.get("repo_id") or info.get("local_path") or "ORG/NAME",
        version=info.get("version"),
        citation=info.get("citation", CITATION),
    )
    return ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n" + body).content + "\n"
