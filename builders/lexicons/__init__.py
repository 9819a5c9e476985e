"""Bilingual lexicon builders: dictionaries, cross-lingual embeddings, parallel titles."""

from builders.lexicons.base import Lexicon, precision_at_k, read_gold, read_pair_file
from builders.lexicons.store import lexicon_config_name, load_lexicon, load_lexicons, write_lexicon_repo

__all__ = ["Lexicon", "precision_at_k", "read_gold", "read_pair_file", "lexicon_config_name", "load_lexicon",
           "load_lexicons", "write_lexicon_repo"]
