"""A new user's first hour (#18): typos named with a suggestion, no prefix guessing, quiet logs, cards that keep
their keys, a Usage snippet that runs, a plot that stands alone, a default output that is announced."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from csir.argparser import CsirArgumentParser
from csir.cli import build_parser, main
from csir.suggest import close_matches, did_you_mean

FIXTURES = Path(__file__).parent / "fixtures"


def _all_parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _all_parsers(sub)


def test_every_parser_refuses_abbreviations():
    parsers = list(_all_parsers(build_parser()))
    assert len(parsers) > 15
    for p in parsers:
        assert isinstance(p, CsirArgumentParser) and p.allow_abbrev is False, p.prog


@pytest.mark.parametrize("argv, expected", [
    (["codeswitch", "--inptu", "x.jsonl", "--lexicon", "de=out/lex", "--output", "o"],
     "csir codeswitch: error: unrecognized argument --inptu (did you mean --input?)"),
    (["evaluate", "--task", "ddtp", "--model", "m"],  # a prefix of --tasks: not silently taken as it
     "csir evaluate: error: unrecognized argument --task (did you mean --tasks?)"),
    (["evaluat", "--model", "m"], "(did you mean evaluate?)"),
    (["evaluate", "--model", "m", "--first-stage", "bm2"], "(did you mean bm25?)"),
    (["lexicon", "dict", "--fromat", "muse"], "csir lexicon dict: error: unrecognized argument --fromat "
                                              "(did you mean --format?)"),
    (["--verbos", "evaluate"], "csir: error: unrecognized argument --verbos (did you mean --verbose?)"),
])
def test_typos_are_named_with_a_suggestion_on_one_line(capsys, argv, expected):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1, err


def test_unknown_flag_is_reported_before_missing_required_ones(capsys):
    p = CsirArgumentParser(prog="t")
    p.add_argument("--input", required=True)
    p.add_argument("--seed", type=int)
    with pytest.raises(SystemExit):
        p.parse_args(["--inptu", "x", "--seed", "-1"])
    assert "unrecognized argument --inptu (did you mean --input?)" in capsys.readouterr().err
    assert p.parse_args(["--input=a", "--seed", "-1"]).seed == -1  # negative numbers are values, not flags


def test_suggestions():
    assert close_matches("--max-step", ["max_steps", "save_steps", "warmup_steps"]) == ["max_steps"]
    assert did_you_mean("zzzz", ["max_steps"]) == ""
    assert did_you_mean("data.pth", ["data.path"], "--") == " (did you mean --data.path?)"


def test_train_config_typo_says_did_you_mean(capsys):
    rc = main(["train", "--config", str(Path(__file__).parents[1] / "configs/smoke/cross-encoder.yaml"),
               "--max-step", "5"])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == ("csir train: error: command line: field 'max_step' does not exist "
                                       "(did you mean --max_steps?)")


def test_train_yaml_typo_says_did_you_mean(tmp_path):
    from csir.errors import CsirError
    from training.config import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  pth: x.jsonl\nmax_step: 3\n")
    with pytest.raises(CsirError, match=r"c.yaml:2: field 'data.pth' does not exist \(did you mean data.path\?\)"):
        load_config(str(cfg))


# ----------------------------------------------------------------------------------------------- quiet logs
def test_third_party_chatter_is_hidden_unless_verbose():
    code = ("import logging, sys; from csir.logs import setup_logging; setup_logging(sys.argv[1] == 'v'); "
            "import faiss; logging.getLogger('bm25s').setLevel(logging.DEBUG); "
            "logging.getLogger('bm25s').debug('Building index from IDs objects'); "
            "logging.getLogger('sentence_transformers.x').warning('a real warning'); "
            "logging.getLogger('evaluation.runner').info('our progress')")
    quiet = subprocess.run([sys.executable, "-c", code, "q"], capture_output=True, text=True, check=True).stderr
    loud = subprocess.run([sys.executable, "-c", code, "v"], capture_output=True, text=True, check=True).stderr
    assert "our progress" in quiet and "a real warning" in quiet
    assert "faiss" not in quiet and "Building index" not in quiet
    assert "Loading faiss" in loud and "Building index from IDs objects" in loud  # -v shows them


def test_single_process_bi_encoder_does_not_ask_to_gather():
    from sentence_transformers import SentenceTransformer, models

    from training.config import TrainConfig
    from training.objectives import objective_module

    sys.path.insert(0, str(Path(__file__).parent))
    from fixtures.evaluation.tiny_models import build_bi_encoder

    path = build_bi_encoder(Path(__import__("tempfile").mkdtemp()) / "bi")
    model = SentenceTransformer(str(path))
    assert isinstance(model[0], models.Transformer)
    module = objective_module(model, TrainConfig(objective="bi-encoder", data={"path": "x"}))
    assert module.loss.gather_across_devices is False


def test_logging_filter_levels():
    from csir.logs import OwnOrWarning

    f = OwnOrWarning()
    rec = lambda name, level: logging.LogRecord(name, level, __file__, 1, "m", None, None)  # noqa: E731
    assert f.filter(rec("evaluation.runner", logging.INFO)) and f.filter(rec("csir", logging.DEBUG))
    assert not f.filter(rec("faiss.loader", logging.INFO)) and not f.filter(rec("bm25s", logging.DEBUG))
    assert f.filter(rec("transformers.modeling_utils", logging.WARNING))


# ----------------------------------------------------------------------------------------------- cards
def _result(subset="deu-eng", pair="de-en", value=0.5, model="m", per_query=None):
    per_query = per_query or {f"q{i}": value for i in range(10)}
    return {"task_name": "ddtp", "subset": subset, "pair": pair, "setup": "clir",
            "dataset": {"source": "org/ddtp", "revision": None}, "dataset_revision": "a" * 40,
            "model": {"name": model}, "first_stage": {"name": "dense", "top_k": 100},
            "scores": {"test": [{"hf_subset": subset, "main_score": value, "main_metric": "mrr_at_10",
                                 "mrr_at_10": value, "num_queries": len(per_query)}]},
            "per_query": {"RR@10": per_query}, "date": "2026-11-30T00:00:00+00:00"}


def test_card_update_keeps_every_front_matter_key(tmp_path):
    import yaml

    from csir.hub.card_check import split_front_matter
    from evaluation.card import update_card
    from model_cards.model_card import render_model_card

    info = {"model_name": "minilm-ddtp-zero-shot", "objective": "bi-encoder", "base_model": "org/base",
            "datasets": [{"path": "org/data", "name": "zero-shot", "split": "train", "revision": "v1.0.0",
                          "resolved_revision": "a" * 40, "num_rows": 100, "is_hub_id": True}],
            "language": ["en"], "hyperparameters": {"seed": 1, "num_processes": 1, "distributed_type": "NO"},
            "local_path": "models/zs"}
    model = tmp_path / "zs"
    model.mkdir()
    (model / "README.md").write_text(render_model_card(info), encoding="utf-8")
    before, body_before = split_front_matter((model / "README.md").read_text(encoding="utf-8"))
    results = tmp_path / "res"
    results.mkdir()
    (results / "deu-eng.json").write_text(json.dumps(_result()))
    update_card(model, results)
    update_card(model, results)  # idempotent
    after, body_after = split_front_matter((model / "README.md").read_text(encoding="utf-8"))
    assert {k: after[k] for k in before} == before and after["model_name"] == "minilm-ddtp-zero-shot"
    assert list(after)[:len(before)] == list(before)  # and in their places
    assert after["model-index"][0]["name"] == "minilm-ddtp-zero-shot"
    assert len(after["model-index"][0]["results"]) == 1 and body_after == body_before
    assert yaml.safe_load((model / ".eval_results" / "ddtp.yaml").read_text())[0]["value"] == 0.5


def test_usage_snippet_runs_before_and_names_the_repo_after_publishing(tmp_path):
    from csir.hub.publish import publish_folder
    from model_cards.model_card import render_model_card

    info = {"model_name": "ce", "objective": "cross-encoder", "base_model": "org/base", "datasets": [],
            "hyperparameters": {"seed": 1, "num_processes": 1, "distributed_type": "NO"}, "local_path": "out/ce"}
    model = tmp_path / "ce"
    model.mkdir()
    (model / "README.md").write_text(render_model_card(info), encoding="utf-8")
    (model / "config.json").write_text("{}")
    assert 'CrossEncoder("out/ce")' in (model / "README.md").read_text()
    publish_folder(model, "me/ce", repo_type="model", version="v1.0.0", target="local", store=str(tmp_path / "s"))
    card = (model / "README.md").read_text()
    assert 'CrossEncoder("me/ce", revision="v1.0.0")' in card and "out/ce" not in card.split("## Usage")[1][:400]
    published = {"repo_id": "me/ce", "version": "v1.0.0"}
    assert 'CrossEncoder("me/ce", revision="v1.0.0")' in render_model_card({**info, **published})


# ----------------------------------------------------------------------------------------------- plot
def test_plot_stands_alone(tmp_path):
    import matplotlib.pyplot as plt

    from evaluation.results import plot, plot_figure
    from evaluation.significance import compare

    base = [_result(value=0.2, model="zero-shot", per_query={f"q{i}": 0.2 for i in range(30)}),
            _result("eng-eng", "en-en", 0.8, "zero-shot", {f"q{i}": 0.8 for i in range(30)})]
    ours = [_result(value=0.6, model="code-switched", per_query={f"q{i}": 0.6 + 0.01 * (i % 3) for i in range(30)}),
            _result("eng-eng", "en-en", 0.8, "code-switched", {f"q{i}": 0.8 for i in range(30)})]
    tests = compare(ours, base, ["RR@10"])
    fig = plot_figure(ours, "RR@10", base, tests)
    ax = fig.axes[0]
    assert "code-switched" in ax.get_title() and "zero-shot" in ax.get_title()
    assert ax.get_xlabel() == "language pair (query → passage)" and ax.get_ylabel() == "RR@10 × 100"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["DE→EN", "EN→EN"]
    bar_texts = [t.get_text() for t in ax.texts]
    assert "60.0†" in bar_texts and "20.0" in bar_texts and "80.0" in bar_texts  # values, mark on the significant one
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["baseline: zero-shot", "code-switched"]
    assert all(t.get_fontsize() >= 9 for t in legend.get_texts())
    note = " ".join(t.get_text() for t in fig.texts)
    assert "† = differs significantly from the baseline: paired t-test" in note and "over 2 pairs" in note
    assert "First stage: dense. RR@10 averaged over 30 queries per pair." in note
    base[0]["first_stage"]["name"] = base[1]["first_stage"]["name"] = "top_ranked"
    fig2 = plot_figure(ours, "RR@10", base, tests)
    assert "First stage: dense (baseline: top_ranked)." in " ".join(t.get_text() for t in fig2.texts)
    plt.close(fig2)
    plt.close(fig)
    path = plot(ours, tmp_path / "plot.png", "RR@10", base, tests)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------------------------- evaluate output
def test_evaluate_announces_its_default_output(tmp_path, monkeypatch, capsys, caplog):
    sys.path.insert(0, str(Path(__file__).parent))
    from fixtures.evaluation.tiny_models import build_bi_encoder

    assert main(["evalset", "ddtp", "--ddtp-dir", str(FIXTURES / "ddtp"), "--output", str(tmp_path / "ev"),
                 "--langs", "en,de", "--pairs", "de-en", "--top-k", "5", "--max-queries", "10"]) == 0
    model = build_bi_encoder(tmp_path / "bi")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    capsys.readouterr()
    with caplog.at_level(logging.INFO):
        assert main(["evaluate", "--model", str(model), "--tasks", "ddtp", "--ddtp", str(tmp_path / "ev"),
                     "--pairs", "de-en", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert f"no --output: writing results under {work / 'results'}/ (the default)" in caplog.text
    rev = next((work / "results").glob("*/*"))
    assert f"results in {rev} (table.md) (the default --output)" in out
    assert (rev / "ddtp" / "deu-eng.json").is_file()


def test_no_plain_argparse_parser_left():
    """Scripts outside the `csir` tree (benchmarks, `python -m training`) build their parsers from the same class."""
    root = Path(__file__).parents[1]
    plain = []
    for folder in ("csir", "builders", "training", "evaluation", "model_cards", "benchmarks"):
        for f in (root / folder).rglob("*.py"):
            text = f.read_text(encoding="utf-8")
            if f.name != "argparser.py" and "argparse.ArgumentParser(" in text:
                plain.append(str(f.relative_to(root)))
    assert plain == []
