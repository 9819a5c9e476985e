"""Training configuration: dataclasses loaded from YAML, every field overridable on the command line.

Kept free of torch imports so a bad config fails in milliseconds, before any model or data is touched.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from csir.config_io import load_yaml
from csir.errors import CsirError, where
from csir.suggest import did_you_mean

from .publishing import publish_field_problem
from .registry import EVAL_FIRST_STAGES, IMAGE_TEXT_MODES, OBJECTIVES

MIXED_PRECISION = ("no", "fp16", "bf16")
CE_LOSSES = ("bce", "listwise")
POOLER_INITS = ("keep", "auto", "identity")


@dataclass
class DataConfig:
    """Where the training pairs come from: anything `datasets.load_dataset` reads."""

    path: str = ""  # Hub id, local dataset folder, or a .jsonl/.json/.parquet/.csv file
    name: str | None = None  # dataset config, e.g. "bl-cs-p0.5-en-de"
    revision: str | None = None  # git tag/branch/commit for Hub (or local store) repos
    split: str = "train"
    query_column: str = "query"
    passage_column: str = "passage"
    label_column: str = "label"
    id_column: str | None = "id"  # used as the example id for dynamic code-switching
    text_column: str = "text"  # image-text: the caption column
    image_column: str = "image"  # image-text: the image column (datasets.Image or encoded bytes)
    max_rows: int | None = None  # keep only the first N rows (quick experiments)


@dataclass
class CodeSwitchSpec:
    """Dynamic (on-the-fly) code-switching, delegated to `builders.codeswitch`; a fresh draw every epoch."""

    variant: str = "bl-cs"  # bl-cs | ml-cs | wiki-cs
    p: float = 0.5
    lexicons: dict[str, str] = field(default_factory=dict)  # lang -> lexicon path / repo / TSV
    query_langs: list[str] = field(default_factory=list)
    passage_langs: list[str] = field(default_factory=list)
    seed: int | None = None  # defaults to the training seed


@dataclass
class EvalDatasetConfig:
    """The dev set scored every `eval_steps` by `evaluation.evaluator.RetrievalEvaluator` (rank 0 only)."""

    path: str = ""  # folder or Hub id of a retrieval set in MTEB's layout (text or image-text subsets)
    revision: str | None = None
    subsets: list[str] = field(default_factory=list)  # default: every subset of the set
    split: str | None = None  # default: test, else dev
    metrics: list[str] = field(default_factory=lambda: ["RR@10", "nDCG@10", "R@100"])
    primary_metric: str = "RR@10"  # the curve's headline metric (mean over subsets)
    first_stage: str | None = None  # top_ranked | dense | exhaustive (default: dense, top_ranked for CEs)
    top_k: int = 100
    max_queries: int | None = None  # a deterministic sample of queries per subset (faster curves)
    batch_size: int = 32


@dataclass
class ImageTextSpec:
    """Objective `image-text`: a CLIP-style dual encoder (`VisionTextDualEncoderModel`, symmetric InfoNCE)."""

    mode: str = "lit"  # lit: text encoder frozen (its pooler + both projections train) | full: everything trains
    image_model: str | None = None  # a transformers vision model (folder / Hub id); null: ConvNeXt from scratch
    image_model_revision: str | None = None
    image_size: int = 64
    cnn_widths: list[int] = field(default_factory=lambda: [32, 64, 128])  # the from-scratch ConvNeXt's stages
    projection_dim: int = 128
    text_learning_rate: float = 2e-5  # the text encoder's learning rate in `full` mode
    gather_across_devices: bool = True  # in-batch negatives from every process's batch


@dataclass
class LitSpec:
    """Objective `lit` (training.lit): a locked pretrained image tower (from its PyPI package), a trainable text tower."""

    image_tower: str = "efficientnet-lite0"  # csir.models.image_towers.TOWERS
    projection_dim: int = 256
    frozen_text_layers: int = 0  # embeddings + the lowest N text layers stay fixed (0: all train)
    head_learning_rate: float = 1e-3  # both projections and the temperature
    extra_caption_configs: list[str] = field(default_factory=list)  # e.g. [captions-deu]: translate-train
    feature_cache_dir: str | None = None  # default ~/.cache/codeswitch-ir/tower-features ($CSIR_CACHE_DIR)
    gather_across_devices: bool = True  # in-batch negatives from every process's batch


@dataclass
class TrainConfig:
    """One training run. Defaults are the paper's cross-encoder setup (Litschko et al. 2023)."""

    objective: str = "cross-encoder"  # cross-encoder (BCE, one logit) | bi-encoder (MNRL) | image-text (InfoNCE)
    model: str = "nreimers/mMiniLMv2-L6-H384-distilled-from-XLMR-Large"  # or a path, or "tiny-random-bert"
    text_model: str | None = None  # image-text: the text tower (default: model)
    model_revision: str | None = None
    trust_remote_code: bool = False
    allow_pickle: bool = False  # load a base model whose weights exist only as pickle (pytorch_model.bin, *.pt)
    data: DataConfig = field(default_factory=DataConfig)
    codeswitch: CodeSwitchSpec | None = None
    output_dir: str = "outputs/model"
    run_dir: str | None = None  # checkpoints + logs; default "<output_dir>.run" (never published)
    image_text: ImageTextSpec = field(default_factory=ImageTextSpec)
    lit: LitSpec = field(default_factory=LitSpec)
    seed: int = 1
    max_steps: int = 200_000
    epochs: int | None = None  # train this many passes over the data instead of max_steps
    batch_size: int = 64  # per process
    gradient_accumulation_steps: int = 1
    learning_rate: float = 2e-5
    warmup_steps: int = 5_000
    warmup_ratio: float | None = None  # if set: warmup = this fraction of max_steps (overrides warmup_steps)
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    lr_scheduler: str = "linear"  # any transformers.get_scheduler name
    max_length: int = 512
    mixed_precision: str = "no"  # no | fp16 | bf16
    negatives_per_positive: int = 4  # cross-encoder: keep 1 positive : N negatives per query
    ce_loss: str = "bce"  # cross-encoder: bce (pointwise, the paper) | listwise (softmax over 1 positive + N negatives)
    ce_pooler_init: str = "keep"  # cross-encoder head: keep | auto (identity pooler when the checkpoint has none) | identity
    head_learning_rate: float | None = None  # cross-encoder pooler + classifier; default: learning_rate
    freeze_word_embeddings: bool = False  # no gradient (and no optimizer state) for the input word embeddings
    hard_negatives: int = 0  # bi-encoder: label-0 passages of the same query added per example
    mnrl_scale: float = 20.0
    mnrl_gather_across_devices: bool = True  # bi-encoder: in-batch negatives from every process's batch
    pooling: str = "mean"  # bi-encoder pooling when the base model is a plain transformer
    length_grouping: bool = True  # group similar lengths into batches (less padding)
    dataloader_num_workers: int = 0
    cpu: bool = False  # force CPU even when a GPU is present
    save_steps: int = 1_000
    save_total_limit: int | None = 3
    logging_steps: int = 50
    tracker: str | None = "tensorboard"  # any accelerate tracker name, or null
    eval_steps: int | None = None  # score eval_dataset every N optimizer steps and after the last (dev curve)
    eval_at_start: bool = False  # also score it before the first step: the level the curve must leave
    eval_dataset: EvalDatasetConfig | None = None
    # card and publishing
    language: list[str] = field(default_factory=lambda: ["en"])
    license: str = "apache-2.0"
    model_name: str | None = None
    eval_results: str | None = None  # JSON file: list of huggingface_hub EvalResult fields
    push_to_hub: str | None = None  # repo id (ORG/NAME) to publish the final model to
    version: str | None = None  # tag for the published revision, e.g. v1.0.0
    publish_target: str = "hub"  # hub | store (local git store; folder from store_dir or $CSIR_HUB_STORE)
    store_dir: str | None = None
    private: bool = False

    @property
    def effective_warmup_steps(self) -> int:
        return round(self.warmup_ratio * self.max_steps) if self.warmup_ratio is not None else self.warmup_steps

    @property
    def effective_run_dir(self) -> Path:
        return Path(self.run_dir) if self.run_dir else Path(f"{self.output_dir}.run")


def _unwrap_optional(tp):
    """`X | None` -> (X, True); anything else -> (tp, False)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _coerce(value: Any, tp, source: str, dotted: str):
    """Check/convert a YAML value against a dataclass field type; CsirError naming the field otherwise."""
    loc = where(source, field=dotted)
    base, optional = _unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        raise CsirError(f"{loc} must not be null")
    if dataclasses.is_dataclass(base):
        return _build(base, value, source, dotted + ".")
    origin = typing.get_origin(base)
    if origin is list:
        (item_tp,) = typing.get_args(base)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, list):
            raise CsirError(f"{loc} expected a list, got {value!r}")
        return [_coerce(v, item_tp, source, f"{dotted}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise CsirError(f"{loc} expected a mapping, got {value!r}")
        _, val_tp = typing.get_args(base)
        return {str(k): _coerce(v, val_tp, source, f"{dotted}.{k}") for k, v in value.items()}
    if base is bool:
        if isinstance(value, bool):
            return value
        raise CsirError(f"{loc} expected true/false, got {value!r}")
    if base in (int, float) and isinstance(value, str):  # YAML 1.1 reads "2e-5" as a string
        try:
            value = base(value)
        except ValueError:
            pass
    if base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CsirError(f"{loc} expected an integer, got {value!r}")
        return value
    if base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CsirError(f"{loc} expected a number, got {value!r}")
        return float(value)
    if base is str:
        if isinstance(value, (dict, list)):
            raise CsirError(f"{loc} expected a string, got {value!r}")
        return str(value)
    return value


def _build(cls, mapping: Any, source: str, prefix: str = ""):
    if not isinstance(mapping, dict):
        raise CsirError(f"{where(source, field=prefix.rstrip('.') or None)} expected a mapping, got {mapping!r}")
    _check_unknown(cls, mapping, source, prefix)
    hints = typing.get_type_hints(cls)
    return cls(**{k: _coerce(v, hints[k], source, f"{prefix}{k}") for k, v in mapping.items()})


def _field_loc(source: str, dotted: str) -> str:
    return where(source, field=dotted)


def from_dict(mapping: dict, source: str = "<config>") -> TrainConfig:
    """Build a validated TrainConfig; errors name the source and the offending field."""
    if not isinstance(mapping, dict):
        raise CsirError(f"{source}: top level must be a mapping of fields")
    cfg = _build(TrainConfig, mapping, source)
    validate(cfg, source)
    return cfg


def _key_lines(text: str) -> dict[str, int]:
    """Dotted key -> 1-based line in the YAML text (for error messages)."""
    lines: dict[str, int] = {}

    def walk(node, prefix):
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                dotted = f"{prefix}{key_node.value}"
                lines[dotted] = key_node.start_mark.line + 1
                walk(value_node, dotted + ".")

    try:
        walk(yaml.compose(text), "")
    except yaml.YAMLError:
        pass
    return lines


def _check_unknown(cls, mapping: dict, source: str, prefix: str, lines: dict | None = None) -> None:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            line = (lines or {}).get(dotted)
            hint = did_you_mean(key, names, prefix) or (f" (valid fields of {cls.__name__}: "
                                                         f"{', '.join(sorted(names))})")
            raise CsirError(f"{where(source, line, dotted)} does not exist{hint}")
        base, _ = _unwrap_optional(hints[key])
        if dataclasses.is_dataclass(base) and isinstance(value, dict):
            _check_unknown(base, value, source, dotted + ".", lines)


def validate(cfg: TrainConfig, source: str = "<config>") -> None:
    """Value checks that the type system cannot express."""
    def bad(name, msg):
        raise CsirError(f"{_field_loc(source, name)} {msg}")

    if cfg.objective not in OBJECTIVES:
        bad("objective", f"must be one of {OBJECTIVES}, got {cfg.objective!r}")
    if cfg.mixed_precision not in MIXED_PRECISION:
        bad("mixed_precision", f"must be one of {MIXED_PRECISION}, got {cfg.mixed_precision!r}")
    if not cfg.data.path:
        bad("data.path", "is required (Hub id, local folder or .jsonl/.parquet file)")
    for name in ("max_steps", "batch_size", "gradient_accumulation_steps", "max_length", "save_steps",
                 "logging_steps", "negatives_per_positive", "epochs", "eval_steps"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            bad(name, f"must be >= 1, got {getattr(cfg, name)}")
    if cfg.eval_steps is not None and (cfg.eval_dataset is None or not cfg.eval_dataset.path):
        bad("eval_dataset.path", "is required with eval_steps (a retrieval set in MTEB's layout)")
    if cfg.eval_dataset is not None:
        ev = cfg.eval_dataset
        if ev.first_stage is not None and ev.first_stage not in EVAL_FIRST_STAGES:
            bad("eval_dataset.first_stage", f"must be one of {EVAL_FIRST_STAGES}, got {ev.first_stage!r}")
        if ev.top_k < 1 or ev.batch_size < 1:
            bad("eval_dataset.top_k" if ev.top_k < 1 else "eval_dataset.batch_size", "must be >= 1")
    if cfg.objective == "lit":
        if cfg.lit.projection_dim < 1 or cfg.lit.frozen_text_layers < 0 or cfg.lit.head_learning_rate <= 0:
            bad("lit", "needs projection_dim >= 1, frozen_text_layers >= 0 and head_learning_rate > 0")
    if cfg.objective == "image-text":
        if cfg.image_text.mode not in IMAGE_TEXT_MODES:
            bad("image_text.mode", f"must be one of {IMAGE_TEXT_MODES}, got {cfg.image_text.mode!r}")
        if cfg.image_text.image_size < 8 or not cfg.image_text.cnn_widths or cfg.image_text.projection_dim < 1:
            bad("image_text", "needs image_size >= 8, at least one cnn_widths entry and projection_dim >= 1")
    if cfg.warmup_steps < 0 or cfg.hard_negatives < 0:
        bad("warmup_steps" if cfg.warmup_steps < 0 else "hard_negatives", "must be >= 0")
    if cfg.learning_rate <= 0:
        bad("learning_rate", "must be > 0")
    if cfg.head_learning_rate is not None and cfg.head_learning_rate <= 0:
        bad("head_learning_rate", "must be > 0")
    if cfg.warmup_ratio is not None and not 0.0 <= cfg.warmup_ratio < 1.0:
        bad("warmup_ratio", f"must be in [0, 1), got {cfg.warmup_ratio}")
    if cfg.ce_loss not in CE_LOSSES:
        bad("ce_loss", f"must be one of {CE_LOSSES}, got {cfg.ce_loss!r}")
    if cfg.ce_pooler_init not in POOLER_INITS:
        bad("ce_pooler_init", f"must be one of {POOLER_INITS}, got {cfg.ce_pooler_init!r}")
    if cfg.ce_loss == "listwise" and cfg.batch_size < 1 + cfg.negatives_per_positive:
        bad("batch_size", f"must hold at least one listwise group (1 + {cfg.negatives_per_positive} pairs), "
                          f"got {cfg.batch_size}")
    problem = publish_field_problem(cfg)
    if problem:
        bad(*problem)
    if cfg.codeswitch is not None:
        cs = cfg.codeswitch
        if not 0.0 <= cs.p <= 1.0:
            bad("codeswitch.p", f"must be in [0, 1], got {cs.p}")
        if not cs.lexicons:
            bad("codeswitch.lexicons", "needs at least one language -> lexicon entry")


def _parse_scalar(text: str):
    if text.lower() in ("no", "yes", "on", "off", "y", "n"):  # YAML 1.1 booleans: `--mixed_precision no` is a string
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _set_dotted(mapping: dict, dotted: str, value, source: str) -> None:
    """Apply one override; a field that does not exist is a CsirError naming it."""
    parts = dotted.replace("-", "_").split(".")
    cls = TrainConfig
    target = mapping
    for i, part in enumerate(parts):
        hints = typing.get_type_hints(cls)
        if part not in hints:
            hint = did_you_mean(part, hints, "--" + "".join(p + "." for p in parts[:i])) or (
                f" (valid fields of {cls.__name__}: {', '.join(sorted(hints))})")
            raise CsirError(f"{_field_loc(source, '.'.join(parts[:i + 1]))} does not exist{hint}")
        if i == len(parts) - 1:
            target[part] = value
            return
        base, _ = _unwrap_optional(hints[part])
        if not dataclasses.is_dataclass(base):
            raise CsirError(f"{_field_loc(source, '.'.join(parts[:i + 1]))} has no sub-fields")
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
        cls = base


def parse_overrides(args: list[str]) -> list[tuple[str, Any]]:
    """`--field value`, `--field=value`, `--data.path x` -> [(field, parsed value)]."""
    out: list[tuple[str, Any]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise CsirError(f"command line: expected --field value, got {arg!r}")
        key = arg[2:]
        if "=" in key:
            key, raw = key.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(args):
                raise CsirError(f"command line: field '{key}' needs a value")
            raw = args[i + 1]
            i += 2
        out.append((key, _parse_scalar(raw)))
    return out


def load_config(path: str | None, overrides: list[tuple[str, Any]] | None = None) -> TrainConfig:
    """YAML file (optional) + command-line overrides -> validated TrainConfig."""
    mapping: dict = {}
    source = str(path) if path else "<command line>"
    if path:
        p = Path(path)
        if not p.is_file():
            raise CsirError(f"{p}: config file not found")
        mapping = load_yaml(p)  # syntax / encoding / top-level errors: one line naming file and line
        text = p.read_text(encoding="utf-8")
        _check_unknown(TrainConfig, mapping, source, "", _key_lines(text))
    for key, value in overrides or []:
        _set_dotted(mapping, key, value, "command line")
    return from_dict(mapping, source)


def to_dict(cfg: TrainConfig) -> dict:
    return dataclasses.asdict(cfg)


def non_default_fields(cfg: TrainConfig) -> dict:
    """Flattened fields whose value differs from the dataclass default (for the model card)."""
    ref = _flatten(to_dict(TrainConfig()))
    cur = _flatten(to_dict(cfg))
    return {k: v for k, v in cur.items() if ref.get(k, object()) != v}


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k in ("data", "codeswitch", "eval_dataset", "image_text", "lit"):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
