"""Training configs: YAML + overrides, and clear errors before anything heavy is imported or loaded."""

import subprocess
import sys
from pathlib import Path

import pytest

from csir.errors import CsirError
from training.config import TrainConfig, load_config, non_default_fields, parse_overrides

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["smoke/cross-encoder.yaml", "smoke/bi-encoder.yaml"])
def test_smoke_configs_load(name):
    cfg = load_config(ROOT / "configs" / name)
    assert cfg.model == "tiny-random-bert"
    assert cfg.data.path == "tests/fixtures/pairs.jsonl"


def test_paper_configs_load_with_paper_hyperparameters():
    paper = sorted((ROOT / "configs").glob("ce-*.yaml"))
    assert len(paper) >= 5
    for path in paper:
        cfg = load_config(path)
        assert cfg.objective == "cross-encoder"
        assert cfg.model == "nreimers/mMiniLMv2-L6-H384-distilled-from-XLMR-Large"
        assert (cfg.batch_size, cfg.learning_rate, cfg.warmup_steps, cfg.max_steps, cfg.max_length) == \
            (64, 2e-5, 5000, 200_000, 512), path


def test_overrides_nested_and_typed():
    cfg = load_config(ROOT / "configs/smoke/cross-encoder.yaml",
                      parse_overrides(["--seed", "3", "--data.path=x.jsonl", "--learning-rate", "2e-5",
                                       "--language", "en,de", "--codeswitch",
                                       "{lexicons: {de: a.tsv}, query_langs: [de]}"]))
    assert cfg.seed == 3 and cfg.data.path == "x.jsonl" and cfg.learning_rate == 2e-5
    assert cfg.language == ["en", "de"]
    assert cfg.codeswitch.lexicons == {"de": "a.tsv"} and cfg.codeswitch.query_langs == ["de"]
    changed = non_default_fields(cfg)
    assert changed["seed"] == 3 and "batch_size" in changed and "warmup_steps" in changed
    assert "weight_decay" not in changed


def test_unknown_yaml_field_names_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("objective: cross-encoder\ndata:\n  path: x.jsonl\n  qurey_column: q\n")
    with pytest.raises(CsirError, match=r"bad.yaml:4: field 'data.qurey_column' does not exist"):
        load_config(bad)


@pytest.mark.parametrize("overrides, match", [
    ([("bogus", 1)], "field 'bogus' does not exist"),
    ([("data.pth", "x")], "field 'data.pth' does not exist"),
    ([("seed", "abc")], "field 'seed' expected an integer"),
    ([("objective", "ranker")], "field 'objective' must be one of"),
    ([("max_steps", 0)], "field 'max_steps' must be >= 1"),
    ([("push_to_hub", "org/model")], "field 'version' is required"),
    ([("data.path", "")], "field 'data.path' is required"),
])
def test_bad_overrides(overrides, match):
    with pytest.raises(CsirError, match=match):
        load_config(ROOT / "configs/smoke/cross-encoder.yaml", overrides)


def test_defaults_are_the_paper_setup():
    cfg = TrainConfig()
    assert (cfg.batch_size, cfg.learning_rate, cfg.warmup_steps, cfg.max_steps, cfg.max_length,
            cfg.negatives_per_positive) == (64, 2e-5, 5000, 200_000, 512, 4)


def test_cli_unknown_field_exits_2_before_training(tmp_path):
    out = tmp_path / "model"
    proc = subprocess.run([sys.executable, "-m", "training", "--config", "configs/smoke/cross-encoder.yaml",
                           "--output-dir", str(out), "--bogus-field", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "field 'bogus_field' does not exist" in proc.stderr
    assert not out.exists() and not Path(f"{out}.run").exists()
