"""`csir hub serve` vs a plain static-file server, one large file, concurrent downloads, side by side.

Both servers serve the same bytes in the same run: a file of --size-mb published to a local store (served by
`csir hub serve`), and the same file in a folder served by `python -m http.server`. --clients processes
download concurrently: `hf_hub_download` against our server (HEAD + streamed GET, the real client path), and
huggingface_hub's own `http_get` (the download loop `hf_hub_download` uses) against the static server.
Printed per server: RSS of the server process tree (server + its children, sampled every 50 ms) before the
clients start and its peak, the growth, and aggregate throughput = bytes / (last end - first start).

usage: python benchmarks/serve_speed.py [--size-mb 1024] [--clients 8] [--workdir DIR]
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from csir.argparser import CsirArgumentParser  # noqa: E402
from csir.hub import publish_folder  # noqa: E402

REPO = "bench/serve-speed"
FILE = "big.bin"

HF_CLIENT = r'''
import json, os, sys, time
from huggingface_hub import hf_hub_download
t0 = time.time()
p = hf_hub_download(sys.argv[1], sys.argv[2], repo_type="dataset", revision="v1.0.0", cache_dir=sys.argv[3])
t1 = time.time()
print(json.dumps({"start": t0, "end": t1, "bytes": os.path.getsize(p), "path": os.path.realpath(p)}))
'''
STATIC_CLIENT = r'''
import json, os, sys, time
from huggingface_hub.file_download import http_get
t0 = time.time()
with open(sys.argv[2], "wb") as fh:
    http_get(sys.argv[1], fh)
t1 = time.time()
print(json.dumps({"start": t0, "end": t1, "bytes": os.path.getsize(sys.argv[2]), "path": sys.argv[2]}))
'''


def write_big_file(path: Path, size_mb: int) -> str:
    """Random (incompressible) bytes, so neither side gains from compression; returns the sha256."""
    h = hashlib.sha256()
    with open(path, "wb") as fh:
        for _ in range(size_mb):
            chunk = os.urandom(1 << 20)
            fh.write(chunk)
            h.update(chunk)
    return h.hexdigest()


def tree_rss(pid: int) -> tuple[int, int]:
    """(RSS of the process, summed RSS of its children) in bytes."""
    try:
        proc = psutil.Process(pid)
        own, kids = proc.memory_info().rss, proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0, 0
    total = 0
    for p in kids:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return own, total


class RssSampler(threading.Thread):
    """Peak RSS of the server process tree, and of the server process alone, sampled every 50 ms."""

    def __init__(self, pid: int, every: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.every, self.stop = pid, every, threading.Event()
        self.peak = self.peak_own = self.peak_children = 0

    def run(self):
        while not self.stop.is_set():
            own, kids = tree_rss(self.pid)
            self.peak, self.peak_own = max(self.peak, own + kids), max(self.peak_own, own)
            self.peak_children = max(self.peak_children, kids)
            time.sleep(self.every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_csir_serve(store: Path, log: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "csir", "hub", "serve", "--store", str(store)],
                            stdout=subprocess.PIPE, stderr=open(log, "w"), text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    for line in proc.stdout:
        if line.startswith("export HF_ENDPOINT="):
            return proc, line.strip().split("=", 1)[1]
    raise SystemExit(f"csir hub serve did not start: {log.read_text()[-2000:]}")


def start_static(folder: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(folder)], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    raise SystemExit("http.server did not start")


def run_clients(server_pid: int, argvs: list[list[str]], env: dict) -> dict:
    time.sleep(1.0)  # let the server settle before the baseline sample
    baseline = sum(tree_rss(server_pid))
    sampler = RssSampler(server_pid)
    sampler.start()
    procs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for a in argvs]
    results = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"client failed: {err[-2000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    sampler.stop.set()
    sampler.join()
    start, end = min(r["start"] for r in results), max(r["end"] for r in results)
    total = sum(r["bytes"] for r in results)
    return {"baseline_rss_mb": baseline / 2**20, "peak_rss_mb": max(sampler.peak, baseline) / 2**20,
            "growth_mb": (max(sampler.peak, baseline) - baseline) / 2**20, "seconds": end - start,
            "peak_own_mb": sampler.peak_own / 2**20, "peak_children_mb": sampler.peak_children / 2**20,
            "throughput_mb_s": total / 2**20 / (end - start), "bytes": total,
            "per_client_s": sorted(round(r["end"] - r["start"], 2) for r in results),
            "paths": [r["path"] for r in results]}


def check_and_remove(paths: list[str], size: int, sha: str) -> None:
    for i, p in enumerate(paths):
        if os.path.getsize(p) != size:
            raise SystemExit(f"{p}: {os.path.getsize(p)} bytes, expected {size}")
        if i == 0:  # one full hash per server (8 would double the benchmark's own CPU use)
            h = hashlib.sha256()
            with open(p, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            if h.hexdigest() != sha:
                raise SystemExit(f"{p}: content differs from the published file")


def main() -> int:
    ap = CsirArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024, help="file size in MiB (default 1024 = 1 GiB)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workdir", help="scratch folder (default a temp dir, removed at the end)")
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="serve-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    procs = []
    try:
        folder = work / "repo"
        folder.mkdir(exist_ok=True)
        t0 = time.time()
        sha = write_big_file(folder / FILE, args.size_mb)
        size = (folder / FILE).stat().st_size
        (folder / "README.md").write_text(
            "---\nlicense: cc0-1.0\npretty_name: serve speed\n---\n# serve speed\n\n"
            f"One {args.size_mb} MiB file of random bytes.\n", encoding="utf-8")
        publish_folder(folder, REPO, version="v1.0.0", target="local", store=work / "store")
        print(f"prepared {size / 2**20:.0f} MiB file + local store in {time.time() - t0:.1f} s", flush=True)

        env = {**os.environ, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
        rows = {}
        server, endpoint = start_csir_serve(work / "store", work / "serve.log")
        procs.append(server)
        argvs = [[sys.executable, "-c", HF_CLIENT, REPO, FILE, str(work / f"hf-cache-{i}")]
                 for i in range(args.clients)]
        rows["csir hub serve"] = run_clients(server.pid, argvs, {**env, "HF_ENDPOINT": endpoint})
        server.terminate(); server.wait(timeout=30)
        check_and_remove(rows["csir hub serve"]["paths"], size, sha)
        for i in range(args.clients):
            shutil.rmtree(work / f"hf-cache-{i}", ignore_errors=True)

        static, url = start_static(folder, work / "static.log")
        procs.append(static)
        argvs = [[sys.executable, "-c", STATIC_CLIENT, f"{url}/{FILE}", str(work / f"static-{i}.bin")]
                 for i in range(args.clients)]
        rows["python -m http.server"] = run_clients(static.pid, argvs, env)
        static.terminate(); static.wait(timeout=30)
        check_and_remove(rows["python -m http.server"]["paths"], size, sha)

        print(f"\n{args.clients} concurrent downloads of one {size / 2**20:.0f} MiB file; load: "
              f"{os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} on {os.cpu_count()} CPUs")
        print(f"{'server':<24}{'RSS before':>12}{'RSS peak':>10}{'growth':>9}{'(process':>10}{'children)':>11}"
              f"{'MiB/s':>9}{'wall s':>8}  per-client s")
        for name, r in rows.items():
            print(f"{name:<24}{r['baseline_rss_mb']:>10.0f}MB{r['peak_rss_mb']:>8.0f}MB{r['growth_mb']:>7.0f}MB"
                  f"{r['peak_own_mb']:>8.0f}MB{r['peak_children_mb']:>9.0f}MB"
                  f"{r['throughput_mb_s']:>9.1f}{r['seconds']:>8.1f}  {r['per_client_s']}")
        print("RSS = server process tree (process + children, e.g. `git cat-file` for packed blobs); peaks of the "
              "process alone and of its children shown separately")
        ours, static_row = rows["csir hub serve"], rows["python -m http.server"]
        ratio = ours["throughput_mb_s"] / static_row["throughput_mb_s"]
        print(f"throughput ratio csir/static: {ratio:.2f} (target >= 0.5); csir RSS growth "
              f"{ours['growth_mb']:.0f} MB (target < 100 MB)")
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
