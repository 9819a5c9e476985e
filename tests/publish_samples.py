"""Small repo folders for the publishing tests: a code-switched-style dataset and a tiny random BERT."""

from __future__ import annotations

import json
from pathlib import Path

import datasets

from builders.repo_writer import write_dataset_repo

FIXTURES = Path(__file__).parent / "fixtures"
CONFIG = "bl-cs-p0.5-en-de"


def pair_rows(start: int, stop: int) -> dict[str, list]:
    rows = [json.loads(line) for line in (FIXTURES / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = rows[start:stop]
    return {"query": [r["query"] for r in rows], "passage": [r["passage"] for r in rows],
            "label": [float(r["label"]) for r in rows]}


def write_cs_dataset(folder: Path, start: int, stop: int, *, extra_config: bool = False,
                     version: str | None = None) -> Path:
    """A dataset repo in Hub layout with one code-switched config (train/dev) [+ a second config]."""
    rows = pair_rows(start, stop)
    ds = datasets.Dataset.from_dict(rows)
    half = max(1, len(ds) * 3 // 4)
    configs = {CONFIG: {"train": ds.select(range(half)), "dev": ds.select(range(half, len(ds)))}}
    if extra_config:
        configs["zero-shot"] = {"train": ds.select(range(2))}
    card = {"pretty_name": "Code-switched pairs (test)", "language": ["en", "de"], "license": "cc-by-4.0",
            "repo_id": "ORG/NAME", "version": version, "description": "Publishing test data."}
    return write_dataset_repo(folder, configs, card=card, manifest={"rows": [start, stop]})


def write_tiny_model(folder: Path, seed: int) -> Path:
    """A tiny random BertModel (safetensors) + WordPiece tokenizer + README card, a few tens of KB."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    (folder / "README.md").write_text(
        "---\nlicense: apache-2.0\nlibrary_name: transformers\ntags:\n- test\n---\n"
        f"# Tiny test encoder (seed {seed})\n\nRandom weights, for publishing tests only.\n", encoding="utf-8")
    return folder
