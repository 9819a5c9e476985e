"""Pushing a trained model folder with its card: one behaviour for every objective (text and image-text).

The config fields are the same everywhere: `push_to_hub` (ORG/NAME), `version` (the tag), `publish_target`
(`hub`, or `store` for the local git store in `store_dir` / `$CSIR_HUB_STORE`) and `private`. Only the final
model folder is published (never checkpoints), as one commit plus one tag.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)
PUBLISH_TARGETS = ("hub", "store")


def publish_field_problem(cfg) -> tuple[str, str] | None:
    """(field, what is wrong) for the value checks shared by every training config, or None."""
    if cfg.publish_target not in PUBLISH_TARGETS:
        return "publish_target", "must be 'hub' or 'store'"
    if cfg.push_to_hub and not cfg.version:
        return "version", "is required with push_to_hub (a tag like v1.0.0)"
    return None


def check_publish(cfg) -> None:
    """A bad repo id, version or store fails before training, not after hours of it."""
    if not cfg.push_to_hub:
        return
    from csir.hub.publish import check_publish_args

    check_publish_args(cfg.push_to_hub, "model", cfg.version or "",
                       "local" if cfg.publish_target == "store" else cfg.publish_target,
                       cfg.store_dir or os.environ.get("CSIR_HUB_STORE"))


def publish_model(cfg, output_dir: Path) -> dict:
    """Final model folder -> Hub or local store, tagged with `version`; the publish result as a dict."""
    from csir.hub.publish import publish_folder

    result = publish_folder(output_dir, cfg.push_to_hub, repo_type="model", version=cfg.version,
                            target=cfg.publish_target, store_dir=cfg.store_dir, private=cfg.private)
    log.info(result.summary())
    return result.to_dict()
