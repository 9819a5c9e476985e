"""First stages and scoring: exact dense search with faiss, candidate re-ranking for bi- and cross-encoders.

Cross-encoder re-ranking tokenizes every (query, passage) pair once, sorts the pairs by their exact token length
and fills batches up to a token budget, so short pairs go in large batches and no batch pads far beyond its
longest member; for BERT-family heads the last layer runs for the first token only (`evaluation.first_token`).
Scores equal `CrossEncoder.predict`'s up to float rounding (same tokenizer call, model and activation).
"""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

log = logging.getLogger(__name__)


def dense_search(query_emb: np.ndarray, doc_emb: np.ndarray, doc_ids: Sequence[str], query_ids: Sequence[str],
                 k: int) -> list[tuple[str, str, float]]:
    """Exact inner-product top-k (faiss IndexFlatIP) over L2-normalised embeddings -> (qid, docid, score)."""
    import faiss

    if len(doc_ids) == 0 or len(query_ids) == 0:
        return []
    index = faiss.IndexFlatIP(doc_emb.shape[1])
    index.add(np.ascontiguousarray(doc_emb, dtype=np.float32))
    k = min(k, len(doc_ids))
    scores, idx = index.search(np.ascontiguousarray(query_emb, dtype=np.float32), k)
    out = []
    for qi, qid in enumerate(query_ids):
        for s, di in zip(scores[qi], idx[qi]):
            if di >= 0:
                out.append((qid, doc_ids[di], float(s)))
    return out


def dense_rerank(query_emb: np.ndarray, doc_emb: np.ndarray, query_ids: Sequence[str],
                 doc_index: dict[str, int], candidates: dict[str, list[str]]) -> list[tuple[str, str, float]]:
    """Bi-encoder scores for each query's recorded candidates only (re-ranking a fixed first stage)."""
    out = []
    for qi, qid in enumerate(query_ids):
        cands = [d for d in dict.fromkeys(candidates.get(qid, [])) if d in doc_index]
        if not cands:
            continue
        sims = doc_emb[[doc_index[d] for d in cands]] @ query_emb[qi]
        out.extend((qid, d, float(s)) for d, s in zip(cands, sims))
    return out


class CrossEncoderScorer:
    """Length-bucketed, token-budgeted batches over a sentence-transformers CrossEncoder's own model."""

    def __init__(self, cross_encoder, max_tokens: int | None = None, max_batch: int = 64, first_token: bool = True):
        self.ce = cross_encoder
        # evaluation.first_token's last-layer shortcut: None = decide on the first batch (equal scores or off)
        self.first_token: bool | None = None if first_token else False
        self.tokenizer = cross_encoder.tokenizer
        self.model = cross_encoder.model
        self.max_len = int(cross_encoder.max_seq_length or self.tokenizer.model_max_length)
        on_cpu = next(self.model.parameters()).device.type == "cpu"
        # CPU: 2-4k tokens per batch is fastest (MiniLM-L6 on 2 cores, idle machine: 1024 -> 35.1 s,
        # 2048/4096 -> 31.6 s, 8192 -> 39.1 s for the same 2,100 pairs); accelerators want large batches
        self.max_tokens = max_tokens or (4096 if on_cpu else 32768)
        self.max_batch = max_batch if on_cpu else max(max_batch, 512)

    def batches(self, lengths: np.ndarray) -> list[np.ndarray]:
        """Indices sorted by length (longest first), cut where rows x longest would exceed the token budget."""
        order = np.argsort(-lengths, kind="stable")
        out, start = [], 0
        while start < len(order):
            longest = int(lengths[order[start]])
            rows = max(1, min(self.max_batch, self.max_tokens // max(longest, 1)))
            out.append(order[start:start + rows])
            start += rows
        return out

    def score(self, pairs: Sequence[tuple[str, str]], show_progress: bool = False, chunk: int = 100_000) -> np.ndarray:
        """Scores for (query, passage) pairs, in input order, after the model's activation (as predict).

        Pairs are tokenized and length-sorted `chunk` at a time, so millions of candidates (MS MARCO's
        top-1000) never sit in memory as token lists at once.
        """
        if len(pairs) > chunk:
            return np.concatenate([self.score(pairs[i:i + chunk], show_progress, chunk)
                                   for i in range(0, len(pairs), chunk)])
        return self._score(pairs, show_progress)

    def _score(self, pairs: Sequence[tuple[str, str]], show_progress: bool) -> np.ndarray:
        import torch

        from evaluation.precision import float32_head

        if not pairs:
            return np.zeros(0, dtype=np.float32)
        enc = self.tokenizer([p[0] for p in pairs], [p[1] for p in pairs], truncation="longest_first",
                             max_length=self.max_len, padding=False)
        lengths = np.fromiter((len(x) for x in enc["input_ids"]), dtype=np.int64, count=len(pairs))
        keys = list(enc.keys())
        out = np.empty(len(pairs), dtype=np.float32)
        device = next(self.model.parameters()).device
        self.model.eval()
        act = self.ce.activation_fn
        with torch.inference_mode(), float32_head(self.model):
            for idx in tqdm(self.batches(lengths), desc="re-rank", disable=not show_progress, unit="batch"):
                feats = self.tokenizer.pad({k: [enc[k][i] for i in idx] for k in keys}, padding=True,
                                           return_tensors="pt")
                feats = {k: v.to(device) for k, v in feats.items()}
                logits = self._forward(feats)
                if act is not None:
                    logits = act(logits)
                out[idx] = logits[:, 0].cpu().numpy() if logits.ndim > 1 else logits.cpu().numpy()
        return out

    def _forward(self, feats: dict):
        import torch

        from evaluation.first_token import first_token_last_layer

        if self.first_token is None:  # decided once, on the first (longest) batch: only with the same scores
            full = self.model(**feats).logits.float()
            try:
                with first_token_last_layer(self.model) as applied:
                    fast = self.model(**feats).logits.float() if applied else None
            except Exception:  # noqa: BLE001 - a head that reads other tokens may fail on a one-token output
                fast = torch.full_like(full, float("nan"))
            self.first_token = fast is not None and bool(torch.allclose(full, fast, rtol=1e-4, atol=1e-5))
            if fast is not None and not self.first_token:
                log.warning("cross-encoder: first-token last layer changes the scores of %s; using the full "
                            "forward pass", type(self.model).__name__)
            return full
        with first_token_last_layer(self.model, self.first_token):
            return self.model(**feats).logits.float()


def candidate_pairs(query_ids: Iterable[str], queries: dict[str, str], corpus: dict[str, str],
                    candidates: dict[str, list[str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(qid, docid) keys and (query text, passage text) pairs for every known candidate, duplicates dropped."""
    keys, texts = [], []
    for qid in query_ids:
        for did in dict.fromkeys(candidates.get(qid, [])):
            if did in corpus:
                keys.append((qid, did))
                texts.append((queries[qid], corpus[did]))
    return keys, texts
