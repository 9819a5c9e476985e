"""`csir`: one CLI whose subcommands mirror the folders (lexicon, codeswitch, publish, train, evaluate, ...).

Each command module exposes `register(subparsers)`, which adds its parser and sets `func(args) -> int`.
"""

from __future__ import annotations

import importlib
import sys

from csir.argparser import CsirArgumentParser
from csir.errors import CsirError, network_error_message
from csir.logs import setup_logging

COMMAND_MODULES = [
    "builders.lexicons.cli",
    "builders.codeswitch_cli",
    "builders.offline_example",
    "training.demo",
    "builders.models.cli",
    "csir.hub.cli",
    "builders.sources.msmarco",
    "builders.sources.msmarco_translate",
    "evaluation.cli",
    "builders.evalsets.cli",
    "training.cli",
]


def build_parser() -> CsirArgumentParser:
    parser = CsirArgumentParser(prog="csir", description="Code-switched training and evaluation for cross-lingual retrieval")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging, including the third-party messages hidden by default (csir/logs.py)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=CsirArgumentParser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except CsirError as exc:
        print(f"csir {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # a connection failure anywhere (Hub, mirror): one line, not a 100-line traceback
        message = network_error_message(exc)
        if message is None:
            raise
        print(f"csir {args.command}: error: {message}", file=sys.stderr)
        return CsirError.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
