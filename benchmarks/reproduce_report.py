"""The reproduction report and plot, regenerated from the committed run records only (benchmarks/results/reproduce).

Nothing here trains or evaluates: a table cell exists only where a committed JSON holds its per-query scores, and
the cells the config asks for but nobody has run yet are listed with what they cost. Statistics: seed-aware
bootstrap over seeds and queries (`evaluation.significance.seed_aware_test`), delta with 95% CI, Bonferroni over
the pairs of a table.

usage: python benchmarks/reproduce_report.py [--config configs/reproduce/offline.yaml]
"""

from __future__ import annotations

import collections
import json
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METRIC = "RR@10"
SETUP_ORDER = ["zero-shot", "bl-cs", "ml-cs", "wiki-cs", "translate-train"]


def setup_order(setup: str) -> tuple:
    return next((i for i, k in enumerate(SETUP_ORDER) if setup.startswith(k)), len(SETUP_ORDER)), setup


def prior_loss(grid_train: dict, negatives: int) -> float:
    """The loss of a model that has learned nothing but the label prior: BCE entropy at 1:N, or ln(1+N) for the
    listwise softmax (uniform over the group)."""
    if grid_train.get("ce_loss", "bce") == "listwise":
        return math.log(1 + negatives)
    p = 1 / (1 + negatives)
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


BASE_GAIN = 0.01  # a bi-encoder run "left the base model" when its last dev RR@10 is at least 1 point above step 0's


def left_prior(loss_curve: list, grid: dict, negatives: int = 4, dev_curve: list | None = None) -> bool | None:
    """Did the run leave its starting point? (One that did not is a bug to fix, not a data point.)
    Cross-encoders: the mean of the last three logged losses is below 90% of the label prior's loss.
    Bi-encoders (which start as a working embedding model, not at a prior): the last dev-curve point is at least
    `BASE_GAIN` above the step-0 point (`eval_at_start`). None when the log or the curve cannot tell."""
    if grid.get("objective") != "cross-encoder":
        dev = dev_curve or []
        if len(dev) < 2 or dev[0][0] != 0:
            return None
        return dev[-1][1] >= dev[0][1] + BASE_GAIN
    if len(loss_curve) < 3:
        return None
    return statistics.fmean(v for _, v in loss_curve[-3:]) < 0.9 * prior_loss(grid.get("train", {}), negatives)


def base_settings(settings: dict) -> dict:
    """What an untrained base model's scores depend on, from a cell's settings: the base, the evaluation set,
    how it ranks (dense search, or the cross-encoder grid's top-k), the length and the precision. Its digest
    names the committed base-model record, shared by every grid that evaluates the same way."""
    return {"base_model": settings["base_model"], "eval": settings["eval"],
            "ranks": "dense" if settings["objective"] != "cross-encoder" else f"top-{settings.get('rerank_k')}",
            "max_length": settings["train"]["max_length"], "eval_precision": settings.get("eval_precision")}


def load_runs(runs_dir: Path) -> tuple[list[dict], dict, dict, dict]:
    """(run records, {eval digest: first-stage record}, {(grid, digest): cost record}, {base digest: base-model
    record}) committed under `runs_dir`. An add-on record's pairs are merged into its run's results, and the run
    remembers them (`_addons`: {name: add-on eval settings}), so every table, test and verdict reads them alike."""
    runs, first, costs, bases, addons = [], {}, {}, {}, []
    for path in sorted(runs_dir.rglob("*.json")):
        rec = json.loads(path.read_text(encoding="utf-8"))
        if rec.get("kind") == "first-stage":
            first[rec["digest"]] = rec
        elif rec.get("kind") == "cost":
            costs[(rec["grid"], rec["digest"])] = rec
        elif rec.get("kind") == "base-model":
            bases[rec["digest"]] = rec
        elif rec.get("kind") == "addon":
            rec["_path"] = path
            addons.append(rec)
        elif rec.get("schema") == 2 and "kind" not in rec:  # a run (probes: `load_probes`)
            rec["_path"] = path
            rec["_addons"] = {}
            runs.append(rec)
    by_cell = {(r["grid"], r["digest"], r["setup"], r["seed"]): r for r in runs}
    same_name: dict = {}  # (grid, digest, add-on name) -> first record: one table column, one evaluation
    for a in addons:
        run = by_cell.get((a["grid"], a["digest"], a["setup"], a["seed"]))
        if run is None:  # an add-on of a run that is no longer committed: nothing to attach it to
            continue
        seen = same_name.setdefault((a["grid"], a["digest"], a["addon"]), a)
        if seen["eval"] != a["eval"]:
            raise ValueError(f"{a['_path']}: add-on '{a['addon']}' was evaluated with other settings than "
                             f"{seen['_path'].name} (same grid and runs); give the changed add-on a new name in "
                             "the config's eval_addons")
        run["_addons"][a["addon"]] = a["eval"]
        merge_pairs(run["results"], a["results"])
    return runs, first, costs, bases


def load_probes(runs_dir: Path) -> list[dict]:
    """Probe records (`benchmarks/translate_train_probe.py`): a cell retrained with a dev curve per language pair."""
    probes = []
    for path in sorted((runs_dir / "probe").glob("*.json")):
        rec = json.loads(path.read_text(encoding="utf-8"))
        if rec.get("kind") == "probe":
            probes.append(rec)
    return probes


def probe_lines(grid: str, digest: str, probes: list[dict]) -> str:
    """What the probes of this grid's cells measured: each pair's dev RR@10 from step 0 to the last evaluation."""
    mine = [p for p in probes if p["grid"] == grid and p["grid_digest"] == digest]
    if not mine:
        return ""

    def curve(p: dict) -> str:
        return "; ".join(f"{pair} " + " → ".join(fmt(v) for _, v in c)
                         + f" ({'+' if c[-1][1] >= c[0][1] else ''}{fmt(c[-1][1] - c[0][1])})"
                         for pair, c in p["dev_curves"].items())

    steps = sorted({p["steps"] for p in mine})
    return ("**Probes: is a run that stays put on the DE→EN dev curve learning its own task?** "
            "(`benchmarks/translate_train_probe.py`: the cell retrained for "
            + "/".join(map(str, steps)) + f" steps with the same data and optimiser, scoring dev RR@10 per "
            f"language pair on {mine[0]['dev_queries_per_pair']} training-side packages per pair that neither "
            "zero-shot nor translate-train trains on; step 0 is the untrained base) "
            + "; ".join(f"{p['setup']} s{p['seed']}: {curve(p)}" for p in mine) + ".")


def merge_pairs(results: dict, other: dict) -> None:
    """Add `other`'s {stage: {pair: row}} to `results` (an add-on's pairs beside the evaluation's own)."""
    for stage, per_pair in other.items():
        results.setdefault(stage, {}).update(per_pair)


def with_addons(rec: dict | None, extra: list[dict | None]) -> dict | None:
    """A first-stage or base-model record with the add-on evaluations' rows (same queries, collection and first
    stages; other pairs) merged in."""
    found = [r for r in (rec, *extra) if r is not None]
    if not found:
        return None
    out = {**found[0], "results": {stage: dict(pp) for stage, pp in found[0]["results"].items()}}
    for other in found[1:]:
        merge_pairs(out["results"], other["results"])
    return out


def addon_counts(setups: dict) -> list[tuple[str, dict, int]]:
    """(add-on name, its evaluation settings, runs that carry it) for every add-on of a table, by name."""
    runs = [r for rs in setups.values() for r in rs]
    names = sorted({n for r in runs for n in r.get("_addons", {})})
    return [(n, next(r["_addons"][n] for r in runs if n in r.get("_addons", {})),
             sum(n in r.get("_addons", {}) for r in runs)) for n in names]


def addon_evals(setups: dict) -> list[dict]:
    return [e for _, e, _ in addon_counts(setups)]


def table_pairs(setups: dict) -> list[str]:
    """The evaluation's pairs, then every add-on's."""
    settings = next(iter(setups.values()))[0]["settings"]
    return list(dict.fromkeys([*settings["eval"]["pairs"], *[p for e in addon_evals(setups) for p in e["pairs"]]]))


def group_runs(runs: list[dict]) -> dict:
    """(grid, digest) -> setup -> [records sorted by seed]: only runs with identical settings share a table."""
    out: dict = {}
    for r in runs:
        out.setdefault((r["grid"], r["digest"]), {}).setdefault(r["setup"], []).append(r)
    return {k: {s: sorted(v[s], key=lambda r: r["seed"]) for s in sorted(v, key=setup_order)}
            for k, v in sorted(out.items())}


def flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def settings_diff(old: dict, new: dict) -> str:
    """'train.head_learning_rate 0.001 (now 0.01)': what makes a superseded table differ from the config's."""
    a, b = flat(old), flat(new)
    return ", ".join(f"`{k}` {a.get(k, 'unset')} (now {b.get(k, 'unset')})"
                     for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))


def current_first(cfg: dict, grouped: dict) -> tuple[dict, dict]:
    """The tables of the config's own settings first (in grid order), then superseded ones; and, per grid name,
    the config's current settings (to say what a superseded table differs in)."""
    import reproduce_offline as drv

    now = {}
    for g in cfg["grids"]:
        settings = drv.cell_settings(cfg, g)
        now[g["name"]] = (drv.digest(settings), settings)
    rank = {(name, dg): i for i, (name, (dg, _)) in enumerate(now.items())}
    order = sorted(grouped, key=lambda k: (k not in rank, rank.get(k, 0), k))
    return {k: grouped[k] for k in order}, now


def describe(settings: dict, setups: dict) -> str:
    t, d, e = settings["train"], settings["data"], settings["eval"]
    runs = [r for rs in setups.values() for r in rs]
    seeds = sorted({r["seed"] for r in runs})
    rows = sorted({r["train_rows"] for r in runs if r["setup"] != "translate-train"})
    tt_rows = sorted({r["train_rows"] for r in runs if r["setup"] == "translate-train"})
    steps = sorted({r["steps"] for r in runs})
    bits = [f"base **{settings['base']}** (`{settings['base_model']}`), objective **{settings['objective']}**"
            + (f" ({t.get('ce_loss', 'bce')} loss)" if settings["objective"] == "cross-encoder" else ""),
            f"**{'/'.join(map(str, steps))} steps** x batch {t['batch_size']} (lr {t['learning_rate']}"
            + (f", head lr {t['head_learning_rate']}" if t.get("head_learning_rate") else "")
            + (f", warmup {t['warmup_ratio']:.0%}" if t.get("warmup_ratio") is not None else
               f", warmup {t.get('warmup_steps')} steps")
            + f", max length {t['max_length']} in training and evaluation"
            + (", word embeddings frozen" if t.get("freeze_word_embeddings") else "")
            + (f", {t['mixed_precision']} mixed precision" if t.get("mixed_precision", "no") != "no" else "") + ")",
            f"training data: **{d['train_queries']} queries** x (1 positive + {d['negatives']} {d['negatives_from']} "
            f"negatives) = {'/'.join(map(str, rows)) or '–'} rows per setup, negatives from "
            + ("every non-held-out package" if d["negative_pool"] == "all" else "the training queries' packages")
            + (f", near-duplicates of the positive removed (same package family, or word Jaccard > 0.9 in the "
               f"first {d['near_duplicate_words']} words)" if d.get("near_duplicate_words") else "")
            + (f"; translate-train: {d['train_queries'] // len(settings['langs'])} queries per language "
               f"({', '.join(settings['langs'])}; DDTP's human translations, query and passage in that language, "
               f"none a dev-curve query) = {'/'.join(map(str, tt_rows))} rows" if tt_rows else ""),
            f"**seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}**"]
    if settings["objective"] == "cross-encoder":
        bits.append(f"re-ranks the first stage's **top-{settings['rerank_k']}**")
    if settings.get("eval_precision"):
        bits.append(f"evaluated in {settings['eval_precision']}"
                    + (" (encoder under autocast, head in float32)" if settings["eval_precision"] == "bf16" else ""))
    bits.append(f"evaluation: held-out DDTP packages with a translation in {', '.join(e['langs'])}"
                + (f", capped at {e['max_queries']} queries" if e.get("max_queries") else ", every such query"))
    return "; ".join(bits) + "."


def fmt(x: float) -> str:
    return f"{100 * x:.1f}"


def zero_shot_tests(setups: dict, stage: str, pairs: list[str], reference: str = "zero-shot",
                    only: list[str] | None = None) -> dict[str, dict]:
    """{setup: {pair: SeedAwareTest vs zero-shot}}, Bonferroni over one setup's pairs: one computation that the
    table and the verdict on the paper's claims both read, so they cannot disagree. `reference`/`only`: the same
    test of `only` these setups against another one (code-switching against translate-train)."""
    from evaluation.significance import bonferroni_seed_aware, seed_aware_test

    zs = [r for r in setups.get(reference, []) if counts(r) and stage in r["results"]]
    out = {}
    for setup, recs in setups.items():
        recs = [r for r in recs if stage in r["results"] and counts(r)]
        if not recs or not zs or setup == reference or (only is not None and setup not in only):
            continue
        found = [seed_aware_test(p, METRIC, [r["results"][stage][p]["per_query"] for r in recs],
                                 [r["results"][stage][p]["per_query"] for r in zs],
                                 [r["seed"] for r in recs], [r["seed"] for r in zs], n_boot=4000)
                 for p in pairs if all(p in r["results"][stage] for r in recs + zs)]
        out[setup] = {t.subset: t for t in bonferroni_seed_aware(found)}
    return out


def table(setups: dict, first: dict | None, stage: str, pairs: list[str], k: int | None, base: dict | None,
          tests_by_setup: dict) -> list[str]:
    """`tests_by_setup`: zero_shot_tests' result for this stage (the verdict section reads the same one)."""
    lines = ["| setup | seeds | " + " | ".join(pairs) + " | mean |", "|---|---:|" + "---:|" * (len(pairs) + 1)]
    fixed = []
    if first is not None and stage in first["results"]:
        fixed.append((f"first stage alone ({stage})", first["results"][stage]))
    if base is not None and stage in base["results"]:
        how = "dense search" if stage == "dense" else f"re-ranking the top-{k}"
        fixed.append((f"{base['base']} embeddings, no fine-tuning ({how})", base["results"][stage]))
    for label, fs in fixed:
        cells = [fmt(fs[p]["measures"][METRIC]) if p in fs else "–" for p in pairs]
        vals = [fs[p]["measures"][METRIC] for p in pairs if p in fs]
        lines.append(f"| {label} | – | " + " | ".join(cells) + f" | {fmt(statistics.fmean(vals)) if vals else '–'} |")
    for setup, recs in setups.items():
        recs = [r for r in recs if stage in r["results"] and counts(r)]
        if not recs:
            continue
        tests = tests_by_setup.get(setup, {})
        cells, means = [], []
        for p in pairs:
            vals = [r["results"][stage][p]["measures"][METRIC] for r in recs if p in r["results"][stage]]
            if not vals:
                cells.append("–")
                continue
            m = statistics.fmean(vals)
            means.append(m)
            cell = fmt(m) + (f"±{fmt(statistics.stdev(vals))}" if len(vals) > 1 else "")
            t = tests.get(p)
            if t is not None:
                cell += (f" ({100 * t.delta:+.1f} [{100 * t.ci_low:+.1f}, {100 * t.ci_high:+.1f}]"
                         f"{'*' if t.significant else ''}, p={t.p_bonferroni:.2g})")
            cells.append(cell)
        lines.append(f"| {setup} | {len(recs)} | " + " | ".join(cells)
                     + f" | {fmt(statistics.fmean(means)) if means else '–'} |")
    return lines


PAPER_CLAIMS = {"CLIR": "+5.1 over zero-shot", "MLIR": "+3.9 over zero-shot", "MoIR": "stable"}


def pair_kind(pair: str) -> str:
    from builders.evalsets.tasks import parse_pair

    return {"clir": "CLIR", "mlir": "MLIR", "moir": "MoIR"}[parse_pair(pair).setup]  # the evaluator's own reading


def claim_verdict(kind: str, t) -> str:
    """One test's reading against the paper's claim for that kind of pair, in words a reader can check."""
    if kind == "MoIR":
        if not t.significant:
            return "stable, as in the paper"
        return f"{'rises' if t.delta > 0 else 'drops'} (significant); the paper: stable"
    if t.significant:
        return "a significant gain, as in the paper" if t.delta > 0 else "a significant loss; the paper: a gain"
    return ("the paper's direction, not significant" if t.delta > 0
            else "no gain (not significant); the paper: a gain")


def per_seed(t, p: float | None) -> str:
    """The seed-paired deltas (and `p`, their t-test), so a mean gain that one seed carries is visible at a glance."""
    if not t.paired_seeds or len(t.seed_deltas) < 2:
        return ""
    out = "; per seed " + ", ".join(f"{100 * d:+.1f}" for d in t.seed_deltas)
    if p is not None:
        out += f" (a t-test on these {len(t.seed_deltas)} alone, uncorrected: p={p:.2g})"
    return out


def seed_ttest_p(t) -> float | None:
    """The bootstrap's seed level has few distinct draws with 3 seeds (10); a one-sample t-test on the seed-paired
    deltas alone (df = seeds - 1) is the conservative reading of the same runs, so the report shows both."""
    if not t.paired_seeds or len(t.seed_deltas) < 3 or len(set(t.seed_deltas)) < 2:
        return None
    from scipy import stats

    return float(stats.ttest_1samp(t.seed_deltas, 0.0).pvalue)


def seeds(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")


def paper_verdict(title: str, setups: dict, stage: str, pairs: list[str], tests: dict, fixed: dict[str, dict[str, float]],
                  seeds_asked: int) -> list[str]:
    """The report's plain answer to "what reproduces?" for one table: every code-switched setup's seed-aware
    delta to zero-shot, read against the paper's claim for its kind of pair, with the caveats that limit it."""
    lines = [f"**{title}**", ""]

    def reading(t, setup: str, reference: str) -> tuple[str, str]:
        """(the delta, its CI and p and the per-seed deltas; the caveats) of a test of `setup` against `reference`."""
        p_seeds = seed_ttest_p(t)
        n_ref = len([r for r in setups.get(reference, []) if counts(r) and stage in r["results"]])
        few = ""
        if min(t.seeds_model, n_ref) < seeds_asked:
            few = (f"; rests on {seeds(t.seeds_model)} of {setup} and {seeds(n_ref)} of {reference}, of the "
                   f"{seeds_asked} the grid asks for"
                   + (" (one seed: the interval covers query sampling only)" if min(t.seeds_model, n_ref) == 1
                      else ""))
        return (f"{100 * t.delta:+.1f} [{100 * t.ci_low:+.1f}, {100 * t.ci_high:+.1f}], p={t.p_bonferroni:.2g}"
                f"{per_seed(t, p_seeds)}", few + ("; the t-test on the seed deltas alone does not confirm it "
                                                  "(p >= 0.05)" if t.significant and (p_seeds or 0.0) >= 0.05 else ""))

    for pair in pairs:
        kind = pair_kind(pair)
        for setup, by_pair in tests.items():
            t = by_pair.get(pair)
            if t is None:
                continue
            numbers, caveats = reading(t, setup, "zero-shot")
            if setup == "translate-train":  # a baseline on human translations, not a code-switched setup
                lines.append(f"- {kind} {pair}: translate-train (human translations; the baseline code-switching "
                             f"does without) {numbers}: "
                             + (("a significant gain" if t.delta > 0 else "a significant loss") if t.significant
                                else "no significant difference") + f" over zero-shot{caveats}.")
                continue
            lines.append(f"- {kind} {pair} (the paper: {PAPER_CLAIMS[kind]}): {setup} {numbers}: "
                         f"{claim_verdict(kind, t)}{caveats}.")
    cs = [s for s in tests if s != "translate-train"]
    if "translate-train" in tests and cs:  # the best code-switched setup against translate-train, same test
        versus = zero_shot_tests(setups, stage, pairs, reference="translate-train", only=cs)
        for pair in [p for p in pairs if pair_kind(p) != "MoIR"]:
            found = {s: t for s, by_pair in versus.items() if (t := by_pair.get(pair)) is not None}
            if not found:
                continue
            best, t = max(found.items(), key=lambda kv: kv[1].delta)
            numbers, caveats = reading(t, best, "translate-train")
            lines.append(f"- {pair_kind(pair)} {pair}, code-switching against translate-train: the best "
                         f"code-switched setup, {best}, {numbers}: "
                         + (("above" if t.delta > 0 else "below") + " translate-train (significant)" if t.significant
                            else "no significant difference") + f"{caveats}.")
    for pair in [p for p in pairs if pair_kind(p) != "MoIR"]:  # the cross-lingual pairs (CLIR, MLIR)
        trained = {s: statistics.fmean(r["results"][stage][pair]["measures"][METRIC] for r in recs)
                   for s, recs in ((s, [r for r in rs if counts(r) and stage in r["results"]
                                        and pair in r["results"][stage]]) for s, rs in setups.items()) if recs}
        if not trained or not fixed.get(pair):
            continue
        best = max(trained, key=trained.get)
        above = [f"{label} ({fmt(v)})" for label, v in fixed[pair].items() if v > trained[best]]
        lines.append(f"- Best trained setup on {pair}: {best} ({fmt(trained[best])}); "
                     + (f"still below {' and '.join(above)}: training has not yet beaten every untrained "
                        "ranking on this pipeline." if above else "above every untrained ranking in the table."))
    counted = [r for rs in setups.values() for r in rs if counts(r) and stage in r["results"]]
    for pair in [p for p in pairs if pair_kind(p) == "MLIR" and not any(p in t for t in tests.values())]:
        lack = [r for r in counted if pair not in r["results"][stage]]
        if lack:
            lines.append(f"- MLIR {pair} (the paper: {PAPER_CLAIMS['MLIR']}): not tested yet; its add-on evaluation "
                         f"is missing for {run_labels(lack)}.")
    if not any(pair_kind(p) == "MLIR" for p in pairs):
        lines.append(f"- MLIR (the paper: {PAPER_CLAIMS['MLIR']}): not measured; the evaluation pairs are "
                     f"{', '.join(pairs)}, with no multilingual collection.")
    return lines + [""]


def recall_line(first: dict | None, stage: str, pairs: list[str], k: int | None) -> str:
    if stage == "dense":
        return "No first stage: every passage of the collection is scored."
    if first is None or stage not in first["results"]:
        return "First stage: no committed first-stage record for this evaluation set."
    fs = first["results"][stage]
    parts = []
    for p in pairs:
        if p in fs:
            m = fs[p]["measures"]
            rk = m.get(f"R@{k}") if k else None
            parts.append(f"{p} R@10 {fmt(m['R@10'])}" + (f", R@{k} {fmt(rk)}" if rk is not None else "")
                         + f" ({fs[p]['num_queries']} queries)")
    return f"First stage `{stage}` recall (the re-ranker's ceiling): " + "; ".join(parts) + "."


def counts(rec: dict) -> bool:
    """Whether a run is data: one that never left its starting point (`left_prior` false) is a bug to fix, and
    stays out of every mean, test and bar (None, "cannot tell", counts) -- unless a probe of its cell showed that
    it learns its own training pairs (`_learned_by_probe`): then staying put on DE->EN is its result, not a bug."""
    return rec.get("left_prior") is not False or bool(rec.get("_learned_by_probe"))


def probe_learned(probe: dict) -> list[str]:
    """The probe's pairs whose dev RR@10 rose at least `BASE_GAIN` above step 0 (the run's own level to leave)."""
    return [pair for pair, c in probe["dev_curves"].items() if c and c[0][0] == 0 and c[-1][1] >= c[0][1] + BASE_GAIN]


def mark_probed_runs(runs: list[dict], probes: list[dict]) -> None:
    """A run that stayed at its base on the dev curve counts when a probe of the same cell (grid settings, setup,
    seed) learned one of its pairs: e.g. translate-train, trained on German/French/Italian pairs only."""
    for run in runs:
        if run.get("left_prior") is not False:
            continue
        learned = next((pairs for p in probes if (p["grid"], p["grid_digest"], p["setup"], p["seed"])
                        == (run["grid"], run["digest"], run["setup"], run["seed"]) and (pairs := probe_learned(p))),
                       None)
        if learned:
            run["_learned_by_probe"] = learned


def run_labels(runs: list[dict]) -> str:
    """`setup sN`, comma-separated."""
    return ", ".join(f"{r['setup']} s{r['seed']}" for r in runs)


def named_runs(runs: list[dict]) -> str:
    """`setup sN (dev RR@10 a/b/c)`, comma-separated: how the report names runs it singles out."""
    return ", ".join(f"{r['setup']} s{r['seed']} (dev RR@10 " + ("/".join(fmt(v) for _, v in r["dev_curve"]) or "–")
                     + ")" for r in runs)


def stuck_scores(runs: list[dict]) -> str:
    """Each excluded run's test MRR@10 per first stage and pair: `setup sN: stage de-en 51.1, en-en 63.9`."""
    return "; ".join(f"{r['setup']} s{r['seed']}: " + "; ".join(
        f"{stage} " + ", ".join(f"{pair} {fmt(res['measures'][METRIC])}" for pair, res in pairs.items())
        for stage, pairs in r["results"].items()) for r in runs)


def stuck_runs(setups: dict) -> str:
    """Runs that never left their starting point are kept out of every mean and test (issue #14: a bug to fix,
    not a data point), and named here so they cannot be overlooked."""
    probed = [r for rs in setups.values() for r in rs if r.get("_learned_by_probe")]
    kept = (f"**In the tables although their DE→EN dev curve stayed at the base model's level: {named_runs(probed)}.** "
            "A probe of the same cell (below) learned its own training pairs ("
            + ", ".join(sorted({p for r in probed for p in r["_learned_by_probe"]}))
            + "): the run trains, so its scores are data, not a bug's output." if probed else "")
    stuck = [r for rs in setups.values() for r in rs if not counts(r)]
    if not stuck:
        return kept
    why = ("training loss still at the label prior" if stuck[0]["objective"] == "cross-encoder" else
           f"dev RR@10 not {100 * BASE_GAIN:.0f} point above the base model's")
    return (f"**Not in the tables: {len(stuck)} run(s) that never left their starting point** ({why}; a bug to "
            f"fix, not a data point): {named_runs(stuck)}. What they scored on the test pairs, so that leaving them "
            f"out hides nothing: {stuck_scores(stuck)}. Their records stay committed for the diagnosis."
            + (f"\n\n{kept}" if kept else ""))


PLATEAU = 0.02  # a dev curve whose last point is more than 2 RR@10 points above the one before is still rising


def curved_runs(setups: dict) -> list[dict]:
    """The runs in the tables whose dev curve has at least two points: what the plateau and peak checks read."""
    return [r for rs in setups.values() for r in rs if counts(r) and len(r["dev_curve"]) >= 2]


def still_rising(setups: dict) -> str:
    """Runs whose dev curve was still rising at the last step: in the tables (they are the configured method's
    seed variance), but named, because issue #14 asks every run to reach its plateau."""
    rising = [r for r in curved_runs(setups) if r["dev_curve"][-1][1] - r["dev_curve"][-2][1] > PLATEAU]
    if not rising:
        return ""
    return (f"**Not at a plateau: {len(rising)} run(s) whose dev curve still rose by more than "
            f"{100 * PLATEAU:.0f} points at the last step** (more steps, or a faster start, are needed before their "
            f"cells mean what they should): {named_runs(rising)}.")


def past_peak(setups: dict) -> str:
    """Runs whose dev curve ended more than `PLATEAU` below its best point: trained past their peak on the dev
    pair. In the tables (the configured fixed-step method, as the paper's), but named, since the last checkpoint
    is what the test scores."""
    peaks = [(r, max(r["dev_curve"], key=lambda point: point[1])) for r in curved_runs(setups)]
    fell = [(r, peak) for r, peak in peaks if peak[1] - r["dev_curve"][-1][1] > PLATEAU]
    if not fell:
        return ""
    named = ", ".join(f"{r['setup']} s{r['seed']} {fmt(value)} at step {step} -> {fmt(r['dev_curve'][-1][1])} at step "
                      f"{r['dev_curve'][-1][0]}" for r, (step, value) in fell)
    return (f"**Past their peak: {len(fell)} run(s) whose dev curve ended more than {100 * PLATEAU:.0f} points "
            f"below its best point** (the test scores the last checkpoint, as the paper's fixed schedule; dev RR@10 "
            f"best -> last): {named}.")


def costs(setups: dict) -> str:
    runs = [r for rs in setups.values() for r in rs]
    tr = [r["train_seconds"] for r in runs]
    ev = [r["eval_seconds"] for r in runs]
    pps = [r["pairs_per_second"] for r in runs if r.get("pairs_per_second")]
    learned = [r["left_prior"] for r in runs if r.get("left_prior") is not None]
    machines = collections.Counter(r["machine"] for r in runs)
    where = "; ".join(m + (f": {n} run{'s' if n > 1 else ''}" if len(machines) > 1 else "") for m, n in machines.items())
    text = (f"Cost per run, measured ({where}; shared with other jobs): training median "
            f"{statistics.median(tr) / 60:.1f} min ({statistics.median(pps):.1f} pairs/s), evaluation median "
            f"{statistics.median(ev) / 60:.1f} min.") if pps else ""
    if learned and runs[0]["objective"] == "cross-encoder":
        text += f" Runs whose training loss left the label prior: {sum(learned)}/{len(learned)}."
    elif learned:
        text += (f" Runs whose dev RR@10 rose at least {100 * BASE_GAIN:.0f} point above the base model's (step 0): "
                 f"{sum(learned)}/{len(learned)}.")
    return text


def stages(settings: dict) -> list[str]:
    """Cross-encoders re-rank each first stage of the evaluation; bi-encoders search the whole collection."""
    return settings["eval"]["first_stages"] if settings["objective"] == "cross-encoder" else ["dense"]


STAGE_DOC = {"dense": "none: exact dense search over the whole collection (faiss)",
             "bm25-en": "English BM25 (the English query against the English collection; the same candidates for "
                        "every pair, as the paper's fixed `top1000.dev`; for X→EN an oracle-like first stage)",
             "bm25-pair": "BM25 on the pair's own query and collection (never sees the English query: the realistic "
                          "pipeline)"}


def cell_cpu_seconds(cfg: dict, grid: dict, cost: dict, n_queries: int) -> tuple[float, dict]:
    """Estimated CPU seconds of one cell from a committed cost measurement: training pairs, dev-curve re-ranking
    and test re-ranking, each times its measured CPU seconds per pair (model loading included, so an upper bound)."""
    t, e, d = grid["train"], cfg["eval"], cfg["data"]
    train_pairs = t["max_steps"] * t["batch_size"]
    per_train = cost["train"]["cpu_s"] / cost["train"]["pairs"]
    parts = {"train": train_pairs * per_train}
    if grid["objective"] == "cross-encoder":
        per_pair = cost["eval"]["cpu_s"] / cost["eval"]["pairs"]
        n_evals = len(e["pairs"]) + (len(e["first_stages"]) - 1) * len([p for p in e["pairs"] if p != "en-en"])
        parts["test"] = n_evals * n_queries * grid["rerank_k"] * per_pair
        if t.get("eval_steps") and d.get("dev_queries"):
            n_dev = math.ceil(t["max_steps"] / t["eval_steps"])
            parts["dev"] = n_dev * d["dev_queries"] * d.get("dev_top_k", 10) * per_pair
    else:
        parts["test"] = len(e["pairs"]) * cost["eval"]["cpu_s"]
        if t.get("eval_steps"):
            parts["dev"] = math.ceil(t["max_steps"] / t["eval_steps"]) * cost["eval"]["cpu_s"]
    return sum(parts.values()), parts


def missing_cells(cfg: dict, runs: list[dict], costs: dict, n_queries: int | None) -> list[str]:
    import reproduce_offline as drv

    lines = []
    for grid in cfg["grids"]:
        dg = drv.digest(drv.cell_settings(cfg, grid))
        done = [r for r in runs if r["grid"] == grid["name"] and r["digest"] == dg]
        have = {(r["setup"], r["seed"]) for r in done}
        todo = [(s, seed) for seed in grid["seeds"] for s in grid["setups"] if (s, seed) not in have]
        for addon in cfg.get("eval_addons") or []:
            want = drv.addon_cfg(cfg, addon)["eval"]
            lack = [r for r in done if r["_addons"].get(addon["name"]) != want]
            if lack:
                lines.append(f"- `{grid['name']}` add-on `{addon['name']}` ({', '.join(addon['pairs'])}): missing for "
                             f"{len(lack)} of {len(done)} committed runs — {run_labels(lack)}"
                             + "; evaluated from the run's kept model (`make reproduce` on the machine that has it).")
        if not todo:
            lines.append(f"- `{grid['name']}`: complete ({len(done)} runs).")
            continue
        cost = costs.get((grid["name"], dg))
        if done:
            per = statistics.median(r["train_seconds"] + r["eval_seconds"] for r in done)
            machines = " / ".join(sorted({r.get("machine", "?") for r in done}))
            est = f"~{per / 60:.0f} min each as measured (median of {len(done)} finished, on {machines}), " \
                  f"~{len(todo) * per / 3600:.1f} h in all"
        elif cost is not None and n_queries:
            cpu, parts = cell_cpu_seconds(cfg, grid, cost, n_queries)
            est = (f"~{cpu / 3600:.1f} CPU-core hours each (training {parts['train'] / 3600:.1f}, test re-ranking "
                   f"{parts['test'] / 3600:.1f}" + (f", dev curve {parts['dev'] / 3600:.1f}" if "dev" in parts else "")
                   + f"; from `cost/{grid['name']}-{dg}.json`), ~{len(todo) * cpu / 3600:.0f} CPU-core hours in all: "
                   f"at best ~{len(todo) * cpu / 7200:.0f} h on an idle 2-core machine")
        else:
            est = "cost not measured yet (`--measure-cost STEPS QUERIES`)"
        if drv.uses_bf16(grid):
            est += ("; bf16 autocast (part of the digest): a GPU or an AVX512-BF16/AMX CPU, never an AVX2-only CPU "
                    "(there 7-30x slower: the driver skips these cells)")
        lines.append(f"- `{grid['name']}` ({grid['base']} {grid['objective']}, {grid['train']['max_steps']} steps x "
                     f"{grid['train']['batch_size']}): {len(todo)} of {len(todo) + len(done)} missing — "
                     + ", ".join(f"{s} s{seed}" for s, seed in todo) + f"; {est}.")
    return lines


def cost_lines(costs: dict) -> list[str]:
    lines = []
    for (name, dg), c in sorted(costs.items()):
        tr, ev = c["train"], c["eval"]
        lines.append(f"- `{name}` ({dg}): training {tr['pairs']} pairs ({tr['steps']} steps) took {tr['cpu_s']:.0f} "
                     f"CPU-s ({tr['cpu_s'] / tr['pairs']:.2f} per pair) and {tr['wall_s'] / 60:.1f} min of wall time; "
                     + (f"re-ranking {ev['pairs']} pairs ({ev['queries']} queries) {ev['cpu_s']:.0f} CPU-s "
                        f"({ev['cpu_s'] / ev['pairs']:.3f} per pair)" if ev["pairs"] else
                        f"evaluating {ev['queries']} queries {ev['cpu_s']:.0f} CPU-s")
                     + f", {ev['wall_s'] / 60:.1f} min. Model loading, and for training tokenizing the whole training "
                       f"set, are included, so the per-pair figures are upper bounds; {c['threads']} thread(s), "
                       f"load average {c['load_average']} on {c['machine']}.")
    return lines


def first_stage_section(fs: dict | None) -> list[str]:
    if fs is None:
        return ["No committed first-stage record for this evaluation set yet.", ""]
    e = fs["eval"]
    ks = sorted({int(m[2:]) for st in fs["results"].values() for p in st.values() for m in p["measures"]
                 if m.startswith("R@")})
    first_pair = next(iter(next(iter(fs["results"].values())).values()))
    lines = [f"Held-out DDTP packages with a translation in {', '.join(e['langs'])}: "
             + f"{next(iter(next(iter(fs['results'].values())).values()))['num_queries']} queries"
             + (f" (a hash-ordered sample of at most {e['max_queries']})" if e.get("max_queries") else "")
             + (f", searched in a collection of {first_pair['num_corpus']} passages (every held-out package with those "
                f"translations)" if "num_corpus" in first_pair else "")
             + f"; candidates to depth {e['top_k']}. Each first stage alone, and its recall (the re-ranker's ceiling):",
             "", "| first stage | pair | MRR@10 | " + " | ".join(f"R@{k}" for k in ks) + " |",
             "|---|---|---:|" + "---:|" * len(ks)]
    for stage, per_pair in fs["results"].items():
        for pair, r in per_pair.items():
            m = r["measures"]
            lines.append(f"| {stage} | {pair} | {fmt(m[METRIC])} | " + " | ".join(fmt(m[f'R@{k}']) for k in ks) + " |")
    lines += ["", "; ".join(f"`{k}`: {v}" for k, v in STAGE_DOC.items() if k in fs["results"]) + ".", ""]
    return lines


def cs_query_lines(root: Path, pattern: str | None) -> list[str]:
    """The code-switched-query results of `benchmarks/codeswitched_queries.py` (#12), one line per model and seed:
    measured apart from this grid (own models and budget), so the report cites them, it does not merge them."""
    lines = []
    for path in sorted(root.glob(pattern)) if pattern else []:
        rec = json.loads(path.read_text(encoding="utf-8"))
        cs = [s for s in rec["subsets"] if s != "eng-eng"]
        st = rec["settings"]
        for model, arms in rec["scores"].items():
            if not {"English-trained", "code-switched-trained"} <= set(arms):
                continue
            en, sw = arms["English-trained"], arms["code-switched-trained"]
            diffs = [100 * (sw[s] - en[s]) for s in cs]
            lines.append(
                f"- `{path.relative_to(root)}`, {model}, seed {st['seed']} ({st['train_queries']} training queries, "
                f"{st['steps']} steps x {st['batch_size']}, {st['eval_queries']} EN-EN queries): clean queries "
                f"{100 * en['eng-eng']:.1f} English-trained vs {100 * sw['eng-eng']:.1f} code-switched-trained; on "
                f"its {len(cs)} code-switched query subsets, code-switched-trained minus English-trained: "
                f"{statistics.mean(diffs):+.1f} on average ({min(diffs):+.1f} to {max(diffs):+.1f}).")
    if not lines:
        return []
    return ["## Code-switched queries (#12): measured apart from this grid", "",
            "English queries with words switched to German or French (`csir evalset codeswitch-queries`), searched "
            "by bi-encoders trained on English or on ML-CS data: a smaller, separate experiment "
            "(`benchmarks/codeswitched_queries.py`, dense search, one seed per file), not on this grid's models; "
            "RR@10 x 100, no significance claimed.", ""] + lines + [""]


def render(cfg: dict, root: Path) -> tuple[str, dict]:
    import reproduce_offline as drv

    runs, first, cost_recs, bases = load_runs(root / cfg["runs"])
    probes = load_probes(root / cfg["runs"])
    mark_probed_runs(runs, probes)
    grouped, now = current_first(cfg, group_runs(runs))
    current_fs = with_addons(first.get(json_digest(cfg["eval"])),
                             [first.get(json_digest(drv.addon_cfg(cfg, a)["eval"])) for a in cfg.get("eval_addons") or []])
    lines = ["# Does code-switched training help? Offline reproduction on DDTP", "",
             "Method of Litschko et al. (2023) on Debian's human-translated package descriptions (DDTP). Generated by "
             "`make reproduce` (`benchmarks/reproduce_offline.py`, config `configs/reproduce/offline.yaml`) from the "
             "committed run records in `benchmarks/results/reproduce/` only; each record holds per-query scores, the "
             "settings and their digest, the code commit, seed, steps, data size and the loss/dev curves. It replaces "
             "the previous report (`reproduce_offline_v1.md`, kept for reference; issue #14 lists why it could not "
             "answer the question).", "",
             "MRR@10 x 100: mean±sd over seeds. In brackets: the delta to zero-shot with its 95% CI and the "
             "Bonferroni-corrected p (over the table's pairs) of a seed-aware test — a bootstrap over seeds AND "
             "queries, so a difference that rests on one seed is not called significant; `*` = p < 0.05. A row "
             "with 1 seed has no seed variance to estimate: its interval covers query sampling only.", "",
             "## Evaluation set and first stages", ""] + first_stage_section(current_fs)
    verdicts: list[list[str]] = []
    for (grid, dg), setups in grouped.items():
        any_run = next(iter(setups.values()))[0]
        settings = any_run["settings"]
        pairs = table_pairs(setups)
        extra = addon_evals(setups)
        runs_here = [r for rs in setups.values() for r in rs]
        with_dev = sum(bool(r["dev_curve"]) for r in runs_here)
        if grid in now and now[grid][0] == dg:
            lines += [f"## {grid} ({dg}): the config's current settings", ""]
        else:
            lines += [f"## {grid} ({dg}): earlier settings, superseded", "",
                      "Kept as measured evidence; not the configured method. "
                      + (f"Differs from the current `{grid}` settings in: {settings_diff(settings, now[grid][1])}."
                         if grid in now else f"The config no longer has a `{grid}` grid."), ""]
        lines += [describe(settings, setups)
                  + "".join(f" Pairs {', '.join(e['pairs'])} (add-on `{name}`): evaluated afterwards on the same kept "
                            f"models and evaluation set, in {n} of {len(runs_here)} runs."
                            for name, e, n in addon_counts(setups)), "",
                  f"Dev-set curves (RR@10 on training-side packages that are not training queries, re-ranking "
                  f"their English-BM25 top-{cfg['data'].get('dev_top_k', 10)}, every {settings['train'].get('eval_steps')} "
                  "steps" + (" and at step 0" if settings["train"].get("eval_at_start") else "")
                  + f"): recorded for {with_dev} of {len(runs_here)} runs"
                  + ("" if with_dev == len(runs_here) else " (the others were trained by a loop without eval_steps; "
                     "the plot shows their training loss instead)") + ".", ""]
        fs = with_addons(first.get(json_digest(settings["eval"])), [first.get(json_digest(e)) for e in extra])
        base = with_addons(bases.get(json_digest(base_settings(settings))),
                           [bases.get(json_digest(base_settings({**settings, "eval": e}))) for e in extra])
        for stage in stages(settings):
            lines += [f"### First stage: {STAGE_DOC.get(stage, stage)}", ""]
            tests = zero_shot_tests(setups, stage, pairs)
            lines += table(setups, fs, stage, pairs, settings.get("rerank_k"), base, tests)
            if grid in now and now[grid][0] == dg:
                fixed = {p: {label: rec["results"][stage][p]["measures"][METRIC]
                             for label, rec in ((f"{stage} alone", fs),
                                                (f"the untrained {base['base'] if base else ''} embeddings", base))
                             if rec is not None and stage in rec["results"] and p in rec["results"][stage]}
                         for p in pairs}
                verdicts.append(paper_verdict(f"{grid}, first stage {stage}", setups, stage, pairs, tests, fixed,
                                              len(next(g for g in cfg["grids"] if g["name"] == grid)["seeds"])))
            lines += ["", recall_line(fs, stage, pairs, settings.get("rerank_k") or settings["eval"]["top_k"]), ""]
        for extra in (stuck_runs(setups), probe_lines(grid, dg, probes), still_rising(setups), past_peak(setups),
                      costs(setups)):
            if extra:
                lines += [extra, ""]
    if verdicts:
        lines += ["## What reproduces the paper's claims, and what does not (current settings)", "",
                  "Read off the tables above: each code-switched setup's seed-aware delta to zero-shot (95% CI, "
                  "Bonferroni p), against the paper's claim for that kind of pair; translate-train's, and the best "
                  "code-switched setup's delta to translate-train, where it was run. A significant delta that rests "
                  "on fewer seeds than the grid asks for says so.", ""]
        lines += [line for v in verdicts for line in v]
    n_q = next(iter(next(iter(current_fs["results"].values())).values()))["num_queries"] if current_fs else None
    lines += cs_query_lines(root, cfg.get("codeswitched_queries"))
    lines += ["## Cells not run yet, and what they cost", ""] + (missing_cells(cfg, runs, cost_recs, n_q) or ["- none"])
    lines += ["", "Cost measurements (committed by `--measure-cost`):", ""] + (cost_lines(cost_recs) or ["- none"])
    lines += [""]
    lines += ["## The paper's numbers (orientation only)", "",
              "Litschko et al. (2023) train mMiniLMv2 cross-encoders for 200k steps on MS MARCO and re-rank the "
              "mMARCO BM25 top-1000; their abstract reports average gains over zero-shot of +5.1 MRR@10 (CLIR) and "
              "+3.9 (MLIR), with stable MoIR. The DDTP setup differs in domain, collection size, model and budget, "
              "so only the direction of an effect is comparable.", ""]
    return "\n".join(lines), grouped


def json_digest(obj) -> str:
    import reproduce_offline as drv

    return drv.digest(obj)


def plot_first_stages(first: dict | None, path: Path) -> None:
    """Before any run is committed: each first stage's MRR@10 and recall per pair (the ceiling of a re-ranker)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.4))
    if first is not None:
        bars = [(f"{stage}\n{pair}", r["measures"]) for stage, pp in first["results"].items() for pair, r in pp.items()]
        keys = [k for k in (METRIC, "R@10", "R@20", "R@100") if all(k in m for _, m in bars)]
        width = 0.8 / len(keys)
        for j, k in enumerate(keys):
            ax.bar([i + (j - (len(keys) - 1) / 2) * width for i in range(len(bars))],
                   [100 * m[k] for _, m in bars], width, label=k)
        ax.set_xticks(range(len(bars)), [b for b, _ in bars], fontsize=8)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_ylabel("x 100")
    ax.set_title("First stages alone (no trained run committed yet)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot(grouped: dict, path: Path, first: dict | None = None) -> None:
    """Per table: MRR@10 bars per pair and setup (first first stage), and each run's dev (or loss) curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not grouped:
        plot_first_stages(first, path)
        return
    fig, axes = plt.subplots(len(grouped), 2, figsize=(13, 3.4 * len(grouped)), squeeze=False)
    every = sorted({s for setups in grouped.values() for s in setups}, key=setup_order)
    color = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(every)}
    for (ax, cax), ((grid, dg), setups) in zip(axes, grouped.items()):
        settings = next(iter(setups.values()))[0]["settings"]
        stage, pairs = stages(settings)[0], table_pairs(setups)
        width = 0.8 / max(len(setups), 1)
        for k, (setup, recs) in enumerate(setups.items()):
            recs = [r for r in recs if counts(r)]  # as the tables
            vals = [[100 * r["results"][stage][p]["measures"][METRIC] for r in recs
                     if stage in r["results"] and p in r["results"][stage]] for p in pairs]
            ax.bar([i + (k - (len(setups) - 1) / 2) * width for i in range(len(pairs))],
                   [statistics.fmean(v) if v else 0 for v in vals], width,
                   yerr=[statistics.stdev(v) if len(v) > 1 else 0 for v in vals], capsize=2, color=color[setup],
                   label=f"{setup} ({len(recs)} seed{'s' if len(recs) != 1 else ''}"
                   + (", runs kept out" if not recs else "") + ")")
        ax.set_xticks(range(len(pairs)), pairs)
        ax.set_ylabel("MRR@10 x 100")
        ax.set_title(f"{grid} ({dg}): first stage {stage}", fontsize=9)
        ax.legend(fontsize=7)
        dev = any(r["dev_curve"] for rs in setups.values() for r in rs)
        for setup, recs in setups.items():
            for r in recs:
                curve = r["dev_curve"] if dev else r["loss_curve"]
                if curve:
                    cax.plot([s for s, _ in curve], [v for _, v in curve], color=color[setup], alpha=0.8,
                             linestyle=["-", "--", ":"][(r["seed"] - 1) % 3], label=f"{setup} s{r['seed']}")
        cax.set_xlabel("step")
        cax.set_ylabel(f"dev {METRIC}" if dev else "training loss")
        cax.set_title(f"{grid} ({dg}): {'dev-set curve' if dev else 'training loss'} per run", fontsize=9)
        cax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(cfg: dict, root: Path = ROOT) -> dict:
    from csir.atomic import atomic_file

    text, grouped = render(cfg, root)
    report = root / cfg["report"]
    report.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(report) as fh:
        fh.write(text + "\n")
    png = report.with_suffix(".png")
    runs, first, _, _ = load_runs(root / cfg["runs"])
    plot(grouped, png, first.get(json_digest(cfg["eval"])))
    return {"report": report, "plot": png}


def main(argv=None) -> None:
    import reproduce_offline as drv

    from csir.argparser import CsirArgumentParser

    ap = CsirArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "reproduce" / "offline.yaml"))
    args = ap.parse_args(argv)
    paths = write(drv.load_config(args.config))
    print(f"report: {paths['report']}\nplot: {paths['plot']}")


if __name__ == "__main__":
    main()
