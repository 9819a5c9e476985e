"""A tiny random BERT built in code (no downloads) for smoke runs and tests.

The WordPiece vocabulary is built from the training texts themselves (whole lower-cased words plus every
character as a start and `##` piece), so every text tokenizes without [UNK] and the model stays a few hundred KB.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable

TINY_MODEL_NAMES = ("tiny-random-bert",)
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def is_tiny(name: str) -> bool:
    return name in TINY_MODEL_NAMES


def build_vocab(texts: Iterable[str], max_words: int = 2000) -> dict[str, int]:
    """Deterministic vocab: specials, all characters (both forms), then the most frequent words."""
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    norm = BertNormalizer(lowercase=True, strip_accents=None)
    pre = BertPreTokenizer()
    words: Counter[str] = Counter()
    chars: set[str] = set()
    for text in texts:
        for word, _ in pre.pre_tokenize_str(norm.normalize_str(text)):
            words[word] += 1
            chars.update(word)
    tokens = list(SPECIAL_TOKENS)
    for ch in sorted(chars):
        tokens += [ch, f"##{ch}"]
    seen = set(tokens)
    for word, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(tokens) >= len(SPECIAL_TOKENS) + 2 * len(chars) + max_words:
            break
        if word not in seen:
            tokens.append(word)
            seen.add(word)
    return {tok: i for i, tok in enumerate(tokens)}


def build_tiny_bert(out_dir: str | Path, texts: Iterable[str], seed: int = 0, hidden: int = 32,
                    layers: int = 2, heads: int = 2, max_position: int = 512) -> Path:
    """Write a random-initialised BertModel + tokenizer to `out_dir`; same texts + seed -> same weights."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    out_dir = Path(out_dir)
    vocab = build_vocab(texts)
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True, model_max_length=max_position)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=hidden * 2,
                        max_position_embeddings=max_position, type_vocab_size=2)
    config.architectures = ["BertModel"]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = BertModel(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
