"""Which training objectives exist and where each lives (torch-free, so configs validate in milliseconds).

An objective is a `training.objective.Objective` subclass; the one loop (`training.loop.train`) asks it for data,
model, loss module, parameter groups, the model to evaluate and how to save it. To add one, write the class (see
`training.objective` for the contract and a worked outline) and add its name here as "module:Class".
"""

from __future__ import annotations

import importlib

OBJECTIVE_CLASSES = {
    "cross-encoder": "training.text_objectives:CrossEncoderObjective",
    "bi-encoder": "training.text_objectives:BiEncoderObjective",
    "image-text": "training.multimodal:ImageTextObjective",
    "lit": "training.lit:LitObjective",
}
OBJECTIVES = tuple(OBJECTIVE_CLASSES)
IMAGE_TEXT_MODES = ("lit", "full")
EVAL_FIRST_STAGES = ("top_ranked", "dense", "exhaustive", "bm25", "none")  # as csir evaluate; bm25, none: aliases


def get_objective(name: str):
    """An instance of the objective registered under `name` (imported only now: torch comes with it)."""
    module, cls = OBJECTIVE_CLASSES[name].split(":")
    return getattr(importlib.import_module(module), cls)()
