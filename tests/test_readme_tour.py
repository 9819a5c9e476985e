"""The README's 5-minute tour, command by command, parsed from README.md and run in a temp folder.

`test_tour_fast` runs every command with speed knobs appended (fewer training steps, fewer evaluation queries);
`test_tour_as_written` (slow) runs them exactly as written. Both check each command's output, that nothing
third-party leaks into the output by default (#18), and that every tour command has a check here: a command
added to the README without one fails the test.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README_PORT = "8765"
NOISE = ["Could not load library with", "Building index from IDs", "Trying to gather while torch.distributed",
         "encode cache: 0 texts encoded, 0 reused", "Loading faiss"]
# appended to a command in the fast variant (prefix of the command -> extra arguments)
FAST = {"csir train": ["--max_steps", "4", "--save_steps", "2"],
        "csir evalset ddtp": ["--max-queries", "30", "--top-k", "10"],
        "csir evaluate": ["--max-queries", "20"]}


def tour_commands(readme: Path = REPO / "README.md") -> list[str]:
    """The shell commands of the first ```bash block under '## 5-minute tour' (continuations joined the way
    bash joins them, comments dropped)."""
    text = readme.read_text(encoding="utf-8")
    section = text[text.index("## 5-minute tour"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    lines = block.replace("\\\n", "").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_ENDPOINT")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # = `source .venv/bin/activate`
    env["HF_HOME"] = str(tmp / "hf-home")  # a fresh user cache: the tour must not depend on one
    env.pop("HF_DATASETS_CACHE", None)
    return env


# ---------------------------------------------------------------------------------------------------- checks
def _json_line(out: str) -> dict:
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def check_lexicon(out, tmp):
    summary = _json_line(out)
    assert summary["config"] == "muse-en-de" and summary["sources"] == 355
    assert summary["gold_sources"] == 355 and summary["coverage"] == 1.0
    assert summary["p@1"] == 0.6423  # an independent gold file: not the trivial 1.0 of scoring a lexicon on itself
    assert (tmp / "out/lex/README.md").is_file()


def check_codeswitch(out, tmp):
    summary = _json_line(out)
    assert summary["config"] == "bl-cs-p0.5-de-de" and summary["rows"] == {"train": 200}
    assert 0.1 < summary["switch_ratio"]["train"] < 0.5  # ~ p x lexicon coverage


def check_local_load(out, tmp):
    row = ast.literal_eval([line for line in out.splitlines() if line.startswith("{'")][-1])  # the printed row
    assert set(row) == {"query", "passage", "label"} and isinstance(row["query"], str)


def check_publish(out, tmp):
    assert "published dataset me/cs-demo@v1.0.0 -> local: commit" in out
    assert (tmp / "out/store/datasets/me/cs-demo").is_dir()


def check_serve(out, tmp):
    assert "serving datasets/me/cs-demo (tags: v1.0.0)" in out, out
    assert "export HF_ENDPOINT=http://127.0.0.1:" in out


def check_served_load(out, tmp):
    assert "num_rows: 200" in out and "'query', 'passage', 'label'" in out, out


def check_train(out, tmp, fast):
    steps = 4 if fast else 150
    assert f"trained {steps} steps on 1 process(es); model and card in out/ce" in out
    card = (tmp / "out/ce/README.md").read_text(encoding="utf-8")
    assert 'CrossEncoder("out/ce")' in card  # the Usage snippet runs as printed until the model is published


def check_evalset(out, tmp):
    assert "wrote out/ddtp-eval" in out and (tmp / "out/ddtp-eval/README.md").is_file()


def check_evaluate(out, tmp):
    assert "| ddtp | deu-eng | de-en | clir | top_ranked |" in out and "| ddtp | eng-eng | en-en | moir |" in out
    rev = next((tmp / "out/results/ce").iterdir())
    assert f"results in out/results/ce/{rev.name} (table.md, plot.png)" in out
    assert (rev / "plot.png").stat().st_size > 10_000
    assert sorted(p.name for p in (rev / "ddtp").iterdir()) == ["deu-eng.json", "eng-eng.json"]


CHECKS = [  # (command prefix, check); order = the tour's order
    ("csir lexicon dict", check_lexicon),
    ("csir codeswitch", check_codeswitch),
    ("python -c \"from datasets import load_dataset; print(load_dataset('out/cs'", check_local_load),
    ("csir publish", check_publish),
    ("csir hub serve", check_serve),
    ("HF_ENDPOINT=", check_served_load),
    ("kill %1", None),
    ("csir train", check_train),
    ("csir evalset ddtp", check_evalset),
    ("csir evaluate", check_evaluate),
]


# ---------------------------------------------------------------------------------------------------- runner
def _check_for(cmd: str):
    for prefix, check in CHECKS:
        if cmd.startswith(prefix):
            return check
    raise AssertionError(f"README tour command without a check in tests/test_readme_tour.py: {cmd}")


def _start_background(cmd: str, tmp: Path, env: dict) -> tuple[subprocess.Popen, str]:
    """`CMD & sleep N`: start CMD; instead of sleeping, wait until it prints its HF_ENDPOINT line."""
    proc = subprocess.Popen(["bash", "-c", f"exec {cmd}"], cwd=tmp, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    ready = threading.Event()

    def drain():  # keeps reading after the endpoint line, so the server never blocks on a full pipe
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("export HF_ENDPOINT="):
                ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(180):
        os.killpg(proc.pid, signal.SIGTERM)
        raise AssertionError(f"`{cmd}` did not print its HF_ENDPOINT:\n{''.join(lines)}")
    return proc, "".join(lines)


def run_tour(tmp: Path, fast: bool) -> dict:
    commands = tour_commands()
    assert commands[0] == "make install && source .venv/bin/activate"  # done: this test runs in that venv
    for name in ("tests", "configs"):
        (tmp / name).symlink_to(REPO / name)
    env, port = _env(tmp), _free_port()
    background: subprocess.Popen | None = None
    outputs = {}
    try:
        for cmd in commands[1:]:
            cmd = cmd.replace(f":{README_PORT}", f":{port}").replace(f"--port {README_PORT}", f"--port {port}")
            check = _check_for(cmd)
            if cmd == "kill %1":
                assert background is not None, "kill %1 without a background command"
                os.killpg(background.pid, signal.SIGTERM)
                background.wait(30)
                background = None
                continue
            if re.search(r"&\s*sleep\s+\d+$", cmd):
                background, out = _start_background(re.sub(r"\s*&\s*sleep\s+\d+$", "", cmd), tmp, env)
            else:
                extra = next((a for p, a in FAST.items() if cmd.startswith(p)), []) if fast else []
                full = cmd + "".join(" " + shlex.quote(a) for a in extra)
                proc = subprocess.run(["bash", "-c", full], cwd=tmp, env=env, capture_output=True, text=True,
                                      timeout=1800)
                out = proc.stdout + proc.stderr
                assert proc.returncode == 0, f"`{full}` exited {proc.returncode}:\n{out[-4000:]}"
            for noise in NOISE:
                assert noise not in out, f"`{cmd}` printed third-party noise {noise!r}:\n{out[-4000:]}"
            if check is check_train:
                check(out, tmp, fast)
            elif check is not None:
                check(out, tmp)
            outputs[cmd] = out
    finally:
        if background is not None:
            os.killpg(background.pid, signal.SIGTERM)
    assert [c for c, _ in CHECKS if not any(cmd.startswith(c) for cmd in commands)] == []  # no stale checks
    return outputs


def test_tour_commands_parse():
    commands = tour_commands()
    assert len(commands) == 1 + len(CHECKS)
    assert all(_check_for(c) or c == "kill %1" for c in commands[1:])
    gold = next(c for c in commands if c.startswith("csir lexicon dict"))
    assert shlex.split(gold)[shlex.split(gold).index("--gold") + 1] != shlex.split(gold)[
        shlex.split(gold).index("--input") + 1]


def test_tour_fast(tmp_path):
    run_tour(tmp_path, fast=True)


@pytest.mark.slow
def test_tour_as_written(tmp_path):
    run_tour(tmp_path, fast=False)
