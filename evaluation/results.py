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


def _pair_label(r: dict) -> str:
    """`de-en` -> `DE→EN` (query → passage language); subsets without a pair keep their name."""
    pair = r.get("pair")
    if not pair or "-" not in pair:
        return r["subset"]
    q, p = pair.split("-", 1)
    return f"{q.upper()}→{p.upper()}"


def plot_figure(results: list[dict], main_metric: str = "RR@10", baseline: list[dict] | None = None, tests=None):
    """The results plot as a matplotlib Figure that reads on its own: a title (model, task, baseline), axis
    labels, one bar per language pair with its value on it, the baseline beside it, a legend under the axes,
    and the first stage, query counts and the significance mark explained at the bottom."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    model = results[0]["model"]["name"] if results else "model"
    tasks = sorted({r["task_name"] for r in results})
    stages = sorted({r["first_stage"]["name"] for r in results})
    counts = sorted({_scores(r).get("num_queries") for r in results} - {None})
    labels = [(f"{r['task_name']}\n" if len(tasks) > 1 else "") + _pair_label(r) for r in results]
    vals = [100 * _scores(r).get(mteb_name(main_metric), 0.0) for r in results]
    base = {(b["task_name"], b["subset"]): b for b in (baseline or [])}
    sig = {(t.subset, t.measure): t for t in (tests or [])}
    x = np.arange(len(results))
    width_in = max(6.4, 1.1 * len(results) + 2.5)
    fig, ax = plt.subplots(figsize=(width_in, 5.6), dpi=110)
    width = 0.38 if baseline is not None else 0.6
    bvals: list[float] = []
    if baseline is not None:
        bvals = [100 * _scores(base[(r["task_name"], r["subset"])]).get(mteb_name(main_metric), 0.0)
                 if (r["task_name"], r["subset"]) in base else float("nan") for r in results]
        bars_base = ax.bar(x - width / 2, bvals, width, label=f"baseline: {baseline[0]['model']['name']}",
                           color="#a6a6a6")
        ax.bar_label(bars_base, [f"{b:.1f}" if b == b else "" for b in bvals], padding=2, fontsize=8,
                     color="#555555")
    bars = ax.bar(x + (width / 2 if baseline is not None else 0), vals, width, label=model, color="#3b6ea8")
    marks = []
    for r, v in zip(results, vals):
        t = sig.get((f"{r['task_name']}/{r['subset']}", main_metric))
        marks.append(f"{v:.1f}" + (MARK if t is not None and t.significant else ""))
    ax.bar_label(bars, marks, padding=2, fontsize=9)
    ax.set_xticks(x, labels, fontsize=10)
    ax.set_xlabel("language pair (query → passage)", fontsize=10)
    ax.set_ylabel(f"{main_metric} × 100", fontsize=10)
    top = max([v for v in [*vals, *bvals] if v == v] + [1.0])
    ax.set_ylim(0, top * 1.15)
    ax.spines[["top", "right"]].set_visible(False)
    title = f"{model}: {main_metric} on {', '.join(tasks)}"
    if baseline is not None:
        title += f", vs baseline {baseline[0]['model']['name']}"
    ax.set_title("\n".join(textwrap.wrap(title, int(width_in * 9), break_on_hyphens=False)), fontsize=11)
    base_stages = sorted({b["first_stage"]["name"] for b in baseline or []})
    stage_note = ", ".join(stages) + (f" (baseline: {', '.join(base_stages)})"
                                      if baseline is not None and base_stages != stages else "")
    notes = [f"First stage: {stage_note}. {main_metric} averaged over "
             f"{'/'.join(str(c) for c in counts) or 'the'} queries per pair."]
    if baseline is not None:
        n = sum(1 for t in tests or [] if t.measure == main_metric)  # Bonferroni is per measure
        notes.append(f"{MARK} = differs significantly from the baseline: paired t-test on per-query {main_metric}, "
                     f"p < 0.05 after Bonferroni correction over {n} pair{'s' if n != 1 else ''}"
                     + ("." if any(t.significant and t.measure == main_metric for t in tests or [])
                        else " (no pair is)."))
    lines = [w for note in notes for w in textwrap.wrap(note, int(width_in * 14), break_on_hyphens=False)]
    fig.text(0.02, 0.015, "\n".join(lines), fontsize=8, ha="left", va="bottom", color="#333333")
    legend_y = 0.03 + 0.03 * len(lines)
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", bbox_to_anchor=(0.5, legend_y), ncol=2,
               fontsize=9, frameon=False)
    fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=legend_y + 0.17)
    return fig


def plot(results: list[dict], path: str | os.PathLike, main_metric: str = "RR@10", baseline: list[dict] | None = None,
         tests=None) -> Path:
    """Write `plot_figure(...)` as a PNG (matplotlib Agg, atomically)."""
    import matplotlib.pyplot as plt

    path = Path(path)
    fig = plot_figure(results, main_metric, baseline, tests)
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
