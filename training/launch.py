"""`python -m training.launch`: `accelerate launch -m training` that ends the way every csir command ends.

What accelerate's launcher does with a failing child (accelerate 1.x, checked): one process ->
`subprocess.CalledProcessError` raised out of `accelerate launch` (a traceback, exit 1; `-q` trades it for
exit 1 without the child's code); several -> torch elastic's `ChildFailedError` (a traceback and an error
table). The child has already printed its one line (`training: error: FILE:LINE: ...`) and exited 2; nothing
the child does can change how its parent reports that. So this runs accelerate's own launcher in-process and
turns a failed child into the child's exit code, with no launcher traceback:

    python -m training.launch [accelerate launch options] -- --config cfg.yaml [--field value ...]

(without `--`, every argument is the trainer's). The trainer is started exactly as `accelerate launch -m
training ...` starts it; a child that dies without a message (a signal, OOM) gets one summary line here.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

LAUNCHER_ENV = "CSIR_LAUNCHER"


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(accelerate launcher options, trainer options)."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return [], argv


def _child_code(exc: BaseException) -> tuple[int, str] | None:
    """(exit code, summary) when `exc` is how the launcher reports a failed child, else None."""
    if isinstance(exc, subprocess.CalledProcessError):
        code = exc.returncode
        return (code if code > 0 else 1), (f"rank 0 exited with code {code}" if code > 0 else
                                           f"rank 0 was killed by signal {-code}")
    try:
        from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    except ImportError:
        return None
    if isinstance(exc, ChildFailedError):
        rank, failure = min(exc.failures.items())
        code = failure.exitcode
        return (code if code > 0 else 1), (f"rank {rank} exited with code {code}" if code > 0 else
                                           f"rank {rank} was killed by signal {-code}")
    return None


def main(argv: list[str] | None = None) -> int:
    from accelerate.commands.launch import launch_command, launch_command_parser

    os.environ[LAUNCHER_ENV] = "training.launch"  # the trainer then knows no launcher traceback follows
    launcher, trainer = split_args(list(sys.argv[1:] if argv is None else argv))
    args = launch_command_parser().parse_args([*launcher, "--module", "training", *trainer])
    # the "values were not passed ... defaults used" notice and torch elastic's failure table repeat what
    # the trainer already said; real launcher problems still raise
    logging.getLogger("accelerate.commands.launch").setLevel(logging.ERROR)
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        launch_command(args)
    except Exception as exc:
        found = _child_code(exc)
        if found is None:
            raise
        code, summary = found
        if code != 2:  # 2 = the trainer's own one-line error is already on stderr
            print(f"training.launch: error: {summary}", file=sys.stderr)
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
