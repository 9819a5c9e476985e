"""Paths the tiny-model training tests share: the smoke configs and the fixture pairs they train on."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PAIRS = ROOT / "tests" / "fixtures" / "pairs.jsonl"
SMOKE_CE = ROOT / "configs" / "smoke" / "cross-encoder.yaml"
SMOKE_BE = ROOT / "configs" / "smoke" / "bi-encoder.yaml"
