"""Evaluation: score any Hub model on CLIR / MLIR / MoIR retrieval subsets in MTEB's layout.

Modules: `evalsets` (build DDTP / mMARCO sets), `datasets_io` (read any MTEB-layout set), `models` (load and
classify models), `encode_cache`, `search` (faiss, cross-encoder re-ranking), `metrics` (trec_eval semantics),
`significance`, `results` (JSON, table, plot), `card` (model-card update), `runner` and `cli`.
"""
