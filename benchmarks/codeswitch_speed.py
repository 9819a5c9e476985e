"""Throughput of our code-switching vs the paper's reference procedure and vs a floor, side by side on the same
passages, in one run.

- reference (Litschko et al.'s scripts): NLTK Treebank tokenize -> per token `random.random() < p` and a
  lower-cased lookup of single-word entries -> Treebank detokenize, one process;
- floor: what no implementation of the method can skip -- regex tokenization of the lower-cased text plus one
  dictionary lookup per token, no switching, one process, no datasets;
- ours: `codeswitch_dataset` (datasets.map) at num_proc 1 and 2 with the whole lexicon (multi-word entries
  included), with the compiled inner loop when it is built (builders/_cswitch.c) and once more at num_proc 1 on
  the pure-Python path (what an install without a C compiler runs; same output); then with its single-word entries only (what the reference can look up), with our tokenizer and with
  `--tokenizer treebank` (NLTK's spans, as the reference): that last ratio must agree with the reference's within
  0.5 points, and the steps between the runs split the gap into tokenizer and multi-word parts.

Times are wall seconds; CPU seconds (this process and its workers) are printed too, since the machine may be shared.

All on the same N MS MARCO-like passages (English DDTP long descriptions, or the fixture's when none were fetched).
`--lexicon` takes what `csir codeswitch --lexicon` takes: a lexicon repo folder (e.g. the Ding lexicon from
`csir lexicon dict --format ding`), PATH:CONFIG, a Hub id or a `src tgt` text file.

usage: python benchmarks/codeswitch_speed.py [--n 100000] [--ddtp DIR] [--lexicon SPEC] [--tgt de] [--p 0.5]
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

import datasets
from nltk.tokenize import TreebankWordDetokenizer, TreebankWordTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import builders.codeswitch as codeswitch  # noqa: E402
from builders.codeswitch import _FAST_RE, CodeSwitchConfig, CodeSwitcher, codeswitch_dataset, is_content  # noqa: E402
from builders.fetch import default_data_dir  # noqa: E402
from builders.lexicons import Lexicon, load_lexicon  # noqa: E402
from builders.sources.ddtp import load_ddtp  # noqa: E402
from csir.argparser import CsirArgumentParser  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def passages(n: int, ddtp: Path) -> list[str]:
    table = load_ddtp(ddtp, ["en"])["en"]
    texts = [e.long for _, e in sorted(table.items())]
    rng = random.Random(0)
    return [texts[rng.randrange(len(texts))] for _ in range(n)]


def reference(texts, lexicon: dict[str, str], p: float, seed: int):
    tok, detok = TreebankWordTokenizer(), TreebankWordDetokenizer()
    random.seed(seed)
    out, switched, content = [], 0, 0
    for text in texts:
        tokens = tok.tokenize(text)
        for i, t in enumerate(tokens):
            c = is_content(t)
            content += c
            if random.random() < p and t.lower() in lexicon:
                tokens[i] = lexicon[t.lower()]
                switched += c
        out.append(detok.detokenize(tokens))
    return out, switched / max(content, 1)


def floor(texts, keys) -> int:
    """Regex tokens of the lower-cased text, one dictionary lookup each: the cost any switching must pay."""
    find, known = _FAST_RE.findall, keys.__contains__
    return sum(sum(map(known, find(t.lower()))) for t in texts)


def clock() -> tuple[float, float]:
    """(wall, CPU seconds of this process and of its finished workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter(), me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn, *args):
    w, c = clock()
    out = fn(*args)
    w2, c2 = clock()
    return out, w2 - w, c2 - c


def ours(ds: datasets.Dataset, lexicon: Lexicon, tgt: str, p: float, num_proc: int, tokenizer: str = "fast",
         compiled: bool = True):
    built = codeswitch._cswitch
    codeswitch._cswitch = built if compiled else None
    try:
        sw = CodeSwitcher(CodeSwitchConfig(passage_langs=[tgt], p=p, seed=1, tokenizer=tokenizer), {tgt: lexicon})
        (data, meta, stats), wall, cpu = timed(lambda: codeswitch_dataset(ds, sw, num_proc=num_proc))
    finally:
        codeswitch._cswitch = built
    digest = hashlib.sha256(json.dumps([data.to_dict(), meta.to_dict()], ensure_ascii=False).encode()).hexdigest()
    return wall, cpu, stats["passage"]["ratio"], digest


def main(argv=None):
    ap = CsirArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--p", type=float, default=0.5)
    ap.add_argument("--ddtp", default=None, help="folder with Translation-en (default: the csir fetch cache, else fixtures)")
    ap.add_argument("--lexicon", default=str(FIXTURES / "lexicons" / "en-de.txt"),
                    help="lexicon spec for en->TGT: repo folder[:CONFIG], Hub id or text file")
    ap.add_argument("--tgt", default="de")
    args = ap.parse_args(argv)
    ddtp = Path(args.ddtp) if args.ddtp else default_data_dir() / "ddtp"
    if not any(ddtp.glob("*Translation-en")):
        ddtp = FIXTURES / "ddtp"
    datasets.disable_progress_bars()
    texts = passages(args.n, ddtp)
    t = time.perf_counter()
    lex = load_lexicon(args.lexicon, "en", args.tgt)
    load_s = time.perf_counter() - t
    single = Lexicon(lex.src, lex.tgt, {k: v for k, v in lex.entries.items() if " " not in k}, name=lex.name)
    top1 = {k: v[0][0] for k, v in single.entries.items() if v}
    print(f"{len(texts):,} passages from {ddtp}; lexicon {args.lexicon}: {len(lex):,} sources "
          f"({len(lex) - len(single):,} multi-word), {lex.num_pairs:,} pairs, loaded in {load_s:.1f} s; p={args.p}")
    compiled = codeswitch._cswitch is not None
    print("inner loop: " + ("compiled (builders/_cswitch.c)" if compiled else
                            "pure Python (builders._cswitch not built: no C compiler at install)"))
    print(f"load average at start (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{os.cpu_count()} CPUs")

    (_, ref_ratio), ref_s, ref_cpu = timed(reference, texts, top1, args.p, 1)
    _, floor_s, floor_cpu = timed(floor, texts, set(lex.entries))
    ds = datasets.Dataset.from_dict({"id": [str(i) for i in range(len(texts))], "query": [""] * len(texts),
                                     "passage": texts})
    one_s, one_cpu, one_ratio, one_digest = ours(ds, lex, args.tgt, args.p, 1)
    two_s, two_cpu, two_ratio, two_digest = ours(ds, lex, args.tgt, args.p, 2)
    if compiled:
        py_s, py_cpu, py_ratio, py_digest = ours(ds, lex, args.tgt, args.p, 1, compiled=False)
    sw_s, sw_cpu, sw_ratio, _ = ours(ds, single, args.tgt, args.p, 2)
    tb_s, tb_cpu, tb_ratio, _ = ours(ds, single, args.tgt, args.p, 2, "treebank")

    n = len(texts)
    rows = [("reference (NLTK Treebank, single-word entries, 1 process)", ref_s, ref_cpu, f"{ref_ratio:.4f}"),
            ("floor (regex tokens + one dict lookup each, 1 process)", floor_s, floor_cpu, "–"),
            ("codeswitch-ir, num_proc=1", one_s, one_cpu, f"{one_ratio:.4f}"),
            ("codeswitch-ir, num_proc=2", two_s, two_cpu, f"{two_ratio:.4f}"),
            *([("codeswitch-ir, num_proc=1, pure-Python path", py_s, py_cpu, f"{py_ratio:.4f}")] if compiled else []),
            ("codeswitch-ir, num_proc=2, single-word entries only", sw_s, sw_cpu, f"{sw_ratio:.4f}"),
            ("codeswitch-ir, num_proc=2, single-word entries, --tokenizer treebank", tb_s, tb_cpu, f"{tb_ratio:.4f}")]
    print("| run | seconds | CPU seconds | texts/s | realised switch ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, s, c, r in rows:
        print(f"| {name} | {s:.1f} | {c:.1f} | {n / s:,.0f} | {r} |")
    print(f"speed vs reference: {ref_s / two_s:.2f}x at num_proc=2, {ref_s / one_s:.2f}x at num_proc=1")
    print(f"cost vs floor: {two_s / floor_s:.2f}x the floor's time at num_proc=2; per core (num_proc=1) "
          f"{one_s / floor_s:.2f}x the time, {one_cpu / floor_cpu:.2f}x the CPU seconds")
    agree = abs(tb_ratio - ref_ratio) * 100
    print(f"switch ratios: ours {two_ratio:.4f} vs reference {ref_ratio:.4f} ({(two_ratio - ref_ratio) * 100:+.2f} points) = "
          f"multi-word entries {(two_ratio - sw_ratio) * 100:+.2f} (a phrase switches whole on one draw, its inner "
          f"words covered) + tokenizer {(sw_ratio - tb_ratio) * 100:+.2f} (regex spans vs Treebank, which keeps e.g. "
          f"a sentence's last word with its period except at the end of the text) + draws {(tb_ratio - ref_ratio) * 100:+.2f}; "
          f"same entries and tokenizer agree within 0.5 points: {'yes' if agree <= 0.5 else 'NO'} ({agree:.2f})")
    digests = [one_digest, two_digest] + ([py_digest] if compiled else [])
    print(f"output sha256 num_proc=1 {one_digest[:16]}, num_proc=2 {two_digest[:16]}"
          + (f", pure-Python path {py_digest[:16]}" if compiled else "")
          + f": {'identical' if len(set(digests)) == 1 else 'DIFFERENT'}")
    print(f"load average at end (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
