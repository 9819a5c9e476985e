"""Model cards (README.md) for trained cross-/bi-encoders: Hub-valid YAML + a Jinja body, rendered offline.

The YAML goes through `huggingface_hub.ModelCardData` (so `model-index` is written by the Hub library's own
`eval_results_to_model_index` and reads back with `model_index_to_eval_results`); never calls `card.validate()`.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from csir.errors import CsirError

from .dataset_card import CITATION, _template
from .provenance import dataset_reference, model_reference, publishable_fields

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


def base_model_reference(info: Mapping):
    """The base model as the card names it (a Hub id, also for known local copies), or None for test models."""
    base = info.get("base_model")
    if not base or info.get("base_model_built_in_code"):
        return None
    return model_reference(str(base), info.get("base_model_revision"))


def training_dataset_references(info: Mapping) -> list[dict]:
    """Each training source as repo id + revision + commit (or a local folder's name), with its split and rows."""
    out = []
    for d in info.get("datasets") or []:
        ref = dataset_reference(str(d["path"]), d.get("revision"), d.get("resolved_revision"))
        row = {"path": ref.id, "published": ref.is_hub, "name": d.get("name"), "split": d.get("split"),
               "revision": ref.revision, "resolved_revision": ref.commit, "num_rows": d.get("num_rows"),
               "note": ref.note}
        out.append(row)
    return out


def card_data(info: Mapping) -> ModelCardData:
    """YAML front matter: base model + revision, datasets + revisions, language, license, tags, model-index.

    Sources are named by Hub ids (model_cards.provenance), never by the build machine's paths."""
    objective = info["objective"]
    datasets = training_dataset_references(info)
    languages = sorted(set(info.get("language") or []))
    cs = info.get("codeswitch") or {}
    for lang in [*cs.get("query_langs", []), *cs.get("passage_langs", []), *cs.get("lexicons", {}).keys()]:
        if lang not in languages:
            languages.append(lang)
    base = base_model_reference(info) if not isinstance(info.get("base_model"), list) else None
    if isinstance(info.get("base_model"), list):  # several towers (image-text): every one that names a Hub model
        hub_base = [r.id for r in (model_reference(str(b)) for b in info["base_model"]) if r.is_hub] or None
    else:
        hub_base = base.id if base is not None and base.is_hub else None
    hparams = info.get("hyperparameters") or {}
    data = ModelCardData(
        base_model=hub_base,
        datasets=sorted({d["path"] for d in datasets if d["published"]}) or None,
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
    data.base_model_revision = base.revision if base is not None and hub_base else None
    data.base_model_name = base.id if base is not None else info.get("base_model")  # built in code: its name
    if base is not None and base.note:
        data.base_model_note = base.note
    data.training_datasets = [
        {k: d[k] for k in ("path", "name", "split", "revision", "resolved_revision") if d.get(k) is not None}
        for d in datasets
    ]
    data.training_seed = hparams.get("seed")
    data.training_processes = hparams.get("num_processes")
    if cs:
        data.code_switching = {k: _lexicon_names(cs[k]) if k == "lexicons" else cs[k]
                               for k in ("variant", "p", "query_langs", "passage_langs", "lexicons") if k in cs}
    return data


def _lexicon_names(lexicons: Mapping) -> dict:
    """lang -> lexicon as `ORG/NAME[:CONFIG][@REV]` (the --lexicon spelling) or a folder/file name, never a path."""
    from pathlib import Path

    out = {}
    for lang, spec in lexicons.items():
        spec = str(spec)
        if Path(spec).exists():
            out[lang] = dataset_reference(spec).id
            continue
        rest, _, rev = spec.partition("@")
        path, colon, config = rest.partition(":")
        ref = dataset_reference(path, rev or None)
        out[lang] = ref.id + (f":{config}" if colon else "") + (f"@{rev}" if rev else "")
    return out


def render_model_card(info: Mapping) -> str:
    """README.md text for a trained model; `info` is what the trainer knows (see training.loop._write_final)."""
    data = card_data(info)
    eval_rows = [dataclasses.asdict(r) for r in (data.eval_results or [])]
    body = _template("model_card.md.j2").render(
        name=info.get("model_name") or "Code-switched retrieval model",
        objective=info["objective"],
        base_model=data.base_model_name,
        base_model_is_hub=data.base_model is not None,
        base_model_note=getattr(data, "base_model_note", None),
        base_model_revision=data.base_model_revision,
        base_model_built_in_code=bool(info.get("base_model_built_in_code")),
        datasets=training_dataset_references(info),
        codeswitch={**info["codeswitch"], "lexicons": data.code_switching["lexicons"]}
        if info.get("codeswitch") and "lexicons" in info["codeswitch"] else info.get("codeswitch"),
        hparams=info.get("hyperparameters") or {},
        non_default=publishable_fields(info.get("non_default") or {}),
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
