"""`csir publish` and `csir hub serve`, plus the `--push-to-hub` flags other commands reuse.

Other commands call `add_publish_args(parser)` when building their parser and `publish_from_args(folder, args)`
after writing their output folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from huggingface_hub.errors import HfHubHTTPError

from csir.errors import CsirError
from csir.hub.publish import REPO_TYPES, STORE_ENV, TARGETS, PublishResult, publish_folder


def _free(parser, *names: str) -> list[str]:
    """The option strings not taken yet (a host command may already own --target or --store)."""
    taken = getattr(parser, "_option_string_actions", {})
    return [n for n in names if n not in taken]


def _add_target_args(p, *, dest_prefix: str = "") -> None:
    alt = (lambda name: [name, f"--publish-{name[2:]}"]) if dest_prefix else (lambda name: [name])
    p.add_argument(*_free(p, *alt("--target")), dest=f"{dest_prefix}target", choices=TARGETS, default="hub",
                   help="hub = huggingface.co (or $HF_ENDPOINT) with the token from $HF_TOKEN / `hf auth login`; "
                        "local = a git repository per repo under --store")
    p.add_argument(*_free(p, *alt("--store")), dest=f"{dest_prefix}store", default=os.environ.get(STORE_ENV),
                   help=f"local store folder (default ${STORE_ENV})")
    p.add_argument(*_free(p, *alt("--private")), dest=f"{dest_prefix}private", action="store_true",
                   help="create the Hub repo private (only when it does not exist yet)")


def add_publish_args(parser: argparse.ArgumentParser, repo_type: str = "dataset") -> None:
    """`--push-to-hub ORG/NAME --version vX.Y.Z [--target hub|local] [--store PATH] [--private] [--force-publish]`.

    Each of --version/--target/--store/--private also has a --publish-* spelling, which is the only one added
    when the host command already owns the short name.
    """
    g = parser.add_argument_group("publishing")
    g.add_argument("--push-to-hub", metavar="ORG/NAME", help="publish the output folder as this repo when done")
    g.add_argument(*_free(parser, "--version", "--publish-version"), dest="publish_version", metavar="vX.Y.Z",
                   help="version tag (with --push-to-hub)")
    _add_target_args(g, dest_prefix="publish_")
    g.add_argument("--force-publish", dest="publish_force", action="store_true",
                   help="move an existing version tag to different content")
    parser.set_defaults(publish_repo_type=repo_type)


def publish_from_args(folder, args: argparse.Namespace) -> PublishResult | None:
    """Publish `folder` if `--push-to-hub` was given; prints the one-line summary. None when not asked."""
    repo_id = getattr(args, "push_to_hub", None)
    if not repo_id:
        return None
    if not getattr(args, "publish_version", None):
        raise CsirError("--version: required with --push-to-hub (e.g. --version v1.0.0)")
    result = publish_folder(folder, repo_id, repo_type=getattr(args, "publish_repo_type", "dataset"),
                            version=args.publish_version, target=args.publish_target, store=args.publish_store,
                            private=args.publish_private, force=args.publish_force)
    print(result.summary())
    return result


def _cmd_publish(args: argparse.Namespace) -> int:
    if not args.verbose:  # one line per HTTP request is noise here; -v brings it back
        logging.getLogger("httpx2").setLevel(logging.WARNING)
        logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        result = publish_folder(args.folder, args.repo, repo_type=args.repo_type, version=args.version,
                                target=args.target, store=args.store, private=args.private, dry_run=args.dry_run,
                                force=args.force)
    except HfHubHTTPError as exc:  # the Hub said no (auth, quota, outage after retries): one line, no traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if getattr(exc.response, "status_code", None) in (401, 403):
            first += " (check the token in $HF_TOKEN or `hf auth login`; csir never prints it)"
        print(f"csir publish: error: {args.repo}@{args.version} not published (no tag created): {first}",
              file=sys.stderr)
        return 1
    print(json.dumps(result.to_dict(), sort_keys=True) if args.json else result.summary())
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from csir.hub.serve import serve

    if not args.store:
        raise CsirError(f"--store: required (or set {STORE_ENV})")
    serve(args.store, host=args.host, port=args.port, log_level="info" if args.verbose else "warning")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("publish", help="publish a repo folder as ORG/NAME@VERSION (Hub or local store)",
                              description="Upload FOLDER as one commit, tag it VERSION, record the commit in the "
                                          "card. Identical re-publish is a no-op; a tag with other content is "
                                          "refused unless --force.")
    p.add_argument("folder", help="repo folder (README.md card + files), e.g. a `csir codeswitch --output` folder")
    p.add_argument("--repo", required=True, metavar="ORG/NAME")
    p.add_argument("--repo-type", choices=REPO_TYPES, default="dataset")
    p.add_argument("--version", required=True, metavar="vX.Y.Z")
    _add_target_args(p)
    p.add_argument("--dry-run", action="store_true", help="say what would happen; write nothing")
    p.add_argument("--force", action="store_true", help="move an existing version tag to different content")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_publish)

    hub = subparsers.add_parser("hub", help="serve the local store to HF clients")
    hub_sub = hub.add_subparsers(dest="hub_command", metavar="SUBCOMMAND", required=True)
    s = hub_sub.add_parser("serve", help="serve --store read-only over the Hub HTTP API (olah); prints HF_ENDPOINT")
    s.add_argument("--store", default=os.environ.get(STORE_ENV), help=f"store folder (default ${STORE_ENV})")
    s.add_argument("--host", default="127.0.0.1", help="listen address (default loopback)")
    s.add_argument("--port", type=int, default=0, help="port (default 0 = a free one; printed)")
    s.set_defaults(func=_cmd_serve)
