"""Load any model (Hub id + revision, `ORG/NAME@REV`, or a local folder) and tell what kind it is.

- cross-encoder: a sentence-transformers CrossEncoder folder, or a transformers sequence-classification model with
  one logit -> scores (query, passage) pairs;
- bi-encoder: a sentence-transformers model, or a plain transformers encoder (AutoModel) wrapped with mean pooling
  -> embeds queries and passages separately, using the model's saved prompts (e5: `query: ` / `passage: `);
- anything else (decoders, multi-label classifiers, token classifiers...) is refused with one clear error.
Remote code runs only with `trust_remote_code=True` (the CLI flag).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from csir.errors import CsirError

log = logging.getLogger(__name__)
ENCODER_SUFFIXES = ("Model", "ForMaskedLM", "ForPreTraining")
NOT_ENCODER = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration", "ForTokenClassification",
               "ForQuestionAnswering", "ForMultipleChoice", "ForSeq2SeqLM", "ForImageClassification")
E5_PROMPTS = {"query": "query: ", "document": "passage: "}


def saved_prompts(model, name: str) -> dict:
    """{'query': ..., 'document': ...} from a SentenceTransformer's saved prompts (document = its 'document',
    'passage' or 'corpus' prompt); e5-named models without saved prompts get e5's. Training uses the same."""
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

    @classmethod
    def parse(cls, text: str, revision: str | None = None, **kw) -> "ModelSpec":
        """`ORG/NAME@REV` or a path; an explicit `revision` wins over `@REV`."""
        name, rev = text, None
        if "@" in text and not Path(text).exists():
            name, rev = text.rsplit("@", 1)
        return cls(name=name, revision=revision or rev, **kw)


@dataclass
class LoadedModel:
    spec: ModelSpec
    kind: str                      # "bi-encoder" | "cross-encoder"
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


def resolve_model_path(spec: ModelSpec) -> tuple[Path, str]:
    """Local folder (its git commit or content hash) or Hub snapshot (its commit)."""
    p = Path(spec.name)
    if p.is_dir():
        from evaluation.datasets_io import _git, _is_git_root

        if _is_git_root(p):
            commit = _git(p, "rev-parse", "--verify", "--quiet", f"{spec.revision or 'HEAD'}^{{commit}}")
            if not commit:
                raise CsirError(f"--revision: revision '{spec.revision}' does not exist in {p}")
            if spec.revision and commit != _git(p, "rev-parse", "HEAD"):
                raise CsirError(f"--revision: {p} is checked out at another commit; check out {spec.revision} "
                                "or serve the folder with `csir hub serve` and pass its repo id")
            return p, commit
        if spec.revision:
            raise CsirError(f"--revision: {p} is a plain folder (not a git repository); it has no revision "
                            f"'{spec.revision}'")
        return p, _folder_hash(p)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        local = snapshot_download(spec.name, revision=spec.revision,
                                  allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "*.py", "*/*.json",
                                                  "README.md", "sentencepiece*", "*.tiktoken"])
    except RevisionNotFoundError:
        raise CsirError(f"--revision: revision '{spec.revision}' does not exist in model {spec.name}") from None
    except RepositoryNotFoundError:
        raise CsirError(f"--model: model repository '{spec.name}' not found (nor a local folder)") from None
    except HFValidationError:
        raise CsirError(f"--model: '{spec.name}' is neither a local folder nor a valid Hub model id") from None
    except LocalEntryNotFoundError:
        raise CsirError(f"--model: '{spec.name}' is not a local folder and is not in the Hub cache (offline; set "
                        "HF_ENDPOINT to a mirror such as `csir hub serve`)") from None
    return Path(local), Path(local).name


def _folder_hash(p: Path) -> str:
    """Stable version of a plain model folder without reading GBs: configs in full, weights by size + both ends."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(x for x in p.rglob("*") if x.is_file() and ".git" not in x.parts):
        h.update(str(f.relative_to(p)).encode() + b"\0")
        if f.suffix in (".json", ".txt", ".model", ".py") or f.stat().st_size < (1 << 20):
            h.update(f.read_bytes())
        else:  # weights: the first and last MiB plus the size pin the file without reading GBs
            with open(f, "rb") as fh:
                h.update(fh.read(1 << 20))
                fh.seek(max(0, f.stat().st_size - (1 << 20)))
                h.update(fh.read())
            h.update(str(f.stat().st_size).encode())
    return "sha256:" + h.hexdigest()


def detect_kind(path: Path, trust_remote_code: bool = False) -> str:
    """'cross-encoder' or 'bi-encoder' from the folder's configs; CsirError for anything else."""
    st_cfg = path / "config_sentence_transformers.json"
    cfg_path = path / "config.json"
    if st_cfg.exists():
        model_type = json.loads(st_cfg.read_text(encoding="utf-8")).get("model_type", "SentenceTransformer")
        if model_type == "CrossEncoder":
            return "cross-encoder"
        if model_type == "SentenceTransformer":
            return "bi-encoder"
        raise CsirError(f"--model: {path}: sentence-transformers model type '{model_type}' is neither a bi-encoder "
                        "nor a cross-encoder")
    if (path / "modules.json").exists():
        return "bi-encoder"
    if not cfg_path.exists():
        raise CsirError(f"--model: {path}: no config.json: not a transformers / sentence-transformers model")
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if cfg.get("auto_map") and not trust_remote_code:
        raise CsirError(f"--model: {path} needs custom code (config.json auto_map); pass --trust-remote-code "
                        "if you trust it")
    archs = cfg.get("architectures") or []
    if any(a.endswith("ForSequenceClassification") for a in archs):
        n = len(cfg.get("id2label") or {}) or cfg.get("num_labels", 2)
        if n == 1:
            return "cross-encoder"
        raise CsirError(f"--model: {path}: a sequence classifier with {n} labels is neither a one-logit "
                        "cross-encoder nor an encoder")
    if cfg.get("is_encoder_decoder") or any(a.endswith(NOT_ENCODER) for a in archs):
        raise CsirError(f"--model: {path}: architecture {', '.join(archs)} is neither a bi-encoder nor a "
                        "cross-encoder")
    if archs and not any(a.endswith(ENCODER_SUFFIXES) for a in archs):
        raise CsirError(f"--model: {path}: architecture {', '.join(archs)} is neither a bi-encoder nor a "
                        "cross-encoder")
    return "bi-encoder"


def load_model(spec: ModelSpec) -> LoadedModel:
    """Resolve, detect and load; prompts come from the model, e5-named models get e5's, CLI flags win."""
    path, resolved = resolve_model_path(spec)
    from evaluation.multimodal import is_dual_encoder, load_dual_encoder

    if is_dual_encoder(path):  # image-text (CLIP-style) models: kind "clip"
        return load_dual_encoder(spec, path, resolved)
    kind = detect_kind(path, spec.trust_remote_code)
    kw = dict(trust_remote_code=spec.trust_remote_code, device=spec.device or "cpu", local_files_only=True)
    try:
        if kind == "cross-encoder":
            from sentence_transformers import CrossEncoder

            model = CrossEncoder(str(path), max_length=spec.max_length, **kw)
            prompts = {}
        else:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(str(path), **kw)
            if spec.max_length:
                model.max_seq_length = spec.max_length
            prompts = saved_prompts(model, spec.name)
    except CsirError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise CsirError(f"--model: cannot load {spec.name} as a {kind} ({exc.__class__.__name__}: {exc})") from None
    if kind == "bi-encoder":
        if spec.query_prompt is not None:
            prompts["query"] = spec.query_prompt
        if spec.passage_prompt is not None:
            prompts["document"] = spec.passage_prompt
    prompts = {k: v for k, v in prompts.items() if v}
    return LoadedModel(spec, kind, path, resolved, model, prompts)


def set_threads(n: int | None):
    """Pin torch's intra-op threads (shared CPUs: a benchmark must not oversubscribe)."""
    if n:
        import torch

        torch.set_num_threads(n)
        os.environ.setdefault("OMP_NUM_THREADS", str(n))
