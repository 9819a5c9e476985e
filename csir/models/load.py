"""`load_model`: any model spec (Hub id + revision, `ORG/NAME@REV`, or a local folder) -> a `LoadedModel`.

Resolved through `csir.hub.resolve` (exact commit or folder hash recorded), weights checked (safetensors only unless
`allow_pickle`), kind detected from the folder's configs, then loaded by the kind's module: image-text dual
encoders (`dual`), cross-encoders and bi-encoders (`text`). Anything else is refused with one clear error.
Remote code runs only with `trust_remote_code=True` (the CLI flag).
"""

from __future__ import annotations

from pathlib import Path

from .files import check_weights, detect_kind, is_dual_encoder, model_files, read_json
from .spec import LoadedModel, ModelSpec

CONFIG_FILES = ("config.json", "modules.json", "config_sentence_transformers.json")


def resolve_model_path(spec: ModelSpec) -> tuple[Path, str]:
    """Local folder (its git commit or content hash) or Hub snapshot (its commit), checked before any loading:
    weights safetensors-only unless `allow_pickle`, JSON configs well-formed (one-line errors, exit 2)."""
    from csir.hub.resolve import resolve

    r = resolve(spec.name, spec.revision, "model", allow_patterns=model_files(spec.allow_pickle), flag="--model",
                rev_flag="--revision", other_commit="refuse")
    check_weights(r.path, spec.allow_pickle, spec.name, hub_snapshot=r.kind == "hub")
    for name in CONFIG_FILES:
        if (r.path / name).is_file():
            read_json(r.path / name)
    return r.path, r.commit


def load_model(spec: ModelSpec) -> LoadedModel:
    """Resolve, check, detect and load; prompts come from the model, e5-named models get e5's, flags win."""
    path, resolved = resolve_model_path(spec)
    if is_dual_encoder(path):  # image-text (CLIP-style) models: kind "clip"
        from .dual import load_dual_encoder

        return load_dual_encoder(spec, path, resolved)
    from .text import load_text_model

    return load_text_model(spec, path, resolved, detect_kind(path, spec.trust_remote_code))
