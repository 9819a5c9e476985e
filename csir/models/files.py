"""What a model folder holds, read before anything is loaded: its kind, its configs, and whether its weights are safe.

Weights are loaded from safetensors only by default: a folder whose weights exist only as pickle files
(`pytorch_model.bin`, `*.pt`, ...) can run arbitrary code when unpickled, so it is refused in one line unless the
user passes `--allow-pickle` (evaluation) / `allow_pickle: true` (training). A malformed JSON config is one line too.
"""

from __future__ import annotations

import json
from pathlib import Path

from csir.errors import CsirError

ENCODER_SUFFIXES = ("Model", "ForMaskedLM", "ForPreTraining")
NOT_ENCODER = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration", "ForTokenClassification",
               "ForQuestionAnswering", "ForMultipleChoice", "ForSeq2SeqLM", "ForImageClassification")
DUAL_ENCODER_TYPES = ("csir-lit", "clip", "siglip", "siglip2", "vision-text-dual-encoder", "chinese_clip", "altclip",
                      "blip")
PICKLE_PATTERNS = ("pytorch_model*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.pickle")
# what a model snapshot needs from the Hub (pickle weights only when allowed)
MODEL_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.py", "*/*.json", "README.md", "sentencepiece*",
               "*.tiktoken"]


def model_files(allow_pickle: bool = False) -> list[str]:
    return MODEL_FILES + (["pytorch_model*.bin", "*/pytorch_model*.bin", "*.pt", "*.pth"] if allow_pickle else [])


def read_json(path: Path, flag: str = "--model"):
    """A JSON config file; malformed JSON (or bytes that are not UTF-8) is a CsirError naming file and line."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CsirError(f"{flag}: {path}:{exc.lineno}: malformed JSON ({exc.msg}, column {exc.colno})") from None
    except UnicodeDecodeError as exc:
        raise CsirError(f"{flag}: {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def pickle_only_dirs(folder: Path) -> list[Path]:
    """Pickle weight files in folders (the model's or a module's) that hold no safetensors file."""
    folder = Path(folder)
    found = sorted({p for pat in PICKLE_PATTERNS for p in folder.rglob(pat) if p.is_file() and ".git" not in p.parts})
    return [p for p in found if not any(p.parent.glob("*.safetensors"))]


def check_weights(folder: Path, allow_pickle: bool = False, name: str | None = None, flag: str = "--model",
                  allow_flag: str = "--allow-pickle", hub_snapshot: bool = False) -> None:
    """Refuse pickle-only weights unless allowed; a local folder with no weights at all is left to the loader.

    A Hub snapshot is fetched without pickle files (unless allowed), so there "no safetensors" is the refusal."""
    if allow_pickle:
        return
    if hub_snapshot and not any(Path(folder).rglob("*.safetensors")):
        raise CsirError(f"{flag}: {name or folder}: no safetensors weights in the Hub snapshot ({Path(folder).name}); "
                        f"pickle weights (pytorch_model.bin, *.pt) are neither fetched nor loaded unless you pass "
                        f"{allow_flag}")
    bad = pickle_only_dirs(folder)
    if bad:
        rel = bad[0].relative_to(folder)
        raise CsirError(f"{flag}: {name or folder}: weights only as pickle ({rel}); pickle can run code when "
                        f"loaded, so only safetensors are loaded by default (pass {allow_flag} if you trust it)")


def is_dual_encoder(path: Path) -> bool:
    """A transformers image-text model (config with text + vision parts) or a sentence-transformers CLIP."""
    modules = path / "modules.json"
    if modules.exists():
        mods = read_json(modules)
        if isinstance(mods, list) and any("CLIP" in m.get("type", "") for m in mods if isinstance(m, dict)):
            return True
    cfg_path = path / "config.json"  # also sentence-transformers' generic Transformer module over a CLIP model
    if not cfg_path.exists():
        return False
    cfg = read_json(cfg_path)
    if not isinstance(cfg, dict):
        raise CsirError(f"--model: {cfg_path}: expected a JSON object")
    return cfg.get("model_type") in DUAL_ENCODER_TYPES or ("vision_config" in cfg and "text_config" in cfg)


def detect_kind(path: Path, trust_remote_code: bool = False) -> str:
    """'cross-encoder' or 'bi-encoder' from the folder's configs; CsirError for anything else."""
    st_cfg = path / "config_sentence_transformers.json"
    cfg_path = path / "config.json"
    if st_cfg.exists():
        model_type = (read_json(st_cfg) or {}).get("model_type", "SentenceTransformer")
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
    cfg = read_json(cfg_path)
    if not isinstance(cfg, dict):
        raise CsirError(f"--model: {cfg_path}: expected a JSON object")
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
