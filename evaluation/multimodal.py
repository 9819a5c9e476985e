"""Image-text retrieval in `csir evaluate`: CLIP-style dual encoders on MTEB any-to-any subsets.

Models: anything transformers' `AutoModel` loads with `get_text_features` / `get_image_features` (CLIPModel,
SigLIP, VisionTextDualEncoderModel - what `training.multimodal` saves), with tokenizer and image processor each
loaded by its Auto class (a combined processor config is not needed); and sentence-transformers models with a CLIP
module. Images are decoded here (RGBA composited on white, as training does), so one bad image is reported by
dataset, config and row id. Search is the text path's exact faiss search; metrics are the text path's.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from csir.errors import CsirError
from evaluation.models import LoadedModel, ModelSpec

DUAL_ENCODER_TYPES = ("csir-lit", "clip", "siglip", "siglip2", "vision-text-dual-encoder", "chinese_clip", "altclip", "blip")


def to_rgb(data: bytes, what: str):
    """PIL RGB image from encoded bytes; transparency composited on white; a clear error naming `what`."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CsirError(f"{what}: image cannot be decoded ({exc.__class__.__name__}: {exc})") from None
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, img).convert("RGB")
    return img.convert("RGB")


def image_column(ds, source: str, config: str) -> dict[str, bytes] | None:
    """{row id: encoded image bytes} when the rows hold images (no decoding here), else None."""
    import datasets

    if "image" not in ds.column_names:
        return None
    idc = "id" if "id" in ds.column_names else "_id"
    if idc not in ds.column_names:
        raise CsirError(f"{source}: config {config}: field 'id' (or '_id') missing")
    raw = ds.cast_column("image", datasets.Image(decode=False))
    out = {}
    for i, (rid, img) in enumerate(zip(raw[idc], raw["image"])):
        data = (img or {}).get("bytes")
        if data is None and (img or {}).get("path") and Path(img["path"]).exists():
            data = Path(img["path"]).read_bytes()
        if data is None:
            raise CsirError(f"{source}: config {config}: row {i} (id {rid}): field 'image' is empty")
        out[str(rid)] = data
    return out


def is_dual_encoder(path: Path) -> bool:
    """A transformers image-text model (config with text + vision parts) or a sentence-transformers CLIP."""
    modules = path / "modules.json"
    if modules.exists():
        try:
            if any("CLIP" in m.get("type", "") for m in json.loads(modules.read_text(encoding="utf-8"))):
                return True
        except (json.JSONDecodeError, AttributeError):
            return False
    cfg_path = path / "config.json"  # also sentence-transformers' generic Transformer module over a CLIP model
    if not cfg_path.exists():
        return False
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    return cfg.get("model_type") in DUAL_ENCODER_TYPES or ("vision_config" in cfg and "text_config" in cfg)


@dataclass
class DualEncoderModel(LoadedModel):
    """LoadedModel for image-text dual encoders: `encode` (texts) and `encode_images` (bytes), L2-normalised."""

    tokenizer: object = None
    image_processor: object = None
    backend: str = "transformers"     # or "sentence-transformers"

    def encode(self, texts: list[str], side: str, show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.backend == "sentence-transformers":
            return self._st(texts, show_progress)
        prompt = (getattr(self.model.config, "prompts", None) or {}).get(side) or ""  # csir-lit: e5's prompts
        if prompt:
            texts = [prompt + t for t in texts]
        return self._batched(texts, self._text_batch, show_progress, "encode texts")

    def encode_images(self, images: list, show_progress: bool = False) -> np.ndarray:
        """`images`: PIL images (decoded by the caller, who knows which row each came from)."""
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.backend == "sentence-transformers":
            return self._st(images, show_progress)
        return self._batched(images, self._image_batch, show_progress, "encode images")

    def _st(self, items, show_progress):
        emb = self.model.encode(items, batch_size=self.spec.batch_size, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=show_progress)
        return np.ascontiguousarray(emb, dtype=np.float32)

    def _batched(self, items, fn, show_progress, desc):
        import torch
        from tqdm.auto import tqdm

        out = []
        bs = self.spec.batch_size
        with torch.inference_mode():
            for i in tqdm(range(0, len(items), bs), desc=desc, disable=not show_progress):
                emb = fn(items[i:i + bs]).float()
                out.append(torch.nn.functional.normalize(emb, dim=-1).cpu().numpy())
        return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)

    def _text_batch(self, texts):
        max_len = self.spec.max_length or _text_max_length(self.model, self.tokenizer)
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        device = next(self.model.parameters()).device
        return _features(self.model.get_text_features(**{k: v.to(device) for k, v in enc.items()}))

    def _image_batch(self, images):
        enc = self.image_processor(images=list(images), return_tensors="pt")
        device = next(self.model.parameters()).device
        return _features(self.model.get_image_features(pixel_values=enc["pixel_values"].to(device)))

    @property
    def dim(self) -> int:
        if self.backend == "sentence-transformers":
            return int(self.model.get_embedding_dimension())
        return int(getattr(self.model.config, "projection_dim", None) or self.model.config.text_config.hidden_size)


def _features(out):
    """transformers 5 returns a ModelOutput whose pooler_output is the projected embedding; 4.x a tensor."""
    if hasattr(out, "pooler_output") and not hasattr(out, "shape"):
        return out.pooler_output
    return out


def _text_max_length(model, tokenizer) -> int:
    tc = getattr(model.config, "text_config", None)
    limit = getattr(tc, "max_position_embeddings", None) or 512
    tok_max = getattr(tokenizer, "model_max_length", None) or limit
    return int(min(limit, tok_max, 512))


def load_dual_encoder(spec: ModelSpec, path: Path, resolved: str) -> DualEncoderModel:
    """Load an image-text model; a model without an image tower is a CsirError naming it."""
    device = spec.device or "cpu"
    if (path / "modules.json").exists():
        from sentence_transformers import SentenceTransformer

        try:
            model = SentenceTransformer(str(path), device=device, local_files_only=True,
                                        trust_remote_code=spec.trust_remote_code)
        except (OSError, ValueError, KeyError) as exc:
            raise CsirError(f"--model: cannot load {spec.name} as a sentence-transformers CLIP model "
                            f"({exc.__class__.__name__}: {exc})") from None
        return DualEncoderModel(spec, "clip", path, resolved, model, {}, backend="sentence-transformers")
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    import csir.models.lit  # noqa: F401  (registers model_type csir-lit: LiT dual encoders saved by training.lit)

    try:
        model = AutoModel.from_pretrained(str(path), local_files_only=True, trust_remote_code=spec.trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True,
                                                  trust_remote_code=spec.trust_remote_code)
        processor = AutoImageProcessor.from_pretrained(str(path), local_files_only=True,
                                                       trust_remote_code=spec.trust_remote_code)
    except (OSError, ValueError, KeyError) as exc:
        raise CsirError(f"--model: cannot load {spec.name} as an image-text model "
                        f"({exc.__class__.__name__}: {exc})") from None
    for fn in ("get_text_features", "get_image_features"):
        if not callable(getattr(model, fn, None)):
            raise CsirError(f"--model: {spec.name} ({model.__class__.__name__}) has no {fn}: not an image-text "
                            "dual encoder")
    model.to(device).eval()
    return DualEncoderModel(spec, "clip", path, resolved, model, {}, tokenizer=tokenizer, image_processor=processor)


def clip_records(scorer, sub, stage: str, dataset_revision: str, timings: dict, source: str = "") -> list:
    """(qid, docid, score) records for a subset where queries and/or corpus are images (exact dense search)."""
    from evaluation.encode_cache import EncodeCache
    from evaluation.metrics import CORE
    from evaluation.search import dense_search

    model = scorer.model
    if not isinstance(model, DualEncoderModel):
        raise CsirError(f"--model: {model.spec.name} is a text-only {model.kind} with no image tower; subset "
                        f"{sub.name} of {source or 'the dataset'} has images (use a CLIP-style model)")
    if stage not in ("dense", "exhaustive"):
        raise CsirError(f"--first-stage: image-text subsets are searched densely (got {stage})")

    def embed(ids, texts, images, side, what):
        t0 = time.perf_counter()
        if images is None:
            ns = EncodeCache.namespace(model=model.spec.name, revision=model.resolved_revision, side=f"text-{side}",
                                       max_length=model.spec.max_length, dataset_revision=dataset_revision)
            emb = scorer.cache.get(ns, [texts[i] for i in ids], lambda t: model.encode(t, side, len(t) > 256),
                                   {"model": model.spec.name, "side": f"text-{side}"})
        else:
            keys = {hashlib.sha256(images[i]).hexdigest(): i for i in ids}
            ns = EncodeCache.namespace(model=model.spec.name, revision=model.resolved_revision, side="image",
                                       dataset_revision=dataset_revision)

            def enc(hashes):
                pics = [to_rgb(images[keys[h]], f"{source}: subset {sub.name} {what}: id {keys[h]}") for h in hashes]
                return model.encode_images(pics, len(pics) > 256)

            emb = scorer.cache.get(ns, [hashlib.sha256(images[i]).hexdigest() for i in ids], enc,
                                   {"model": model.spec.name, "side": "image"})
        timings[f"encode_{what}_s"] = time.perf_counter() - t0
        return emb

    query_ids = list(sub.queries)
    doc_ids = list(sub.corpus)
    q_emb = embed(query_ids, sub.queries, sub.query_images, "query", "queries")
    d_emb = embed(doc_ids, sub.corpus, sub.corpus_images, "document", "corpus")
    max_cut = max([int(CORE.match(m).group(2)) for m in scorer.cfg.metrics if CORE.match(m)] + [scorer.cfg.top_k])
    t0 = time.perf_counter()
    recs = dense_search(q_emb, d_emb, doc_ids, query_ids, max_cut if stage == "dense" else len(doc_ids))
    timings["search_s"] = time.perf_counter() - t0
    return recs
