"""Result files: load MTEB-style JSON, write the Markdown table (with significance marks) and the bar plot."""

from __future__ import annotations

import json
import os
from pathlib import Path

from csir.atomic import atomic_file
from csir.errors import CsirError
from evaluation.metrics import mteb_name

MARK = "†"


def load_results(folder: str | os.PathLike) -> list[dict]:
    """Every result JSON under `folder` (recursively); two results for one (task, subset) is an error."""
    folder = Path(folder)
    if not folder.exists():
        raise CsirError(f"--baseline/--results: {folder} does not exist")
    files = [folder] if folder.is_file() else sorted(folder.rglob("*.json"))
    out, seen = [], {}
    for f in files:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CsirError(f"{f}: not a JSON results file ({exc})") from None
        if not isinstance(data, dict) or "task_name" not in data or "subset" not in data or "scores" not in data:
            continue
        key = (data["task_name"], data["subset"])
        if key in seen:
            raise CsirError(f"{f}: a second result for {key[0]}/{key[1]} (first: {seen[key]}); point at one "
                            "model revision's folder")
        seen[key] = f
        out.append(data)
    if not out:
        raise CsirError(f"{folder}: no csir result files found")
    return out


def _scores(r: dict) -> dict:
    return next(iter(r["scores"].values()))[0]


def markdown_table(results: list[dict], measures: list[str], tests=None, baseline: list[dict] | None = None,
                   main_metric: str = "RR@10") -> str:
    """Pairs x metrics (x100, 2 decimals); with a baseline: its main score, delta and `†` when significant."""
    sig = {(t.subset, t.measure): t for t in (tests or [])}
    base = {(b["task_name"], b["subset"]): b for b in (baseline or [])}
    model = results[0]["model"]["name"] if results else "model"
    head = ["task", "subset", "pair", "setup", "first stage", *measures]
    if baseline is not None:
        head += [f"baseline {main_metric}", f"Δ {main_metric}", "p (t-test, Bonf.)", "p (rand., Bonf.)"]
    lines = [f"Model: `{model}` — scores x100" + (f"; {MARK} = paired t-test vs baseline, Bonferroni-corrected "
                                                  "over pairs, p < 0.05" if baseline is not None else ""), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        s = _scores(r)
        row = [r["task_name"], r["subset"], r.get("pair") or "", r.get("setup") or "", r["first_stage"]["name"]]
        key = f"{r['task_name']}/{r['subset']}"
        for m in measures:
            v = s.get(mteb_name(m))
            t = sig.get((key, m))
            row.append("" if v is None else f"{100 * v:.2f}" + (MARK if t is not None and t.significant else ""))
        if baseline is not None:
            b = base.get((r["task_name"], r["subset"]))
            t = sig.get((key, main_metric))
            if b is None:
                row += ["", "", "", ""]
            else:
                bv = _scores(b).get(mteb_name(main_metric), 0.0)
                row += [f"{100 * bv:.2f}", f"{100 * (s.get(mteb_name(main_metric), 0.0) - bv):+.2f}",
                        f"{t.p_ttest_bonferroni:.3g}" if t else "", f"{t.p_randomization_bonferroni:.3g}" if t else ""]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def plot(results: list[dict], path: str | os.PathLike, main_metric: str = "RR@10", baseline: list[dict] | None = None,
         tests=None) -> Path:
    """Per-pair bars of the main metric (baseline beside the model when given), as a PNG (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    path = Path(path)
    labels = [f"{r['task_name']}/{r.get('pair') or r['subset']}" for r in results]
    vals = [100 * _scores(r).get(mteb_name(main_metric), 0.0) for r in results]
    base = {(b["task_name"], b["subset"]): b for b in (baseline or [])}
    sig = {(t.subset, t.measure): t for t in (tests or [])}
    x = np.arange(len(results))
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(results) + 2), 3.6), dpi=100)
    width = 0.4 if baseline is not None else 0.7
    if baseline is not None:
        bvals = [100 * _scores(base[(r["task_name"], r["subset"])]).get(mteb_name(main_metric), 0.0)
                 if (r["task_name"], r["subset"]) in base else 0.0 for r in results]
        ax.bar(x - width / 2, bvals, width, label=f"baseline: {baseline[0]['model']['name']}", color="#999999")
    bars = ax.bar(x + (width / 2 if baseline is not None else 0), vals, width,
                  label=results[0]["model"]["name"] if results else "model", color="#3b6ea8")
    for r, bar in zip(results, bars):
        t = sig.get((f"{r['task_name']}/{r['subset']}", main_metric))
        if t is not None and t.significant:
            ax.annotate(MARK, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom")
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(f"{main_metric} x100")
    ax.set_ylim(0, max([*vals, 1.0]) * 1.15)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_file(path, mode="wb") as fh:
        fig.savefig(fh, format="png")
    plt.close(fig)
    return path


def write_summary(results: list[dict], folder: str | os.PathLike, measures: list[str], main_metric: str,
                  baseline: list[dict] | None = None, tests=None, make_plot: bool = True) -> dict:
    """table.md, significance.json (with a baseline) and plot.png in `folder`."""
    folder = Path(folder)
    paths = {}
    with atomic_file(folder / "table.md") as fh:
        fh.write(markdown_table(results, measures, tests, baseline, main_metric))
    paths["table"] = folder / "table.md"
    if baseline is not None:
        with atomic_file(folder / "significance.json") as fh:
            json.dump({"baseline": baseline[0]["model"] if baseline else None,
                       "tests": [t.to_dict() for t in tests or []]}, fh, indent=1, ensure_ascii=False)
        paths["significance"] = folder / "significance.json"
    if make_plot:
        paths["plot"] = plot(results, folder / "plot.png", main_metric, baseline, tests)
    return paths
