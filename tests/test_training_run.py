"""End-to-end training on a tiny random model: load back, rank, resume exactly, fail early on bad input."""

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from smoke import ROOT
from smoke import SMOKE_BE as BE
from smoke import SMOKE_CE as CE
from smoke import TRAIN_PAIRS as PAIRS

from csir.errors import CsirError
from training.config import load_config
from training.loop import list_checkpoints, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def cfg_for(path, out, **over):
    over = {"output_dir": str(out), "data.path": str(PAIRS), **over}
    return load_config(path, list(over.items()))


def fixture_groups():
    groups = defaultdict(list)
    for line in PAIRS.read_text().splitlines():
        row = json.loads(line)
        groups[row["query"]].append(row)
    return groups


@pytest.fixture(scope="module")
def ce_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ce") / "model"
    result = train(cfg_for(CE, out))
    return out, result


def test_cross_encoder_smoke_loads_ranks_and_documents_itself(ce_run):
    from huggingface_hub import ModelCard
    from sentence_transformers import CrossEncoder

    out, result = ce_run
    assert result.steps == 150 and result.num_processes == 1
    model = CrossEncoder(str(out))
    assert model.num_labels == 1
    groups = fixture_groups()
    hits = 0
    for query, rows in groups.items():
        ranking = model.rank(query, [r["passage"] for r in rows])
        assert sorted(r["corpus_id"] for r in ranking) == list(range(len(rows)))
        hits += rows[ranking[0]["corpus_id"]]["label"] == 1
    assert hits >= 16, f"positive ranked first for {hits}/40 queries (chance: 8)"
    losses = [e["loss"] for e in result.log_history]
    assert losses[-1] < losses[0]

    card = ModelCard.load(out / "README.md")
    d = card.data.to_dict()
    assert d["pipeline_tag"] == "text-ranking" and d["training_seed"] == 1 and d["training_processes"] == 1
    assert d["base_model_name"] == "tiny-random-bert"
    assert d["training_datasets"][0]["path"] == PAIRS.name  # a local file: its name, never the machine's path
    assert f"| 150 | {result.log_history[-1]['epoch']} |" in card.text
    # the saved config reproduces the run
    saved = yaml.safe_load((out / "training_config.yaml").read_text())
    assert saved["seed"] == 1 and saved["max_steps"] == 150 and saved["data"]["path"] == PAIRS.name
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 150
    # checkpoints and tensorboard logs stay in the run dir, never in the model folder
    run_dir = Path(f"{out}.run")
    assert [s for s, _ in list_checkpoints(run_dir)] == [50, 100]
    assert list((run_dir / "logs").rglob("events.out.tfevents.*"))
    assert not (out / "checkpoints").exists()


def test_bi_encoder_smoke_loads_and_retrieves(tmp_path):
    import numpy as np
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "model"
    result = train(cfg_for(BE, out, tracker=None, save_steps=1000))
    assert result.steps == 30
    model = SentenceTransformer(str(out))
    positives = [r for rows in fixture_groups().values() for r in rows if r["label"] == 1]
    q = model.encode([r["query"] for r in positives], normalize_embeddings=True)
    p = model.encode([r["passage"] for r in positives], normalize_embeddings=True)
    top1 = int((np.argmax(q @ p.T, axis=1) == np.arange(len(positives))).sum())
    assert top1 >= 15, f"{top1}/40 queries retrieve their own passage first (chance: 1)"
    text = (out / "README.md").read_text()
    assert "pipeline_tag: sentence-similarity" in text and "| hard_negatives |" not in text


def test_kill_and_resume_latest_equals_uninterrupted(tmp_path):
    from safetensors.torch import load_file

    common = {"max_steps": 14, "save_steps": 4, "gradient_accumulation_steps": 2, "logging_steps": 1,
              "tracker": None}
    full = train(cfg_for(CE, tmp_path / "full", **common))

    resumed_out = tmp_path / "resumed"
    args = [sys.executable, "-m", "training", "--config", str(CE), "--output-dir", str(resumed_out),
            "--data.path", str(PAIRS)] + [x for k, v in common.items() for x in (f"--{k}", str(v).replace("None", "null"))]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=180,
                            env={**env, "CSIR_TEST_KILL_AFTER_STEP": "7"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_dir = Path(f"{resumed_out}.run")
    assert [s for s, _ in list_checkpoints(run_dir)] == [4]  # step 7 was never saved
    assert not resumed_out.exists()
    half = run_dir / "checkpoints" / ".tmp-step_8"  # as a kill during save_state leaves it
    (half / "pytorch_model").mkdir(parents=True)

    resumed = train(cfg_for(CE, resumed_out, **common), resume="latest")
    assert not half.exists()  # the resumed run (holding the run dir's lock) removed the killed run's half-save
    assert resumed.steps == full.steps == 14
    assert [e["step"] for e in resumed.log_history] == list(range(1, 15))
    assert [e["loss"] for e in resumed.log_history] == pytest.approx([e["loss"] for e in full.log_history])
    a = load_file(tmp_path / "full" / "model.safetensors")
    b = load_file(resumed_out / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].allclose(b[key], atol=1e-6), key
    assert json.loads((resumed_out / "trainer_state.json").read_text())["global_step"] == 14


def test_one_training_per_run_dir(tmp_path):
    import fcntl

    run_dir = tmp_path / "model.run"
    run_dir.mkdir()
    with open(run_dir / ".lock", "a+") as held:  # as a running training holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(CsirError, match=r"model.run: another training is using this run directory"):
            train(cfg_for(CE, tmp_path / "model", max_steps=2))
    assert not (tmp_path / "model").exists()


def test_missing_columns_fail_before_training(tmp_path):
    data = tmp_path / "nolabel.jsonl"
    data.write_text("\n".join(json.dumps({"query": "q", "passage": "p"}) for _ in range(20)))
    cfg = cfg_for(CE, tmp_path / "model", **{"data.path": str(data)})
    with pytest.raises(CsirError, match=r"nolabel.jsonl: field 'label': column missing .*\['query', 'passage'\]"):
        train(cfg)
    assert not (tmp_path / "model").exists() and not (tmp_path / "model.run").exists()


def test_decoder_base_model_is_refused_before_training(tmp_path):
    from transformers import GPT2Config

    gpt = tmp_path / "tiny-gpt2"
    GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, architectures=["GPT2LMHeadModel"]).save_pretrained(gpt)
    for objective in ("cross-encoder", "bi-encoder"):
        cfg = cfg_for(CE, tmp_path / "model", model=str(gpt), objective=objective)
        with pytest.raises(CsirError, match=r"field 'model'.*is not (a sequence-classification encoder|an encoder)"):
            train(cfg)
    cfg = cfg_for(CE, tmp_path / "model", model=str(tmp_path / "does-not-exist"))
    with pytest.raises(CsirError, match="field 'model': '.*does-not-exist' is not a local folder"):  # #18: no Hub try
        train(cfg)
    assert not (tmp_path / "model").exists() and not (tmp_path / "model.run" / "checkpoints").exists()


def test_paper_config_dry_run_on_fixture_folder_with_config_name(tmp_path):
    """configs/ce-mminilm-bl-cs-en-de.yaml on a code-switched dataset folder built from the MS MARCO fixtures."""
    from csir.cli import main as csir

    pairs, cs = tmp_path / "msmarco-pairs", tmp_path / "msmarco-cs"
    assert csir(["msmarco-pairs", "--source", str(ROOT / "tests/fixtures/msmarco"), "--negatives", "4",
                 "--seed", "1", "--output", str(pairs)]) == 0
    assert csir(["codeswitch", "--input", str(pairs), "--input-config", "pairs", "--lexicon",
                 f"de={ROOT / 'tests/fixtures/lexicons/en-de.txt'}", "--variant", "bl-cs", "--passage-lang", "de",
                 "--p", "0.5", "--seed", "1", "--output", str(cs)]) == 0
    out = tmp_path / "model"
    cfg = load_config(ROOT / "configs/ce-mminilm-bl-cs-en-de.yaml",
                      [("data.path", str(cs)), ("model", "tiny-random-bert"), ("max_steps", 2), ("batch_size", 4),
                       ("mixed_precision", "no"), ("max_length", 64), ("output_dir", str(out)), ("tracker", None)])
    result = train(cfg)
    assert result.steps == 2
    text = (out / "README.md").read_text()
    assert "name: bl-cs-p0.5-en-de" in text and "| 60 |" in text


def test_dynamic_codeswitching_and_publish_to_local_store(tmp_path):
    from huggingface_hub import ModelCard

    from training.loop import DynamicSwitch, _dynamic_switcher

    lex = str(ROOT / "tests/fixtures/lexicons/en-de.txt")
    common = {"codeswitch": {"variant": "bl-cs", "p": 1.0, "lexicons": {"de": lex}, "query_langs": ["de"],
                             "passage_langs": ["de"]}}
    cfg = cfg_for(CE, tmp_path / "model", max_steps=3, tracker=None, push_to_hub="my-org/smoke-ce",
                  version="v0.1.0", publish_target="store", store_dir=str(tmp_path / "store"), **common)
    switcher = _dynamic_switcher(cfg)
    batch = {"query": ["the free software for a file system"], "passage": ["a tool for the network"],
             "example_id": ["x1"], "label": [1.0]}
    switched = DynamicSwitch(switcher, epoch=0)(batch)
    assert switched["query"] != batch["query"] and switched["label"] == [1.0]
    assert "für" in switched["passage"][0]

    result = train(cfg)
    assert result.steps == 3 and result.published["version"] == "v0.1.0"
    commit = result.published["commit_sha"]
    assert len(commit) == 40
    tags = subprocess.run(["git", "--git-dir", result.published["url"], "tag", "--points-at", commit],
                          capture_output=True, text=True, check=True).stdout.split()
    assert tags == ["v0.1.0"]
    files = subprocess.run(["git", "--git-dir", result.published["url"], "ls-tree", "-r", "--name-only", commit],
                           capture_output=True, text=True, check=True).stdout.split()
    assert "model.safetensors" in files and "README.md" in files and "training_config.yaml" in files
    assert not any("checkpoint" in f or "optimizer" in f for f in files)
    d = ModelCard.load(tmp_path / "model" / "README.md").data.to_dict()
    assert d["code_switching"]["lexicons"] == {"de": Path(lex).name} and "de" in d["language"]  # a name, not a path


def test_length_grouped_batches_are_deterministic_and_tighter():
    import random

    from training.data import LengthGroupedBatchSampler

    rng = random.Random(0)
    lengths = [rng.randint(5, 500) for _ in range(640)]
    a = LengthGroupedBatchSampler(lengths, 16, seed=1)
    b = LengthGroupedBatchSampler(lengths, 16, seed=1)
    a.set_epoch(3), b.set_epoch(3)
    batches = list(a)
    assert batches == list(b)
    assert sorted(i for batch in batches for i in batch) == list(range(640))
    b.set_epoch(4)
    assert list(b) != batches
    plain = LengthGroupedBatchSampler(lengths, 16, seed=1, group=False)

    def padded(bs):
        return sum(max(lengths[i] for i in batch) * len(batch) for batch in bs)

    assert padded(batches) < 0.75 * padded(list(plain))


def test_csir_train_runs_the_same_code_in_process(tmp_path, capsys):
    from csir.cli import main as csir

    out = tmp_path / "model"
    assert csir(["train", "--config", str(CE), "--output-dir", str(out), "--data.path", str(PAIRS),
                 "--max_steps", "2", "--tracker", "null", "--seed", "7"]) == 0
    assert "training_seed: 7" in (out / "README.md").read_text()
    assert csir(["train", "--config", str(CE), "--output-dir", str(tmp_path / "x"), "--no_such_field", "1"]) == 2
    assert "field 'no_such_field' does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_fp16_without_gpu_is_a_clear_error_and_leaves_no_state(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("fp16 is valid with a GPU")
    with pytest.raises(CsirError, match="field 'mixed_precision'.*fp16"):
        train(cfg_for(CE, tmp_path / "a", mixed_precision="fp16"))
    # a later run in the same process is unaffected
    assert train(cfg_for(CE, tmp_path / "b", max_steps=1, tracker=None)).steps == 1


def test_bf16_on_a_cpu_without_native_kernels_is_said_before_training(tmp_path, monkeypatch, caplog):
    import logging

    import training.loop

    why = "this CPU (AVX2) has no native bfloat16 kernels"
    monkeypatch.setattr(training.loop, "slow_bf16_reason", lambda device: why if device == "cpu" else None)
    with caplog.at_level(logging.WARNING, logger="training.loop"):
        result = train(cfg_for(CE, tmp_path / "a", mixed_precision="bf16", max_steps=1, tracker=None, cpu=True))
    assert result.steps == 1  # a warning, not a refusal: the user asked for bf16
    warned = [r.getMessage() for r in caplog.records if why in r.getMessage()]
    assert len(warned) == 1 and "field 'mixed_precision'" in warned[0] and "mixed_precision: no" in warned[0]
    caplog.clear()
    train(cfg_for(CE, tmp_path / "b", mixed_precision="no", max_steps=1, tracker=None, cpu=True))
    assert not [r for r in caplog.records if why in r.getMessage()]


def test_bi_encoder_training_texts_carry_the_models_prompts(tmp_path):
    """An e5-style base model's saved prompts are used in training exactly as evaluation encodes with them."""
    import datasets
    from sentence_transformers import SentenceTransformer

    from csir.models import saved_prompts
    from csir.models.tiny import build_tiny_bert
    from training import data as data_mod

    build_tiny_bert(tmp_path / "m", ["query: passage: red apple green pear blue sky"])
    model = SentenceTransformer(str(tmp_path / "m"))
    assert not any(saved_prompts(model, "plain").values())
    assert saved_prompts(model, "org/multilingual-e5-small") == {"query": "query: ", "document": "passage: "}
    model.prompts = {"query": "query: ", "passage": "passage: "}
    prompts = saved_prompts(model, "plain")
    assert prompts == {"query": "query: ", "document": "passage: "}

    cfg = cfg_for(BE, tmp_path / "out")
    row = {"query": "red apple", "positive": "green pear", "negative_0": "blue sky"}
    enc = data_mod.tokenize(datasets.Dataset.from_list([row]), model.tokenizer, cfg, prompts)[0]
    decode = lambda ids: model.tokenizer.decode(ids, skip_special_tokens=True)  # noqa: E731
    assert decode(enc["query.input_ids"]) == "query : red apple"
    assert decode(enc["positive.input_ids"]) == "passage : green pear"
    assert decode(enc["negative_0.input_ids"]) == "passage : blue sky"
    batch = data_mod.TextCollator(model.tokenizer, cfg, prompts=prompts)([row])
    assert [decode(c["input_ids"][0]) for c in batch["columns"]] == ["query : red apple", "passage : green pear",
                                                                      "passage : blue sky"]
    plain = data_mod.tokenize(datasets.Dataset.from_list([row]), model.tokenizer, cfg, None)[0]
    assert decode(plain["query.input_ids"]) == "red apple"
