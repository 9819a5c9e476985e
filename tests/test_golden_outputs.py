"""Byte-identity against outputs recorded before the speed work of issue #19 (see tests/golden_cases.py)."""

import json

import golden_cases as gc
import pytest

GOLDEN = json.loads((gc.GOLDEN / "golden.json").read_text())


@pytest.fixture(scope="module")
def corpus():
    return gc.corpus()


def test_golden_covers_every_case():
    assert set(GOLDEN) == set(gc.CODESWITCH_CASES) | set(gc.CLWE_CASES) | {"multiword-dynamic-epochs"}


@pytest.mark.parametrize("name", sorted(gc.CODESWITCH_CASES))
def test_codeswitch_output_unchanged(name, corpus):
    assert gc.codeswitch_case(name, corpus) == GOLDEN[name]


def test_codeswitch_two_processes_unchanged(corpus):
    name = "multiword-bl-cs-p0.5-de-de"
    assert gc.codeswitch_case(name, corpus, num_proc=2) == GOLDEN[name]


def test_dynamic_epochs_unchanged(corpus):
    assert gc.dynamic_case(corpus) == GOLDEN["multiword-dynamic-epochs"]


@pytest.mark.parametrize("name", sorted(gc.CLWE_CASES))
def test_clwe_lexicon_unchanged(name, tmp_path):
    got, want = gc.clwe_case(name, tmp_path), GOLDEN[name]
    assert got["selection"] == want["selection"]  # the same targets in the same order for every source
    assert len(got["scores_e6"]) == len(want["scores_e6"])
    assert max(abs(a - b) for a, b in zip(got["scores_e6"], want["scores_e6"])) <= 1  # last decimal: summation order
