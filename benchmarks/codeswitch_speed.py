"""Throughput of our code-switching vs the paper's reference procedure, side by side on the same passages.

Reference (Litschko et al.'s scripts): NLTK Treebank tokenize -> per token `random.random() < p` and a
lower-cased lexicon lookup -> Treebank detokenize, one process. Ours: `codeswitch_dataset` (datasets.map,
`--num-proc`). Both on the same N MS MARCO-like passages (English DDTP long descriptions) and lexicon.

usage: python benchmarks/codeswitch_speed.py [--n 100000] [--num-proc 2] [--ddtp DIR] [--lexicon FILE]
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import datasets
from nltk.tokenize import TreebankWordDetokenizer, TreebankWordTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from builders.codeswitch import CodeSwitchConfig, CodeSwitcher, codeswitch_dataset, is_content  # noqa: E402
from builders.fetch import default_data_dir  # noqa: E402
from builders.lexicons import load_lexicon  # noqa: E402
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


def main(argv=None):
    ap = CsirArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--num-proc", type=int, default=2)
    ap.add_argument("--p", type=float, default=0.5)
    ap.add_argument("--ddtp", default=None, help="folder with Translation-en (default: the csir fetch cache, else fixtures)")
    ap.add_argument("--lexicon", default=str(FIXTURES / "lexicons" / "en-de.txt"), help="lexicon spec (en->de)")
    args = ap.parse_args(argv)
    ddtp = Path(args.ddtp) if args.ddtp else default_data_dir() / "ddtp"
    if not any(ddtp.glob("*Translation-en")):
        ddtp = FIXTURES / "ddtp"
    texts = passages(args.n, ddtp)
    lex = load_lexicon(args.lexicon, "en", "de")
    top1 = {k: v[0][0] for k, v in lex.entries.items() if " " not in k}
    print(f"{len(texts)} passages from {ddtp}, lexicon {args.lexicon} ({len(lex)} entries), p={args.p}")

    t = time.perf_counter()
    _, ref_ratio = reference(texts, top1, args.p, seed=1)
    ref_s = time.perf_counter() - t

    ds = datasets.Dataset.from_dict({"id": [str(i) for i in range(len(texts))], "query": [""] * len(texts),
                                     "passage": texts})
    sw = CodeSwitcher(CodeSwitchConfig(passage_langs=["de"], p=args.p, seed=1), {"de": lex})
    datasets.disable_progress_bars()
    t = time.perf_counter()
    _, _, stats = codeswitch_dataset(ds, sw, num_proc=args.num_proc)
    ours_s = time.perf_counter() - t
    ours_ratio = stats["passage"]["ratio"]

    print("| implementation | seconds | texts/s | realised switch ratio |")
    print("|---|---:|---:|---:|")
    print(f"| reference (NLTK Treebank, 1 process) | {ref_s:.1f} | {len(texts) / ref_s:,.0f} | {ref_ratio:.4f} |")
    print(f"| codeswitch-ir (num_proc={args.num_proc}) | {ours_s:.1f} | {len(texts) / ours_s:,.0f} | {ours_ratio:.4f} |")
    print(f"speed ratio: {ref_s / ours_s:.2f}x; switch-ratio difference: {abs(ours_ratio - ref_ratio) * 100:.2f} points")


if __name__ == "__main__":
    main()
