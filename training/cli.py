"""`python -m training` / `accelerate launch -m training` / `csir train`: one parser, the same code in-process.

    accelerate launch -m training --config configs/smoke/cross-encoder.yaml [--field value ...] \
        [--output-dir DIR] [--resume-from-checkpoint latest|PATH]

Any config field can be overridden as `--field value` (nested: `--data.path x`); an unknown field is an error
before anything is loaded.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from csir.argparser import CsirArgumentParser
from csir.errors import CsirError
from csir.logs import setup_logging

from .config import load_config, parse_overrides

log = logging.getLogger(__name__)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config (fields of training.config.TrainConfig)")
    parser.add_argument("--output-dir", dest="output_dir_override", help="where the final model and its card go")
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="debug logging, including third-party messages hidden by default")
    parser.add_argument("--resume-from-checkpoint", dest="resume", metavar="latest|PATH",
                        help="resume from the newest checkpoint in <run_dir>/checkpoints, or from PATH")


def run(args: argparse.Namespace, extra: list[str]) -> int:
    overrides = parse_overrides(extra)
    if args.output_dir_override:
        overrides.append(("output_dir", args.output_dir_override))
    cfg = load_config(args.config, overrides)
    from .loop import train

    result = train(cfg, resume=args.resume)
    print(f"trained {result.steps} steps on {result.num_processes} process(es); model and card in "
          f"{result.output_dir}" + (f"; published {result.published}" if result.published else ""))
    return 0


class _OverridesParser(CsirArgumentParser):
    """Keeps arguments it does not know as config overrides instead of letting `csir` reject them (a typo is
    then answered by the config check, with "did you mean")."""

    unknown_flags_are_errors = False

    def parse_known_args(self, args=None, namespace=None):
        namespace, extra = super().parse_known_args(args, namespace)
        namespace.overrides = list(getattr(namespace, "overrides", None) or []) + extra
        return namespace, []


def register(subparsers) -> None:
    """`csir train`: unknown `--field value` arguments are config overrides."""
    p = subparsers.add_parser("train", help="train a cross-encoder, bi-encoder or image-text dual encoder (config + --field overrides)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.__class__ = _OverridesParser
    _add_arguments(p)
    p.set_defaults(func=lambda a: run(a, list(a.overrides)))


def _under_plain_accelerate_launch() -> bool:
    """Rank 0 of `accelerate launch -m training`, whose launcher turns our exit 2 into its own traceback."""
    from .launch import LAUNCHER_ENV

    launched = "ACCELERATE_MIXED_PRECISION" in os.environ and LAUNCHER_ENV not in os.environ
    return launched and os.environ.get("RANK", "0") == "0"


def main(argv: list[str] | None = None) -> int:
    parser = _OverridesParser(prog="python -m training", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_arguments(parser)
    args = parser.parse_args(argv)
    extra = args.overrides
    setup_logging(getattr(args, "verbose", False))
    try:
        return run(args, extra)
    except CsirError as exc:
        print(f"training: error: {exc}", file=sys.stderr)
        if _under_plain_accelerate_launch():
            print("training: (the traceback `accelerate launch` prints next is its launcher's and only reports this "
                  "failure; `python -m training.launch [launch options] -- ARGS` ends without it)", file=sys.stderr)
        return exc.exit_code
