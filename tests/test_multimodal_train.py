"""Image-text training (objective image-text of the one loop): LiT keeps the text encoder frozen, full fine-tuning
moves it; captions are code-switched with the one code-switch spec; the saved model is evaluated by
`csir evaluate` and has the text models' card (base_model, datasets, model-index)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from builders.evalsets.emoji import EmojiSetConfig, build_emoji_evalset
from csir.cli import main as csir
from csir.errors import CsirError
from csir.models.tiny import build_tiny_bert

FIX = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("mmtrain")
    ds = build_emoji_evalset(FIX / "emoji" / "npm", root / "set", EmojiSetConfig(langs=["en", "de"], directions=["t2i"]))
    text = build_tiny_bert(root / "bert", ["grinning face cat face red apple dog whale crown Hund Gesicht"], seed=0)
    return root, ds, text


def _train(root, ds, text, name, mode, cs=None, **extra):
    cfg = {"objective": "image-text", "text_model": str(text), "data": {"path": str(ds), "name": "captions"},
           "image_text": {"mode": mode, "image_size": 32, "cnn_widths": [8, 16], "projection_dim": 8}, "epochs": 2,
           "batch_size": 2, "learning_rate": 0.002, "lr_scheduler": "constant", "warmup_steps": 0, "max_length": 32,
           "logging_steps": 1, "tracker": None, "seed": 3, "output_dir": str(root / name), **extra}
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
    dev = {"path": str(ds), "subsets": ["eng", "deu"], "metrics": ["R@1", "R@10"], "primary_metric": "R@10"}
    lit = _train(root, ds, text, "lit", "lit", cs, eval_steps=3, eval_dataset=dev)
    full = _train(root, ds, text, "full", "full")
    base = {k.replace("bert.", ""): v for k, v in load_file(Path(text) / "model.safetensors").items()}
    lit_w, full_w = _text_weights(lit), _text_weights(full)
    key = next(k for k in lit_w if k.endswith("encoder.layer.0.attention.self.query.weight"))
    base_key = key.replace("text_model.", "")
    assert (lit_w[key] == base[base_key]).all()          # frozen in LiT
    assert not (full_w[key] == base[base_key]).all()     # trained in full mode
    card = (lit / "README.md").read_text()
    assert "code_switching" in card and "mode-lit" in card and "| text | " in card and "ConvNeXt built from scratch" in card
    saved = yaml.safe_load((lit / "training_config.yaml").read_text())
    assert saved["codeswitch"]["query_langs"] == ["de"] and saved["image_text"]["mode"] == "lit"
    state = json.loads((lit / "trainer_state.json").read_text())
    steps = state["hyperparameters"]["steps_per_epoch"]
    assert state["global_step"] == 2 * steps and [e["step"] for e in state["log_history"]] == list(range(1, 2 * steps + 1))
    # the dev curve (evaluated in training on the live model) ends with the saved model's scores
    from huggingface_hub import ModelCard

    curve = json.loads((root / "lit.run" / "dev_curve.json").read_text())["curve"]
    assert curve[-1]["step"] == state["global_step"] and (lit / "dev_curve.png").exists()
    index = {(r.dataset_config, r.metric_name): r.metric_value for r in ModelCard.load(lit / "README.md").data.eval_results}
    assert index[("deu", "R@10")] == pytest.approx(curve[-1]["metrics"]["deu/R@10"])
    assert csir(["evaluate", "--model", str(lit), "--dataset", str(ds), "--subsets", "eng,deu",
                 "--metrics", "R@1,R@10", "--main-metric", "R@1", "--output", str(tmp_path / "r"), "--no-plot"]) == 0
    r = json.loads(next((tmp_path / "r").rglob("deu.json")).read_text())
    assert r["model"]["kind"] == "clip" and r["measures"]["R@10"] == 1.0  # 3 images: all within top 10
    assert r["measures"]["R@1"] == pytest.approx(curve[-1]["metrics"]["deu/R@1"])


def test_bad_config_fields(setup, tmp_path):
    root, ds, text = setup
    from training.config import load_config

    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"objective": "image-text", "text_model": str(text), "data": {"path": str(ds)},
                                 "image_text": {"mode": "half"}}))
    with pytest.raises(CsirError, match="field 'image_text.mode' must be one of"):
        load_config(str(p), [])
    with pytest.raises(CsirError, match="field 'epoch' does not exist"):
        load_config(str(p), [("epoch", 3)])


def test_pickle_only_towers_are_refused_before_training(setup, tmp_path, capsys):
    """#16: safetensors only, for both towers (an image tower too), unless `allow_pickle: true`."""
    import shutil

    import torch
    from safetensors.torch import load_file
    from transformers import ConvNextConfig, ConvNextImageProcessor, ConvNextModel

    from training.cli import main

    def to_pickle(folder):  # transformers 5 always saves safetensors: convert as an old checkpoint would be
        for st in list(folder.rglob("*.safetensors")):
            torch.save(load_file(str(st)), st.with_name("pytorch_model.bin"))
            st.unlink()

    root, ds, text = setup
    vision = tmp_path / "pickled-convnext"
    ConvNextModel(ConvNextConfig(num_channels=3, hidden_sizes=[8, 16], depths=[1, 1], num_stages=2)).save_pretrained(
        vision)
    ConvNextImageProcessor(size={"shortest_edge": 32}).save_pretrained(vision)
    to_pickle(vision)
    pickled_text = tmp_path / "pickled-bert"
    shutil.copytree(text, pickled_text)
    to_pickle(pickled_text)
    image_tower = {"mode": "lit", "image_model": str(vision), "projection_dim": 8, "image_size": 32}
    base = {"objective": "image-text", "text_model": str(text), "data": {"path": str(ds), "name": "captions"},
            "image_text": image_tower, "max_steps": 1, "batch_size": 2, "max_length": 32, "tracker": None,
            "output_dir": str(tmp_path / "out")}
    for extra, field in (({}, "image_text.image_model"), ({"text_model": str(pickled_text)}, "text_model")):
        cfg = tmp_path / "c.yaml"
        cfg.write_text(yaml.safe_dump({**base, **extra}))
        assert main(["--config", str(cfg)]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert f"field '{field}': " in err and "weights only as pickle" in err, err
        assert not (tmp_path / "out").exists()
    cfg.write_text(yaml.safe_dump({**base, "allow_pickle": True}))
    assert main(["--config", str(cfg)]) == 0
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_multimodal_configs_load_in_the_unified_schema():
    """configs/multimodal/*.yaml with the README's `--text_model` override: the one TrainConfig."""
    from training.config import load_config

    root = Path(__file__).resolve().parents[1] / "configs" / "multimodal"
    for name in ("mm-emoji-lit-en.yaml", "mm-emoji-lit-cs.yaml"):
        cfg = load_config(str(root / name), [("text_model", "some/folder")])
        assert cfg.objective == "image-text" and cfg.text_model == "some/folder" and cfg.image_text.mode == "lit"
        assert cfg.epochs == 15 and cfg.data.name == "captions"
    cs = load_config(str(root / "mm-emoji-lit-cs.yaml"), []).codeswitch
    assert cs.variant == "ml-cs" and cs.query_langs == ["de", "fr", "it"] and set(cs.lexicons) == {"de", "fr", "it"}


PUBLISHED = {"README.md", "config.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json",
             "tokenizer_config.json", "training_config.yaml", "trainer_state.json"}


def test_push_to_local_store_like_text_models(setup, tmp_path):
    """`push_to_hub` + `version` + `publish_target: store`: one commit tagged with the version, holding the model,
    tokenizer, image processor and card; the card records the commit and names the repo@version."""
    import subprocess

    from csir.hub.local_store import repo_dir

    root, ds, text = setup
    store = tmp_path / "store"
    out = _train(root, ds, text, "pushed", "lit", push_to_hub="my-org/mm-lit", version="v0.1.0",
                 publish_target="store", store_dir=str(store))
    git = repo_dir(store, "model", "my-org/mm-lit")
    commit = subprocess.run(["git", "--git-dir", str(git), "rev-parse", "v0.1.0^{commit}"], capture_output=True,
                            text=True, check=True).stdout.strip()
    files = set(subprocess.run(["git", "--git-dir", str(git), "ls-tree", "-r", "--name-only", commit],
                               capture_output=True, text=True, check=True).stdout.split())
    assert PUBLISHED <= files and not any("checkpoint" in f or "optimizer" in f for f in files)
    card = (out / "README.md").read_text()
    assert f"This version (v0.1.0) is commit `{commit}`." in card
    assert "--model my-org/mm-lit@v0.1.0" in card and 'revision="v0.1.0"' in card
    stored = subprocess.run(["git", "--git-dir", str(git), "show", f"{commit}:README.md"], capture_output=True,
                            text=True, check=True).stdout
    assert "mode-lit" in stored and "my-org/mm-lit" in stored


def test_push_to_hub_through_the_recorder(setup, tmp_path, monkeypatch):
    """`publish_target: hub` (the default): HfApi against the request-recording server, one commit + one tag."""
    import json as _json

    import huggingface_hub
    from hub_recorder import HubRecorder

    root, ds, text = setup
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    with HubRecorder() as hub:
        monkeypatch.setenv("HF_TOKEN", hub.token)
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.endpoint)
        _train(root, ds, text, "pushed-hub", "lit", push_to_hub="my-org/mm-hub", version="v1.0.0")
        repo = hub.repo("model", "my-org/mm-hub")
        commits = hub.calls("commit")
        assert len(commits) == 1 and commits[0].status == 200 and len(hub.calls("tag")) == 1
        lines = [_json.loads(x) for x in commits[0].body.decode().splitlines() if x.strip()]
        paths = {x["value"]["path"] for x in lines if x["key"] in ("file", "lfsFile")}
        assert PUBLISHED <= paths
        sha = repo.tags["v1.0.0"]
        assert repo.branches["main"] == sha
        assert "mode-lit" in repo.commits[sha].files["README.md"].data.decode()
        assert hub.token not in (root / "pushed-hub" / "README.md").read_text()


def test_bad_publish_fields_fail_before_training(setup, tmp_path):
    root, ds, text = setup
    from training.config import load_config

    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"objective": "image-text", "text_model": str(text), "data": {"path": str(ds)},
                                 "push_to_hub": "my-org/x"}))
    with pytest.raises(CsirError, match="field 'version' is required with push_to_hub"):
        load_config(str(p), [])
    with pytest.raises(CsirError, match="field 'publish_target' must be 'hub' or 'store'"):
        load_config(str(p), [("version", "v1.0.0"), ("publish_target", "s3")])
    from training.cli import main

    cfg = {"objective": "image-text", "text_model": str(text), "data": {"path": str(ds), "name": "captions"},
           "push_to_hub": "not-a-repo-id", "version": "v1.0.0", "output_dir": str(tmp_path / "never")}
    p.write_text(yaml.safe_dump(cfg))
    assert main(["--config", str(p)]) == 2 and not (tmp_path / "never").exists()
