"""Image-text retrieval in `csir evaluate`: CLIP-style dual encoders on MTEB any-to-any subsets.

Models are loaded by `csir.models` (kind "clip": `csir.models.dual.DualEncoderModel`). Images are decoded here with
`csir.images.to_rgb` (RGBA composited on white, as training does), so one bad image is reported by dataset, config
and row id. Search is the text path's exact faiss search; metrics are the text path's.
"""

from __future__ import annotations

import hashlib
import time

from csir.errors import CsirError
from csir.images import to_rgb
from csir.models.dual import DualEncoderModel


def clip_records(scorer, sub, stage: str, dataset_revision: str, timings: dict, source: str = "") -> list:
    """(qid, docid, score) records for a subset where queries and/or corpus are images (exact dense search)."""
    from evaluation.encode_cache import EncodeCache
    from evaluation.metrics import CORE
    from evaluation.precision import precision_key
    from evaluation.search import dense_search

    model = scorer.model
    if not isinstance(model, DualEncoderModel):
        raise CsirError(f"--model: {model.spec.name} is a text-only {model.kind} with no image tower; subset "
                        f"{sub.name} of {source or 'the dataset'} has images (use a CLIP-style model)")
    if stage not in ("dense", "exhaustive"):
        raise CsirError(f"--first-stage: image-text subsets are searched densely (got {stage})")

    def embed(ids, texts, images, side, what):
        t0 = time.perf_counter()
        if images is None:
            ns = EncodeCache.namespace(model=model.spec.name, revision=model.resolved_revision, side=f"text-{side}",
                                       max_length=model.spec.max_length, dataset_revision=dataset_revision,
                                       **precision_key(scorer.cfg))
            emb = scorer.cache.get(ns, [texts[i] for i in ids], lambda t: model.encode(t, side, len(t) > 256),
                                   {"model": model.spec.name, "side": f"text-{side}"})
        else:
            keys = {hashlib.sha256(images[i]).hexdigest(): i for i in ids}
            ns = EncodeCache.namespace(model=model.spec.name, revision=model.resolved_revision, side="image",
                                       dataset_revision=dataset_revision, **precision_key(scorer.cfg))

            def enc(hashes):
                pics = [to_rgb(images[keys[h]], f"{source}: subset {sub.name} {what}: id {keys[h]}") for h in hashes]
                return model.encode_images(pics, len(pics) > 256)

            emb = scorer.cache.get(ns, [hashlib.sha256(images[i]).hexdigest() for i in ids], enc,
                                   {"model": model.spec.name, "side": "image"})
        timings[f"encode_{what}_s"] = time.perf_counter() - t0
        return emb

    query_ids = list(sub.queries)
    doc_ids = list(sub.corpus)
    q_emb = embed(query_ids, sub.queries, sub.query_images, "query", "queries")
    d_emb = embed(doc_ids, sub.corpus, sub.corpus_images, "document", "corpus")
    max_cut = max([int(CORE.match(m).group(2)) for m in scorer.cfg.metrics if CORE.match(m)] + [scorer.cfg.top_k])
    t0 = time.perf_counter()
    recs = dense_search(q_emb, d_emb, doc_ids, query_ids, max_cut if stage == "dense" else len(doc_ids))
    timings["search_s"] = time.perf_counter() - t0
    return recs
