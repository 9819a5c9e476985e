"""Our evaluation sets as MTEB task classes (the optional `mteb` extra: `pip install 'codeswitch-ir[mteb]'`).

Each set is already in MTEB's retrieval layout (`<subset>-corpus/-queries/-qrels[/-top_ranked]`), so a task class
only needs metadata: the dataset path and the *commit* it is pinned to (resolved here from a tag such as
`v1.0.0`), the subsets with their languages (`deu-Latn`), split, main score. MTEB's own loader and evaluator do the
rest, so an MTEB run and `csir evaluate` score the same data:

    import mteb
    from evaluation.mteb_tasks import csir_task
    task = csir_task("ddtp", "codeswitch-ir/ddtp-retrieval", revision="v1.0.0")   # or a local folder
    mteb.evaluate(SentenceTransformer("intfloat/multilingual-e5-small"), task)

MTEB's registry (`mteb.get_task`) holds only the tasks shipped inside mteb, so ours are built by `csir_task` (and
found by name by `csir evaluate --mteb-task`).
"""

from __future__ import annotations

from pathlib import Path

from csir.errors import CsirError
from evaluation.mteb_results import MTEB_TASK_NAMES, subset_languages

CITATION = """@inproceedings{litschko-etal-2023-boosting,
  title = {Boosting Zero-shot Cross-lingual Retrieval by Training on Artificially Code-Switched Data},
  author = {Litschko, Robert and Artemova, Ekaterina and Plank, Barbara},
  booktitle = {Findings of the Association for Computational Linguistics: ACL 2023},
  year = {2023},
  url = {https://arxiv.org/abs/2305.05295},
}"""

# kind -> (MTEB task name, description, default Hub source, category, modalities, license)
KINDS = {
    "ddtp": (MTEB_TASK_NAMES["ddtp"], "Cross-lingual (CLIR), multilingual (MLIR) and monolingual (MoIR) retrieval "
             "over Debian's human-translated package descriptions (DDTP): short summary -> long description, "
             "held-out packages only (csir evalset ddtp).", "codeswitch-ir/ddtp-retrieval", "t2t", ["text"],
             "multiple"),
    "mmarco": (MTEB_TASK_NAMES["mmarco"], "MS MARCO dev small re-ranking with mMARCO translations of queries and "
               "passages, CLIR/MLIR/MoIR subsets (csir evalset mmarco).", "codeswitch-ir/mmarco-retrieval", "t2t",
               ["text"], "not specified"),
    "emoji": ("CsirEmojiImageTextRetrieval", "Text->image and image->text retrieval over held-out Noto Emoji images "
              "with CLDR labels in many languages (csir evalset emoji).", "codeswitch-ir/emoji-retrieval", "t2i",
              ["text", "image"], "apache-2.0"),
    "codeswitched-queries": ("CsirCodeSwitchedQueryRetrieval", "Retrieval with code-switched queries derived from a "
                             "monolingual retrieval set by csir's switcher (languages, p and seed in the set's "
                             "card), beside the original queries (csir evalset codeswitch-queries).",
                             "codeswitch-ir/codeswitched-queries", "t2t", ["text"], "not specified"),
}


def _require_mteb():
    try:
        import mteb  # noqa: F401
    except ImportError:
        raise CsirError("the MTEB tasks need the `mteb` extra: pip install 'codeswitch-ir[mteb]'") from None


def csir_task(kind: str, source: str | None = None, revision: str | None = None, *, first_stage: str = "dense",
              name: str | None = None):
    """An MTEB retrieval task instance for one of our sets, pinned to the commit `revision` resolves to.

    `first_stage="dense"` scores the whole collection (as `csir evaluate` does for bi-encoders); `"top_ranked"`
    keeps the set's recorded candidates (re-ranking, as for cross-encoders)."""
    _require_mteb()
    from mteb import TaskMetadata
    from mteb.abstasks.retrieval import AbsTaskRetrieval

    from evaluation.datasets_io import open_dataset

    if kind not in KINDS:
        raise CsirError(f"MTEB task: unknown set '{kind}' (choose from {', '.join(KINDS)})")
    if first_stage not in ("dense", "top_ranked"):
        raise CsirError(f"MTEB task: first_stage '{first_stage}' (choose dense or top_ranked)")
    task_name, description, default_source, category, modalities, license_ = KINDS[kind]
    source = source or default_source
    ds = open_dataset(source, revision)
    try:
        if ds._tmp is not None:
            raise CsirError(f"{source}: revision '{revision}' is not the checked-out commit; MTEB reads the folder "
                            f"as it is (check out {ds.resolved_revision} first)")
        path = str(ds.local_dir) if Path(source).is_dir() else source
        subsets = ds.subsets
        split = _split(ds, subsets[0])
    finally:
        ds.close()
    eval_langs = {s: subset_languages(s) or ["eng-Latn"] for s in subsets}
    metadata = TaskMetadata(
        name=name or task_name, description=description, reference="https://arxiv.org/abs/2305.05295",
        dataset={"path": path, "revision": ds.resolved_revision}, type="Retrieval", category=category,
        modalities=modalities, eval_splits=[split], eval_langs=eval_langs, main_score="mrr_at_10",
        license=license_, annotations_creators="derived", sample_creation="found", bibtex_citation=CITATION,
        domains=["Non-fiction", "Written"] if kind in ("ddtp", "codeswitched-queries") else None)

    keep_top = first_stage == "top_ranked"

    class CsirRetrievalTask(AbsTaskRetrieval):
        __doc__ = description

        def dataset_transform(self, num_proc=None, **kwargs):
            if keep_top:
                return
            for subset in self.dataset.values():
                for split_data in subset.values():
                    split_data["top_ranked"] = None  # full-collection search, as csir's dense first stage

    CsirRetrievalTask.metadata = metadata
    CsirRetrievalTask.__name__ = CsirRetrievalTask.__qualname__ = metadata.name
    return CsirRetrievalTask()


def _split(ds, subset: str) -> str:
    from evaluation.card_tables import card_configs

    configs = card_configs(ds.local_dir)
    splits = list(configs.get(f"{subset}-queries") or configs.get("queries") or {"test": []})
    return "test" if "test" in splits else splits[0]


def csir_task_names() -> dict[str, str]:
    """MTEB task name -> our set kind (for `csir evaluate --mteb-task`)."""
    return {v[0]: k for k, v in KINDS.items()}


def mteb_task_source(name: str, sources: dict[str, str] | None = None) -> dict:
    """Where an MTEB retrieval task's data lives, from its metadata: {source, revision, split, subsets, kind}.

    Our own task names map to our sets (`sources` may point a kind at another folder or repo); any other name is
    looked up in mteb's registry, which needs the `mteb` extra."""
    ours = csir_task_names()
    if name in ours:
        kind = ours[name]
        return {"source": (sources or {}).get(kind) or KINDS[kind][2], "revision": None, "split": None,
                "subsets": None, "languages": {}, "kind": kind}
    _require_mteb()
    import mteb

    try:
        task = mteb.get_task(name)
    except KeyError as exc:
        raise CsirError(f"--mteb-task: {exc.args[0] if exc.args else name}") from None
    meta = task.metadata
    if meta.type not in ("Retrieval", "Reranking", "Any2AnyRetrieval", "InstructionRetrieval"):
        raise CsirError(f"--mteb-task: {name} is a {meta.type} task; only retrieval tasks can be run")
    if not meta.dataset.get("path") or not meta.dataset.get("revision"):
        raise CsirError(f"--mteb-task: {name} has no dataset path + revision in its metadata")
    return {"source": meta.dataset["path"], "revision": meta.dataset["revision"], "split": meta.eval_splits[0],
            "subsets": list(task.hf_subsets), "languages": dict(meta.hf_subsets_to_langscripts), "kind": None}
