"""The README.md card of a published repo: check it, pin its "How to load" snippet, record the commit.

A commit cannot contain its own sha, so the published card pins the *version* (`revision="v1.0.0"`), and the
line `This version (v1.0.0) is commit `<sha>`.` is written into the local folder's card after the publish
(same sentence as `model_cards/templates/dataset_card.md.j2` renders). That line is stripped again before
hashing/uploading, so re-publishing the same folder stays a no-op.
"""

from __future__ import annotations

import fnmatch
import json
import re

import yaml

from csir.errors import CsirError, where

COMMIT_LINE_RE = re.compile(r"\n^This version \([^)\n]*\) is commit `[0-9a-f]{40}`\.[ \t]*\n", re.M)
LOAD_CALL_RE = re.compile(
    r"(?P<fn>load_dataset|from_pretrained|SentenceTransformer|CrossEncoder|hf_hub_download|snapshot_download)"
    r"\(\s*(?P<q>[\"'])(?P<repo>[^\"'\n]*)(?P=q)(?P<rest>[^)\n]*)\)")
REVISION_ARG_RE = re.compile(r",\s*revision\s*=\s*([\"'])[^\"'\n]*\1")
HOW_TO_LOAD = "## How to load"
LOAD_SECTIONS = (HOW_TO_LOAD, "## Usage")  # dataset cards / model cards (model_cards/templates/model_card.md.j2)


def split_front_matter(text: str, path="README.md") -> tuple[dict, str]:
    """(metadata, body) of a card, parsed by `huggingface_hub.RepoCard` (the Hub's own reader); the Hub needs the
    YAML block first in the file, so a card without one, or with an unterminated one, is an error here."""
    from huggingface_hub import RepoCard
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    if not text.startswith("---\n"):
        raise CsirError(f"{where(path, 1)}: card has no YAML front matter (must start with '---')")
    if not REGEX_YAML_BLOCK.search(text):
        raise CsirError(f"{where(path, 1)}: unterminated YAML front matter")
    try:
        card = RepoCard(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", 0) + 2
        raise CsirError(f"{where(path, line)}: invalid YAML front matter: {exc}") from exc
    except ValueError:  # RepoCard: "repo card metadata block should be a dict"
        raise CsirError(f"{where(path, 2)}: YAML front matter must be a mapping") from None
    return card.data.to_dict(), card.text


def _patterns(data_files) -> list[str]:
    if isinstance(data_files, str):
        return [data_files]
    out = []
    for item in data_files or []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            path = item.get("path")
            out.extend([path] if isinstance(path, str) else list(path or []))
    return out


def validate_card(text: str, repo_type: str, paths: list[str], card_path="README.md") -> dict:
    """Check the card the Hub will parse; for datasets every `configs:` entry must match published files."""
    meta, _ = split_front_matter(text, card_path)
    if repo_type == "dataset":
        for i, cfg in enumerate(meta.get("configs") or []):
            name = cfg.get("config_name", f"#{i}") if isinstance(cfg, dict) else f"#{i}"
            pats = _patterns(cfg.get("data_files")) if isinstance(cfg, dict) else []
            if not pats:
                raise CsirError(f"{where(card_path, field=f'configs[{name}].data_files')}: missing")
            for pat in pats:
                if not any(fnmatch.fnmatch(p, pat) for p in paths):
                    raise CsirError(f"{where(card_path, field=f'configs[{name}].data_files')}: "
                                    f"pattern {pat!r} matches no file in the folder")
    return meta


def _pin_code(code: str, repo_id: str, version: str) -> str:
    def repl(m: re.Match) -> str:
        rest = REVISION_ARG_RE.sub("", m.group("rest"))
        return f'{m.group("fn")}("{repo_id}"{rest}, revision="{version}")'
    return LOAD_CALL_RE.sub(repl, code)


def _default_how_to_load(meta: dict, repo_type: str, repo_id: str, version: str, paths: list[str],
                         read) -> str:
    if repo_type == "dataset":
        configs = [c.get("config_name") for c in meta.get("configs") or [] if isinstance(c, dict)]
        calls = [f'ds = load_dataset("{repo_id}", "{c}", revision="{version}")' for c in configs if c] or \
                [f'ds = load_dataset("{repo_id}", revision="{version}")']
        code = "from datasets import load_dataset\n\n" + "\n".join(calls)
    elif "modules.json" in paths:
        code = ("from sentence_transformers import SentenceTransformer\n\n"
                f'model = SentenceTransformer("{repo_id}", revision="{version}")')
    elif "config.json" in paths and "sentence_transformers" in json.loads(read("config.json") or b"{}"):
        code = ("from sentence_transformers import CrossEncoder\n\n"
                f'model = CrossEncoder("{repo_id}", revision="{version}")')
    else:
        code = ("from transformers import AutoModel\n\n"
                f'model = AutoModel.from_pretrained("{repo_id}", revision="{version}")')
    return f"{HOW_TO_LOAD}\n\n```python\n{code}\n```\n\n"


def _section_bounds(body: str) -> tuple[int, int] | None:
    """Span of the card's loading section ("## How to load", else "## Usage"), up to the next "## "."""
    for title in LOAD_SECTIONS:
        m = re.search(rf"^{re.escape(title)}[ \t]*\n", body, re.M)
        if m:
            nxt = re.search(r"^## ", body[m.end():], re.M)
            return m.start(), m.end() + nxt.start() if nxt else len(body)
    return None


def refresh_card(text: str, *, repo_id: str, version: str, repo_type: str, paths: list[str],
                 read=lambda p: b"", commit: str | None = None, card_path="README.md") -> str:
    """Card text pinned to `repo_id@version`, with the commit line iff `commit` is given."""
    meta, body = split_front_matter(text, card_path)
    head = text[:len(text) - len(body)]
    body = COMMIT_LINE_RE.sub("", body)
    bounds = _section_bounds(body)
    if bounds is None:
        section = _default_how_to_load(meta, repo_type, repo_id, version, paths, read)
        h1 = re.search(r"^# .*\n(?:\n?(?!#)[^\n]*\n)*", body, re.M)
        at = h1.end() if h1 else 0
        if h1 and not body[:at].endswith("\n\n"):
            section = "\n" + section
        body = body[:at] + section + body[at:]
        bounds = _section_bounds(body)
    start, end = bounds
    section = re.sub(r"```python\n.*?```", lambda m: _pin_code(m.group(0), repo_id, version),
                     body[start:end], flags=re.S)
    if commit:
        fence_end = section.rfind("```")
        line_end = section.find("\n", fence_end) + 1 if fence_end >= 0 else len(section)
        line_end = line_end or len(section)
        section = (section[:line_end] + f"\nThis version ({version}) is commit `{commit}`.\n"
                   + section[line_end:])
    return head + body[:start] + section + body[end:]
