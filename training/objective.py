"""The contract between the one training loop (`training.loop.train`) and an objective.

Why: every objective gets the same accelerate machinery for free (one CPU to many GPUs, gradient accumulation,
mixed precision, `save_state`/`load_state` + `skip_first_batches` resume, dynamic code-switching through
`cfg.codeswitch`, dev-set curves every `eval_steps`, the final folder + card written by rank 0 and pushed), and
only says what is specific to it. The loop calls, in order:

    examples, sources = obj.load_data(cfg)                       # under main_process_first
    facts = obj.prepare_base(cfg, examples, accelerator)         # check / build base models (before set_seed)
    set_seed(cfg.seed); model = obj.build_model(cfg, facts, accelerator.device)
    data = obj.train_data(cfg, examples, model, pad_multiple, switcher)   # dataset, lengths, collate
    module = obj.loss_module(model, cfg)                         # forward(**batch) -> scalar loss; .model = model
    groups = obj.param_groups(module, cfg)                       # AdamW groups (frozen parameters left out)
    ... training ...
    obj.eval_model(model, cfg)                                   # for RetrievalEvaluator every eval_steps (rank 0)
    obj.save(model, cfg, folder); obj.card_info(cfg, facts)      # final folder + card (rank 0)

Adding an objective (e.g. LiT with a locked pretrained image tower): subclass `Objective` (or an existing one:
`training.multimodal.ImageTextObjective` keeps data, collate, loss, saving and card, so a new image tower only
overrides `build_model` and `param_groups`), register it in `training.registry.OBJECTIVE_CLASSES`, and put any
settings it needs in a dataclass field of `training.config.TrainConfig` (YAML and `--field value` overrides
then work, with errors naming the field). Rules the loop relies on: the batch is a dict of tensors (or lists /
dicts of them) that `accelerate` can move; the loss module's forward runs every trainable parameter (DDP); data
order comes only from the loop's sampler (so resume replays it exactly); `card_info` returns plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


@dataclass
class TrainData:
    """What the loop batches: a map-style dataset, one length per row (for length grouping) and a collate fn.

    `group_by_length=False` draws random batches (e.g. images, where caption length says little).
    """

    dataset: Any
    lengths: list[int]
    collate: Callable[[list[dict]], dict]
    group_by_length: bool = True


class Objective:
    """Base class: the defaults every objective shares; see the module docstring for the call order."""

    name = ""
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")

    def load_data(self, cfg) -> tuple[Any, list]:
        """(examples as a `datasets.Dataset`, [training.data.DataSource] for the card)."""
        raise NotImplementedError

    def prepare_base(self, cfg, examples, accelerator) -> dict:
        """Check (or build, for test models) the base model(s) before any weight is drawn; facts for the card."""
        raise NotImplementedError

    def build_model(self, cfg, facts: dict, device):
        raise NotImplementedError

    def train_data(self, cfg, examples, model, pad_multiple: int | None, switcher) -> TrainData:
        raise NotImplementedError

    def loss_module(self, model, cfg):
        raise NotImplementedError

    def param_groups(self, module, cfg) -> list[dict]:
        """AdamW groups: weight decay on all trainable weights but biases and norms."""
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        return [{"params": [p for n, p in named if not n.endswith(self.no_decay)], "weight_decay": cfg.weight_decay},
                {"params": [p for n, p in named if n.endswith(self.no_decay)], "weight_decay": 0.0}]

    def eval_model(self, model, cfg):
        """The live model as something `evaluation.evaluator.RetrievalEvaluator` scores (a LoadedModel or an ST)."""
        return model

    def save(self, model, cfg, folder: Path) -> None:
        raise NotImplementedError

    def card_info(self, cfg, facts: dict) -> dict:
        """Card fields of this objective: `base_model` (str or list), `base_models` (facts), tags, ..."""
        return {}
