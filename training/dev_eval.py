"""Evaluation while training: a dev-set curve every `eval_steps` (rank 0), as JSON, TensorBoard and a plot.

Why here and not in the loop: the loop only asks "score this model now"; this module owns the evaluator built from
`cfg.eval_dataset` (`evaluation.evaluator.RetrievalEvaluator`, the scorer `csir evaluate` uses), keeps the RNG
streams untouched (so a run with evaluation trains exactly as one without, and resumes byte for byte), writes
`<run_dir>/dev_curve.json` after every evaluation (atomically), and at the end a learning-curve PNG in the model
folder, the card's curve table and the final scores as `model-index` entries.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

from csir.atomic import atomic_file

log = logging.getLogger(__name__)
CURVE_FILE = "dev_curve.json"
PLOT_FILE = "dev_curve.png"
TASK_TYPES = {"cross-encoder": "text-ranking", "bi-encoder": "text-retrieval", "image-text": "image-text-retrieval"}


class DevEvaluation:
    """Rank 0's dev-set evaluator for one run (built lazily: the set is read at the first evaluation)."""

    def __init__(self, cfg, run_dir: Path):
        self.cfg = cfg.eval_dataset
        self.run_dir = Path(run_dir)
        self._evaluator = None

    @property
    def evaluator(self):
        if self._evaluator is None:
            from evaluation.distributed import Dist
            from evaluation.evaluator import RetrievalEvaluator

            c = self.cfg
            self._evaluator = RetrievalEvaluator(
                c.path, c.subsets or None, revision=c.revision, split=c.split, metrics=c.metrics,
                primary_metric=c.primary_metric, first_stage=c.first_stage, top_k=c.top_k,
                max_queries=c.max_queries, batch_size=c.batch_size, dist=Dist.local())
        return self._evaluator

    def evaluate(self, model, step: int) -> dict[str, float]:
        """Scores at this step; torch, numpy and Python RNG states are restored afterwards."""
        import numpy as np
        import torch

        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=range(torch.cuda.device_count()) if torch.cuda.is_available() else []):
            with torch.no_grad():
                scores = self.evaluator(model)
        random.setstate(py_state)
        np.random.set_state(np_state)
        ev = self.evaluator
        log.info("step %d: dev %s = %.4f", step, ev.primary_metric, scores[ev.primary_metric])
        return scores

    def curve_document(self, curve: list[dict]) -> dict:
        ev = self.evaluator
        return {"dataset": ev.dataset.source, "dataset_revision": ev.dataset.resolved_revision,
                "subsets": ev.subsets, "primary_metric": ev.primary_metric, "metrics": ev.metrics, "curve": curve}

    def write_curve(self, curve: list[dict]) -> Path:
        path = self.run_dir / CURVE_FILE
        with atomic_file(path) as fh:
            json.dump(self.curve_document(curve), fh, indent=1)
        return path

    def card_section(self, curve: list[dict], folder: Path) -> dict:
        """Plot into the model folder; what the card shows (plot file name, steps and primary metric values)."""
        ev = self.evaluator
        plot_curve(curve, ev.primary_metric, Path(folder) / PLOT_FILE, title=f"dev: {Path(ev.dataset.source).name}")
        return {"plot": PLOT_FILE, "primary_metric": ev.primary_metric, "dataset": ev.dataset.source,
                "dataset_revision": ev.dataset.resolved_revision, "subsets": ev.subsets,
                "points": [{"step": p["step"], "value": p["metrics"][ev.primary_metric]} for p in curve]}

    def eval_results(self, last: dict, objective: str) -> list[dict]:
        """The last evaluation as `huggingface_hub.EvalResult` fields (one per subset and metric) for model-index."""
        from evaluation.metrics import mteb_name

        ev = self.evaluator
        rows = []
        for subset in ev.subsets:
            for metric in ev.metrics:
                rows.append({"task_type": TASK_TYPES.get(objective, "text-retrieval"),
                             "task_name": "Dev-set retrieval (while training)", "dataset_type": ev.dataset.source,
                             "dataset_name": f"{Path(ev.dataset.source).name} ({subset})", "dataset_config": subset,
                             "dataset_split": ev.last_results[subset].subset.split if subset in ev.last_results
                             else (ev.split or "test"),
                             "dataset_revision": ev.dataset.resolved_revision, "metric_type": mteb_name(metric),
                             "metric_name": metric, "metric_value": round(last["metrics"][f"{subset}/{metric}"], 6)})
        return rows

    def close(self) -> None:
        if self._evaluator is not None:
            self._evaluator.close()


def plot_curve(curve: list[dict], metric: str, path: Path, title: str = "dev") -> Path:
    """Learning curve (metric against optimizer step) as a PNG, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [p["step"] for p in curve]
    values = [p["metrics"][metric] for p in curve]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    ax.plot(steps, values, marker="o")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_file(path, mode="wb") as fh:
        fig.savefig(fh, format="png", metadata={"Software": None})
    plt.close(fig)
    return path
