"""Dataset cards (README.md) with Hub-valid YAML, rendered offline from a Jinja template."""

from __future__ import annotations

import json
from importlib import resources
from typing import Mapping

import jinja2
from huggingface_hub import DatasetCard, DatasetCardData

CITATION = """@inproceedings{litschko-etal-2023-boosting,
  title = {Boosting Zero-shot Cross-lingual Retrieval by Training on Artificially Code-Switched Data},
  author = {Litschko, Robert and Artemova, Ekaterina and Plank, Barbara},
  booktitle = {Findings of the Association for Computational Linguistics: ACL 2023},
  year = {2023},
  url = {https://arxiv.org/abs/2305.05295}
}"""


def _template(name: str) -> jinja2.Template:
    text = resources.files("model_cards").joinpath("templates", name).read_text(encoding="utf-8")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True)
    return env.from_string(text)


def render_dataset_card(card: Mapping, config_entries: list[dict], manifest: Mapping) -> str:
    """README.md text: YAML front matter (configs, language, license, tags...) + a human description."""
    languages = sorted(set(card.get("language") or []))
    data = DatasetCardData(
        language=languages or None,
        license=card.get("license", "other"),
        pretty_name=card.get("pretty_name"),
        tags=sorted(set(["code-switching", "cross-lingual-retrieval", *card.get("tags", [])])),
        source_datasets=card.get("source_datasets") or None,
        task_categories=card.get("task_categories", ["text-retrieval"]),
        multilinguality="multilingual" if len(languages) > 1 else "monolingual",
        configs=config_entries,
    )
    if card.get("license_name"):
        data.license_name = card["license_name"]
    body = _template("dataset_card.md.j2").render(
        card=card,
        repo_id=card.get("repo_id") or "ORG/NAME",
        version=card.get("version"),
        configs=config_entries,
        stats=manifest.get("configs", {}),
        manifest_json=json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False),
        citation=card.get("citation", CITATION),
    )
    return DatasetCard.from_template(data, template_str="---\n{{ card_data }}\n---\n" + body).content + "\n"
