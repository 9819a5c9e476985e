"""`csir.models`: the one loader (each kind), safetensors-only weights, one-line errors for broken model folders."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

from csir.errors import CsirError
from csir.models import LoadedModel, ModelSpec, check_weights, detect_kind, load_model

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.emoji.tiny_clip import build_tiny_clip  # noqa: E402
from fixtures.evaluation.tiny_models import build_bi_encoder, build_cross_encoder, build_plain_encoder  # noqa: E402
from hub_server import serving_as_hub  # noqa: E402

TEXTS = ["debian package manager", "ein kleines werkzeug", "the quick brown fox"]


def _to_pickle(folder: Path) -> None:
    """Replace every safetensors file by the same tensors as a pickle `pytorch_model.bin`."""
    import torch
    from safetensors.torch import load_file

    for st in list(folder.rglob("*.safetensors")):
        torch.save(load_file(str(st)), st.with_name("pytorch_model.bin"))
        st.unlink()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"bi": build_bi_encoder(root / "bi"), "ce": build_cross_encoder(root / "ce"),
            "plain": build_plain_encoder(root / "plain"), "clip": build_tiny_clip(root / "clip", TEXTS)}


def test_each_kind_loads_through_the_one_loader(built):
    bi = load_model(ModelSpec(str(built["bi"])))
    assert isinstance(bi, LoadedModel) and bi.kind == "bi-encoder" and bi.resolved_revision.startswith("sha256:")
    emb = bi.encode(TEXTS, "query")
    assert emb.shape == (3, bi.dim) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    ce = load_model(ModelSpec(str(built["ce"])))
    assert ce.kind == "cross-encoder" and ce.prompts == {}
    assert len(ce.model.predict([(TEXTS[0], TEXTS[1])], show_progress_bar=False)) == 1
    plain = load_model(ModelSpec(str(built["plain"])))
    assert plain.kind == "bi-encoder" and plain.encode(TEXTS[:1], "document").shape == (1, plain.dim)


def test_dual_encoder_embeds_texts_and_images(built):
    from PIL import Image

    from csir.images import to_rgb
    from csir.models.dual import DualEncoderModel

    m = load_model(ModelSpec(str(built["clip"])))
    assert isinstance(m, DualEncoderModel) and m.kind == "clip" and m.dim == 16
    buf = io.BytesIO()
    Image.new("RGBA", (40, 40), (255, 0, 0, 128)).save(buf, format="PNG")
    img = to_rgb(buf.getvalue(), "test image")
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (255, 127, 127)  # composited on white
    t, i = m.encode(TEXTS, "query"), m.encode_images([img, img])
    assert t.shape == (3, 16) and i.shape == (2, 16) and np.allclose(i[0], i[1])
    with pytest.raises(CsirError, match="bad.png: image cannot be decoded"):
        to_rgb(b"not an image", "bad.png")


def test_tiny_model_for_training(tmp_path):
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from csir.models.text import check_base_model, load_trainable
    from csir.models.tiny import build_tiny_bert, is_tiny

    assert is_tiny("tiny-random-bert") and not is_tiny("org/name")
    path = build_tiny_bert(tmp_path / "tiny", TEXTS, seed=3)
    assert check_base_model(str(path), None, "bi-encoder")["model_type"] == "bert"
    assert isinstance(load_trainable(str(path), "bi-encoder", max_length=32, pooling="cls"), SentenceTransformer)
    ce = load_trainable(str(path), "cross-encoder", max_length=32)
    assert isinstance(ce, CrossEncoder) and ce.num_labels == 1


def test_pickle_weights_are_refused_unless_allowed(built, tmp_path):
    import shutil

    from csir.models.text import load_trainable

    ref = load_model(ModelSpec(str(built["bi"]))).encode(TEXTS, "query")
    pk = tmp_path / "pickled"
    shutil.copytree(built["bi"], pk)
    _to_pickle(pk)
    assert (pk / "pytorch_model.bin").exists() and not list(pk.rglob("*.safetensors"))
    with pytest.raises(CsirError, match=r"^--model: .*pickled: weights only as pickle \(pytorch_model.bin\);.*"
                                        r"pass --allow-pickle") as err:
        load_model(ModelSpec(str(pk)))
    assert "\n" not in str(err.value)
    allowed = load_model(ModelSpec(str(pk), allow_pickle=True))
    assert np.allclose(allowed.encode(TEXTS, "query"), ref, atol=1e-6)
    with pytest.raises(CsirError, match=r"field 'model'.*weights only as pickle.*allow_pickle: true"):
        load_trainable(str(pk), "bi-encoder")
    (pk / "extra.pt").write_bytes(b"")  # any *.pt next to no safetensors is pickle too
    (pk / "pytorch_model.bin").unlink()
    with pytest.raises(CsirError, match=r"weights only as pickle \(extra.pt\)"):
        check_weights(pk)


def test_malformed_configs_are_one_line(built, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(built["plain"], bad)
    (bad / "config.json").write_text('{"architectures": ["BertModel"],\n  "hidden_size": 32,,\n}')
    with pytest.raises(CsirError, match=r"^--model: .*bad/config.json:2: malformed JSON \(.*column \d+\)$"):
        load_model(ModelSpec(str(bad)))
    (bad / "config.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(CsirError, match=r"config.json: not UTF-8 text"):
        detect_kind(bad)
    st = tmp_path / "st"
    shutil.copytree(built["bi"], st)
    (st / "modules.json").write_text("[{")
    with pytest.raises(CsirError, match=r"modules.json:1: malformed JSON"):
        load_model(ModelSpec(str(st)))


def test_cli_refuses_pickle_and_broken_config_with_exit_2(built, tmp_path, capsys):
    import shutil

    from evaluation.cli import main

    pk = tmp_path / "pickled"
    shutil.copytree(built["bi"], pk)
    _to_pickle(pk)
    bad = tmp_path / "bad"
    shutil.copytree(built["plain"], bad)
    (bad / "config.json").write_text("{")
    for model, message in ((pk, "weights only as pickle"), (bad, "malformed JSON")):
        rc = main(["evaluate", "--model", str(model), "--dataset", str(tmp_path), "--output", str(tmp_path / "o")])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "o").exists()


def test_hub_model_with_only_pickle_weights(built, tmp_path, monkeypatch):
    """From the Hub (the test server), pickle files are not even fetched unless allowed."""
    import shutil

    from csir.hub import publish_folder

    pk = tmp_path / "pickled"
    shutil.copytree(built["bi"], pk)
    _to_pickle(pk)
    (pk / "README.md").write_text("---\nlicense: apache-2.0\nlibrary_name: sentence-transformers\n---\n# tiny\n")
    pub = publish_folder(pk, "csir-test/pickled", repo_type="model", version="v1.0.0", target="local",
                         store=tmp_path / "store")
    with serving_as_hub(tmp_path / "store", tmp_path / "serve.log", monkeypatch, tmp_path / "hub-cache"):
        with pytest.raises(CsirError, match=r"^--model: csir-test/pickled: no safetensors weights in the Hub snapshot "
                                            r"\(\w{40}\); .*unless you pass --allow-pickle$"):
            load_model(ModelSpec("csir-test/pickled", "v1.0.0"))
        assert not list((tmp_path / "hub-cache").rglob("pytorch_model.bin"))
        m = load_model(ModelSpec("csir-test/pickled", "v1.0.0", allow_pickle=True))
        assert m.resolved_revision == pub.commit_sha and m.kind == "bi-encoder"
