"""The text objectives of the one loop: cross-encoder (BCE, the paper's) and bi-encoder (in-batch negatives).

Static data is tokenized once (`Dataset.map`, under `main_process_first`); with dynamic code-switching the texts
change every epoch, so they are tokenized per batch instead. Models, losses and base-model checks come from
`training.objectives`.
"""

from __future__ import annotations

from pathlib import Path

from csir.atomic import atomic_dir

from .objective import Objective, TrainData


def _texts_for_vocab(ds) -> list[str]:
    cols = [c for c in ds.column_names if c in ("query", "passage", "positive") or c.startswith("negative_")]
    return [t for c in cols for t in ds[c]]


class TextObjective(Objective):
    """Shared by both text objectives: data shaping, tiny test models, tokenization, saving."""

    def load_data(self, cfg):
        from . import data as data_mod

        raw, source_info = data_mod.load_source(cfg.data)
        data_mod.check_columns(raw, cfg)
        return data_mod.shape_examples(raw, cfg), [source_info]

    def prepare_base(self, cfg, examples, accelerator) -> dict:
        """Path to load the base model from (tiny models are built here, from the training texts) + facts."""
        from csir.models.tiny import build_tiny_bert, is_tiny

        from .objectives import check_base_model

        if is_tiny(cfg.model):
            path = cfg.effective_run_dir / "base-model" / cfg.model
            with accelerator.main_process_first():
                if accelerator.is_main_process:
                    with atomic_dir(path) as tmp:
                        build_tiny_bert(tmp, _texts_for_vocab(examples), seed=cfg.seed,
                                        max_position=max(cfg.max_length, 64))
            facts = check_base_model(str(path), None, cfg.objective)
            facts["built_in_code"] = True
            facts["path"] = str(path)
            return facts
        facts = check_base_model(cfg.model, cfg.model_revision, cfg.objective, cfg.trust_remote_code,
                                 allow_pickle=cfg.allow_pickle)
        facts["path"] = cfg.model
        return facts

    def build_model(self, cfg, facts: dict, device):
        from .objectives import load_model

        return load_model(facts["path"], cfg, device)

    def prompts(self, model, cfg):
        return None

    def train_data(self, cfg, examples, model, pad_multiple, switcher) -> TrainData:
        from accelerate import PartialState

        from . import data as data_mod

        tokenizer = model.tokenizer
        prompts = self.prompts(model, cfg)
        if switcher is None:
            with PartialState().main_process_first():
                ds = data_mod.tokenize(examples, tokenizer, cfg, prompts)
            lengths = ds["length"]
            return TrainData(ds.remove_columns(["length"]), lengths,
                             data_mod.PaddingCollator(tokenizer, cfg, pad_multiple), cfg.length_grouping)
        ds = examples
        if "example_id" not in ds.column_names:
            ds = ds.add_column("example_id", [str(i) for i in range(len(ds))])
        text_cols = [c for c in ds.column_names if c in ("query", "passage", "positive") or c.startswith("negative_")]
        lengths = [sum(len(t) for t in texts) for texts in zip(*(ds[c] for c in text_cols))]
        return TrainData(ds, lengths, data_mod.TextCollator(tokenizer, cfg, pad_multiple, prompts),
                         cfg.length_grouping)

    def param_groups(self, module, cfg) -> list[dict]:
        """No decay on biases and norms; a cross-encoder head at `head_learning_rate`; frozen weights left out."""
        from .objectives import parameter_groups

        return parameter_groups(module, cfg)

    def loss_module(self, model, cfg):
        from .objectives import objective_module

        return objective_module(model, cfg)

    def save(self, model, cfg, folder: Path) -> None:
        model.save(str(folder), create_model_card=False)

    def card_info(self, cfg, facts: dict) -> dict:
        return {"base_model": cfg.model, "base_model_revision": cfg.model_revision,
                "base_model_built_in_code": bool(facts.get("built_in_code")),
                "base_model_type": facts.get("model_type")}


class CrossEncoderObjective(TextObjective):
    """One relevance logit per (query, passage), binary cross-entropy (Litschko et al. 2023)."""

    name = "cross-encoder"


class BiEncoderObjective(TextObjective):
    """Embeddings trained with in-batch negatives (MultipleNegativesRankingLoss), the model's own prompts."""

    name = "bi-encoder"

    def prompts(self, model, cfg):
        from csir.models import saved_prompts

        return saved_prompts(model, cfg.model)

    def eval_model(self, model, cfg):
        from evaluation.evaluator import as_loaded_model

        batch = cfg.eval_dataset.batch_size if cfg.eval_dataset else 32
        return as_loaded_model(model, name=cfg.model, batch_size=batch)
