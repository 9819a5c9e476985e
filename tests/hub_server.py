"""Start `csir hub serve` over a local store for tests (shared by the Hub-id evaluation tests)."""

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_server(store: Path, log: Path):
    """`csir hub serve --port 0`; returns the process and the HF_ENDPOINT it prints."""
    proc = subprocess.Popen([sys.executable, "-m", "builders", "hub", "serve", "--store", str(store), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=open(log, "w"), text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("export HF_ENDPOINT="):
            return proc, line.strip().split("=", 1)[1]
    proc.kill()
    raise AssertionError(f"server did not start: {log.read_text()[-2000:]}")


def wait_listening(endpoint: str, timeout: float = 60) -> None:
    """Wait until the server accepts connections (it may print its endpoint before it listens)."""
    import socket

    host, port = endpoint.rsplit("/", 1)[-1].rsplit(":", 1)
    deadline = time.time() + timeout
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def serving_as_hub(store: Path, log: Path, monkeypatch, cache: Path):
    """Serve `store` and point this process's huggingface_hub at it (online, its own cache); yields the endpoint."""
    from huggingface_hub import constants

    proc, endpoint = start_server(store, log)
    try:
        wait_listening(endpoint)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        yield endpoint
    finally:
        proc.kill()
        proc.wait()
