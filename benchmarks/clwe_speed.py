"""CLWE lexicon induction at vocabulary scale: time, peak memory and P@1 on synthetic spaces made here.

The source space is N random unit vectors in D dimensions; the target space is the same words plus Gaussian noise
(`--noise`, per dimension; the spaces are aligned, as induction expects), renormalised and listed in another order,
so every source word has one known translation and P@1 says whether the search found it. Each job runs in a fresh process (so its peak RSS
is its own, spaces included) and prints one JSON line; the parent prints the table. Times are wall and
CPU seconds (all threads), since the machine may be shared.

- ours: `builders.lexicons.clwe.induce` (exact: a bfloat16 first pass proposes candidates, rescored exactly;
  `-fp32` jobs force the float32 first pass that CPUs without bfloat16 units get), NN and CSLS on all N source
  words, building the Lexicon included; the output's sha256 (pairs and scores) shows both first passes agree;
- faiss: `IndexFlatIP.search` as the code did before (CSLS = three such searches), with faiss-cpu's bundled
  OpenBLAS as it loads here, and forced to its AVX-512 kernels (`OPENBLAS_CORETYPE=SkylakeX`, set only where the
  CPU has AVX-512). Both search `--faiss-queries` source words (the cost is linear in them) and the table also
  gives that time scaled to N, marked as such.

usage: python benchmarks/clwe_speed.py [--n 200000] [--dim 300] [--noise 2.5] [--faiss-queries 20000]
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from csir.argparser import CsirArgumentParser  # noqa: E402


def spaces(n: int, dim: int, noise: float, seed: int = 0):
    """(source vectors, target vectors, gold target index per source word), float32, unit length."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    src = np.empty((n, dim), dtype=np.float32)
    tgt = np.empty((n, dim), dtype=np.float32)
    for i in range(0, n, 20_000):  # in chunks: no float64 copy of the whole space
        x = rng.standard_normal((min(20_000, n - i), dim), dtype=np.float32)
        src[i:i + len(x)] = x
        tgt[perm[i:i + len(x)]] = x + noise * rng.standard_normal(x.shape, dtype=np.float32)
    for i in range(0, n, 20_000):  # row by row as before, in chunks: no temporary the size of a space
        src[i:i + 20_000] /= np.linalg.norm(src[i:i + 20_000], axis=1, keepdims=True)
        tgt[i:i + 20_000] /= np.linalg.norm(tgt[i:i + 20_000], axis=1, keepdims=True)
    return src, tgt, perm


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def job(args) -> dict:
    src, tgt, gold = spaces(args.n, args.dim, args.noise)
    if args.job.startswith("ours-"):
        from builders.lexicons.base import Lexicon
        from builders.lexicons.clwe import induce
        from builders.lexicons.knn import bf16_available

        method, _, precision = args.job.split("-", 1)[1].partition("-")
        precision = precision or "auto"
        words, tgt_words = [f"s{i}" for i in range(args.n)], [f"t{i}" for i in range(args.n)]
        t, c = time.perf_counter(), time.process_time()
        pairs = induce(words, src, tgt_words, tgt, method=method, k=1, progress=False, precision=precision)
        lex = Lexicon.from_pairs(pairs, "en", "xx", max_per_source=1)
        seconds, cpu = time.perf_counter() - t, time.process_time() - c
        hits = sum(lex.entries[f"s{i}"][0][0] == f"t{gold[i]}" for i in range(args.n))
        used = precision if precision != "auto" else ("bf16" if bf16_available() else "fp32")
        digest = hashlib.sha256(repr(pairs).encode()).hexdigest()[:16]  # the whole output, scores included
        chosen = hashlib.sha256(repr([(s, t) for s, t, _ in pairs]).encode()).hexdigest()[:16]  # targets only
        return {"job": args.job, "queries": args.n, "seconds": seconds, "cpu": cpu, "peak_rss_mb": peak_rss_mb(),
                "p@1": hits / args.n, "first_pass": used, "sha256": digest, "chosen_sha256": chosen}
    import faiss

    nq = min(args.faiss_queries, args.n)
    index = faiss.IndexFlatIP(args.dim)
    index.add(tgt)
    t, c = time.perf_counter(), time.process_time()
    _, ids = index.search(src[:nq], 1)
    seconds, cpu = time.perf_counter() - t, time.process_time() - c
    return {"job": args.job, "queries": nq, "seconds": seconds, "cpu": cpu, "peak_rss_mb": peak_rss_mb(),
            "p@1": float((ids[:, 0] == gold[:nq]).mean())}


def kernels() -> str:
    """One similarity tile (8192 x 300 @ 300 x 8192) through each first pass's kernel, best of 3: shows that the
    bfloat16 pass really runs on the CPU's bfloat16 units, not an emulation."""
    import torch

    from builders.lexicons.knn import bf16_available

    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((8192, 300), dtype=np.float32) for _ in range(2))
    out = np.empty((8192, 8192), dtype=np.float32)
    ab, bb = torch.from_numpy(a).bfloat16(), torch.from_numpy(b).bfloat16()
    out16 = torch.empty((8192, 8192), dtype=torch.bfloat16)

    def best(f):
        times = []
        for _ in range(4):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        return min(times[1:])

    f32 = best(lambda: np.matmul(a, b.T, out=out))
    b16 = best(lambda: torch.matmul(ab, bb.T, out=out16))
    flop = 2 * 8192 * 8192 * 300
    return (f"first-pass kernels, one 8192 x 300 @ 300 x 8192 tile, {torch.get_num_threads()} threads: float32 numpy "
            f"sgemm {f32 * 1e3:.0f} ms ({flop / f32 / 1e9:.0f} GFLOP/s), bfloat16 torch/oneDNN {b16 * 1e3:.0f} ms "
            f"({flop / b16 / 1e9:.0f} GFLOP/s, {f32 / b16:.1f}x); bfloat16 first pass "
            f"{'used' if bf16_available() else 'NOT used (no bfloat16 units or bound check failed)'}; "
            f"CPU flags: {' '.join(cpu_flags()) or 'unknown'}")


def cpu_flags() -> list[str]:
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return []
    return sorted({f for f in flags if f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")})


def has_avx512() -> bool:
    try:
        return "avx512f" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def main(argv=None):
    ap = CsirArgumentParser()
    ap.add_argument("--n", type=int, default=200_000, help="words per language")
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--noise", type=float, default=2.5, help="noise std per dimension (vectors: std 1)")
    ap.add_argument("--faiss-queries", type=int, default=20_000)
    ap.add_argument("--jobs", default="ours-nn,ours-csls,ours-nn-fp32,ours-csls-fp32,faiss,faiss-avx512",
                    help="ours-METHOD[-fp32|-bf16] (default first pass: bfloat16 where the CPU has it), faiss, "
                         "faiss-avx512")
    ap.add_argument("--job", help="(internal: run one job in this process)")
    args = ap.parse_args(argv)
    if args.job:
        print(json.dumps(job(args)))
        return
    print(f"synthetic spaces: {args.n:,} x {args.n:,} words, {args.dim} dimensions, noise {args.noise}; "
          f"{os.cpu_count()} CPUs; load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = []
    for name in args.jobs.split(","):
        env = dict(os.environ)
        if name == "faiss-avx512":
            if not has_avx512():
                print("faiss-avx512: skipped (no AVX-512 on this CPU)")
                continue
            env["OPENBLAS_CORETYPE"] = "SkylakeX"
        cmd = [sys.executable, __file__, "--job", name, "--n", str(args.n), "--dim", str(args.dim),
               "--noise", str(args.noise), "--faiss-queries", str(args.faiss_queries)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{name}: failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    def label(r):
        if r["job"].startswith("ours-"):
            method = "NN" if r["job"].split("-")[1] == "nn" else "CSLS (two passes)"
            first = {"bf16": "bfloat16", "fp32": "float32"}[r["first_pass"]]
            return f"ours, {method}, {first} first pass + exact rescoring"
        return {"faiss": "faiss IndexFlatIP search, bundled OpenBLAS as loaded (NN)",
                "faiss-avx512": "faiss IndexFlatIP search, OPENBLAS_CORETYPE=SkylakeX (NN)"}[r["job"]]

    print("| run | source words searched | seconds | CPU seconds | scaled to all words (NN; CSLS = 3 searches) | "
          "peak RSS MB | P@1 | output sha256 (targets only) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        scaled = "" if r["queries"] == args.n else \
            f"~{r['seconds'] * args.n / r['queries']:.0f} s; ~{3 * r['seconds'] * args.n / r['queries']:.0f} s (scaled)"
        print(f"| {label(r)} | {r['queries']:,} | {r['seconds']:.1f} | {r['cpu']:.1f} | {scaled} | "
              f"{r['peak_rss_mb']:,.0f} | {r['p@1']:.4f} | "
              f"{r['sha256'] + ' (' + r['chosen_sha256'] + ')' if 'sha256' in r else ''} |")
    print(kernels())  # after the jobs: a child's peak RSS would otherwise include this process's (Linux keeps
    # the high-water mark across fork + exec)
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
