"""`accelerate launch --multi_gpu --num_processes 2 -m training` on a CPU host: two gloo DDP ranks, one model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
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


def _tiny_towers_and_set(root: Path):
    """Emoji set (captions + eng/deu subsets), a tiny BERT text tower and a tiny ConvNeXt image tower, with cards."""
    import datasets
    from transformers import CLIPImageProcessor, ConvNextConfig, ConvNextModel

    from builders.evalsets.emoji import EmojiSetConfig, build_emoji_evalset
    from csir.models.tiny import build_tiny_bert

    fixtures = ROOT / "tests" / "fixtures"
    ds = build_emoji_evalset(fixtures / "emoji" / "npm", root / "set", EmojiSetConfig(langs=["en", "de"],
                                                                                     directions=["t2i"]))
    captions = datasets.load_dataset(str(ds), "captions", split="train")["text"]
    text = build_tiny_bert(root / "bert", [*captions, "Hund Gesicht Katze Apfel"], seed=0, max_position=64)
    image = root / "convnext"
    ConvNextModel(ConvNextConfig(num_channels=3, patch_size=4, num_stages=2, hidden_sizes=[8, 16], depths=[1, 1],
                                 image_size=32)).save_pretrained(image)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(image)
    for folder in (text, image):
        (Path(folder) / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny test tower\n")
    return ds, text, image


@pytest.mark.slow
def test_image_text_two_processes_kill_resume_byte_identical_with_card(tmp_path):
    """The image-text objective under `accelerate launch --multi_gpu --num_processes 2` (gloo on CPU), towers and
    data by Hub id from the served local store, dynamic code-switching and a dev curve: killed after a checkpoint
    and resumed, it ends with the same bytes as an uninterrupted run; its card has base_model (both towers),
    datasets and model-index."""
    from hub_server import start_server
    from huggingface_hub import ModelCard

    from csir.hub import publish_folder

    store = tmp_path / "store"
    ds, text, image = _tiny_towers_and_set(tmp_path)
    publish_folder(ds, "csir-test/emoji", version="v1.0.0", target="local", store=store)
    publish_folder(text, "csir-test/tiny-bert", repo_type="model", version="v1.0.0", target="local", store=store)
    publish_folder(image, "csir-test/tiny-convnext", repo_type="model", version="v1.0.0", target="local", store=store)
    cfg = {"objective": "image-text", "text_model": "csir-test/tiny-bert", "model_revision": "v1.0.0",
           "image_text": {"mode": "full", "image_model": "csir-test/tiny-convnext", "image_model_revision": "v1.0.0",
                          "projection_dim": 8, "text_learning_rate": 1e-3},
           "data": {"path": "csir-test/emoji", "name": "captions", "revision": "v1.0.0"},
           "codeswitch": {"variant": "bl-cs", "p": 0.5, "query_langs": ["de"],
                          "lexicons": {"de": str(ROOT / "tests" / "fixtures" / "lexicons" / "en-de.txt")}},
           "eval_steps": 4, "eval_dataset": {"path": "csir-test/emoji", "revision": "v1.0.0", "subsets": ["eng", "deu"],
                                             "metrics": ["R@1", "R@10"], "primary_metric": "R@10"},
           "max_steps": 10, "save_steps": 4, "batch_size": 1, "learning_rate": 2e-3, "lr_scheduler": "constant",
           "warmup_steps": 0, "max_length": 32, "logging_steps": 1, "tracker": None, "seed": 5}
    config = tmp_path / "mm.yaml"
    config.write_text(yaml.safe_dump(cfg))
    accelerate = Path(sys.executable).with_name("accelerate")
    proc, endpoint = start_server(store, tmp_path / "serve.log")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "client-home"),
           "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1",
           "HF_DATASETS_CACHE": str(tmp_path / "client-home" / "datasets")}

    def launch(out: Path, port: int, *extra, **env_extra):
        cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
               "-m", "training", "--config", str(config), "--output-dir", str(out), *extra]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env={**env, **env_extra})

    try:
        full = launch(tmp_path / "full", 29541)
        assert full.returncode == 0, full.stderr[-3000:]
        killed = launch(tmp_path / "resumed", 29542, CSIR_TEST_KILL_AFTER_STEP="6")
        assert killed.returncode != 0 and not (tmp_path / "resumed").exists()
        ckpts = sorted(p.name for p in (tmp_path / "resumed.run" / "checkpoints").iterdir())
        assert ckpts == ["step_4"], ckpts  # step 6 was never saved
        resumed = launch(tmp_path / "resumed", 29543, "--resume-from-checkpoint", "latest")
        assert resumed.returncode == 0, resumed.stderr[-3000:]
    finally:
        proc.kill()
        proc.wait()
    assert full.stdout.count("trained 10 steps on 2 process(es)") == 2, full.stdout[-2000:]
    a = (tmp_path / "full" / "model.safetensors").read_bytes()
    assert a == (tmp_path / "resumed" / "model.safetensors").read_bytes()
    state = json.loads((tmp_path / "resumed" / "trainer_state.json").read_text())
    assert state["hyperparameters"]["num_processes"] == 2 and [p["step"] for p in state["dev_curve"]] == [4, 8, 10]
    assert state == json.loads((tmp_path / "full" / "trainer_state.json").read_text())
    card = ModelCard.load(tmp_path / "resumed" / "README.md")
    d = card.data.to_dict()
    assert d["base_model"] == ["csir-test/tiny-bert", "csir-test/tiny-convnext"]
    assert d["datasets"] == ["csir-test/emoji"] and d["library_name"] == "transformers"
    assert d["training_processes"] == 2 and d["code_switching"]["query_langs"] == ["de"]
    results = {(r.dataset_config, r.metric_name) for r in card.data.eval_results}
    assert results == {(s, m) for s in ("eng", "deu") for m in ("R@1", "R@10")}
