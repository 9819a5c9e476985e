"""`accelerate launch --multi_gpu --num_processes 2 -m training` on a CPU host: two gloo DDP ranks, one model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_two_process_launch_trains_both_ranks_and_writes_one_model(tmp_path):
    from huggingface_hub import ModelCard
    from sentence_transformers import CrossEncoder

    out = tmp_path / "model"
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29533",
           "-m", "training", "--config", "configs/smoke/cross-encoder.yaml", "--output-dir", str(out),
           "--max_steps", "12", "--save_steps", "6", "--logging_steps", "3", "--tracker", "null"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # both ranks ran the loop to the end, each seeing a world of 2
    assert proc.stdout.count("trained 12 steps on 2 process(es)") == 2, proc.stdout[-2000:]
    # one model, written once (rank 0): only the model folder and its run dir exist
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "model.run"]
    ckpt = out.parent / "model.run" / "checkpoints" / "step_6"
    assert (ckpt / "random_states_0.pkl").exists() and (ckpt / "random_states_1.pkl").exists()
    card = ModelCard.load(out / "README.md")
    assert card.data.to_dict()["training_processes"] == 2
    assert "on 2 processes (`MULTI_CPU`)" in card.text and "| total_batch_size | 32 |" in card.text
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 12 and state["hyperparameters"]["num_processes"] == 2
    assert [e["step"] for e in state["log_history"]] == [3, 6, 9, 12]
    assert yaml.safe_load((out / "training_config.yaml").read_text())["output_dir"] == str(out)
    scores = CrossEncoder(str(out)).predict([("a query", "a passage"), ("a query", "another passage")])
    assert scores.shape == (2,)
