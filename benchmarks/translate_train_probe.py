"""Did a translate-train run learn its own task? A dev curve on the language pairs it trains on, beside DE->EN.

The reproduction's dev curve measures DE->EN only. A translate-train run trains on German, French and Italian
queries against passages in the same language (DDTP's human translations); when its DE->EN dev curve stays at the
base model's level (minilm-bi, whose English WordPiece vocabulary shreds German words), that alone cannot tell a
broken run from one that learned its monolingual task without transferring to CLIR. This probe trains the grid's
cell again (same base, data, optimiser, batch; fewer steps unless told) and scores, at step 0 and every
`--eval-steps`, a dev set with both pairs: DE->DE (its training task, in German) and DE->EN (the test direction),
on training-side packages that are neither zero-shot nor translate-train training queries.

One small JSON per probe (kind `probe`) is committed under the reproduction's `runs:` folder (`probe/`); the report
quotes it beside the run it diagnoses. Models are not kept.

usage: python benchmarks/translate_train_probe.py [--config configs/reproduce/offline.yaml] [--grid minilm-bi] [--setups translate-train,zero-shot]
           [--seeds 1] [--steps 100] [--eval-steps 50] [--pairs de-de,de-en]
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import reproduce_offline as ro  # noqa: E402

from csir.atomic import atomic_file  # noqa: E402
from csir.hub.load import load_repo_dataset  # noqa: E402


def training_queries(data: Path) -> set[str]:
    """Package ids that are training queries of the zero-shot variant or of translate-train."""
    ids = set(load_repo_dataset(data / "ddtp-codeswitched", "zero-shot-meta", split="train")["id"])
    if (data / "translate-train" / "build_manifest.json").exists():
        ids |= set(load_repo_dataset(data / "translate-train", "translate-train", split="train")["id"])
    return {i.split("#")[0] for i in ids}


def probe_dev_set(cfg: dict, data: Path, pairs: list[str]) -> Path:
    """The probe's dev set: `pairs` on training-side packages that no probed setup trains on (same size, seed and
    depth as the reproduction's dev set)."""
    from builders.evalsets.tasks import parse_pair
    from builders.evalsets.text import EvalsetConfig, build_ddtp_evalset

    d = cfg["data"]
    path = data / f"ddtp-dev-probe-{ro.digest(pairs)}"
    if not (path / "build_manifest.json").exists():
        ddtp, _ = ro.sources(cfg)
        langs = sorted({x for p in pairs for x in p.split("-")})
        build_ddtp_evalset(ddtp, path, EvalsetConfig(langs=langs, top_k=d.get("dev_top_k", 20),
                                                    max_queries=d["dev_queries"], seed=1),
                           [parse_pair(p) for p in pairs], dev_exclude=training_queries(data))
    return path


def probe_path(cfg: dict, grid: dict, setup: str, seed: int, settings: dict) -> Path:
    return ROOT / cfg["runs"] / "probe" / f"{grid['name']}-{setup}-s{seed}-{ro.digest(settings)}.json"


def pair_curves(model: Path, state: dict, pairs: list[str]) -> dict[str, list]:
    """{pair: [[step, RR@10], ...]} from the run's per-subset dev scores in its trainer `state` (subsets are MTEB
    names: `deu-eng`)."""
    from builders.evalsets.tasks import parse_pair

    subsets = {parse_pair(p).subset: p for p in pairs}
    out: dict[str, list] = {}
    for point in state.get("dev_curve", []):
        for key, value in point.get("metrics", {}).items():
            subset, _, metric = key.rpartition("/")
            if metric == ro.METRIC and subset in subsets:
                out.setdefault(subsets[subset], []).append([point["step"], round(float(value), 5)])
    missing = [p for p in pairs if p not in out]
    if missing:
        raise SystemExit(f"{model / 'trainer_state.json'}: no per-pair dev curve for {', '.join(missing)}")
    return {p: out[p] for p in pairs}


def main(argv=None) -> None:
    from csir.argparser import CsirArgumentParser

    ap = CsirArgumentParser(description=__doc__.splitlines()[0])
    ro.add_config_args(ap)
    ap.add_argument("--grid", default="minilm-bi")
    ap.add_argument("--setups", default="translate-train,zero-shot")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--eval-steps", type=int, default=50)
    ap.add_argument("--pairs", default="de-de,de-en")
    args = ap.parse_args(argv)
    cfg = ro.config_from_args(args)
    grid = next((g for g in cfg["grids"] if g["name"] == args.grid), None)
    if grid is None:
        ap.error(f"--grid: no grid named {args.grid!r} in {args.config}")
    setups, pairs = args.setups.split(","), args.pairs.split(",")
    probe_grid = {**grid, "train": {**grid["train"], "max_steps": args.steps, "eval_steps": args.eval_steps,
                                    "eval_at_start": True}}
    data = ro.training_data(cfg, setups)
    dev = probe_dev_set(cfg, data, pairs)
    settings = {"cell": ro.cell_settings(cfg, probe_grid), "probe_pairs": pairs}
    grid_digest = ro.digest(ro.cell_settings(cfg, grid))
    for seed in [int(s) for s in args.seeds.split(",")]:
        for setup in setups:
            out = probe_path(cfg, grid, setup, seed, settings)
            if out.exists():
                print(f"probe: {ro.rel(out)} is committed; skipping")
                continue
            model = ROOT / cfg["work"] / "probes" / out.stem
            shutil.rmtree(model, ignore_errors=True)
            train_s = ro.train(cfg, probe_grid, setup, seed, data, dev, model)
            commit, dirty = ro.code_commit()
            loss, _ = ro.curves(model)
            state = json.loads((model / "trainer_state.json").read_text())
            rec = {"schema": ro.SCHEMA, "kind": "probe", "grid": grid["name"], "setup": setup, "seed": seed,
                   "grid_digest": grid_digest, "digest": ro.digest(settings),
                   "settings": settings, "dev_queries_per_pair": cfg["data"]["dev_queries"],
                   "steps": state.get("global_step"), "dev_curves": pair_curves(model, state, pairs), "loss_curve": loss, "train_seconds": round(train_s, 1),
                   "code_commit": commit, "code_dirty": dirty, "machine": ro.machine(),
                   "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            out.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(out) as fh:
                json.dump(rec, fh, indent=1)
            print(f"probe: wrote {ro.rel(out)}: " + "; ".join(
                f"{p} RR@10 " + " -> ".join(f"{100 * v:.1f}" for _, v in c) for p, c in rec["dev_curves"].items()))
            shutil.rmtree(model, ignore_errors=True)


if __name__ == "__main__":
    main()
