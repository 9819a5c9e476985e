"""What a model is asked for (`ModelSpec`) and what was loaded (`LoadedModel`), plus the model's saved prompts."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from csir.errors import CsirError

log = logging.getLogger(__name__)
E5_PROMPTS = {"query": "query: ", "document": "passage: "}


def saved_prompts(model, name: str) -> dict:
    """{'query': ..., 'document': ...} from a SentenceTransformer's saved prompts (document = its 'document',
    'passage' or 'corpus' prompt); e5-named models without saved prompts get e5's. Training and evaluation both
    use this, so a model is trained with the prompts it is evaluated with."""
    saved = dict(getattr(model, "prompts", None) or {})
    prompts = {"query": saved.get("query"),
               "document": next((saved[k] for k in ("document", "passage", "corpus") if saved.get(k)), None)}
    if not any(prompts.values()) and "e5" in str(name).lower().replace("\\", "/").rstrip("/").split("/")[-1]:
        log.info("%s: no saved prompts; using e5's %r", name, E5_PROMPTS)
        return dict(E5_PROMPTS)
    return prompts


@dataclass
class ModelSpec:
    name: str                      # as given (Hub id or path)
    revision: str | None = None
    trust_remote_code: bool = False
    device: str | None = None
    batch_size: int = 32
    max_length: int | None = None
    query_prompt: str | None = None
    passage_prompt: str | None = None
    allow_pickle: bool = False     # load pickle weights (pytorch_model.bin, *.pt) when no safetensors exist

    @classmethod
    def parse(cls, text: str, revision: str | None = None, **kw) -> "ModelSpec":
        """`ORG/NAME@REV` or a path; an explicit `revision` wins over `@REV`."""
        name, rev = text, None
        if "@" in text and not Path(text).exists():
            name, rev = text.rsplit("@", 1)
        return cls(name=name, revision=revision or rev, **kw)


@dataclass
class LoadedModel:
    """A loaded text model: `kind` "bi-encoder" (embeds with `encode`) or "cross-encoder" (scores pairs)."""

    spec: ModelSpec
    kind: str                      # "bi-encoder" | "cross-encoder" | "clip" (DualEncoderModel)
    path: Path
    resolved_revision: str
    model: object
    prompts: dict = field(default_factory=dict)

    @property
    def model_name(self) -> str:
        return self.spec.name

    def encode(self, texts: list[str], side: str, show_progress: bool = False) -> np.ndarray:
        """L2-normalised float32 embeddings; side = 'query' | 'document' picks the prompt."""
        if self.kind != "bi-encoder":
            raise CsirError(f"{self.spec.name}: a cross-encoder cannot embed texts")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prompt = self.prompts.get(side, "")  # explicit: "" disables a saved prompt the user overrode
        fn = self.model.encode_query if side == "query" else self.model.encode_document
        emb = fn(texts, prompt=prompt, batch_size=self.spec.batch_size, normalize_embeddings=True,
                 convert_to_numpy=True, show_progress_bar=show_progress)
        return np.ascontiguousarray(emb, dtype=np.float32)

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())
