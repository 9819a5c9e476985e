"""The compiled BL-CS top-1 loop (builders/_cswitch.c) against the pure-Python path it replaces: the same tokens,
matches, draws and output on adversarial texts, and the golden outputs through the Python path too (the fallback
when the extension is not built)."""

import json
import random

import golden_cases as gc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import builders.codeswitch as cs
from builders.codeswitch import CodeSwitchConfig, CodeSwitcher
from builders.lexicons import Lexicon

accel = pytest.importorskip("builders._cswitch", reason="compiled loop not built (pip install . with a C compiler)")

WORDS = ["new", "york", "city", "search", "engine", "the", "dog", "don", "it", "is", "a", "b", "well", "known",
         "ΟΔΟΣ", "σ", "İstanbul", "straße", "12", "3-4", "x2", "²", "٣", "New", "YORK", "Don", "n", "t", "s"]
SEPS = [" ", "  ", "\t", "\n", "\u00a0", "\u2003", "-", "--", "'", "’", "'s ", "n't ", "’s ", ", ", ". ", "_", "",
        " - ", "/", "…", "'t", "İ"]
LEX = Lexicon.from_pairs([
    ("new", "neu", 1), ("york", "Yorck", 1), ("new york", "New York", 1), ("new york city", "NYC", 1),
    ("search engine", "Suchmaschine", 1), ("search", "Suche", 1), ("the dog", "der Hund", 1), ("dog", "Hund", 1),
    ("it is", "es ist", 1), ("a b a", "ABA", 1), ("a b a b", "ABAB", 1), ("b", "B", 1), ("well-known", "bekannt", 1),
    ("do", "tun", 1), ("don", "Don", 1), ("ο", "o", 1), ("οδος", "Straße", 1), ("straße", "street", 1),
    ("x2", "X2", 1), ("is a", "ist ein", 1), ("city", "Stadt", 1), ("york city", "Yorkstadt", 1),
    ("the", "die", 1), ("known", "bekannt", 1), ("'s", "s", 1),
], "en", "de")

texts = st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPS)), max_size=25).map(
    lambda parts: "".join(w + s for w, s in parts))


def both(text, cfg, ex_id, side, epoch, monkeypatch):
    got = CodeSwitcher(cfg, {"de": LEX}).switch_counts(text, ex_id, side, epoch)
    with monkeypatch.context() as m:
        m.setattr(cs, "_cswitch", None)
        want = CodeSwitcher(cfg, {"de": LEX}).switch_counts(text, ex_id, side, epoch)
    return got, want


@settings(max_examples=400, deadline=None)
@given(text=texts, p=st.sampled_from([0.0, 0.3, 0.5, 0.9, 1.0]), seed=st.integers(0, 3),
       epoch=st.sampled_from([None, 0, 2]), side=st.sampled_from(["query", "passage"]))
def test_compiled_loop_matches_python(text, p, seed, epoch, side):
    cfg = CodeSwitchConfig(variant="bl-cs", passage_langs=["de"], p=p, seed=seed)  # queries: counted, not switched
    mp = pytest.MonkeyPatch()
    try:
        got, want = both(text, cfg, f"id{seed}", side, epoch, mp)
    finally:
        mp.undo()
    assert got == want


@pytest.mark.parametrize("seed", [0, 1, 2**32 - 1, 2**32, 2**63 + 12345, 2**64 - 1, 0x5DEECE66D1234567])
def test_compiled_rng_draws_as_random_random(seed):
    rng = random.Random(seed)
    assert accel.draws(seed, 1500) == [rng.random() for _ in range(1500)]  # crosses several state refills


def test_compiled_loop_is_used_for_bl_cs_top1():
    sw = CodeSwitcher(CodeSwitchConfig(variant="bl-cs", passage_langs=["de"], p=1.0), {"de": LEX})
    assert set(sw._compiled_sides) == {"query", "passage"}
    assert sw.switch("the new york city dog", 0, "passage")[0] == "die NYC Hund"
    for kw in (dict(translation="sample"), dict(tokenizer="treebank")):
        assert "passage" not in CodeSwitcher(CodeSwitchConfig(passage_langs=["de"], **kw), {"de": LEX})._compiled_sides


@pytest.mark.parametrize("rows", [["the new york dog", "", "İstanbul new york"], ["a b a b", "well-known 12 dog's"]])
def test_switch_column_is_switch_counts_per_row(rows):
    sw = CodeSwitcher(CodeSwitchConfig(variant="bl-cs", query_langs=["de"], passage_langs=["de"], p=0.5, seed=3),
                      {"de": LEX})
    ids = [f"r{i}" for i in range(len(rows))]
    for epoch in (None, 1):
        assert sw.switch_column(rows, ids, "passage", epoch) == [sw.switch_counts(t, i, "passage", epoch)
                                                                 for t, i in zip(rows, ids)]


@pytest.mark.parametrize("name", sorted(gc.CODESWITCH_CASES))
def test_python_path_still_gives_the_golden_outputs(name, monkeypatch):
    monkeypatch.setattr(cs, "_cswitch", None)
    golden = json.loads((gc.GOLDEN / "golden.json").read_text())
    assert gc.codeswitch_case(name, gc.corpus()) == golden[name]
