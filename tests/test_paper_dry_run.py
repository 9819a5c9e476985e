"""The paper pipeline, unchanged but for scale: MS MARCO triples (fixtures in the real TSV format) ->
1:4 pairs -> BL-CS en-de code-switching -> the paper's cross-encoder config, 2 steps (`--max_steps 2`).
The paper's base model (mMiniLMv2) cannot be downloaded here, so only `model` is swapped for a tiny random
BERT; fp16 needs a GPU, so mixed precision is off on CPU."""

import json
import subprocess
import sys
from pathlib import Path

import datasets
from sentence_transformers import CrossEncoder

ROOT = Path(__file__).resolve().parents[1]


def csir(*args):
    r = subprocess.run([sys.executable, "-m", "builders", *map(str, args)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def test_paper_config_dry_run(tmp_path, fixtures):
    csir("msmarco-pairs", "--source", fixtures / "msmarco", "--negatives", 4, "--output", tmp_path / "pairs")
    csir("codeswitch", "--input", tmp_path / "pairs", "--input-config", "pairs",
         "--lexicon", f"de={fixtures / 'lexicons' / 'en-de.txt'}", "--variant", "bl-cs", "--passage-lang", "de",
         "--p", 0.5, "--seed", 1, "--output", tmp_path / "msmarco-cs")
    assert len(datasets.load_dataset(str(tmp_path / "msmarco-cs"), "bl-cs-p0.5-en-de", split="train")) % 5 == 0
    out = tmp_path / "model"
    csir("train", "--config", ROOT / "configs" / "ce-mminilm-bl-cs-en-de.yaml", "--model", "tiny-random-bert",
         "--data.path", tmp_path / "msmarco-cs", "--max_steps", 2, "--batch_size", 4, "--mixed_precision", "no",
         "--tracker", "null", "--output-dir", out)
    state = json.loads((out / "trainer_state.json").read_text())
    assert state.get("global_step", state.get("step")) == 2
    card = (out / "README.md").read_text()
    assert "bl-cs-p0.5-en-de" in card and "code-switching" in card
    scores = CrossEncoder(str(out)).predict([("what is a dog", "a dog is an animal"), ("q", "p")])
    assert len(scores) == 2
