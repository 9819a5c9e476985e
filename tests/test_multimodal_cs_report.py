"""The multimodal experiment's statistics and report: the hierarchical bootstrap sees seed variance, and the
report (tables, answer, plot) is regenerated from per-run JSON files alone."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))
from benchmarks import multimodal_cs as mm  # noqa: E402


def test_bootstrap_counts_seed_variance():
    rng = np.random.default_rng(0)
    base = [list(rng.integers(0, 2, 200)) for _ in range(3)]
    same = [list(b) for b in base]
    diff, p = mm.hierarchical_bootstrap(same, base)
    assert diff == 0 and p == 1.0
    better = [[1] * 200 for _ in range(3)]
    assert mm.hierarchical_bootstrap(better, base)[1] < 0.01
    # a gain carried by one seed out of three is not significant once seeds are resampled
    lucky = [list(b) for b in base]
    lucky[0] = [1] * 200
    shaky = mm.hierarchical_bootstrap(lucky, base)[1]
    pooled = mm.hierarchical_bootstrap([sum(lucky, [])], [sum(base, [])])[1]  # seeds pooled as one
    assert shaky > 0.05 and pooled < 0.01


def _run(arm, seed, ranks):
    subs = {s: ranks for s in ("eng", "deu", "jpn", "i2t-eng", "i2t-deu", "i2t-jpn")}
    return {"set": "emoji", "tower": "minilm", "arm": arm, "seed": seed, "steps": 4, "batch_size": 2,
            "text_model": "all-MiniLM-L6-v2", "train_s": 1.0, "ranks": subs}


def test_report_from_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(mm, "OLD_CONVNEXT", tmp_path / "missing.json")
    runs = [_run("english", s, [1, 0, 3, 0] * 10) for s in (1, 2, 3)]
    runs += [_run("ml-cs-p0.5", s, [1, 1, 2, 1] * 10) for s in (1, 2, 3)]
    text = mm.report(runs, tmp_path / "r.md", tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000
    assert "| eng | 25.0 ± 0.0 | 75.0 ± 0.0 (p=" in text   # R@1: 1 in 4 vs 3 in 4
    assert "english (n=3)" in text and "ml-cs-p0.5 (n=3)" in text
    assert "**ml-cs-p0.5**: lexicon languages (deu, fra, ita) +50.0" in text  # R@10: 50% -> 100% (deu only)
    assert mm.measures_from_ranks([1, 0, 3, 0])["RR@10"] == (1 + 1 / 3) / 4


def test_longer_schedule_is_its_own_group(tmp_path, monkeypatch):
    """A run with another step count is named apart and compared only with the English arm of its own schedule."""
    assert mm.run_name("emoji", "minilm", "english", 1) == "emoji-minilm-english-s1"
    assert mm.run_name("emoji", "minilm", "english", 1, mm.STEPS["emoji"]) == "emoji-minilm-english-s1"
    assert mm.run_name("emoji", "minilm", "english", 1, 96) == "emoji-minilm-english-s1-steps96"
    monkeypatch.setattr(mm, "OLD_CONVNEXT", tmp_path / "missing.json")
    runs = [_run("english", s, [1, 0, 3, 0] * 10) for s in (1, 2, 3)]
    long = [{**_run(arm, s, ranks), "steps": 8} for s in (1, 2, 3)
            for arm, ranks in (("english", [1, 1, 1, 0] * 10), ("ml-cs-p0.5", [1, 1, 2, 1] * 10))]
    text = mm.report(runs + long, tmp_path / "r.md", tmp_path / "r.png")
    assert "4 steps, batch 2" in text and "8 steps, batch 2" in text
    # against its own 8-step English arm (R@1 75%), not the 4-step one (25%): equal R@1, so no gain
    assert "| eng | 75.0 ± 0.0 | 75.0 ± 0.0 (p=1" in text
    assert "(minilm, 8 steps), scored on emoji, **ml-cs-p0.5**" in text


def test_bl_cs_answer_names_its_language(tmp_path, monkeypatch):
    monkeypatch.setattr(mm, "OLD_CONVNEXT", tmp_path / "missing.json")
    runs = [_run("english", s, [1, 0, 3, 0] * 10) for s in (1, 2, 3)]
    runs += [_run("bl-cs-de-p0.5", s, [1, 1, 2, 1] * 10) for s in (1, 2, 3)]
    text = mm.report(runs, tmp_path / "r.md", tmp_path / "r.png")
    assert "**bl-cs-de-p0.5**: its language (deu) +50.0" in text
