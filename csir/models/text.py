"""Text models through sentence-transformers: cross-encoders (one logit per pair) and bi-encoders.

`load_text_model` loads a resolved folder for scoring (evaluation); `load_trainable` builds the model training
starts from (a fresh seeded head for a cross-encoder, the chosen pooling for a bi-encoder); `check_base_model`
refuses a base model that cannot serve the objective before any training starts.
"""

from __future__ import annotations

from pathlib import Path

from csir.errors import CsirError

from .files import check_weights, model_files, read_json
from .spec import LoadedModel, ModelSpec, saved_prompts


def load_text_model(spec: ModelSpec, path: Path, resolved: str, kind: str) -> LoadedModel:
    """A resolved folder as a cross-encoder or bi-encoder; prompts from the model, e5's for e5, flags win."""
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


def resolve_base(name: str, revision: str | None, allow_pickle: bool, flag: str, check: bool = True) -> Path:
    """The local folder of a training base model (local path or Hub snapshot), its weights checked (`check`)."""
    from csir.hub.resolve import resolve

    r = resolve(name, revision, "model", allow_patterns=model_files(allow_pickle), flag=flag,
                rev_flag=flag.replace("'model'", "'model_revision'"), other_commit="refuse", hash_folder=False)
    if check:
        check_weights(r.path, allow_pickle, name, flag=flag, allow_flag="allow_pickle: true",
                      hub_snapshot=r.kind == "hub")
    return r.path


def check_base_model(name: str, revision: str | None, objective: str, trust_remote_code: bool = False,
                     source: str = "config", allow_pickle: bool = False) -> dict:
    """Fail before training unless `name` is an encoder usable for the objective; returns facts for the card.

    Reads configs only: the weights are checked (safetensors only unless `allow_pickle`) by `load_trainable`."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
        MODEL_MAPPING_NAMES,
    )

    from csir.errors import where

    flag = where(source, field="model")
    path = resolve_base(name, revision, allow_pickle, flag, check=False)
    if (path / "config.json").exists():
        read_json(path / "config.json", flag)  # malformed JSON: one line naming file and line
    try:
        config = AutoConfig.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise CsirError(f"{flag}: cannot load the configuration of base model "
                        f"{name!r}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    model_type = getattr(config, "model_type", None)
    archs = list(getattr(config, "architectures", None) or [])
    decoder = (getattr(config, "is_decoder", False) or getattr(config, "is_encoder_decoder", False)
               or any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in archs))
    mapping = MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES if objective == "cross-encoder" else MODEL_MAPPING_NAMES
    if decoder or model_type not in mapping:
        kind = "a sequence-classification encoder" if objective == "cross-encoder" else "an encoder"
        raise CsirError(f"{flag}: base model {name!r} (model_type={model_type!r}, "
                        f"architectures={archs}) is not {kind} model, as the {objective} objective needs")
    return {"model_type": model_type, "architectures": archs,
            "max_position_embeddings": getattr(config, "max_position_embeddings", None)}


def load_trainable(name: str, objective: str, *, revision: str | None = None, trust_remote_code: bool = False,
                   device: str = "cpu", max_length: int | None = None, pooling: str = "mean",
                   allow_pickle: bool = False, source: str = "config"):
    """CrossEncoder / SentenceTransformer over the base model (its own seeded head for a fresh CE)."""
    from csir.errors import where

    path = str(resolve_base(name, revision, allow_pickle, where(source, field="model")))
    kwargs = dict(trust_remote_code=trust_remote_code, device=str(device), local_files_only=True)
    if objective == "cross-encoder":
        from sentence_transformers import CrossEncoder

        return CrossEncoder(path, num_labels=1, max_length=max_length, **kwargs)
    from sentence_transformers import SentenceTransformer, models

    model = SentenceTransformer(path, **kwargs)
    model.max_seq_length = max_length
    if pooling != "mean":  # replace the default pooling of a plain transformer
        pools = [i for i, m in enumerate(model) if isinstance(m, models.Pooling)]
        if pools:
            pool = model[pools[0]]  # sentence-transformers 6 renamed the getter
            dim = (getattr(pool, "get_embedding_dimension", None) or pool.get_sentence_embedding_dimension)()
            model._modules[str(pools[0])] = models.Pooling(dim, pooling_mode=pooling)
    return model
