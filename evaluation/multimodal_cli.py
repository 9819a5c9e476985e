"""`csir evalset emoji`: registered into evaluation's `evalset` command (added after `evaluation.cli`)."""

from __future__ import annotations

import argparse


def _evalset_subparsers(sub) -> argparse._SubParsersAction:
    """The `evalset` command's sub-command table, created by evaluation.cli (or here when it is absent)."""
    parser = sub.choices.get("evalset") or sub.add_parser("evalset", help="build an evaluation set")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest="evalset", metavar="SET", required=True)


def register(sub) -> None:
    e = _evalset_subparsers(sub).add_parser(
        "emoji", help="emoji image-text retrieval (npm emoji-datasource-google + emojibase-data), t2i and i2t")
    e.add_argument("--output", required=True)
    e.add_argument("--npm-dir", help="folder with <package>/package/ trees (default: npm pack into the raw cache)")
    e.add_argument("--langs", default="en,de,fr,it,ja,es,ru,zh")
    e.add_argument("--directions", default="t2i,i2t", help="t2i (text->image), i2t (image->text)")
    e.add_argument("--max-heldout", type=int, help="cap on held-out emojis (quick runs)")
    e.set_defaults(func=cmd_evalset_emoji)


def cmd_evalset_emoji(args) -> int:
    from builders.langs import check_lang
    from evaluation.multimodal_sets import EmojiSetConfig, build_emoji_evalset

    langs = [check_lang(x.strip(), "--langs") for x in args.langs.split(",") if x.strip()]
    cfg = EmojiSetConfig(langs=langs, directions=[d.strip() for d in args.directions.split(",") if d.strip()],
                         max_heldout=args.max_heldout)
    out = build_emoji_evalset(args.npm_dir, args.output, cfg)
    print(f"wrote {out}")
    return 0
