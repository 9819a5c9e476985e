"""Lexicons as Hub-layout dataset repos (one config per method and pair), and loading them back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import datasets

from builders.lexicons.base import Lexicon, read_pair_file
from builders.repo_writer import describe_input, write_dataset_repo
from csir.errors import CsirError, network_error_message
from csir.hub.load import load_repo_dataset


def lexicon_config_name(method: str, src: str, tgt: str) -> str:
    return f"{method}-{src}-{tgt}"


def write_lexicon_repo(output, lexicons: Mapping[str, Lexicon], *, inputs: list[dict], parameters: dict,
                       gold: Mapping[str, dict] | None = None, license: str = "other", attribution: str = "",
                       repo_id: str | None = None, version: str | None = None) -> Path:
    """`lexicons` maps config name (`freedict-en-de`) → Lexicon."""
    stats = {name: {"sources": len(lex), "pairs": lex.num_pairs, "multi_word_sources":
                    sum(1 for k in lex.entries if " " in k)} for name, lex in lexicons.items()}
    langs = sorted({l for lex in lexicons.values() for l in (lex.src, lex.tgt)})
    manifest = {"kind": "lexicon", "inputs": inputs, "parameters": parameters, "statistics": stats}
    sections = {}
    if gold:
        manifest["gold_evaluation"] = gold
        rows = "\n".join(f"| `{n}` | {g['gold_sources']} | {g['coverage']:.3f} | {g['p@1']:.3f} | {g['p@5']:.3f} |"
                         for n, g in gold.items())
        sections["Quality against a gold dictionary"] = (
            "| config | gold sources | coverage | P@1 | P@5 |\n|---|---:|---:|---:|---:|\n" + rows)
    card = {
        "pretty_name": f"Bilingual lexicons ({', '.join(lexicons)})",
        "language": langs, "license": license, "tags": ["bilingual-lexicon", "translation"],
        "task_categories": ["translation"],
        "description": "Ranked word translations (`source, target, score, rank`; rank 1 = best) for code-switching "
                       "retrieval training data with codeswitch-ir. Sources are lower-cased; multi-word entries are "
                       "kept and matched longest-first.",
        "attribution": attribution, "sections": sections, "repo_id": repo_id, "version": version,
    }
    configs = {name: {"train": lex.to_dataset()} for name, lex in lexicons.items()}
    return write_dataset_repo(output, configs, card=card, manifest=manifest)


def _repo_configs(folder: Path) -> list[str]:
    """Config names of a repo folder's card, read by `huggingface_hub.DatasetCard` (the Hub's own parser)."""
    from huggingface_hub import DatasetCard

    meta = DatasetCard.load(folder / "README.md").data.to_dict()
    return [c["config_name"] for c in meta.get("configs") or [] if isinstance(c, dict) and "config_name" in c]


def _pick_config(names: list[str], src: str, tgt: str, where_: str) -> str:
    if len(names) == 1:
        return names[0]
    matching = [n for n in names if n.endswith(f"-{src}-{tgt}")]
    if len(matching) == 1:
        return matching[0]
    raise CsirError(f"{where_}: several lexicon configs ({', '.join(names)}); name one as PATH:CONFIG")


def load_lexicon(spec: str, src: str, tgt: str) -> Lexicon:
    """PATH_OR_REPO[:CONFIG][@REVISION]: a lexicon repo folder, a Hub dataset id, or a plain `src tgt` file."""
    spec_path = Path(spec)
    if spec_path.is_file():
        if spec_path.suffix in (".parquet", ".jsonl", ".json"):
            kind = "parquet" if spec_path.suffix == ".parquet" else "json"
            ds = datasets.load_dataset(kind, data_files=str(spec_path), split="train")
            return Lexicon.from_dataset(ds, src, tgt, name=str(spec_path))
        return read_pair_file(spec_path, src, tgt)
    rest, _, revision = spec.partition("@")
    target, _, config = rest.partition(":") if not os.path.exists(rest) else (rest, "", "")
    folder = Path(target)
    if folder.is_dir():
        if not (folder / "README.md").exists():
            raise CsirError(f"{folder}: not a lexicon repo (no README.md with configs)")
        config = config or _pick_config(_repo_configs(folder), src, tgt, str(folder))
        ds = load_repo_dataset(folder, config, split="train")
        return Lexicon.from_dataset(ds, src, tgt, name=f"{folder}:{config}")
    from csir.hub.resolve import resolve

    # a missing path-like spec, a non-Hub-id or an unreachable Hub fails here in one line (no retry storm)
    resolve(target, revision or None, "dataset", download=False, flag=f"lexicon '{spec}'")
    try:
        names = datasets.get_dataset_config_names(target, revision=revision or None)
        config = config or _pick_config(names, src, tgt, target)
        ds = datasets.load_dataset(target, config, split="train", revision=revision or None)
    except CsirError:
        raise
    except Exception as exc:  # network / missing repo: one clear line
        net = network_error_message(exc)
        if net:
            raise CsirError(f"lexicon '{spec}': {net}") from None
        raise CsirError(f"lexicon '{spec}': cannot load from the Hub ({type(exc).__name__}: {str(exc)[:200]})") from None
    return Lexicon.from_dataset(ds, src, tgt, name=f"{target}:{config}@{revision or 'main'}")


def load_lexicons(specs: Mapping[str, str | list[str]], src: str = "en") -> dict[str, Lexicon]:
    """{lang: spec or [specs]} → {lang: Lexicon}; several lexicons per language merge in order (first wins)."""
    from csir.langs import check_lang

    out = {}
    for lang, spec_list in specs.items():
        lang = check_lang(lang, "--lexicon")
        spec_list = [spec_list] if isinstance(spec_list, str) else list(spec_list)
        lexes = [load_lexicon(s, src, lang) for s in spec_list]
        if len(lexes) == 1:
            out[lang] = lexes[0]
            continue
        merged: dict[str, list[tuple[str, float]]] = {}
        for lex in lexes:
            for key, targets in lex.entries.items():
                have = merged.setdefault(key, [])
                seen = {t for t, _ in have}
                have.extend((t, s) for t, s in targets if t not in seen)
        out[lang] = Lexicon(src, lang, dict(sorted(merged.items())), name=" + ".join(l.name for l in lexes))
    return out


def describe_lexicon_inputs(*paths) -> list[dict]:
    return [describe_input(p) for p in paths if p]
