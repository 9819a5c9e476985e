"""Image-text training (objective image-text): LiT keeps the text encoder frozen, full fine-tuning moves it; captions
are code-switched with the project's switcher; the saved model is evaluated by `csir evaluate` and has a card."""

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
    cfg = {"objective": "image-text", "text_model": str(text), "data": str(ds), "mode": mode, "epochs": 2,
           "batch_size": 2, "image_size": 32, "cnn_widths": [8, 16], "projection_dim": 8, "seed": 3,
           "output_dir": str(root / name), **extra}
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


PUBLISHED = {"README.md", "config.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json",
             "tokenizer_config.json", "training_info.json"}


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
    from training.multimodal import load_mm_config

    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"objective": "image-text", "text_model": str(text), "data": str(ds),
                                 "push_to_hub": "my-org/x"}))
    with pytest.raises(CsirError, match="field 'version' is required with push_to_hub"):
        load_mm_config(str(p), [])
    with pytest.raises(CsirError, match="field 'publish_target' must be 'hub' or 'store'"):
        load_mm_config(str(p), [("version", "v1.0.0"), ("publish_target", "s3")])
    from training.cli import main

    cfg = {"objective": "image-text", "text_model": str(text), "data": str(ds), "push_to_hub": "not-a-repo-id",
           "version": "v1.0.0", "output_dir": str(tmp_path / "never")}
    p.write_text(yaml.safe_dump(cfg))
    assert main(["--config", str(p)]) == 2 and not (tmp_path / "never").exists()
