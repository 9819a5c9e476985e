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
    assert "output_dir" not in yaml.safe_load((out / "training_config.yaml").read_text())  # a machine path
    scores = CrossEncoder(str(out)).predict([("a query", "a passage"), ("a query", "another passage")])
    assert scores.shape == (2,)


def _gathered_mnrl_rank(rank: int, world: int, port: int, out_dir: str) -> None:
    """One gloo rank: the bi-encoder loss on this rank's half of a fixed global batch, and its gradients."""
    import torch
    import torch.distributed as dist

    from training.objectives import BiEncoderMNRL

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        q, pos, neg = _global_batch()
        half = slice(rank * 4, rank * 4 + 4)
        local = [t[half].clone().requires_grad_(True) for t in (q, pos, neg)]
        loss = BiEncoderMNRL(torch.nn.Identity(), scale=20.0).loss.compute_loss_from_embeddings(local, None)
        loss.backward()
        torch.save({"loss": loss.detach(), "grads": [t.grad for t in local]}, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _global_batch():
    import torch

    g = torch.Generator().manual_seed(0)
    return [torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=-1) for _ in range(3)]


def test_bi_encoder_in_batch_negatives_are_gathered_across_processes(tmp_path):
    """2 ranks x 4 examples give the loss and gradients of one process with the global batch of 8."""
    import socket

    import torch
    import torch.multiprocessing as mp

    from training.objectives import BiEncoderMNRL

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_gathered_mnrl_rank, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]

    whole = [t.clone().requires_grad_(True) for t in _global_batch()]
    loss = BiEncoderMNRL(torch.nn.Identity(), scale=20.0).loss.compute_loss_from_embeddings(whole, None)
    loss.backward()
    # DDP averages the ranks' gradients; the mean of the ranks' losses is the global-batch loss
    assert torch.allclose((ranks[0]["loss"] + ranks[1]["loss"]) / 2, loss.detach(), atol=1e-6)
    for k in range(3):
        got = torch.cat([ranks[0]["grads"][k], ranks[1]["grads"][k]]) / 2
        assert torch.allclose(got, whole[k].grad, atol=1e-6), f"column {k}"
    # without gathering, each rank would only see its own 4 candidates: a different (smaller) loss
    local = BiEncoderMNRL(torch.nn.Identity(), gather_across_devices=False).loss.compute_loss_from_embeddings(
        [t[:4] for t in _global_batch()], None)
    assert not torch.allclose(local, ranks[0]["loss"])
