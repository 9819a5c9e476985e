"""Image-text training (objective image-text): LiT keeps the text encoder frozen, full fine-tuning moves it; captions
are code-switched with the project's switcher; the saved model is evaluated by `csir evaluate` and has a card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from builders.cli import main as csir
from builders.errors import CsirError
from evaluation.multimodal_sets import EmojiSetConfig, build_emoji_evalset
from training.tiny_model import build_tiny_bert

FIX = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("mmtrain")
    ds = build_emoji_evalset(FIX / "emoji" / "npm", root / "set", EmojiSetConfig(langs=["en", "de"], directions=["t2i"]))
    text = build_tiny_bert(root / "bert", ["grinning face cat face red apple dog whale crown Hund Gesicht"], seed=0)
    return root, ds, text


def _train(root, ds, text, name, mode, cs=None):
    cfg = {"objective": "image-text", "text_model": str(text), "data": str(ds), "mode": mode, "epochs": 2,
           "batch_size": 2, "image_size": 32, "cnn_widths": [8, 16], "projection_dim": 8, "seed": 3,
           "output_dir": str(root / name)}
    if cs:
        cfg["codeswitch"] = cs
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    from training.cli import main

    assert main(["--config", str(path)]) == 0
    return root / name


def _text_weights(folder):
    return {k: v for k, v in load_file(folder / "model.safetensors").items()
            if k.startswith("text_model.") and ".pooler." not in k}


def test_lit_full_codeswitch_and_evaluate(setup, tmp_path):
    root, ds, text = setup
    cs = {"variant": "bl-cs", "p": 1.0, "query_langs": ["de"], "lexicons": {"de": str(FIX / "lexicons" / "en-de.txt")}}
    lit = _train(root, ds, text, "lit", "lit", cs)
    full = _train(root, ds, text, "full", "full")
    base = {k.replace("bert.", ""): v for k, v in load_file(Path(text) / "model.safetensors").items()}
    lit_w, full_w = _text_weights(lit), _text_weights(full)
    key = next(k for k in lit_w if k.endswith("encoder.layer.0.attention.self.query.weight"))
    base_key = key.replace("text_model.", "")
    assert (lit_w[key] == base[base_key]).all()          # frozen in LiT
    assert not (full_w[key] == base[base_key]).all()     # trained in full mode
    card = (lit / "README.md").read_text()
    assert "code_switching" in card and "mode-lit" in card and "| 2 |" in card
    info = json.loads((lit / "training_info.json").read_text())
    assert info["config"]["codeswitch"]["query_langs"] == ["de"] and len(info["log_history"]) == 2
    assert csir(["evaluate", "--model", str(lit), "--dataset", str(ds), "--subsets", "eng,deu",
                 "--metrics", "R@1,R@10", "--main-metric", "R@1", "--output", str(tmp_path / "r"), "--no-plot"]) == 0
    r = json.loads(next((tmp_path / "r").rglob("deu.json")).read_text())
    assert r["model"]["kind"] == "clip" and r["measures"]["R@10"] == 1.0  # 3 images: all within top 10


def test_bad_config_fields(setup, tmp_path):
    root, ds, text = setup
    from training.multimodal import load_mm_config

    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"objective": "image-text", "text_model": str(text), "data": str(ds), "mode": "half"}))
    with pytest.raises(CsirError, match="field 'mode'"):
        load_mm_config(str(p), [])
    with pytest.raises(CsirError, match="field 'epoch'"):
        load_mm_config(str(p), [("epoch", 3)])
