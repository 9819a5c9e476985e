"""`python -m training.launch`: accelerate's launcher, but a bad config ends with one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.launch import split_args

ROOT = Path(__file__).resolve().parents[1]


def launch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "training.launch", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_split_args():
    assert split_args(["--cpu", "--", "--config", "x"]) == (["--cpu"], ["--config", "x"])
    assert split_args(["--config", "x"]) == ([], ["--config", "x"])


@pytest.mark.parametrize("text, expect", [
    ("model: x\nlr: [1, 2\n", "cfg.yaml:3: invalid YAML"),
    ("no_such_field: 1\n", "no_such_field"),
])
def test_bad_config_is_one_line_exit_2(tmp_path, text, expect):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text, encoding="utf-8")
    r = launch("--cpu", "--num_processes", "1", "--", "--config", str(cfg))
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "CalledProcessError" not in r.stderr, r.stderr[-2000:]
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expect in lines[0] and lines[0].startswith("training: error:"), r.stderr


@pytest.mark.slow
def test_bad_config_two_ranks(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("model: x\nlr: [1, 2\n", encoding="utf-8")
    r = launch("--multi_gpu", "--num_processes", "2", "--", "--config", str(cfg))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert {line for line in r.stderr.splitlines() if line.strip()} == {
        f"training: error: {cfg}:3: invalid YAML (expected ',' or ']', but got '<stream end>')"}


def test_plain_accelerate_launch_says_what_its_traceback_is(tmp_path):
    """`accelerate launch -m training` cannot end without its launcher's traceback (it raises CalledProcessError
    for any failing child); the trainer's line comes first, then one line saying what that traceback is."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("no_such_field: 1\n", encoding="utf-8")
    accelerate = Path(sys.executable).parent / "accelerate"
    r = subprocess.run([str(accelerate), "launch", "--cpu", "--num_processes", "1", "-m", "training", "--config",
                        str(cfg)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 1
    lines = r.stderr.splitlines()  # the child's own lines, then the launcher's traceback (accelerate >= 1.16
    # repeats the child's stderr inside it, as a RuntimeError's message)
    end = next((i for i, line in enumerate(lines) if line.startswith(("Traceback", "RuntimeError:"))), len(lines))
    assert end < len(lines), r.stderr
    ours = [line for line in lines[:end] if line.startswith("training:")]
    assert len(ours) == 2 and "no_such_field" in ours[0] and "python -m training.launch" in ours[1], r.stderr
