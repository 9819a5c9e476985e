"""Image-text (CLIP-style) dual encoders: load one for scoring, or the towers `training.multimodal` trains.

Loaded: anything transformers' `AutoModel` loads with `get_text_features` / `get_image_features` (CLIPModel,
SigLIP, VisionTextDualEncoderModel), with tokenizer and image processor each loaded by its Auto class (a combined
processor config is not needed); and sentence-transformers models with a CLIP module. `encode` embeds texts and
`encode_images` decoded PIL images, both L2-normalised.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from csir.errors import CsirError

from .files import check_weights, model_files
from .spec import LoadedModel, ModelSpec


@dataclass
class DualEncoderModel(LoadedModel):
    """LoadedModel for image-text dual encoders: `encode` (texts) and `encode_images` (PIL images)."""

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

    from . import lit  # noqa: F401  (registers model_type csir-lit: LiT dual encoders saved by training)

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


def _checked_folder(name: str, revision: str | None, allow_pickle: bool, flag: str) -> Path:
    """Resolve a tower and refuse pickle-only weights (#16: safetensors only unless `allow_pickle: true`)."""
    from csir.hub.resolve import resolve

    r = resolve(name, revision, "model", allow_patterns=model_files(allow_pickle), flag=flag, hash_folder=False)
    check_weights(r.path, allow_pickle, name, flag=flag, allow_flag="allow_pickle: true", hub_snapshot=r.kind == "hub")
    return r.path


def load_text_tower(name: str, revision: str | None = None, allow_pickle: bool = False,
                    trust_remote_code: bool = False, flag: str = "text_model"):
    """The text encoder of an image-text model in training: (AutoModel with a pooler, its tokenizer)."""
    from transformers import AutoModel, AutoTokenizer

    path = _checked_folder(name, revision, allow_pickle, flag)
    try:
        text = AutoModel.from_pretrained(str(path), add_pooling_layer=True, local_files_only=True,
                                         trust_remote_code=trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True,
                                                  trust_remote_code=trust_remote_code)
    except (OSError, ValueError, TypeError) as exc:
        raise CsirError(f"{flag}: cannot load '{name}' ({exc.__class__.__name__}: {exc})") from None
    if getattr(text, "pooler", None) is None:
        raise CsirError(f"{flag}: '{name}' ({text.__class__.__name__}) has no pooler layer; "
                        "VisionTextDualEncoderModel embeds texts with the encoder's pooler output")
    return text, tokenizer


def load_image_tower(name: str, revision: str | None = None, allow_pickle: bool = False,
                     trust_remote_code: bool = False, flag: str = "image_text.image_model"):
    """A pretrained vision encoder for an image-text model in training: (AutoModel, its image processor)."""
    from transformers import AutoImageProcessor, AutoModel

    path = _checked_folder(name, revision, allow_pickle, flag)
    try:
        vision = AutoModel.from_pretrained(str(path), local_files_only=True, trust_remote_code=trust_remote_code)
        processor = AutoImageProcessor.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        raise CsirError(f"{flag}: cannot load '{name}' ({exc.__class__.__name__}: {exc})") from None
    return vision, processor
