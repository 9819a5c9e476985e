"""Objective `lit` through the one loop: locked EfficientNet-Lite0 (features cached), trainable text tower with
lower layers frozen, code-switched captions, translate-train captions; the saved csir-lit folder is scored by
`csir evaluate` exactly as by hand; bad input is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from builders.evalsets.emoji import EmojiSetConfig, build_emoji_evalset
from csir.cli import main as csir
from csir.models.tiny import build_tiny_bert

FIX = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("lit")
    ds = build_emoji_evalset(FIX / "emoji" / "npm", root / "set",
                             EmojiSetConfig(langs=["en", "de"], directions=["t2i", "i2t"], caption_langs=["de"]))
    text = build_tiny_bert(root / "bert", ["grinning face cat face red apple dog whale crown Hund Gesicht Katze"],
                           seed=0)
    return root, ds, text


def _config(root, ds, text, name, **extra) -> Path:
    cfg = {"objective": "lit", "text_model": str(text), "data": {"path": str(ds), "name": "captions"},
           "lit": {"projection_dim": 8, "frozen_text_layers": 1, "feature_cache_dir": str(root / "feats"),
                   **extra.pop("lit", {})},
           "max_steps": 4, "batch_size": 2, "learning_rate": 1e-3, "warmup_steps": 0, "max_length": 16,
           "length_grouping": False, "save_steps": 2, "logging_steps": 1, "tracker": None, "seed": 3,
           "output_dir": str(root / name), **extra}
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_lit_trains_text_side_only_and_evaluates(setup, tmp_path):
    root, ds, text = setup
    cs = {"variant": "bl-cs", "p": 1.0, "query_langs": ["de"], "lexicons": {"de": str(FIX / "lexicons" / "en-de.txt")}}
    assert csir(["train", "--config", str(_config(root, ds, text, "lit", codeswitch=cs))]) == 0
    out = root / "lit"
    assert json.loads((out / "config.json").read_text())["model_type"] == "csir-lit"
    assert list((root / "feats" / "efficientnet-lite0").glob("*.npy"))  # tower features cached once
    w = load_file(out / "model.safetensors")
    base = {k.replace("bert.", ""): v for k, v in load_file(Path(text) / "model.safetensors").items()}
    frozen = "encoder.layer.0.attention.self.query.weight"
    trained = next(k for k in base if k.endswith("encoder.layer.1.attention.self.query.weight"))
    assert (w[f"text_model.{frozen}"] == base[frozen]).all()            # lowest layer frozen
    assert not (w[f"text_model.{trained}"] == base[trained]).all()      # the rest of the text tower trains
    from csir.models.image_towers import load_tower

    tower = load_tower()
    assert (w["vision_model._conv_head.weight"] == tower.state_dict()["_conv_head.weight"]).all()  # locked
    card = (out / "README.md").read_text()
    assert "efficientnet-lite0" in card and "locked" in card
    assert csir(["evaluate", "--model", str(out), "--dataset", str(ds), "--subsets", "deu,i2t-deu",
                 "--metrics", "R@1,RR@10", "--main-metric", "R@1", "--output", str(tmp_path / "r"), "--no-plot"]) == 0
    got = json.loads(next((tmp_path / "r").rglob("deu.json")).read_text())
    assert got["model"]["kind"] == "clip"
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from benchmarks.multimodal_cs import evaluate_model
    from csir.models.image_towers import TowerFeatures
    from evaluation.datasets_io import open_dataset

    subs = {s: open_dataset(str(ds)).load(s) for s in ("deu", "i2t-deu")}
    mine = evaluate_model(out, subs, TowerFeatures(cache_dir=root / "feats"), "set")
    ranks = mine["deu"]["ranks"]
    assert got["measures"]["R@1"] == pytest.approx(sum(r == 1 for r in ranks) / len(ranks))
    assert got["measures"]["RR@10"] == pytest.approx(sum(1 / r for r in ranks if r) / len(ranks))


def test_translate_train_captions(setup):
    root, ds, text = setup
    cfg = _config(root, ds, text, "tt", lit={"extra_caption_configs": ["captions-deu"]}, max_steps=2)
    assert csir(["train", "--config", str(cfg)]) == 0
    state = json.loads((root / "tt" / "trainer_state.json").read_text())
    assert state["global_step"] == 2


def test_config_as_shipped_trains_offline(setup, tmp_path):
    """configs/multimodal/lit-emoji-minilm-en.yaml as written (text tower from its PyPI package), shortened."""
    root, ds, _ = setup
    cfg = Path(__file__).parents[1] / "configs" / "multimodal" / "lit-emoji-minilm-en.yaml"
    assert csir(["train", "--config", str(cfg), "--data.path", str(ds), "--output_dir", str(tmp_path / "m"),
                 "--max_steps", "1", "--batch_size", "2", "--lit.feature_cache_dir", str(root / "feats")]) == 0
    card = (tmp_path / "m" / "README.md").read_text()
    assert "efficientnet-lite0" in card


def test_bad_tower_and_layers(setup, capsys):
    root, ds, text = setup
    capsys.readouterr()
    assert csir(["train", "--config", str(_config(root, ds, text, "bad", lit={"image_tower": "resnet-9000"}))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown image tower 'resnet-9000'" in err[0]
    assert csir(["train", "--config", str(_config(root, ds, text, "bad2", lit={"frozen_text_layers": 9}))]) == 2
    assert "lit.frozen_text_layers" in capsys.readouterr().err
    assert not (root / "bad").exists() and not (root / "bad2").exists()
